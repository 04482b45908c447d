#include "rules/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.h"
#include "tests/unit/rules/test_files.h"

namespace warden::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using warden::testing::TempDir;

constexpr std::string_view kFile = "/etc/warden/warden.toml";

// "line:column: message" of every diagnostic, the form the tests compare.
std::vector<std::string> errorsOf(std::string_view text) {
  const auto config = parseConfig(text, kFile);
  if (config) return {};
  std::vector<std::string> out;
  for (const auto& d : config.error()) {
    EXPECT_EQ(d.where.file, kFile);
    EXPECT_EQ(d.severity, Severity::kError);
    out.push_back(std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " +
                  d.message);
  }
  return out;
}

Config parsed(std::string_view text) {
  auto config = parseConfig(text, kFile);
  if (!config) {
    for (const auto& d : config.error()) ADD_FAILURE() << d.format();
    return Config{};
  }
  return std::move(*config);
}

TEST(Config, EmptyFileGivesDefaults) {
  const Config config = parsed("");
  EXPECT_EQ(config.file, kFile);
  EXPECT_EQ(config.mode, Mode::kEnforce);
  EXPECT_EQ(config.defaultAction, Action::kAllow);
  EXPECT_EQ(config.unknownAction, Action::kDeny);
  EXPECT_EQ(config.kernelAction, Action::kAllow);
  EXPECT_EQ(config.fail, FailMode::kOpen);
  EXPECT_EQ(config.queues, (std::vector<std::uint16_t>{0}));
  EXPECT_TRUE(config.inbound);
  EXPECT_TRUE(config.dns);
  EXPECT_TRUE(config.dropInvalid);
  EXPECT_EQ(config.markMask, 0x00f00000u);
  EXPECT_EQ(config.queueMaxLen, 4096u);
  EXPECT_TRUE(config.kernelVerdicts);
  EXPECT_EQ(config.kernelVerdictsTtlS, 600u);
  EXPECT_EQ(config.kernelVerdictsEntries, 16384u);
  EXPECT_TRUE(config.ebpf);
  EXPECT_EQ(config.cgroup, "auto");
  EXPECT_EQ(config.logDb, "/var/lib/warden/warden.db");
  EXPECT_EQ(config.retentionDays, 30);
  EXPECT_TRUE(config.logAllowed);
  EXPECT_EQ(config.profilesDir, "/etc/warden/profiles.d");
  EXPECT_EQ(config.controlSocket, "/run/warden/control.sock");
  EXPECT_THAT(config.globalRules, IsEmpty());
}

