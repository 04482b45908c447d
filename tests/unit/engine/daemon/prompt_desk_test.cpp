// Prompt clients on the real control socket (unix sockets in a temporary directory), the desk
// between them and a real PromptBroker, whose questions the test asks in a queue worker's
// place. The peer check admits root only, so these run as root.
#include "engine/daemon/prompt_desk.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/daemon/prompt_protocol.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using nlohmann::json;

class NoCommands : public ControlCommands {
 public:
  json status() override { return {{"running", true}}; }
  std::optional<json> explain(std::uint32_t) override { return std::nullopt; }
  std::expected<Reloaded, std::string> reloadPolicy(bool) override {
    return Reloaded{.revision = 1, .redecide = std::nullopt};
  }
  json hits() override { return {{"revision", 1}, {"hits", json::array()}}; }
};

constexpr std::string_view kPromptRequest = "{\"version\":1,\"command\":\"prompt\"}\n";

class PromptDeskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the control socket answers root only";
    ControlLimits limits;
    limits.maxClients = 3;
    auto server = ControlServer::open(dir_.file("control.sock"), limits, [this] { return now_; });
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_.emplace(std::move(*server));
    auto broker = PromptBroker::create(1);
    ASSERT_TRUE(broker.has_value());
    broker_ = std::move(*broker);
    desk_.emplace(*broker_);
  }

  base::UniqueFd connect() {
    auto fd = base::makeSocket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, "a test client");
    EXPECT_TRUE(fd.has_value());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, dir_.file("control.sock").c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(fd->get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return std::move(*fd);
  }
  static void send(const base::UniqueFd& fd, std::string_view bytes) {
    ASSERT_EQ(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // The JSON lines received so far (a test reads whole lines only: the server writes them so).
  static std::vector<json> lines(const base::UniqueFd& fd, bool* closed = nullptr) {
    std::string out;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (closed) *closed = n == 0;
      break;
    }
    std::vector<json> parsed;
    for (std::size_t from = 0, newline; (newline = out.find('\n', from)) != std::string::npos;
         from = newline + 1) {
      parsed.push_back(json::parse(out.substr(from, newline - from)));
    }
    return parsed;
  }
  void serve() {
    server_->serve(commands_);
    desk_->serve(*server_, 30, 64);
  }
  base::UniqueFd promptClient() {
    base::UniqueFd fd = connect();
    send(fd, kPromptRequest);
    serve();
    return fd;
  }
  // A question as a queue worker would ask it: a flow from local port `port`.
  std::uint64_t ask(std::uint16_t port) {
    PromptQuestion question;
    question.target.exe = "/opt/tool";
    question.flow.ipProto = 6;
    question.flow.localPort = port;
    question.flow.remotePort = 443;
    question.pid = 4242;
    question.argv = {"/opt/tool", "--fetch"};
    EXPECT_EQ(broker_->ask(0, question, 64).asked, PromptBroker::Asked::kHeld);
    return question.id;
  }
  std::vector<PromptResolution> resolutions() {
    std::vector<PromptResolution> out;
    broker_->takeResolutions(0, out);
    return out;
  }

  testing::TempDir dir_;
  std::int64_t now_ = 1000;
  NoCommands commands_;
  std::optional<ControlServer> server_;
  std::unique_ptr<PromptBroker> broker_;
  std::optional<PromptDesk> desk_;
};

TEST_F(PromptDeskTest, AClientIsGreetedThenGetsQuestionsAndItsAnswerDecides) {
  const base::UniqueFd client = promptClient();
  EXPECT_TRUE(broker_->active());
  auto greeting = lines(client);
  ASSERT_EQ(greeting.size(), 1u);
  EXPECT_EQ(greeting[0],
            json::parse(R"({"version":1,"ok":true,"prompt":{"timeout":30,"hold":64}})"));

  const std::uint64_t id = ask(40000);
  serve();
  auto question = lines(client);
  ASSERT_EQ(question.size(), 1u);
  EXPECT_EQ(question[0]["event"], "question");
  EXPECT_EQ(question[0]["id"], id);
  EXPECT_EQ(question[0]["exe"], "/opt/tool");
  EXPECT_EQ(question[0]["argv"], json::array({"/opt/tool", "--fetch"}));
  EXPECT_EQ(question[0]["proto"], "tcp");
  EXPECT_EQ(question[0]["remote_port"], 443);

  send(client, json{{"answer", id}, {"action", "deny"}, {"scope", "once"}}.dump() + "\n");
  serve();
  const auto resolved = resolutions();
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].outcome, PromptOutcome::kAnswered);
  EXPECT_EQ(resolved[0].action, rules::Action::kDeny);
  auto replies = lines(client);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0], json::parse(answerReply(id, PromptBroker::Answered::kDone)));
  EXPECT_EQ(replies[1], json::parse(closedLine(id, PromptOutcome::kAnswered)));
}

TEST_F(PromptDeskTest, TheFirstAnswerWinsAndALateClientGetsWhatIsOpen) {
  const base::UniqueFd first = promptClient();
  const std::uint64_t id = ask(40000);
  serve();
  // Joins with a question open: greeted, then given it, once.
  const base::UniqueFd second = promptClient();
  auto joined = lines(second);
  ASSERT_EQ(joined.size(), 2u);
  EXPECT_TRUE(joined[0]["ok"]);
  EXPECT_EQ(joined[1]["id"], id);
  lines(first);

  send(second, json{{"answer", id}, {"action", "allow"}}.dump() + "\n");
  serve();
  send(first, json{{"answer", id}, {"action", "deny"}, {"scope", "once"}}.dump() + "\n");
  serve();
  auto told = lines(first);
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[0], json::parse(closedLine(id, PromptOutcome::kAnswered)));
  EXPECT_EQ(told[1]["ok"], false);
  EXPECT_EQ(told[1]["error"], "answered elsewhere");
  const auto resolved = resolutions();
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].action, rules::Action::kAllow);
}

