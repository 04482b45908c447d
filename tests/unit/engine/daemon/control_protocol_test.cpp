// The control protocol without a socket: request lines in, answer lines out, the daemon a fake.
#include "engine/daemon/control_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warden::engine {
namespace {

using nlohmann::json;

// Records each command it is asked, and answers what the test set.
class FakeCommands : public ControlCommands {
 public:
  json status() override {
    calls.push_back("status");
    return statusObject;
  }
  std::optional<json> explain(std::uint32_t pid) override {
    calls.push_back("explain " + std::to_string(pid));
    return process;
  }
  std::expected<Reloaded, std::string> reloadPolicy(bool redecide) override {
    calls.push_back(redecide ? "reload redecide" : "reload");
    return reloaded;
  }
  json hits() override {
    calls.push_back("hits");
    return hitsObject;
  }

  std::vector<std::string> calls;
  json hitsObject = {{"revision", 3}, {"hits", json::array({{{"profile", "curl"}, {"hits", 2}}})}};
  json statusObject = {{"running", true}};
  std::optional<json> process;
  std::expected<Reloaded, std::string> reloaded = Reloaded{.revision = 7, .redecide = std::nullopt};
};

class ControlProtocol : public ::testing::Test {
 protected:
  std::string answer(std::string_view line) { return answerControlRequest(line, commands_); }

  FakeCommands commands_;
};

TEST(ParseControlRequest, ReadsEachCommand) {
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"status"})"),
            ControlRequest{StatusRequest{}});
  EXPECT_EQ(parseControlRequest(R"({"command":"explain","pid":4242,"version":1})"),
            ControlRequest{ExplainRequest{4242}});
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"reload"})"),
            ControlRequest{ReloadRequest{false}});
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"reload","redecide":false})"),
            ControlRequest{ReloadRequest{false}});
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"reload","redecide":true})"),
            ControlRequest{ReloadRequest{true}});
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"hits"})"),
            ControlRequest{HitsRequest{}});
  // Fields a command does not use are ignored.
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"status","pid":1,"extra":[1]})"),
            ControlRequest{StatusRequest{}});
}

TEST(ParseControlRequest, MalformedRequestsSayWhatIsExpected) {
  const std::string expected = R"(malformed request: expected {"version":1,"command":"..."})";
  for (const char* line :
       {"status", "{", "not json at all", "[1,2]", "\"status\"", "{}", R"({"version":1})",
        R"({"version":1,"command":5})", R"({"version":1,"command":null})",
        R"({"version":1,"command":"status")"}) {
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), expected) << line;
  }
}

TEST(ParseControlRequest, OtherVersionsAreRefused) {
  for (const char* line : {R"({"command":"status"})", R"({"version":2,"command":"status"})",
                           R"({"version":0,"command":"status"})"}) {
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), "unsupported protocol version") << line;
  }
}

// A version of another type once threw out of json::value, and the exception stopped wardend.
TEST(ParseControlRequest, VersionOfAnotherTypeIsRefusedNotThrown) {
  for (const char* line :
       {R"({"version":"1","command":"status"})", R"({"version":null,"command":"status"})",
        R"({"version":[1],"command":"status"})", R"({"version":{},"command":"status"})"}) {
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), "unsupported protocol version") << line;
  }
  // Numbers keep being read as they always were.
  EXPECT_TRUE(parseControlRequest(R"({"version":1.0,"command":"status"})").has_value());
}

// Found by fuzz/control_fuzzer: a version no int holds was converted to one anyway: 1e300 is
// undefined behaviour (a sanitizer stops there), and 4294967297 or -4294967295 wrapped to 1 and
// were taken for version 1.
TEST(ParseControlRequest, VersionsNoIntHoldsAreRefused) {
  for (const char* version :
       {"4294967297", "-4294967295", "18446744073709551617", "1e300", "-1e300", "0.5", "2.0"}) {
    const std::string line = std::string(R"({"command":"status","version":)") + version + "}";
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), "unsupported protocol version") << line;
  }
  for (const char* version : {"1", "1.5", "true"}) {
    const std::string line = std::string(R"({"command":"status","version":)") + version + "}";
    EXPECT_TRUE(parseControlRequest(line).has_value()) << line;
  }
}

TEST(ParseControlRequest, UnknownCommandIsNamed) {
  const auto parsed = parseControlRequest(R"({"version":1,"command":"frobnicate"})");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error(), "unknown command 'frobnicate'");
}

TEST(ParseControlRequest, ExplainNeedsAPid) {
  for (const char* line :
       {R"({"version":1,"command":"explain"})", R"({"version":1,"command":"explain","pid":-1})",
        R"({"version":1,"command":"explain","pid":"42"})",
        R"({"version":1,"command":"explain","pid":4.5})"}) {
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), R"(explain needs a numeric "pid")") << line;
  }
}

// Found by fuzz/control_fuzzer: a pid past 2^32 - 1 wrapped into another process's pid
// (4294967297 explained pid 1).
TEST(ParseControlRequest, PidsNoProcessCanHaveAreRefused) {
  for (const char* line : {R"({"version":1,"command":"explain","pid":4294967297})",
                           R"({"version":1,"command":"explain","pid":18446744073709551615})"}) {
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), R"(explain needs a numeric "pid")") << line;
  }
  EXPECT_EQ(parseControlRequest(R"({"version":1,"command":"explain","pid":4294967295})"),
            ControlRequest{ExplainRequest{4294967295u}});
}