TEST(Config, EveryKey) {
  const Config config = parsed(R"(
[engine]
mode = "learn"
default = "reject"
unknown = "allow"
kernel = "deny"
fail = "closed"
queues = [4, 5, 6]
inbound = false
dns = false
mark_mask = 0x0000ff00
queue_maxlen = 1024
kernel_verdicts = false
kernel_verdicts_ttl = 30
kernel_verdicts_entries = 256

[attribution]
ebpf = false
cgroup = "/sys/fs/cgroup/unified"

[log]
db = "/srv/warden/log.db"
retention_days = 7
allowed = false

[profiles]
dir = "/srv/warden/profiles"

[control]
socket = "/srv/warden/control.sock"

[[rule]]
action = "allow"
scope = "localhost"
comment = "loopback"

[[rule]]
action = "reject"
direction = "in"
proto = "tcp"
ip = ["192.0.2.0/24", "2001:db8::1"]
ports = [22, "6000-6010"]
host = "*.Example.ORG."
log = false
)");
  EXPECT_EQ(config.mode, Mode::kLearn);
  EXPECT_EQ(config.defaultAction, Action::kReject);
  EXPECT_EQ(config.unknownAction, Action::kAllow);
  EXPECT_EQ(config.kernelAction, Action::kDeny);
  EXPECT_EQ(config.fail, FailMode::kClosed);
  EXPECT_EQ(config.queues, (std::vector<std::uint16_t>{4, 5, 6}));
  EXPECT_FALSE(config.inbound);
  EXPECT_FALSE(config.dns);
  EXPECT_EQ(config.markMask, 0x0000ff00u);
  EXPECT_EQ(config.queueMaxLen, 1024u);
  EXPECT_FALSE(config.kernelVerdicts);
  EXPECT_EQ(config.kernelVerdictsTtlS, 30u);
  EXPECT_EQ(config.kernelVerdictsEntries, 256u);
  EXPECT_FALSE(config.ebpf);
  EXPECT_EQ(config.cgroup, "/sys/fs/cgroup/unified");
  EXPECT_EQ(config.logDb, "/srv/warden/log.db");
  EXPECT_EQ(config.retentionDays, 7);
  EXPECT_FALSE(config.logAllowed);
  EXPECT_EQ(config.profilesDir, "/srv/warden/profiles");
  EXPECT_EQ(config.controlSocket, "/srv/warden/control.sock");
  ASSERT_EQ(config.globalRules.size(), 2u);

  const Rule& first = config.globalRules[0];
  EXPECT_EQ(first.action, Action::kAllow);
  EXPECT_EQ(first.scope, Scope::kLocalhost);
  EXPECT_EQ(first.comment, "loopback");
  EXPECT_TRUE(first.log);
  EXPECT_EQ(first.direction, Direction::kOut);
  EXPECT_EQ(first.proto, Proto::kAny);
  EXPECT_EQ(first.where.line, 32);
  EXPECT_EQ(first.where.column, 1);

  const Rule& second = config.globalRules[1];
  EXPECT_EQ(second.action, Action::kReject);
  EXPECT_EQ(second.direction, Direction::kIn);
  EXPECT_EQ(second.proto, Proto::kTcp);
  ASSERT_EQ(second.ip.size(), 2u);
  EXPECT_EQ(second.ip[0].prefix, 96 + 24);
  EXPECT_EQ(second.ip[1].prefix, 128);
  ASSERT_EQ(second.ports.size(), 2u);
  EXPECT_EQ(second.ports[0].first, 22);
  EXPECT_EQ(second.ports[0].last, 22);
  EXPECT_EQ(second.ports[1].first, 6000);
  EXPECT_EQ(second.ports[1].last, 6010);
  EXPECT_EQ(second.host, "*.example.org");
  EXPECT_FALSE(second.log);
  EXPECT_EQ(second.where.line, 37);
}

TEST(Config, AnUnknownVerdictLaxerThanTheDefaultIsWarnedOf) {
  Diagnostics warnings;
  ASSERT_TRUE(parseConfig("[engine]\ndefault = \"deny\"\nunknown = \"allow\"\n", kFile, &warnings));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].severity, Severity::kWarning);
  EXPECT_EQ(warnings[0].where.line, 3);
  EXPECT_THAT(warnings[0].message, HasSubstr("laxer than 'default = \"deny\"'"));
  for (const char* text : {"[engine]\nunknown = \"allow\"\n",  // default allow
                           "[engine]\ndefault = \"deny\"\nunknown = \"reject\"\n",
                           "[engine]\ndefault = \"reject\"\n"}) {
    warnings.clear();
    ASSERT_TRUE(parseConfig(text, kFile, &warnings)) << text;
    EXPECT_THAT(warnings, IsEmpty()) << text;
  }
}

TEST(Config, SingleValuesForIpAndPorts) {
  const Config config = parsed(R"(
[[rule]]
action = "deny"
ip = "10.0.0.0/8"
ports = "53"
[[rule]]
action = "deny"
ports = 443
)");
  ASSERT_EQ(config.globalRules.size(), 2u);
  ASSERT_EQ(config.globalRules[0].ip.size(), 1u);
  ASSERT_EQ(config.globalRules[0].ports.size(), 1u);
  EXPECT_EQ(config.globalRules[0].ports[0].first, 53);
  ASSERT_EQ(config.globalRules[1].ports.size(), 1u);
  EXPECT_EQ(config.globalRules[1].ports[0].last, 443);
}

TEST(Config, InlineRuleArray) {
  const Config config = parsed(R"(rule = [{ action = "deny", proto = "udp" }])");
  ASSERT_EQ(config.globalRules.size(), 1u);
  EXPECT_EQ(config.globalRules[0].proto, Proto::kUdp);
  EXPECT_EQ(config.globalRules[0].where.column, 9);
}

TEST(Config, RelativePathsResolveAgainstTheFilesDirectory) {
  const auto config = parseConfig(R"(
[attribution]
cgroup = "cg/./warden"
[log]
db = "../../var/warden.db"
[profiles]
dir = "profiles.d/"
[control]
socket = "run//control.sock"
)",
                                  "/srv/checkout/etc/warden/warden.toml");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->file, "/srv/checkout/etc/warden/warden.toml");
  EXPECT_EQ(config->logDb, "/srv/checkout/var/warden.db");
  EXPECT_EQ(config->profilesDir, "/srv/checkout/etc/warden/profiles.d/");
  EXPECT_EQ(config->controlSocket, "/srv/checkout/etc/warden/run/control.sock");
  EXPECT_EQ(config->cgroup, "/srv/checkout/etc/warden/cg/warden");
}

