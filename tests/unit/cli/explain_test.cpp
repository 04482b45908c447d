// `warden explain` without a daemon: wardend's description of a process (as JSON) becomes the
// matcher's view, the policy selects a profile, and the result reads as a person expects.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "cli/explain_text.h"
#include "cli/process_view.h"
#include "rules/compiled_policy.h"

namespace warden::cli {
namespace {

const std::string kDigest = "58824afa640f512e07e895c0f2d1e1fe2c3fd1456acab689b6e4c1c75cef2593";

// As engine/attributor.cpp's processJson() sends it.
nlohmann::json curlProcess() {
  return nlohmann::json::parse(R"({
    "pid": 4242, "start_ticks": 1000, "ppid": 4000, "uid": 1000, "gid": 1000, "user": "alice",
    "comm": "curl", "path": "/usr/bin/curl", "path_deleted": false,
    "argv": ["curl", "-s", "https://example.org"], "argv_truncated": false,
    "env_known": true, "env_names": ["HOME", "PROXY"], "cwd": "/home/alice", "root": "/",
    "cgroup": "/user.slice/user-1000.slice/session-3.scope",
    "ancestors": ["/usr/bin/bash", "/usr/sbin/sshd"], "tags": ["systemd:session-3.scope"],
    "source": "proc", "complete": true, "exited": false, "sha256": ")" +
                               kDigest + R"("})");
}

rules::Policy samplePolicy() {
  rules::Policy policy;
  policy.config.file = "/etc/warden/warden.toml";
  policy.config.defaultAction = rules::Action::kReject;
  rules::Profile curl;
  curl.name = "curl";
  curl.file = "/etc/warden/profiles.d/20-http.toml";
  curl.where = {curl.file, 1, 1};
  curl.defaultAction = rules::Action::kDeny;
  rules::Match byPath;
  byPath.path = "/usr/bin/curl";
  byPath.where = {curl.file, 4, 1};
  rules::Match byPathAndProxy = byPath;
  byPathAndProxy.env = {{"PROXY", std::nullopt}};
  byPathAndProxy.where = {curl.file, 7, 1};
  curl.matches = {byPath, byPathAndProxy};
  rules::Rule web;
  web.ports = {{443, 443}};
  curl.rules = {web};
  policy.profiles.push_back(curl);
  return policy;
}

TEST(ProcessInfoOf, TakesWhatWardendKnows) {
  rules::Environment env = {{"HOME", "/home/alice"}, {"PROXY", "http://proxy:3128"}};
  const rules::ProcessInfo view = processInfoOf(curlProcess(), env);
  EXPECT_EQ(view.path, "/usr/bin/curl");
  EXPECT_EQ(view.cmdline, "curl -s https://example.org");
  EXPECT_EQ(view.env, env);
  EXPECT_EQ(view.tags, (std::vector<std::string>{"systemd:session-3.scope"}));
  EXPECT_EQ(view.uid, 1000u);
  EXPECT_EQ(view.user, "alice");
  EXPECT_EQ(view.ancestors, (std::vector<std::string>{"/usr/bin/bash", "/usr/sbin/sshd"}));
  ASSERT_TRUE(view.sha256);
  EXPECT_EQ(view.sha256(), rules::parseSha256(kDigest));
}

TEST(ProcessInfoOf, WhatWardendDoesNotKnowStaysUnknown) {
  auto process = curlProcess();
  process["env_known"] = false;
  process["user"] = "";
  process["ancestors"] = nlohmann::json::array();
  process["argv"] = nlohmann::json::array();
  process["sha256"] = nullptr;
  process.erase("path");
  const rules::ProcessInfo view = processInfoOf(process, rules::Environment{{"A", "b"}});
  EXPECT_FALSE(view.env.has_value()) << "an environment wardend could not read matches nothing";
  EXPECT_FALSE(view.user.has_value());
  EXPECT_FALSE(view.ancestors.has_value());
  EXPECT_FALSE(view.argv.has_value());
  EXPECT_FALSE(view.path.has_value());
  EXPECT_FALSE(view.sha256);
  EXPECT_NO_THROW(processInfoOf(nlohmann::json("garbage"), std::nullopt));
}

TEST(ReadEnvironment, OnlyForTheSameProcess) {
  std::ifstream in("/proc/self/stat");
  const std::string stat{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::istringstream fields(stat.substr(stat.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) fields >> field;
  const std::uint64_t ticks = std::stoull(field);
  auto env = readEnvironment(getpid(), ticks);
  ASSERT_TRUE(env.has_value());
  if (getenv("PATH") != nullptr) {
    EXPECT_TRUE(env->contains("PATH"));
  }
  EXPECT_FALSE(readEnvironment(getpid(), ticks + 1).has_value()) << "another start: pid reused";
  EXPECT_FALSE(readEnvironment(999'999'999, 0).has_value());
}

std::string print(const Explanation& e) {
  std::ostringstream out;
  printExplanation(e, out);
  return out.str();
}

TEST(Explanation, TheMostSpecificMatchWinsAndIsShownWithItsPlace) {
  auto compiled = rules::CompiledPolicy::compile(samplePolicy());
  ASSERT_TRUE(compiled.has_value());
  Explanation e;
  e.process = curlProcess();
  e.environmentRead = true;
  e.policy = &(*compiled)->policy();
  e.selection = (*compiled)->selectProfile(
      processInfoOf(e.process, rules::Environment{{"PROXY", "http://proxy:3128"}}));
  const std::string text = print(e);
  for (const char* expected : {
           "process      4242 (curl), parent 4000, user alice (uid 1000)\n",
           "executable   /usr/bin/curl\n",
           "             sha256 " /* digest follows */,
           "command      curl -s https://example.org\n",
           "parents      /usr/bin/bash, /usr/sbin/sshd\n",
           "tags         systemd:session-3.scope\n",
           "environment  2 variables (values not shown)\n",
           "cgroup       /user.slice/user-1000.slice/session-3.scope\n",
           "profile      curl (20-http.toml:1)\n",
           "through [[match]] 2 of 2 (20-http.toml:7): path=/usr/bin/curl env=PROXY=*, "
           "specificity 5\n",
           "then its 1 rule (`warden rules curl`), otherwise deny (profile default)\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
  const auto json = explanationJson(e);
  EXPECT_EQ(json["profile"]["name"], "curl");
  EXPECT_EQ(json["profile"]["score"], 5);
  EXPECT_EQ(json["profile"]["match"]["index"], 1);
  EXPECT_EQ(json["profile"]["match"]["line"], 7);
  EXPECT_EQ(json["profile"]["default"], "deny");
  EXPECT_EQ(json["engine_default"], "reject");
  EXPECT_EQ(json["process"]["pid"], 4242);
}

TEST(Explanation, WithoutTheEnvironmentEnvMatchesCannotHold) {
  auto compiled = rules::CompiledPolicy::compile(samplePolicy());
  ASSERT_TRUE(compiled.has_value());
  Explanation e;
  e.process = curlProcess();
  e.policy = &(*compiled)->policy();
  e.selection = (*compiled)->selectProfile(processInfoOf(e.process, std::nullopt));
  const std::string text = print(e);
  EXPECT_NE(text.find("through [[match]] 1 of 2 (20-http.toml:4): path=/usr/bin/curl, "
                      "specificity 4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("not readable here, so `env` matches were not tried"), std::string::npos);
}

TEST(Explanation, NoProfileMeansTheEngineDefault) {
  auto compiled = rules::CompiledPolicy::compile(samplePolicy());
  ASSERT_TRUE(compiled.has_value());
  Explanation e;
  e.process = curlProcess();
  e.process["path"] = "/usr/bin/wget";
  e.process["exited"] = true;
  e.policy = &(*compiled)->policy();
  e.selection = (*compiled)->selectProfile(processInfoOf(e.process, std::nullopt));
  const std::string text = print(e);
  EXPECT_NE(text.find(", exited\n"), std::string::npos) << text;
  EXPECT_NE(text.find("profile      none: no profile's [[match]] holds\n"), std::string::npos);
  EXPECT_NE(text.find("then the [engine] default: reject\n"), std::string::npos) << text;
  EXPECT_TRUE(explanationJson(e)["profile"].is_null());
}

}  // namespace
}  // namespace warden::cli
