#include "rules/profile_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warden::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::string_view kFile = "/etc/warden/profiles.d/p.toml";
const std::string kHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

std::string describe(const Diagnostic& d) {
  return std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " + d.message;
}

std::vector<std::string> errorsOf(std::string_view text) {
  const auto profiles = parseProfiles(text, kFile);
  if (profiles) return {};
  std::vector<std::string> out;
  for (const auto& d : profiles.error()) {
    EXPECT_EQ(d.where.file, kFile);
    if (d.severity == Severity::kError) out.push_back(describe(d));
  }
  return out;
}

std::vector<std::string> warningsOf(std::string_view text) {
  Diagnostics warnings;
  const auto profiles = parseProfiles(text, kFile, &warnings);
  EXPECT_TRUE(profiles) << (profiles ? "" : profiles.error().front().format());
  std::vector<std::string> out;
  for (const auto& d : warnings) out.push_back(describe(d));
  return out;
}

std::vector<Profile> parsed(std::string_view text) {
  auto profiles = parseProfiles(text, kFile);
  if (!profiles) {
    for (const auto& d : profiles.error()) ADD_FAILURE() << d.format();
    return {};
  }
  return std::move(*profiles);
}

TEST(ProfileCodec, SingleProfileWithEveryKey) {
  const auto profiles = parsed(R"(name = "curl"
description = "command-line HTTP client"
default = "deny"

[[match]]
path = "/usr/bin/curl"
path_glob = "/usr/bin/cur?"
sha256 = [")" + kHash + R"("]
cmdline = "--proxy\\s"
env = { SNAP_NAME = "firefox", DISPLAY = "*" }
tags = ["flatpak:org.mozilla.firefox", "systemd:x.service"]
user = "alice"
uid = 1000
parent_path = "/usr/bin/bash"
ancestor_path = "/usr/sbin/cron"

[[match]]
path = "/usr/local/bin/curl"

[[rule]]
action = "allow"
direction = "out"
proto = "tcp"
ip = ["192.0.2.10", "2001:db8::/32"]
ports = [443, "8000-8100"]
host = "*.example.org"
scope = "internet"
log = false
comment = "why"
)");
  ASSERT_EQ(profiles.size(), 1u);
  const Profile& p = profiles[0];
  EXPECT_EQ(p.name, "curl");
  EXPECT_EQ(p.description, "command-line HTTP client");
  EXPECT_EQ(p.defaultAction, Action::kDeny);
  EXPECT_EQ(p.file, kFile);
  EXPECT_EQ(p.where.line, 1);
  EXPECT_EQ(p.where.column, 8);
  ASSERT_EQ(p.matches.size(), 2u);
  const Match& m = p.matches[0];
  EXPECT_EQ(m.path, "/usr/bin/curl");
  EXPECT_EQ(m.pathGlob, "/usr/bin/cur?");
  ASSERT_EQ(m.sha256.size(), 1u);
  EXPECT_EQ(toHex(m.sha256[0]), kHash);
  EXPECT_EQ(m.cmdline, "--proxy\\s");
  ASSERT_EQ(m.env.size(), 2u);  // toml++ keeps keys sorted
  EXPECT_EQ(m.env[0].name, "DISPLAY");
  EXPECT_FALSE(m.env[0].value);
  EXPECT_EQ(m.env[1].name, "SNAP_NAME");
  EXPECT_EQ(m.env[1].value, "firefox");
  EXPECT_THAT(m.tags, ElementsAre("flatpak:org.mozilla.firefox", "systemd:x.service"));
  EXPECT_EQ(m.user, "alice");
  EXPECT_EQ(m.uid, 1000u);
  EXPECT_EQ(m.parentPath, "/usr/bin/bash");
  EXPECT_EQ(m.ancestorPath, "/usr/sbin/cron");
  EXPECT_EQ(m.where.line, 5);
  EXPECT_EQ(m.specificity(), 8 + 4 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 2);
  EXPECT_EQ(p.matches[1].specificity(), 4);
  ASSERT_EQ(p.rules.size(), 1u);
  const Rule& r = p.rules[0];
  EXPECT_EQ(r.action, Action::kAllow);
  EXPECT_EQ(r.proto, Proto::kTcp);
  EXPECT_EQ(r.ip.size(), 2u);
  EXPECT_EQ(r.ports.size(), 2u);
  EXPECT_EQ(r.host, "*.example.org");
  EXPECT_EQ(r.scope, Scope::kInternet);
  EXPECT_FALSE(r.log);
  EXPECT_EQ(r.comment, "why");
  EXPECT_EQ(r.where.line, 20);
}

