// What `warden prompt` shows and sends, fed wardend's lines and keys without a terminal.
#include "cli/prompt_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warden::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

std::string question(std::uint64_t id, std::string exe = "/opt/tool/bin/tool") {
  return json{{"event", "question"},
              {"id", id},
              {"pid", 4242},
              {"uid", 1000},
              {"user", "alice"},
              {"exe", exe},
              {"exe_on_host", true},
              {"exe_dev", 2049},
              {"exe_ino", 1234},
              {"argv", {exe, "--fetch"}},
              {"parent", "/usr/bin/bash"},
              {"tags", {"systemd:demo.service"}},
              {"direction", "out"},
              {"proto", "tcp"},
              {"remote", "192.0.2.2"},
              {"remote_port", 7100},
              {"local", "192.0.2.1"},
              {"local_port", 40000},
              {"host", "example.org"},
              {"timeout_ms", 29500}}
      .dump();
}

TEST(PromptView, ShowsTheFirstQuestionWithEverythingAndTheKeys) {
  PromptView view;
  const std::string shown = view.received(question(1));
  EXPECT_THAT(shown, HasSubstr("question 1: /opt/tool/bin/tool wants to connect to tcp "
                               "192.0.2.2:7100"));
  EXPECT_THAT(shown, HasSubstr("host       example.org"));
  EXPECT_THAT(shown, HasSubstr("argv       /opt/tool/bin/tool --fetch"));
  EXPECT_THAT(shown, HasSubstr("pid        4242, user alice (uid 1000)"));
  EXPECT_THAT(shown, HasSubstr("parent     /usr/bin/bash"));
  EXPECT_THAT(shown, HasSubstr("tags       systemd:demo.service"));
  EXPECT_THAT(shown, HasSubstr("time left  29 s"));
  EXPECT_THAT(shown, HasSubstr(PromptView::kKeys));
  // A second one waits its turn.
  EXPECT_EQ(view.received(question(2)), "");
  EXPECT_EQ(view.current(), 1u);
}

// A process names its own argv and a DNS answer its host name: control characters in them
// must not rewrite the question the user reads (a cleared line, a forged "program" line).
TEST(PromptView, WhatAProcessOrTheNetworkNamedIsShownEscaped) {
  json q = json::parse(question(1));
  q["argv"] = {"/opt/tool/bin/tool", "\r\x1b[2K\x1b[1A\n  program    /usr/bin/firefox"};
  q["host"] = "evil.example\x1b]0;title\x07";
  q["exe"] = "/tmp/x\x1b[8m";
  PromptView view;
  const std::string shown = view.received(q.dump());
  EXPECT_EQ(shown.find('\x1b'), std::string::npos) << shown;
  EXPECT_EQ(shown.find('\r'), std::string::npos) << shown;
  EXPECT_EQ(shown.find('\x07'), std::string::npos) << shown;
  EXPECT_THAT(shown, Not(HasSubstr("\n  program    /usr/bin/firefox")));
  EXPECT_THAT(shown, HasSubstr("\n  program    /tmp/x\\x1b[8m"));
}

TEST(PromptView, EachKeyAnswersTheQuestionShown) {
  const std::pair<char, json> cases[] = {
      {'a', {{"answer", 1}, {"action", "allow"}, {"scope", "once"}}},
      {'r', {{"answer", 1}, {"action", "allow"}, {"scope", "restart"}}},
      {'t', {{"answer", 1}, {"action", "allow"}, {"scope", "once"}}},
      {'A', {{"answer", 1}, {"action", "allow"}, {"scope", "once"}}},
      {'d', {{"answer", 1}, {"action", "deny"}, {"scope", "once"}}},
      {'R', {{"answer", 1}, {"action", "deny"}, {"scope", "restart"}}},
      {'T', {{"answer", 1}, {"action", "deny"}, {"scope", "once"}}},
      {'D', {{"answer", 1}, {"action", "deny"}, {"scope", "once"}}},
  };
  for (const auto& [key, sent] : cases) {
    PromptView view;
    view.received(question(1));
    view.received(question(2, "/opt/other"));
    const auto keyed = view.key(key);
    ASSERT_TRUE(keyed.send.has_value()) << key;
    EXPECT_EQ(json::parse(*keyed.send), sent) << key;
    // The next question comes up at once.
    EXPECT_THAT(keyed.text, HasSubstr("question 2: /opt/other")) << key;
  }
}

