// `warden explain` as text and JSON: wardend's description of a process and its selection,
// completed from the policy view.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/explain_text.h"

namespace warden::cli {
namespace {

const std::string kDigest = "58824afa640f512e07e895c0f2d1e1fe2c3fd1456acab689b6e4c1c75cef2593";

// As wardend sends it (engine/verdict/process_explanation.cpp, explainProcess).
nlohmann::json curlProcess() {
  return nlohmann::json::parse(R"({
    "pid": 4242, "start_ticks": 1000, "ppid": 4000, "uid": 1000, "gid": 1000, "user": "alice",
    "comm": "curl", "path": "/usr/bin/curl", "path_deleted": false,
    "argv": ["curl", "-s", "https://example.org"], "argv_truncated": false,
    "env_known": true, "env_names": ["HOME", "PROXY"], "cwd": "/home/alice", "root": "/",
    "cgroup": "/user.slice/user-1000.slice/session-3.scope",
    "ancestors": ["/usr/bin/bash", "/usr/sbin/sshd"], "tags": ["systemd:session-3.scope"],
    "source": "proc", "complete": true, "exited": false, "sha256": ")" +
                               kDigest + R"(",
    "profile": {"name": "curl", "file": "/etc/warden/profiles.d/20-http.toml",
                "match_index": 1, "match_line": 7, "score": 5, "revision": 9}})");
}

PolicyView revisionNine() {
  PolicyView view;
  view.source = PolicyView::Source::kRevision;
  view.revision = 9;
  view.engineDefault = rules::Action::kReject;
  ProfileView curl;
  curl.name = "curl";
  curl.file = "/etc/warden/profiles.d/20-http.toml";
  curl.line = 1;
  curl.defaultAction = rules::Action::kDeny;
  curl.rules = {{0, curl.file, 10, "allow out tcp ports=443", {}, {}}};
  curl.matches = std::vector<std::string>{"path=/usr/bin/curl", "path=/usr/bin/curl env=PROXY=*"};
  view.profiles.push_back(curl);
  return view;
}

std::string print(const Explanation& e) {
  std::ostringstream out;
  printExplanation(e, out);
  return out.str();
}

void expectLines(const std::string& text, std::initializer_list<const char*> expected) {
  for (const char* line : expected) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\n" << text;
  }
}

TEST(Explanation, IdentityThenTheProfileWithWhatTheViewAdds) {
  const PolicyView view = revisionNine();
  const Explanation e{curlProcess(), &view};
  expectLines(print(e), {
                            "process      4242 (curl), parent 4000, user alice (uid 1000)\n",
                            "executable   /usr/bin/curl\n",
                            "             sha256 58824afa640f512e",
                            "command      curl -s https://example.org\n",
                            "parents      /usr/bin/bash, /usr/sbin/sshd\n",
                            "tags         systemd:session-3.scope\n",
                            "environment  2 variables (values not shown)\n",
                            "cgroup       /user.slice/user-1000.slice/session-3.scope\n",
                            "described    from proc\n",
                            "profile      curl (20-http.toml:1), policy revision 9\n",
                            "through [[match]] 2 (20-http.toml:7): path=/usr/bin/curl "
                            "env=PROXY=*, specificity 5\n",
                            "then its 1 rule (`warden rules curl`), otherwise deny (profile "
                            "default)\n",
                        });
  const auto json = explanationJson(e);
  EXPECT_EQ(json["profile"]["mode"], nullptr);
  // A profile in learn mode says so.
  PolicyView learning = revisionNine();
  learning.profiles[0].mode = rules::Mode::kLearn;
  expectLines(print(Explanation{curlProcess(), &learning}),
              {"default); learn mode: they are logged but accepted\n"});
  EXPECT_EQ(explanationJson(Explanation{curlProcess(), &learning})["profile"]["mode"], "learn");
  EXPECT_EQ(json["process"]["pid"], 4242);
  EXPECT_EQ(json["revision"], 9);
  EXPECT_EQ(json["profile"]["name"], "curl");
  EXPECT_EQ(json["profile"]["score"], 5);
  EXPECT_EQ(json["profile"]["match_index"], 1);
  EXPECT_EQ(json["profile"]["match_line"], 7);
  EXPECT_EQ(json["profile"]["match_text"], "path=/usr/bin/curl env=PROXY=*");
  EXPECT_EQ(json["profile"]["line"], 1);
  EXPECT_EQ(json["profile"]["default"], "deny");
  EXPECT_EQ(json["profile"]["rule_count"], 1);
}