TEST(ProfileCodec, MinimalProfile) {
  const auto profiles = parsed("name = 'x'\n[[match]]\nuser = 'bob'\n");
  ASSERT_EQ(profiles.size(), 1u);
  EXPECT_FALSE(profiles[0].defaultAction);
  EXPECT_THAT(profiles[0].rules, IsEmpty());
  EXPECT_EQ(profiles[0].matches[0].specificity(), 1);
}

TEST(ProfileCodec, SingleStringsForLists) {
  const auto profiles =
      parsed("name = 'x'\n[[match]]\nsha256 = '" + kHash + "'\ntags = 'snap:firefox'\n");
  ASSERT_EQ(profiles.size(), 1u);
  EXPECT_EQ(profiles[0].matches[0].sha256.size(), 1u);
  EXPECT_THAT(profiles[0].matches[0].tags, ElementsAre("snap:firefox"));
}

TEST(ProfileCodec, SeveralProfiles) {
  const auto profiles = parsed(R"(
[[profile]]
name = "curl"
default = "deny"
[[profile.match]]
path = "/usr/bin/curl"
[[profile.rule]]
action = "allow"
ports = 443

[[profile]]
name = "wget"
[[profile.match]]
path = "/usr/bin/wget"
[[profile.match]]
path = "/usr/local/bin/wget"
)");
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(profiles[0].name, "curl");
  EXPECT_EQ(profiles[0].where.line, 2);
  EXPECT_EQ(profiles[0].rules.size(), 1u);
  EXPECT_EQ(profiles[0].rules[0].where.line, 7);
  EXPECT_EQ(profiles[1].name, "wget");
  EXPECT_EQ(profiles[1].where.line, 11);
  EXPECT_EQ(profiles[1].matches.size(), 2u);
  EXPECT_EQ(profiles[1].matches[1].where.line, 15);
}

TEST(ProfileCodec, Warnings) {
  EXPECT_THAT(warningsOf("name = 'lonely'\n"),
              ElementsAre("1:8: profile 'lonely' has no [[match]] and applies to no process"));
  EXPECT_THAT(warningsOf("# nothing here\n"), ElementsAre("0:0: no profile in this file"));
  EXPECT_THAT(warningsOf("name = 'x'\n[[match]]\npath = '/usr/bin/*'\n"),
              ElementsAre("3:8: 'path' is compared exactly; use 'path_glob' for wildcards"));
}

