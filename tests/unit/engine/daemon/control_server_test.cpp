// The control socket with real unix sockets in a temporary directory, a fake daemon and a
// made-up clock: clients that idle, flood, or never read hold up no one, and are cut off at
// their deadlines and bounds. The peer check admits root only, so these run as root.
#include "engine/daemon/control_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using nlohmann::json;

class FakeCommands : public ControlCommands {
 public:
  json status() override {
    ++statusCalls;
    return statusObject;
  }
  std::optional<json> explain(std::uint32_t) override { return std::nullopt; }
  std::expected<Reloaded, std::string> reloadPolicy(bool) override {
    return Reloaded{.revision = 1, .redecide = std::nullopt};
  }
  json hits() override { return {{"revision", 1}, {"hits", json::array()}}; }
  int statusCalls = 0;
  json statusObject = {{"running", true}};
};

constexpr std::string_view kStatusRequest = "{\"version\":1,\"command\":\"status\"}\n";

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the control socket answers root only";
    limits_.maxClients = 4;
    limits_.requestDeadlineMs = 3000;
    limits_.answerDeadlineMs = 2000;
    auto server = ControlServer::open(dir_.file("control.sock"), limits_, [this] { return now_; });
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_.emplace(std::move(*server));
  }

  // A connected client; non-blocking, so that a test never waits on the server.
  base::UniqueFd connect() {
    auto fd = base::makeSocket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, "a test client");
    EXPECT_TRUE(fd.has_value());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, dir_.file("control.sock").c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(fd->get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    return std::move(*fd);
  }

  static void send(const base::UniqueFd& fd, std::string_view bytes) {
    ASSERT_EQ(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // What the server has sent so far; `closed` says whether it also closed the connection.
  static std::string received(const base::UniqueFd& fd, bool* closed = nullptr) {
    std::string out;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (closed != nullptr) *closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      return out;
    }
  }

  static bool isClosed(const base::UniqueFd& fd) {
    bool closed = false;
    received(fd, &closed);
    return closed;
  }

  warden::testing::TempDir dir_;
  ControlLimits limits_;
  std::int64_t now_ = 10'000;
  std::optional<ControlServer> server_;
  FakeCommands commands_;
};

TEST_F(ControlServerTest, IdleClientsDoNotHoldUpAClientWithARequest) {
  std::vector<base::UniqueFd> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(connect());
  server_->serve(commands_);
  EXPECT_EQ(server_->clients(), 3u);

  const auto asker = connect();
  send(asker, kStatusRequest);
  server_->serve(commands_);
  bool closed = false;
  EXPECT_EQ(received(asker, &closed),
            "{\"ok\":true,\"status\":{\"running\":true},\"version\":1}\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(server_->counters().answered, 1u);
  for (const auto& fd : idle) EXPECT_FALSE(isClosed(fd));
}

TEST_F(ControlServerTest, AClientWithoutARequestIsClosedAtItsDeadline) {
  const auto idle = connect();
  server_->serve(commands_);
  ASSERT_EQ(server_->nextDeadlineMs(), now_ + 3000);

  now_ += 2999;
  send(idle, "{\"version\":1,");  // a part, never the newline
  server_->serve(commands_);
  EXPECT_FALSE(isClosed(idle));
  now_ += 1;
  server_->serve(commands_);
  EXPECT_TRUE(isClosed(idle));
  EXPECT_EQ(server_->counters().requestLate, 1u);
  EXPECT_EQ(server_->clients(), 0u);
  EXPECT_EQ(server_->nextDeadlineMs(), std::nullopt);
}

TEST_F(ControlServerTest, ARequestThatCameDuringALongCommandIsAnsweredNotCutOff) {
  const auto slow = connect();
  server_->serve(commands_);
  send(slow, kStatusRequest);
  now_ += 5000;  // past its deadline before the loop came back to it (a reload ran)
  server_->serve(commands_);
  EXPECT_EQ(received(slow), "{\"ok\":true,\"status\":{\"running\":true},\"version\":1}\n");
  EXPECT_EQ(server_->counters().requestLate, 0u);
}

TEST_F(ControlServerTest, AtTheBoundTheOldestClientIsClosedAndCounted) {
  std::vector<base::UniqueFd> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect());
  server_->serve(commands_);
  ASSERT_EQ(server_->clients(), 4u);

  const auto asker = connect();
  send(asker, kStatusRequest);
  server_->serve(commands_);
  EXPECT_NE(received(asker).find("\"ok\":true"), std::string::npos);
  EXPECT_TRUE(isClosed(idle[0]));
  for (std::size_t i = 1; i < idle.size(); ++i) EXPECT_FALSE(isClosed(idle[i])) << i;
  EXPECT_EQ(server_->counters().evicted, 1u);
  EXPECT_EQ(server_->clients(), 3u);
}

TEST_F(ControlServerTest, AFloodWithoutANewlineIsRefusedAtTheBoundAndReadNoFurther) {
  const auto flood = connect();
  const std::string megabyte(1 << 20, 'x');
  const ssize_t sent = ::send(flood.get(), megabyte.data(), megabyte.size(), MSG_NOSIGNAL);
  ASSERT_GT(sent, static_cast<ssize_t>(kMaxRequestBytes));
  server_->serve(commands_);
  bool closed = false;
  EXPECT_EQ(received(flood, &closed),
            "{\"version\":1,\"ok\":false,\"error\":\"request longer than 65536 bytes without a "
            "newline\"}\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(server_->counters().requestTooLong, 1u);
  EXPECT_EQ(commands_.statusCalls, 0);
}

TEST_F(ControlServerTest, AClientThatNeverReadsItsAnswerHoldsUpNoOneAndIsClosed) {
  // An answer far larger than a socket buffer: the server can write only a part of it.
  commands_.statusObject = {{"padding", std::string(4 << 20, 'p')}};
  const auto deaf = connect();
  send(deaf, kStatusRequest);
  server_->serve(commands_);
  EXPECT_EQ(server_->clients(), 1u);
  EXPECT_EQ(server_->nextDeadlineMs(), now_ + 2000);

  commands_.statusObject = {{"running", true}};
  const auto asker = connect();
  send(asker, kStatusRequest);
  server_->serve(commands_);
  EXPECT_EQ(received(asker), "{\"ok\":true,\"status\":{\"running\":true},\"version\":1}\n");

  now_ += 2000;
  server_->serve(commands_);
  EXPECT_EQ(server_->counters().answerNotTaken, 1u);
  EXPECT_EQ(server_->clients(), 0u);
  bool closed = false;
  const std::string part = received(deaf, &closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(part.size(), std::size_t{4} << 20);
}

}  // namespace
}  // namespace warden::engine