TEST(ParseControlRequest, RedecideMustBeABoolean) {
  for (const char* line : {R"({"version":1,"command":"reload","redecide":"yes"})",
                           R"({"version":1,"command":"reload","redecide":1})",
                           R"({"version":1,"command":"reload","redecide":null})"}) {
    const auto parsed = parseControlRequest(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error(), R"("redecide" must be true or false; nothing was reloaded)") << line;
  }
}

// The answers byte for byte, as clients (cli/control_client.cpp, the tests) have read them.
TEST_F(ControlProtocol, StatusAnswerWrapsTheDaemonsStatus) {
  EXPECT_EQ(answer(R"({"version":1,"command":"status"})"),
            R"({"ok":true,"status":{"running":true},"version":1})");
  EXPECT_EQ(commands_.calls, std::vector<std::string>{"status"});
}

TEST_F(ControlProtocol, HitsAnswerCarriesTheDaemonsCounts) {
  EXPECT_EQ(answer(R"({"version":1,"command":"hits"})"),
            R"({"hits":[{"hits":2,"profile":"curl"}],"ok":true,"revision":3,"version":1})");
  EXPECT_EQ(commands_.calls, std::vector<std::string>{"hits"});
}
TEST_F(ControlProtocol, ExplainAnswersTheProcessOrNoSuchProcess) {
  EXPECT_EQ(answer(R"({"version":1,"command":"explain","pid":99})"),
            R"({"error":"no such process","ok":false,"version":1})");
  commands_.process = json{{"pid", 99}, {"exe", "/usr/bin/curl"}};
  EXPECT_EQ(answer(R"({"version":1,"command":"explain","pid":99})"),
            R"({"ok":true,"process":{"exe":"/usr/bin/curl","pid":99},"version":1})");
  EXPECT_EQ(commands_.calls, (std::vector<std::string>{"explain 99", "explain 99"}));
}

// Any user can run a process whose argv is not UTF-8; explaining it once stopped wardend (the
// answer's json::dump threw).
TEST_F(ControlProtocol, BytesThatAreNotUtf8AreReplacedNotThrown) {
  const std::string notUtf8 = std::string("sl") + '\xff' + "eep";
  const std::string replaced = std::string("sl") + "\xef\xbf\xbd" + "eep";  // U+FFFD
  commands_.process = json{{"argv", {notUtf8, "20"}}};
  EXPECT_EQ(answer(R"({"version":1,"command":"explain","pid":99})"),
            R"({"ok":true,"process":{"argv":[")" + replaced + R"(","20"]},"version":1})");
}

TEST_F(ControlProtocol, ReloadAnswersTheRevisionAndWhatRedecidingDid) {
  EXPECT_EQ(answer(R"({"version":1,"command":"reload"})"),
            R"({"ok":true,"revision":7,"version":1})");
  commands_.reloaded = ControlCommands::Reloaded{.revision = 8, .redecide = json{{"kept", 3}}};
  EXPECT_EQ(answer(R"({"version":1,"command":"reload","redecide":true})"),
            R"({"ok":true,"redecide":{"kept":3},"revision":8,"version":1})");
  commands_.reloaded = std::unexpected("reload refused: the configuration has errors");
  EXPECT_EQ(answer(R"({"version":1,"command":"reload"})"),
            R"({"error":"reload refused: the configuration has errors","ok":false,"version":1})");
  EXPECT_EQ(commands_.calls, (std::vector<std::string>{"reload", "reload redecide", "reload"}));
}

TEST_F(ControlProtocol, RefusedRequestsRunNothing) {
  EXPECT_EQ(answer(R"({"version":1,"command":"reload","redecide":"yes"})"),
            R"({"error":"\"redecide\" must be true or false; nothing was reloaded","ok":false,)"
            R"("version":1})");
  EXPECT_EQ(answer(R"({"version":1,"command":"shutdown"})"),
            R"({"error":"unknown command 'shutdown'","ok":false,"version":1})");
  EXPECT_EQ(answer("{\"version\":1,"),
            R"({"error":"malformed request: expected {\"version\":1,\"command\":\"...\"}",)"
            R"("ok":false,"version":1})");
  EXPECT_EQ(answer(R"({"version":3,"command":"status"})"),
            R"({"error":"unsupported protocol version","ok":false,"version":1})");
  EXPECT_TRUE(commands_.calls.empty());
}

TEST_F(ControlProtocol, EmptyRequestAndSocketRefusalsListVersionFirst) {
  EXPECT_EQ(answer(""), R"({"version":1,"ok":false,"error":"empty request"})");
  EXPECT_EQ(socketRefusal("permission denied: the control socket is for root only"),
            R"({"version":1,"ok":false,"error":"permission denied: the control socket is for )"
            R"(root only"})");
  EXPECT_TRUE(commands_.calls.empty());
}

}  // namespace
}  // namespace warden::engine