TEST(ProfileCodecErrors, ProfileKeys) {
  EXPECT_THAT(errorsOf("[[match]]\npath = '/x'\n"), ElementsAre("1:1: profile needs 'name'"));
  EXPECT_THAT(errorsOf("[[profile]]\ndefault = 'deny'\n"),
              ElementsAre("1:1: [[profile]] needs 'name'"));
  EXPECT_THAT(errorsOf("name = 'x'\nnmae = 'y'\n"), ElementsAre("2:1: unknown key 'nmae'"));
  EXPECT_THAT(errorsOf("[[profile]]\nname = 'x'\nfoo = 1\n"),
              ElementsAre("3:1: unknown key 'foo' in [[profile]]"));
  EXPECT_THAT(errorsOf("name = 3\n"),
              ElementsAre("1:8: expected a string for 'name', got integer"));
  EXPECT_THAT(errorsOf("name = 'my profile'\n"),
              ElementsAre("1:8: invalid profile name 'my profile' (a letter or digit, then "
                          "letters, digits and . _ - : @ +)"));
  EXPECT_THAT(errorsOf("name = '-x'\n"), ::testing::SizeIs(1));
  EXPECT_THAT(errorsOf("name = 'x'\ndescription = []\n"),
              ElementsAre("2:15: expected a string for 'description', got array"));
  EXPECT_THAT(errorsOf("name = 'x'\ndefault = 'block'\n"),
              ElementsAre("2:11: invalid value 'block' for 'default' (expected allow, deny or "
                          "reject)"));
  EXPECT_THAT(errorsOf("name = 'x'\n[match]\npath = '/x'\n"),
              ElementsAre("2:1: expected an array of tables ([[match]]) for 'match', got table"));
  EXPECT_THAT(errorsOf("name = 'x'\nmatch = [1]\n"),
              ElementsAre("2:10: expected a table in 'match', got integer"));
  EXPECT_THAT(errorsOf("name = 'x'\n[rule]\naction = 'deny'\n"),
              ElementsAre("2:1: expected an array of tables ([[rule]]) for 'rule', got table"));
}

TEST(ProfileCodecErrors, MixedForms) {
  EXPECT_THAT(errorsOf("name = 'x'\n[[profile]]\nname = 'y'\n"),
              ElementsAre("1:1: unknown key 'name': a file holds either one profile (top-level "
                          "keys) or [[profile]] tables, not both"));
  EXPECT_THAT(errorsOf("profile = 'x'\n"),
              ElementsAre("1:11: expected an array of tables ([[profile]]) for 'profile', got "
                          "string"));
}

TEST(ProfileCodecErrors, MatchKeys) {
  const auto match = [](std::string_view body) {
    return errorsOf("name = 'x'\n[[match]]\n" + std::string(body) + "\n");
  };
  EXPECT_THAT(match("pth = '/x'"), ElementsAre("3:1: unknown key 'pth' in [[match]]"));
  EXPECT_THAT(match(""), ElementsAre("2:1: [[match]] needs at least one key"));
  EXPECT_THAT(match("path = 'curl'"),
              ElementsAre("3:8: 'path' must be an absolute path, got 'curl'"));
  EXPECT_THAT(match("path = ''"), ElementsAre("3:8: 'path' must not be empty"));
  EXPECT_THAT(match("path = 1"), ElementsAre("3:8: expected a string for 'path', got integer"));
  EXPECT_THAT(match("path_glob = '/opt/[a-z'"),
              ElementsAre("3:13: invalid glob '/opt/[a-z': unclosed '['"));
  EXPECT_THAT(match("path_glob = 'opt/*'"),
              ElementsAre("3:13: invalid glob 'opt/*': must be an absolute path"));
  EXPECT_THAT(match("sha256 = ['abc']"),
              ElementsAre("3:11: invalid sha256 'abc' (expected 64 hex digits)"));
  EXPECT_THAT(match("sha256 = []"), ElementsAre("3:10: 'sha256' must not be empty"));
  EXPECT_THAT(match("sha256 = [1]"),
              ElementsAre("3:11: expected a sha256 string in 'sha256', got integer"));
  EXPECT_THAT(match("sha256 = 1"),
              ElementsAre("3:10: expected a sha256 string for 'sha256', got integer"));
  EXPECT_THAT(match("cmdline = '(--proxy'"),
              ElementsAre("3:11: invalid regex '(--proxy': missing ): (--proxy"));
  EXPECT_THAT(match("cmdline = '\\p{Foo}'"),
              ElementsAre(::testing::StartsWith("3:11: invalid regex '\\p{Foo}': ")));
  EXPECT_THAT(match("env = 'DISPLAY'"), ElementsAre("3:7: expected a table for 'env', got string"));
  EXPECT_THAT(match("env = {}"), ElementsAre("3:7: 'env' must not be empty"));
  EXPECT_THAT(match("env = { DISPLAY = 1 }"),
              ElementsAre("3:19: expected a string (a value, or \"*\" for any) for env "
                          "'DISPLAY', got integer"));
  EXPECT_THAT(match("env = { \"A=B\" = '*' }"),
              ElementsAre("3:9: invalid environment variable name 'A=B'"));
  EXPECT_THAT(match("tags = ['firefox']"),
              ElementsAre("3:9: invalid tag 'firefox' (expected kind:value, e.g. "
                          "'snap:firefox')"));
  EXPECT_THAT(match("tags = ['flatpack:org.x']"),
              ElementsAre("3:9: unknown tag kind 'flatpack' (expected flatpak, snap, appimage, "
                          "systemd, container or script)"));
  EXPECT_THAT(match("tags = ['snap:']"), ::testing::SizeIs(1));
  EXPECT_THAT(match("user = ''"), ElementsAre("3:8: 'user' must not be empty"));
  EXPECT_THAT(match("user = 1000"), ElementsAre("3:8: expected a string for 'user', got integer"));
  EXPECT_THAT(match("uid = -1"),
              ElementsAre("3:7: 'uid' must be between 0 and 4294967294, got -1"));
  EXPECT_THAT(match("uid = 'alice'"),
              ElementsAre("3:7: expected an integer for 'uid', got string"));
  EXPECT_THAT(match("parent_path = 'bash'"),
              ElementsAre("3:15: 'parent_path' must be an absolute path, got 'bash'"));
  EXPECT_THAT(match("ancestor_path = true"),
              ElementsAre("3:17: expected a string for 'ancestor_path', got boolean"));
}