TEST(Explanation, WithoutAViewOrOfAnotherRevisionTheSelectionStillShows) {
  for (bool otherRevision : {false, true}) {
    PolicyView view = revisionNine();
    view.revision = 10;
    const Explanation e{curlProcess(), otherRevision ? &view : nullptr};
    const std::string text = print(e);
    expectLines(text, {"profile      curl (20-http.toml), policy revision 9\n",
                       "through [[match]] 2 (20-http.toml:7), specificity 5\n",
                       "then its rules (`warden rules curl`)\n"});
    EXPECT_FALSE(explanationJson(e)["profile"].contains("match_text"));
  }
}

TEST(Explanation, NoProfileMeansTheEngineDefault) {
  auto process = curlProcess();
  process["profile"] = nullptr;
  process["profile_reason"] = "no profile's [[match]] holds: the engine default applies";
  process["exited"] = true;
  process["env_known"] = false;
  const PolicyView view = revisionNine();
  const Explanation e{process, &view};
  const std::string text = print(e);
  expectLines(text, {", exited\n", "environment  unknown (`env` matches do not hold)\n",
                     "profile      none: no profile's [[match]] holds: the engine default "
                     "applies\n",
                     "its flows get the global rules, then reject ([engine] default)\n"});
  EXPECT_TRUE(explanationJson(e)["profile"].is_null());
}

// A process whose profile cannot be told (its image being hashed, its command line read in
// part): its flows get the engine `unknown` verdict, not the default.
TEST(Explanation, AnUnsettledProfileMeansTheEngineUnknownVerdict) {
  auto process = curlProcess();
  process["profile"] = nullptr;
  process["profile_unsettled"] = true;
  process["profile_reason"] = "its command line or environment was read only in part";
  process["env_truncated"] = true;
  PolicyView view = revisionNine();
  view.engineUnknown = rules::Action::kDeny;
  const std::string text = print(Explanation{process, &view});
  expectLines(text, {"variables (values not shown), and more not read\n",
                     "profile      none: its command line or environment was read only in part\n",
                     "its flows get the global rules, then deny ([engine] unknown)\n"});
  EXPECT_EQ(print(Explanation{process, nullptr}).find("([engine] default)"), std::string::npos);
}

TEST(Explanation, ListsTheVerdictsHeldInTheKernelAfterTheProfile) {
  auto process = curlProcess();
  process["kernel_verdicts"] = nlohmann::json::parse(R"([
    {"action": "allow", "protocol": "tcp", "remote": "192.0.2.2", "port": 443, "hits": 12,
     "expires_in_s": 540},
    {"action": "reject", "protocol": "udp", "remote": "2001:db8::9", "port": 53, "hits": 0,
     "expires_in_s": 30}])");
  const PolicyView view = revisionNine();
  const std::string text = print(Explanation{process, &view});
  expectLines(text, {"kernel-held  allow tcp 192.0.2.2:443, 12 flows decided, ends in 540 s\n",
                     "             reject udp [2001:db8::9]:53, 0 flows decided, ends in 30 s\n"});
  EXPECT_LT(text.find("profile "), text.find("kernel-held"));
  process["kernel_verdicts"] = nlohmann::json::array();
  expectLines(print(Explanation{process, &view}),
              {"kernel-held  none: its next flows go to wardend\n"});
  process.erase("kernel_verdicts");  // not held at all (or an older wardend): no line
  EXPECT_EQ(print(Explanation{process, &view}).find("kernel-held"), std::string::npos);
}

TEST(Explanation, SaysWhenThePathIsNotTheHostsFile) {
  auto process = curlProcess();
  process["path_on_host"] = false;
  process["ancestors"] = {"", "/usr/sbin/sshd"};
  process["profile"] = nullptr;
  const std::string text = print({process, nullptr});
  expectLines(text, {"executable   /usr/bin/curl\n             is not the host's file at that path",
                     "path, path_glob, parent_path and ancestor_path do not match it\n",
                     "parents      (unknown, or not the host's file), /usr/sbin/sshd\n"});
  process["path_on_host"] = true;
  EXPECT_EQ(print({process, nullptr}).find("not the host's file at that path"), std::string::npos);
}

TEST(Explanation, OddAnswersDoNotThrow) {
  EXPECT_NO_THROW(print({nlohmann::json::object(), nullptr}));
  EXPECT_NO_THROW(print({nlohmann::json{{"profile", {{"name", 5}}}, {"argv", "x"}}, nullptr}));
  EXPECT_NO_THROW(explanationJson({nlohmann::json{{"profile", 1}}, nullptr}));
}

}  // namespace
}  // namespace warden::cli