TEST_F(PromptDeskTest, TheLastClientLeavingReleasesWhatIsHeld) {
  base::UniqueFd first = promptClient();
  base::UniqueFd second = promptClient();
  ask(40000);
  ask(40001);
  serve();
  first.reset();
  serve();
  EXPECT_TRUE(resolutions().empty());  // one client is still there
  second.reset();
  serve();
  EXPECT_FALSE(broker_->active());
  const auto resolved = resolutions();
  ASSERT_EQ(resolved.size(), 2u);
  EXPECT_EQ(resolved[0].outcome, PromptOutcome::kReleased);
  EXPECT_EQ(resolved[1].outcome, PromptOutcome::kReleased);
}

TEST_F(PromptDeskTest, PromptClientsHaveNoDeadlineAndAreNotEvicted) {
  const base::UniqueFd client = promptClient();
  lines(client);
  now_ += 3'600'000;  // an hour: every one-shot deadline long past
  // Three one-shot clients at a bound of three: the oldest of them goes, not the prompt.
  std::vector<base::UniqueFd> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(connect());
    serve();
  }
  bool closed = false;
  lines(client, &closed);
  EXPECT_FALSE(closed);
  EXPECT_EQ(server_->promptClients(), 1u);
  const std::uint64_t id = ask(40000);
  serve();
  auto question = lines(client);
  ASSERT_EQ(question.size(), 1u);
  EXPECT_EQ(question[0]["id"], id);
}

TEST_F(PromptDeskTest, ABadAnswerIsRefusedAndTheConnectionStays) {
  const base::UniqueFd client = promptClient();
  lines(client);
  send(client,
       "{\"answer\":1,\"action\":\"maybe\"}\nnot json\n{\"answer\":77,\"action\":\"allow\"}\n");
  serve();
  auto replies = lines(client);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0]["error"], "\"action\" must be \"allow\" or \"deny\"");
  EXPECT_EQ(replies[1]["error"], "an answer is a JSON object");
  EXPECT_EQ(replies[2]["error"], "no such question");
  EXPECT_EQ(server_->promptClients(), 1u);
  // A line longer than any answer: not a prompt client; closed.
  send(client, std::string(PromptStream::kMaxLineBytes + 10, 'x'));
  serve();
  EXPECT_EQ(server_->promptClients(), 0u);
}

TEST_F(PromptDeskTest, AtMostKMaxPromptClients) {
  std::vector<base::UniqueFd> clients;
  for (std::size_t i = 0; i < ControlServer::kMaxPromptClients; ++i) {
    clients.push_back(promptClient());
  }
  EXPECT_EQ(server_->promptClients(), ControlServer::kMaxPromptClients);
  const base::UniqueFd extra = promptClient();
  auto refusal = lines(extra);
  ASSERT_EQ(refusal.size(), 1u);
  EXPECT_EQ(refusal[0]["ok"], false);
  EXPECT_EQ(server_->promptClients(), ControlServer::kMaxPromptClients);
}

TEST(PromptProtocol, AnswersAreReadStrictly) {
  const auto answer = parsePromptAnswer(R"({"answer":5,"action":"deny","scope":"restart"})");
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->id, 5u);
  EXPECT_EQ(answer->action, rules::Action::kDeny);
  EXPECT_EQ(answer->scope, PromptScope::kUntilRestart);
  EXPECT_EQ(parsePromptAnswer(R"({"answer":5,"action":"allow"})")->scope, PromptScope::kOnce);
  EXPECT_FALSE(parsePromptAnswer(R"({"answer":0,"action":"allow"})"));
  EXPECT_FALSE(parsePromptAnswer(R"({"answer":-1,"action":"allow"})"));
  EXPECT_FALSE(parsePromptAnswer(R"({"answer":"5","action":"allow"})"));
  EXPECT_FALSE(parsePromptAnswer(R"({"answer":5,"action":"reject"})"));
  EXPECT_FALSE(parsePromptAnswer(R"({"answer":5,"action":"allow","scope":"always"})"));
  EXPECT_FALSE(parsePromptAnswer(R"([5])"));
}

TEST(PromptProtocol, AQuestionSaysEverythingAPersonNeedsAndSurvivesBadUtf8) {
  PromptQuestion q;
  q.id = 3;
  q.target.exe = "/opt/t\xff";
  q.target.host = "example.org";
  q.flow.ipProto = 17;
  q.flow.remotePort = 53;
  q.pid = 7;
  q.uid = 1000;
  q.user = "alice";
  q.parent = "/usr/bin/bash";
  q.tags = {"flatpak:org.example.App"};
  q.deadlineNs = 10'000'000'000;
  const json line = json::parse(questionLine(q, 4'000'000'000));
  EXPECT_EQ(line["exe"], "/opt/t\xef\xbf\xbd");
  EXPECT_EQ(line["host"], "example.org");
  EXPECT_EQ(line["proto"], "udp");
  EXPECT_EQ(line["user"], "alice");
  EXPECT_EQ(line["parent"], "/usr/bin/bash");
  EXPECT_EQ(line["tags"], json::array({"flatpak:org.example.App"}));
  EXPECT_EQ(line["timeout_ms"], 6000);
  EXPECT_EQ(json::parse(questionLine(q, 11'000'000'000))["timeout_ms"], 0);
}

}  // namespace
}  // namespace warden::engine