TEST(ProfileCodecErrors, RuleKeysInProfiles) {
  EXPECT_THAT(errorsOf(R"(
[[profile]]
name = "x"
[[profile.match]]
path = "/x"
[[profile.rule]]
action = "allow"
ports = "90-80"
ip = "10.0.0.0/33"
hots = "example.org"
[[profile.rule]]
proto = "tcp"
)"),
              ElementsAre("8:9: invalid port range '90-80'", "9:6: invalid CIDR '10.0.0.0/33'",
                          "10:1: unknown key 'hots' in [[rule]]", "11:1: [[rule]] needs 'action'"));
}

TEST(ProfileCodecErrors, AllErrorsOfAFile) {
  EXPECT_THAT(errorsOf(R"([[profile]]
name = "a b"
[[profile.match]]
path = "relative"
cmdline = "(["
[[profile]]
name = "ok"
default = "maybe"
[[profile.match]]
uid = "root"
)"),
              ElementsAre(::testing::StartsWith("2:8: invalid profile name 'a b'"),
                          "4:8: 'path' must be an absolute path, got 'relative'",
                          ::testing::StartsWith("5:11: invalid regex '(['"),
                          "8:11: invalid value 'maybe' for 'default' (expected allow, deny or "
                          "reject)",
                          "10:7: expected an integer for 'uid', got string"));
}

TEST(ProfileCodecErrors, TomlSyntax) {
  const auto errors = errorsOf("name = 'x'\n[[match]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("2:"));
}

TEST(ProfileCodec, NameRules) {
  EXPECT_TRUE(isValidProfileName("firefox"));
  EXPECT_TRUE(isValidProfileName("org.mozilla.firefox@1+x:y_z-w"));
  EXPECT_TRUE(isValidProfileName("7zip"));
  EXPECT_FALSE(isValidProfileName(""));
  EXPECT_FALSE(isValidProfileName(".hidden"));
  EXPECT_FALSE(isValidProfileName("_x"));
  EXPECT_FALSE(isValidProfileName("a/b"));
  EXPECT_FALSE(isValidProfileName(std::string(129, 'a')));
}

}  // namespace
}  // namespace warden::rules
