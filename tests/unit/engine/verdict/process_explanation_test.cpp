#include "engine/verdict/process_explanation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rules/config.h"
#include "rules/profile_codec.h"

namespace warden::engine {
namespace {

std::shared_ptr<const rules::CompiledPolicy> curlPolicy() {
  rules::Policy policy;
  policy.config = *rules::parseConfig("", "/t/warden.toml");
  policy.profiles = *rules::parseProfiles(R"(
[[profile]]
name = "curl"
default = "deny"
[[profile.match]]
path = "/nowhere"
[[profile.match]]
path = "/usr/bin/curl"
user = "alice"
)",
                                          "/t/profiles.d/20-http.toml");
  return *rules::CompiledPolicy::compile(std::move(policy), 9);
}

// What `warden explain` shows of the policy (tests/unit/cli/explain_test.cpp reads it).
TEST(ExplainProfile, NamesTheProfileItsMatchAndScore) {
  rules::ProcessInfo curl;
  curl.path = "/usr/bin/curl";
  curl.user = "alice";
  nlohmann::json out = {{"pid", 4242}};
  explainProfile(*curlPolicy(), curl, out);
  EXPECT_EQ(out.dump(),
            R"({"pid":4242,"profile":{"file":"/t/profiles.d/20-http.toml","match_index":1,)"
            R"("match_line":7,"name":"curl","revision":9,"score":5}})");
}

TEST(ExplainProfile, NoProfileSaysWhy) {
  rules::ProcessInfo wget;
  wget.path = "/usr/bin/wget";
  nlohmann::json out = nlohmann::json::object();
  explainProfile(*curlPolicy(), wget, out);
  EXPECT_EQ(out.dump(),
            R"({"profile":null,"profile_reason":"no profile's [[match]] holds: the engine )"
            R"(default applies"})");
}

// A digest being computed: explain says that the flows are `unknown` until it is known, not
// that the engine default applies.
TEST(ExplainProfile, ADigestNotKnownYetSaysSo) {
  rules::Policy policy;
  policy.config = *rules::parseConfig("", "/t/warden.toml");
  policy.profiles = *rules::parseProfiles(R"(
name = "pinned"
[[match]]
sha256 = ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]
)",
                                          "/t/profiles.d/10-pinned.toml");
  const auto compiled = *rules::CompiledPolicy::compile(std::move(policy), 3);
  rules::ProcessInfo process;
  process.path = "/opt/big";
  process.sha256 = [] { return rules::DigestAnswer::notYet(); };
  nlohmann::json out = nlohmann::json::object();
  explainProfile(*compiled, process, out);
  EXPECT_TRUE(out["profile"].is_null());
  EXPECT_NE(out["profile_reason"].get<std::string>().find("unknown"), std::string::npos)
      << out.dump();
}

}  // namespace
}  // namespace warden::engine
