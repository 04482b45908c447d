// The control client against small fake daemons on a unix socket in a temporary directory.
#include "cli/control_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

using namespace std::chrono_literals;

// A listening socket at `path`; closed (its file left behind, as after a crash) by close().
class Listener {
 public:
  explicit Listener(const std::filesystem::path& path) {
    if (auto fd = base::makeSocket(AF_UNIX, SOCK_STREAM, 0, "a test listener")) {
      fd_ = std::move(*fd);
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ok_ = fd_ && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
          ::listen(fd_.get(), 4) == 0;
  }
  void close() { fd_.reset(); }
  bool ok() const { return ok_; }

  // Accepts one client, reads its request line into `request`, and answers `answer` (nothing
  // if empty); with `hold`, keeps the connection open that long before closing it.
  std::thread serveOnce(const std::string& answer, std::string* request,
                        std::chrono::milliseconds hold = 0ms) {
    return std::thread([this, answer, request, hold] {
      auto client = base::acceptConnection(fd_.get(), "accepting");
      if (!client) return;
      char buffer[4096];
      std::string line;
      while (line.find('\n') == std::string::npos) {
        const ssize_t n = ::read(client->get(), buffer, sizeof buffer);
        if (n <= 0) break;
        line.append(buffer, static_cast<std::size_t>(n));
      }
      if (request != nullptr) *request = line;
      if (!answer.empty()) (void)!::write(client->get(), answer.data(), answer.size());
      std::this_thread::sleep_for(hold);
    });
  }

  // Accepts one client and answers at once, without reading its request, then closes.
  std::thread serveWithoutReading(const std::string& answer) {
    return std::thread([this, answer] {
      auto client = base::acceptConnection(fd_.get(), "accepting");
      if (!client) return;
      (void)!::write(client->get(), answer.data(), answer.size());
    });
  }

 private:
  base::UniqueFd fd_;
  bool ok_ = false;
};

TEST(AskDaemon, NoSocketFileMeansNotRunning) {
  warden::testing::TempDir dir;
  auto answer = askDaemon(dir.file("control.sock"), "status");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kDaemonDown);
  EXPECT_NE(
      answer.error().message.find("no control socket at " + dir.file("control.sock").string()),
      std::string::npos);
}

TEST(AskDaemon, ASocketLeftByACrashedDaemonMeansNotRunning) {
  warden::testing::TempDir dir;
  Listener listener(dir.file("control.sock"));
  ASSERT_TRUE(listener.ok());
  listener.close();
  auto answer = askDaemon(dir.file("control.sock"), "status");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kDaemonDown);
  EXPECT_NE(answer.error().message.find("nothing listens"), std::string::npos);
}

TEST(AskDaemon, SendsOneVersionedLineAndReturnsTheAnswer) {
  warden::testing::TempDir dir;
  Listener listener(dir.file("control.sock"));
  ASSERT_TRUE(listener.ok());
  std::string request;
  std::thread server = listener.serveOnce(R"({"version":1,"ok":true,"revision":12})"
                                          "\n",
                                          &request);
  auto answer = askDaemon(dir.file("control.sock"), "reload", {{"redecide", true}});
  server.join();
  ASSERT_TRUE(answer.has_value()) << answer.error().message;
  EXPECT_EQ((*answer)["revision"], 12);
  ASSERT_FALSE(request.empty());
  EXPECT_EQ(request.back(), '\n');
  const auto sent = nlohmann::json::parse(request);
  EXPECT_EQ(sent, (nlohmann::json{{"version", 1}, {"command", "reload"}, {"redecide", true}}));
}

TEST(AskDaemon, ARefusalKeepsTheDaemonsMessage) {
  warden::testing::TempDir dir;
  Listener listener(dir.file("control.sock"));
  ASSERT_TRUE(listener.ok());
  std::thread server = listener.serveOnce(
      R"({"version":1,"ok":false,"error":"permission denied: the control socket is for root only"})"
      "\n",
      nullptr);
  auto answer = askDaemon(dir.file("control.sock"), "status");
  server.join();
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kPermissionDenied);
}

TEST(AskDaemon, AnAnswerSentWithoutReadingTheRequestIsStillRead) {
  // wardend refuses a non-root peer before reading anything, then closes: a request larger
  // than the socket buffer then fails to send (EPIPE) while the answer waits to be read.
  warden::testing::TempDir dir;
  Listener listener(dir.file("control.sock"));
  ASSERT_TRUE(listener.ok());
  std::thread server = listener.serveWithoutReading(
      R"({"version":1,"ok":false,"error":"permission denied: the control socket is for root only"})"
      "\n");
  auto answer = askDaemon(dir.file("control.sock"), "status",
                          {{"padding", std::string(std::size_t{8} << 20, 'x')}});
  server.join();
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kPermissionDenied) << answer.error().message;
}

TEST(AskDaemon, SilenceIsAnErrorAfterTheTimeout) {
  warden::testing::TempDir dir;
  Listener listener(dir.file("control.sock"));
  ASSERT_TRUE(listener.ok());
  std::thread server = listener.serveOnce("", nullptr, 1s);
  const auto started = std::chrono::steady_clock::now();
  auto answer = askDaemon(dir.file("control.sock"), "status", nlohmann::json::object(), 200ms);
  const auto waited = std::chrono::steady_clock::now() - started;
  server.join();
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kError);
  EXPECT_NE(answer.error().message.find("did not answer"), std::string::npos);
  EXPECT_LT(waited, 900ms);
}

TEST(AskDaemon, AConnectionClosedWithoutAnswerIsAnError) {
  warden::testing::TempDir dir;
  Listener listener(dir.file("control.sock"));
  ASSERT_TRUE(listener.ok());
  std::thread server = listener.serveOnce("", nullptr);
  auto answer = askDaemon(dir.file("control.sock"), "status");
  server.join();
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kError);
  EXPECT_NE(answer.error().message.find("without an answer"), std::string::npos);
}

TEST(AskDaemon, ARegularFileIsNotASocket) {
  warden::testing::TempDir dir;
  {
    std::FILE* f = std::fopen(dir.file("control.sock").c_str(), "w");
    std::fclose(f);
  }
  auto answer = askDaemon(dir.file("control.sock"), "status");
  ASSERT_FALSE(answer.has_value());
  // connect(2) on a file that is not a socket says ECONNREFUSED: as good as not running.
  EXPECT_EQ(answer.error().code, ExitCode::kDaemonDown);
}

}  // namespace
}  // namespace warden::cli