TEST(PromptView, TenMinutesAndAlwaysWriteTheRuleAsWardenAllowDoes) {
  PromptView view;
  view.received(question(1));
  EXPECT_EQ(view.key('t').edit,
            (std::vector<std::string>{"allow", "/opt/tool/bin/tool", "--proto", "tcp", "--port",
                                      "7100", "--host", "example.org", "--for", "10m",
                                      "--same-file", "2049:1234"}));
  auto q = json::parse(question(2));
  q["host"] = nullptr;
  q["proto"] = "udp";
  view.received(q.dump());
  EXPECT_EQ(view.key('D').edit,
            (std::vector<std::string>{"deny", "/opt/tool/bin/tool", "--proto", "udp", "--port",
                                      "7100", "--ip", "192.0.2.2", "--same-file", "2049:1234"}));
  q["id"] = 3;
  q["direction"] = "in";
  q["local_port"] = 22;
  q["proto"] = "icmpv6";
  view.received(q.dump());
  EXPECT_EQ(view.key('A').edit, (std::vector<std::string>{
                                    "allow", "/opt/tool/bin/tool", "--proto", "icmp", "--direction",
                                    "in", "--ip", "192.0.2.2", "--same-file", "2049:1234"}));
  // With the file's ctime, the rule is for that file unwritten since.
  auto timed = json::parse(question(5));
  timed["id"] = 4;
  timed["exe_ctime_ns"] = 1700000000123456789;
  view.received(timed.dump());
  const auto edit = view.key('A').edit;
  ASSERT_GE(edit.size(), 2u);
  EXPECT_EQ(edit.back(), "2049:1234:1700000000123456789");
  view.received(question(4));
  EXPECT_TRUE(view.key('a').edit.empty());
  view.received(question(5));
  EXPECT_TRUE(view.key('r').edit.empty());
}

// A process that runs another file at the path than the host has there (a bind mount in a
// mount namespace of its own), or one whose file wardend could not tell: the question says so,
// and no key writes a rule, which would name the host's file (another program).
TEST(PromptView, NoRuleIsWrittenForAPathThatIsNotTheHostsFile) {
  auto q = json::parse(question(1, "/usr/bin/firefox"));
  q["exe_on_host"] = false;
  q["exe_ino"] = 0;
  PromptView view;
  EXPECT_THAT(view.received(q.dump()), HasSubstr("/usr/bin/firefox (not the host's file"));
  for (const char key : {'t', 'A', 'T', 'D'}) {
    const auto keyed = view.key(key);
    EXPECT_FALSE(keyed.send.has_value()) << key;
    EXPECT_TRUE(keyed.edit.empty()) << key;
    EXPECT_THAT(keyed.text, HasSubstr("no rule can name it")) << key;
  }
  EXPECT_TRUE(view.key('a').send.has_value());  // once: the held flow only
}

TEST(PromptView, SaysWhatWasDoneOnceWardendConfirms) {
  PromptView view;
  view.received(question(1));
  view.key('r');
  EXPECT_EQ(view.received(R"({"event":"answer","id":1,"ok":true})"),
            "question 1: allowed until wardend restarts: /opt/tool/bin/tool out tcp "
            "192.0.2.2:7100 (example.org)\n");
  // wardend's closing of the question this client answered says nothing more.
  EXPECT_EQ(view.received(R"({"event":"closed","id":1,"reason":"answered"})"), "");
}

TEST(PromptView, AnAnswerThatCameTooLateSaysSo) {
  PromptView view;
  view.received(question(1));
  view.key('a');
  EXPECT_THAT(view.received(R"({"event":"answer","id":1,"ok":false,"error":"answered elsewhere"})"),
              HasSubstr("question 1: not applied: answered elsewhere"));
}

TEST(PromptView, QuestionsClosedElsewhereLeaveTheScreen) {
  PromptView view;
  view.received(question(1));
  view.received(question(2, "/opt/other"));
  const std::string text = view.received(R"({"event":"closed","id":1,"reason":"answered"})");
  EXPECT_THAT(text, HasSubstr("question 1 (/opt/tool/bin/tool out tcp 192.0.2.2:7100 "
                              "(example.org)): answered elsewhere"));
  EXPECT_THAT(text, HasSubstr("question 2: /opt/other"));
  EXPECT_THAT(view.received(R"({"event":"closed","id":2,"reason":"timeout"})"),
              HasSubstr("no answer in time, the engine verdict was given"));
  EXPECT_EQ(view.open(), 0u);
  // With nothing open a key answers nothing.
  EXPECT_FALSE(view.key('a').send.has_value());
}

TEST(PromptView, OtherKeysRepeatTheKeysAndQOrCtrlCQuit) {
  PromptView view;
  view.received(question(1));
  const auto other = view.key('x');
  EXPECT_FALSE(other.send.has_value());
  EXPECT_THAT(other.text, HasSubstr(PromptView::kKeys));
  EXPECT_EQ(view.open(), 1u);
  EXPECT_TRUE(view.key('q').quit);
  EXPECT_TRUE(view.key('\x03').quit);
}

TEST(PromptView, AnInboundFlowNamesTheLocalPort) {
  PromptView view;
  auto q = json::parse(question(1));
  q["direction"] = "in";
  q["local_port"] = 22;
  q["host"] = nullptr;
  const std::string shown = view.received(q.dump());
  EXPECT_THAT(shown, HasSubstr("wants to accept tcp local port 22 from 192.0.2.2"));
  EXPECT_THAT(shown, HasSubstr("host       -"));
  EXPECT_THAT(shown, Not(HasSubstr("7100")));
}

}  // namespace
}  // namespace warden::cli
