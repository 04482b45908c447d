// The decision runs on the packet path: after warm-up it must not touch the heap.
#include <gtest/gtest.h>

#include <optional>

#include "rules/compiled_policy.h"
#include "rules/config.h"
#include "rules/profile_codec.h"
#include "tests/alloc/allocation_counter.h"

namespace warden::rules {
namespace {

using warden::testing::allocationsOf;

std::shared_ptr<const CompiledPolicy> policy() {
  Policy policy;
  policy.config = *parseConfig("[[rule]]\naction = 'allow'\nscope = 'localhost'\n", "/t/w.toml");
  policy.profiles = *parseProfiles(R"(
[[profile]]
name = "curl"
default = "deny"
[[profile.match]]
path = "/usr/bin/curl"
[[profile.rule]]
action = "allow"
proto = "tcp"
ip = ["192.0.2.0/24", "2001:db8::/32"]
ports = [443, "8000-8100"]
host = "*.example.org"
[[profile]]
name = "vendor"
[[profile.match]]
path_glob = "/opt/vendor/*/bin/*"
env = { VENDOR = "*" }
tags = ["systemd:vendor.service"]
[[profile]]
name = "pinned"
[[profile.match]]
sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
[[profile]]
name = "job"
[[profile.match]]
cmdline = "--job=[0-9]+"
)",
                                   "/t/p.toml");
  return *CompiledPolicy::compile(std::move(policy));
}

Flow flow() {
  Flow f;
  f.ipProto = 6;
  f.remote = *IpAddress::parse("192.0.2.7");
  f.remotePort = 443;
  f.host = "api.example.org";
  return f;
}

TEST(DecideAllocation, PathGlobHashAndRulesAllocateNothing) {
  const auto compiled = policy();
  ProcessInfo curl;
  curl.path = "/usr/bin/curl";
  ProcessInfo vendor;
  vendor.path = "/opt/vendor/x/bin/tool";
  vendor.env = Environment{{"VENDOR", "1"}};
  vendor.tags = std::vector<std::string>{"systemd:vendor.service"};
  ProcessInfo pinned;
  pinned.path = "/usr/bin/other";
  const Sha256 digest = *parseSha256(std::string(64, 'a'));
  pinned.sha256 = [digest] { return std::optional<Sha256>(digest); };
  const Flow f = flow();
  for (const ProcessInfo* p : {&curl, &vendor, &pinned}) {
    compiled->decide(Subject::process(*p), f);  // warm-up
  }

  Decision decisions[5];
  EXPECT_EQ(allocationsOf([&] {
              decisions[0] = compiled->decide(Subject::process(curl), f);
              decisions[1] = compiled->decide(Subject::process(vendor), f);
              decisions[2] = compiled->decide(Subject::process(pinned), f);
              decisions[3] = compiled->decide(Subject::unknown(), f);
              decisions[4] = compiled->decide(Subject::kernel(), f);
            }),
            0u);
  EXPECT_EQ(decisions[0].action, Action::kAllow);
  EXPECT_EQ(decisions[1].profile, "vendor");
  EXPECT_EQ(decisions[2].profile, "");
  EXPECT_EQ(decisions[3].by, DecidedBy::kUnknown);
  EXPECT_EQ(decisions[4].by, DecidedBy::kKernel);
}

// The engine's steady state: the process's profile chosen for its first flow and remembered.
TEST(DecideAllocation, ARememberedProfileAllocatesNothing) {
  const auto compiled = policy();
  ProcessInfo job;
  job.setArgv({"worker", "--job=12"});
  const Flow f = flow();
  std::optional<ProfileSelection> remembered;
  compiled->decide(Subject::process(job, &remembered), f);
  ASSERT_TRUE(remembered.has_value());
  ASSERT_EQ(remembered->profile, 3);
  EXPECT_EQ(allocationsOf([&] { compiled->decide(Subject::process(job, &remembered), f); }), 0u);
  EXPECT_EQ(allocationsOf([&] { compiled->decideUnreadable(); }), 0u);
}

}  // namespace
}  // namespace warden::rules