TEST(Config, RelativeFileNameIsMadeAbsolute) {
  const auto config = parseConfig("[profiles]\ndir = \"p\"\n", "warden.toml");
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->file.is_absolute());
  EXPECT_EQ(config->profilesDir, std::filesystem::current_path() / "p");
}

TEST(ConfigErrors, UnknownKeysAndSections) {
  EXPECT_THAT(errorsOf("[engine]\nfoo = 1\n"), ElementsAre("2:1: unknown key 'foo' in [engine]"));
  EXPECT_THAT(errorsOf("[attribution]\n  bpf = true\n"),
              ElementsAre("2:3: unknown key 'bpf' in [attribution]"));
  EXPECT_THAT(errorsOf("[log]\npath = 'x'\n"), ElementsAre("2:1: unknown key 'path' in [log]"));
  EXPECT_THAT(errorsOf("[profiles]\ndirs = 'x'\n"),
              ElementsAre("2:1: unknown key 'dirs' in [profiles]"));
  EXPECT_THAT(errorsOf("[control]\nsock = 'x'\n"),
              ElementsAre("2:1: unknown key 'sock' in [control]"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'allow'\nport = 1\n"),
              ElementsAre("3:1: unknown key 'port' in [[rule]]"));
  EXPECT_THAT(errorsOf("\n[engines]\n"), ElementsAre("2:2: unknown section [engines]"));
  EXPECT_THAT(errorsOf("[[rules]]\n"), ElementsAre("1:3: unknown section [[rules]]"));
  EXPECT_THAT(errorsOf("mode = 'learn'\n"), ElementsAre("1:1: unknown key 'mode'"));
}

TEST(Config, InvalidPacketsAreDroppedUnlessAccepted) {
  EXPECT_TRUE(parsed("[engine]\ninvalid = 'drop'\n").dropInvalid);
  EXPECT_FALSE(parsed("[engine]\ninvalid = 'accept'\n").dropInvalid);
  EXPECT_THAT(errorsOf("[engine]\ninvalid = 'reject'\n"),
              ElementsAre("2:11: invalid value 'reject' for 'invalid' (expected drop or accept)"));
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_THAT(errorsOf("[engine]\nmode = 1\n"),
              ElementsAre("2:8: expected a string for 'mode', got integer"));
  EXPECT_THAT(errorsOf("[engine]\ninbound = 'yes'\n"),
              ElementsAre("2:11: expected true or false for 'inbound', got string"));
  EXPECT_THAT(errorsOf("[engine]\ndns = 'on'\n"),
              ElementsAre("2:7: expected true or false for 'dns', got string"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = 0\n"),
              ElementsAre("2:10: expected an array for 'queues', got integer"));
  EXPECT_THAT(errorsOf("[engine]\nqueue_maxlen = 1.5\n"),
              ElementsAre("2:16: expected an integer for 'queue_maxlen', got float"));
  EXPECT_THAT(errorsOf("[engine]\nmark_mask = '0xf0'\n"),
              ElementsAre("2:13: expected an integer for 'mark_mask', got string"));
  EXPECT_THAT(errorsOf("[attribution]\nebpf = 1\n"),
              ElementsAre("2:8: expected true or false for 'ebpf', got integer"));
  EXPECT_THAT(errorsOf("[attribution]\ncgroup = false\n"),
              ElementsAre("2:10: expected a string for 'cgroup', got boolean"));
  EXPECT_THAT(errorsOf("[log]\ndb = 1979-05-27\n"),
              ElementsAre("2:6: expected a string for 'db', got date"));
  EXPECT_THAT(errorsOf("[log]\nretention_days = '30'\n"),
              ElementsAre("2:18: expected an integer for 'retention_days', got string"));
  EXPECT_THAT(errorsOf("[log]\nallowed = [true]\n"),
              ElementsAre("2:11: expected true or false for 'allowed', got array"));
  EXPECT_THAT(errorsOf("[profiles]\ndir = {}\n"),
              ElementsAre("2:7: expected a string for 'dir', got table"));
  EXPECT_THAT(errorsOf("[control]\nsocket = 5\n"),
              ElementsAre("2:10: expected a string for 'socket', got integer"));
  EXPECT_THAT(errorsOf("engine = 5\n"),
              ElementsAre("1:10: expected a table for 'engine', got integer"));
  EXPECT_THAT(errorsOf("[[engine]]\n"),
              ElementsAre("1:1: expected a table for 'engine', got array of tables"));
  EXPECT_THAT(errorsOf("[rule]\naction = 'allow'\n"),
              ElementsAre("1:1: expected an array of tables ([[rule]]) for 'rule', got table"));
  EXPECT_THAT(errorsOf("rule = [1]\n"),
              ElementsAre("1:9: expected a table in 'rule', got integer"));
}

TEST(ConfigErrors, BadEnumValues) {
  EXPECT_THAT(errorsOf("[engine]\nmode = 'learning'\n"),
              ElementsAre("2:8: invalid value 'learning' for 'mode' (expected enforce or learn)"));
  EXPECT_THAT(
      errorsOf("[engine]\ndefault = 'Allow'\n"),
      ElementsAre("2:11: invalid value 'Allow' for 'default' (expected allow, deny or reject)"));
  EXPECT_THAT(errorsOf("[engine]\nunknown = 'drop'\n"),
              ElementsAre("2:11: invalid value 'drop' for 'unknown' (expected allow, deny or "
                          "reject)"));
  EXPECT_THAT(errorsOf("[engine]\nkernel = ''\n"),
              ElementsAre("2:10: invalid value '' for 'kernel' (expected allow, deny or reject)"));
  EXPECT_THAT(errorsOf("[engine]\nfail = 'close'\n"),
              ElementsAre("2:8: invalid value 'close' for 'fail' (expected open or closed)"));
}

TEST(ConfigErrors, Queues) {
  EXPECT_THAT(errorsOf("[engine]\nqueues = []\n"), ElementsAre("2:10: 'queues' must not be empty"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [0, 2]\n"),
              ElementsAre("2:14: 'queues' must be consecutive numbers"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [1, 0]\n"),
              ElementsAre("2:14: 'queues' must be consecutive numbers"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [3, 3]\n"),
              ElementsAre("2:14: 'queues' must be consecutive numbers"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [65536]\n"),
              ElementsAre("2:11: queue number 65536 is out of range (0 to 65535)"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [-1]\n"),
              ElementsAre("2:11: queue number -1 is out of range (0 to 65535)"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [0, '1']\n"),
              ElementsAre("2:14: expected an integer in 'queues', got string"));
  EXPECT_THAT(errorsOf("[engine]\nqueues = [65535]\n"), IsEmpty());
}

TEST(ConfigErrors, Ranges) {
  EXPECT_THAT(errorsOf("[engine]\nmark_mask = 0x100\n"),
              ElementsAre("2:13: 'mark_mask' must have at least two bits set"));
  EXPECT_THAT(errorsOf("[engine]\nmark_mask = 0\n"),
              ElementsAre("2:13: 'mark_mask' must have at least two bits set"));
  EXPECT_THAT(errorsOf("[engine]\nmark_mask = 0x100000000\n"),
              ElementsAre("2:13: 'mark_mask' must be between 0 and 4294967295, got 4294967296"));
  EXPECT_THAT(errorsOf("[engine]\nqueue_maxlen = 0\n"),
              ElementsAre("2:16: 'queue_maxlen' must be between 1 and 1048576, got 0"));
  EXPECT_THAT(errorsOf("[engine]\nqueue_maxlen = 1048577\n"),
              ElementsAre("2:16: 'queue_maxlen' must be between 1 and 1048576, got 1048577"));
  EXPECT_THAT(errorsOf("[engine]\nkernel_verdicts_ttl = 0\n"),
              ElementsAre("2:23: 'kernel_verdicts_ttl' must be between 1 and 86400, got 0"));
  EXPECT_THAT(
      errorsOf("[engine]\nkernel_verdicts_entries = 15\n"),
      ElementsAre("2:27: 'kernel_verdicts_entries' must be between 16 and 1048576, got 15"));
  EXPECT_THAT(errorsOf("[engine]\nkernel_verdicts = \"yes\"\n"),
              ElementsAre("2:19: expected true or false for 'kernel_verdicts', got string"));
  EXPECT_THAT(errorsOf("[log]\nretention_days = 0\n"),
              ElementsAre("2:18: 'retention_days' must be between 1 and 36500, got 0"));
  EXPECT_THAT(errorsOf("[log]\ndb = ''\n"), ElementsAre("2:6: 'db' must not be empty"));
  EXPECT_THAT(errorsOf("[engine]\nmark_mask = 0xffffffff\nqueue_maxlen = 1048576\n"), IsEmpty());
}

TEST(ConfigErrors, RuleValues) {
  EXPECT_THAT(errorsOf("[[rule]]\nscope = 'lan'\n"), ElementsAre("1:1: [[rule]] needs 'action'"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'permit'\n"),
              ElementsAre("2:10: invalid value 'permit' for 'action' (expected allow, deny or "
                          "reject)"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\ndirection = 'inbound'\n"),
              ElementsAre("3:13: invalid value 'inbound' for 'direction' (expected out or in)"));
  EXPECT_THAT(
      errorsOf("[[rule]]\naction = 'deny'\nproto = 'sctp'\n"),
      ElementsAre("3:9: invalid value 'sctp' for 'proto' (expected tcp, udp, icmp or any)"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nscope = 'wan'\n"),
              ElementsAre("3:9: invalid value 'wan' for 'scope' (expected localhost, lan or "
                          "internet)"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nip = ['10.0.0.1', '1.2.3.4/33']\n"),
              ElementsAre("3:19: invalid CIDR '1.2.3.4/33'"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nip = 'example.org'\n"),
              ElementsAre("3:6: invalid address 'example.org'"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nip = [10]\n"),
              ElementsAre("3:7: expected an address or CIDR string in 'ip', got integer"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nip = 10\n"),
              ElementsAre("3:6: expected an address, a CIDR or an array of them for 'ip', got "
                          "integer"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nip = []\n"),
              ElementsAre("3:6: 'ip' must not be empty"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = [80, '90-80']\n"),
              ElementsAre("3:14: invalid port range '90-80'"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = 'http'\n"),
              ElementsAre("3:9: invalid port range 'http'"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = ['1-65536']\n"),
              ElementsAre("3:10: invalid port range '1-65536'"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = 0\n"),
              ElementsAre("3:9: invalid port 0 (expected 1 to 65535)"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = [70000]\n"),
              ElementsAre("3:10: invalid port 70000 (expected 1 to 65535)"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = [true]\n"),
              ElementsAre("3:10: expected a port number or an \"N-M\" range in 'ports', got "
                          "boolean"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nports = []\n"),
              ElementsAre("3:9: 'ports' must not be empty"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nproto = 'icmp'\nports = 8\n"),
              ElementsAre("4:9: 'ports' cannot be used with proto = \"icmp\""));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nhost = 'exa mple.org'\n"),
              ElementsAre("3:8: invalid host 'exa mple.org' (expected a name such as "
                          "example.org or *.example.org)"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nlog = 'no'\n"),
              ElementsAre("3:7: expected true or false for 'log', got string"));
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\ncomment = 1\n"),
              ElementsAre("3:11: expected a string for 'comment', got integer"));
}

TEST(ConfigErrors, HostPatterns) {
  for (std::string_view bad :
       {"''", "'*'", "'*.'", "'a..b'", "'**.x'", "'x.*.org'", "'.org'", "'a_b.c-d.e1/'"}) {
    EXPECT_EQ(errorsOf("[[rule]]\naction = 'deny'\nhost = " + std::string(bad) + "\n").size(), 1u)
        << bad;
  }
  EXPECT_THAT(errorsOf("[[rule]]\naction = 'deny'\nhost = 'a_b.c-d.e1.'\n"), IsEmpty());
}

TEST(ConfigErrors, AllErrorsOfAFileInFileOrder) {
  EXPECT_THAT(errorsOf(R"([engine]
mode = "fast"
queues = [0, 5]
zzz = 1
[log]
retention_days = 0
[[rule]]
ip = "300.1.1.1"
[[rule]]
action = "allow"
ports = "90-80"
)"),
              ElementsAre("2:8: invalid value 'fast' for 'mode' (expected enforce or learn)",
                          "3:14: 'queues' must be consecutive numbers",
                          "4:1: unknown key 'zzz' in [engine]",
                          "6:18: 'retention_days' must be between 1 and 36500, got 0",
                          "7:1: [[rule]] needs 'action'", "8:6: invalid address '300.1.1.1'",
                          "11:9: invalid port range '90-80'"));
}

TEST(ConfigErrors, TomlSyntaxErrorHasTomlLocation) {
  const auto errors = errorsOf("[engine]\nmode = \"enforce\"\nmode = \"learn\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("3:"));
  EXPECT_THAT(errorsOf("[engine\n"), ::testing::ElementsAre(::testing::StartsWith("1:")));
  EXPECT_THAT(errorsOf("a = \"unterminated\n"),
              ::testing::ElementsAre(::testing::StartsWith("1:")));
}

TEST(LoadConfig, ReadsAFile) {
  const TempDir dir;
  const auto file = dir.write("warden.toml", "[profiles]\ndir = \"p.d\"\n");
  const auto config = loadConfig(file);
  ASSERT_TRUE(config) << config.error().front().format();
  EXPECT_EQ(config->profilesDir, dir.path() / "p.d");
  EXPECT_EQ(config->file, file);
}

TEST(LoadConfig, ErrorsNameTheFile) {
  const TempDir dir;
  const auto file = dir.write("warden.toml", "[engine]\nmode = 1\n");
  const auto config = loadConfig(file);
  ASSERT_FALSE(config);
  ASSERT_EQ(config.error().size(), 1u);
  EXPECT_EQ(config.error()[0].format(),
            file.string() + ":2:8: error: expected a string for 'mode', got integer");
}

TEST(LoadConfig, MissingFileIsOneErrorAtLineZero) {
  const TempDir dir;
  const auto config = loadConfig(dir.path() / "absent.toml");
  ASSERT_FALSE(config);
  ASSERT_EQ(config.error().size(), 1u);
  EXPECT_EQ(config.error()[0].where.line, 0);
  EXPECT_EQ(config.error()[0].format(), (dir.path() / "absent.toml").string() +
                                            ": error: cannot open: No such file or directory");
}

TEST(LoadConfig, DirectoryIsRefused) {
  const TempDir dir;
  const auto config = loadConfig(dir.path());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error()[0].where.line, 0);
}

TEST(LoadConfig, AsRootRefusesFilesOthersCanWrite) {
  if (::geteuid() != 0) GTEST_SKIP() << "ownership is only enforced for root";
  const TempDir dir;
  const auto file = dir.write("warden.toml", "");
  ::chmod(file.c_str(), 0664);
  auto config = loadConfig(file);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error()[0].where.line, 0);
  EXPECT_EQ(config.error()[0].message,
            "refusing policy file writable by group or others, mode 0664 (chmod go-w)");
  ::chmod(file.c_str(), 0602);
  EXPECT_FALSE(loadConfig(file));
  ::chmod(file.c_str(), 0600);
  EXPECT_TRUE(loadConfig(file));
  ASSERT_EQ(::chown(file.c_str(), 1000, 0), 0);
  config = loadConfig(file);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error()[0].message,
            "refusing policy file owned by uid 1000, not root (chown root)");
}

// Opened without waiting for a writer (O_NONBLOCK), then refused: a FIFO where a policy file
// was expected held the reading thread, wardend's control thread, until someone wrote to it.
TEST(LoadConfig, AFifoIsRefusedWithoutWaitingForAWriter) {
  const TempDir dir;
  const auto file = dir.file("warden.toml");
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  const auto config = loadConfig(file);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error()[0].message, "not a regular file");
}

TEST(LoadConfig, ShippedConfigIsValid) {
  const auto file = testing::sourceDir() / "etc/warden/warden.toml";
  Diagnostics warnings;
  const auto config = loadConfig(file, &warnings);
  ASSERT_TRUE(config) << config.error().front().format();
  EXPECT_THAT(warnings, IsEmpty());
  EXPECT_EQ(config->profilesDir, testing::sourceDir() / "etc/warden/profiles.d");
  EXPECT_EQ(config->logDb, testing::sourceDir() / "var/warden.db");
  // Loopback, then ICMP in (the kernel answers echo requests: no process owns that flow, so
  // `unknown` would decide it). A program's own pings are its profile's to decide.
  ASSERT_EQ(config->globalRules.size(), 2u);
  EXPECT_EQ(config->globalRules[0].scope, Scope::kLocalhost);
  EXPECT_EQ(config->globalRules[1].proto, Proto::kIcmp);
  EXPECT_EQ(config->globalRules[1].direction, Direction::kIn);
}

}  // namespace
}  // namespace warden::rules
