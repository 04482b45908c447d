#include "cli/suggest_draft.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tests/unit/cli/suggest_rows.h"

namespace warden::cli {
namespace {

using rules::Direction;
using rules::Proto;
using rules::Scope;
using ::testing::ElementsAre;
using testing::Row;

std::vector<ProfileDraft> draft(const std::vector<Row>& rows, std::set<std::string> taken = {}) {
  PolicyDrafter drafter(std::move(taken));
  for (const Row& row : rows) drafter.add(row.entry());
  return drafter.finish();
}

MATCHER_P2(PortRangeIs, first, last, "") { return arg.first == first && arg.last == last; }

TEST(PolicyDrafterTest, ANewProfilePerExecutableWithoutAProfile) {
  const auto drafts = draft({{.exe = "/usr/bin/curl"}, {.exe = "/usr/bin/wget", .port = 80}});
  ASSERT_EQ(drafts.size(), 2u);
  EXPECT_EQ(drafts[0].name, "curl");
  EXPECT_EQ(drafts[0].kind, DraftKind::kNewProfile);
  EXPECT_EQ(drafts[0].path, "/usr/bin/curl");
  EXPECT_EQ(drafts[0].fileName(), "curl.toml");
  ASSERT_EQ(drafts[0].rules.size(), 1u);
  const DraftRule& rule = drafts[0].rules[0];
  EXPECT_EQ(rule.direction, Direction::kOut);
  EXPECT_EQ(rule.proto, Proto::kTcp);
  EXPECT_THAT(rule.ip, ElementsAre("192.0.2.10"));
  EXPECT_THAT(rule.ports, ElementsAre(PortRangeIs(443, 443)));
  EXPECT_EQ(drafts[1].name, "wget");
}

TEST(PolicyDrafterTest, AHostNameRatherThanTheAddressesItResolvedTo) {
  const auto drafts = draft({{.remote = "192.0.2.10", .host = "files.example.org"},
                             {.remote = "192.0.2.11", .host = "Files.Example.org."},
                             {.remote = "2001:db8::5", .host = "files.example.org"}});
  ASSERT_EQ(drafts.size(), 1u);
  ASSERT_EQ(drafts[0].rules.size(), 1u);
  EXPECT_EQ(drafts[0].rules[0].host, "files.example.org");
  EXPECT_TRUE(drafts[0].rules[0].ip.empty());
  EXPECT_EQ(drafts[0].rules[0].flows, 3u);
}

TEST(PolicyDrafterTest, PortsMergedPerDestinationIntoListsAndRanges) {
  std::vector<Row> rows;
  for (std::uint16_t port : {443, 80, 8000, 8001, 8002, 9000, 9001}) {
    rows.push_back({.port = port, .host = "www.example.org"});
  }
  const auto drafts = draft(rows);
  ASSERT_EQ(drafts[0].rules.size(), 1u);
  EXPECT_THAT(drafts[0].rules[0].ports,
              ElementsAre(PortRangeIs(80, 80), PortRangeIs(443, 443), PortRangeIs(8000, 8002),
                          PortRangeIs(9000, 9000), PortRangeIs(9001, 9001)));
}

TEST(PolicyDrafterTest, ProtocolsAndDirectionsAreKeptApart) {
  const auto drafts = draft({{.port = 53, .host = "ns.example.org"},
                             {.protocol = "udp", .port = 53, .host = "ns.example.org"}});
  ASSERT_EQ(drafts[0].rules.size(), 2u);
  EXPECT_EQ(drafts[0].rules[0].proto, Proto::kTcp);
  EXPECT_EQ(drafts[0].rules[1].proto, Proto::kUdp);
}

TEST(PolicyDrafterTest, ScopesRatherThanListsOfLanOrLoopbackAddresses) {
  const auto drafts = draft({{.remote = "10.1.2.3", .port = 22},
                             {.remote = "192.168.1.7", .port = 22},
                             {.remote = "fe80::1", .port = 22},
                             {.remote = "127.0.0.1", .port = 5432},
                             {.remote = "::1", .port = 5432}});
  ASSERT_EQ(drafts[0].rules.size(), 2u);
  EXPECT_EQ(drafts[0].rules[0].scope, Scope::kLocalhost);
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(5432, 5432)));
  EXPECT_EQ(drafts[0].rules[1].scope, Scope::kLan);
  EXPECT_THAT(drafts[0].rules[1].ports, ElementsAre(PortRangeIs(22, 22)));
  EXPECT_TRUE(drafts[0].rules[1].ip.empty());
}

TEST(PolicyDrafterTest, NamelessInternetAddressesWithTheSamePortsShareARule) {
  const auto drafts = draft({{.protocol = "udp", .remote = "198.51.100.3", .port = 53},
                             {.protocol = "udp", .remote = "192.0.2.53", .port = 53},
                             {.protocol = "udp", .remote = "203.0.113.9", .port = 123}});
  ASSERT_EQ(drafts[0].rules.size(), 2u);
  EXPECT_THAT(drafts[0].rules[0].ip, ElementsAre("192.0.2.53", "198.51.100.3"));
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(53, 53)));
  EXPECT_THAT(drafts[0].rules[1].ip, ElementsAre("203.0.113.9"));
}

TEST(PolicyDrafterTest, SeveralSubdomainsOfOneDomainBecomeOneWildcardRule) {
  const auto drafts = draft({{.port = 443, .host = "a.cdn.example.org"},
                             {.port = 443, .host = "b.cdn.example.org"},
                             {.port = 80, .host = "static.example.org"},
                             {.port = 443, .host = "www.other.example"}});
  ASSERT_EQ(drafts[0].rules.size(), 2u);
  EXPECT_EQ(drafts[0].rules[0].host, "*.example.org");
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(80, 80), PortRangeIs(443, 443)));
  EXPECT_EQ(drafts[0].rules[0].flows, 3u);
  EXPECT_EQ(drafts[0].rules[1].host, "www.other.example");
}

TEST(PolicyDrafterTest, InboundFlowsAreRulesOnTheLocalPort) {
  const auto drafts = draft(
      {{.remote = "192.168.1.9", .port = 51000, .direction = Direction::kIn, .localPort = 8080},
       {.remote = "192.168.1.10", .port = 51001, .direction = Direction::kIn, .localPort = 8080}});
  ASSERT_EQ(drafts[0].rules.size(), 1u);
  EXPECT_EQ(drafts[0].rules[0].direction, Direction::kIn);
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(8080, 8080)));
  EXPECT_EQ(drafts[0].rules[0].scope, Scope::kLan);
}

TEST(PolicyDrafterTest, IcmpHasNoPortsAndOtherProtocolsAreAny) {
  const auto drafts = draft({{.protocol = "icmpv6", .remote = "2001:db8::1", .port = 0},
                             {.protocol = "sctp", .remote = "2001:db8::1", .port = 9}});
  ASSERT_EQ(drafts[0].rules.size(), 2u);
  EXPECT_EQ(drafts[0].rules[0].proto, Proto::kAny);
  EXPECT_TRUE(drafts[0].rules[0].ports.empty());
  EXPECT_EQ(drafts[0].rules[1].proto, Proto::kIcmp);
  EXPECT_TRUE(drafts[0].rules[1].ports.empty());
}

TEST(PolicyDrafterTest, TagsEveryRowHadThatNameTheApplication) {
  const std::vector<std::string> firefox = {"flatpak:org.mozilla.firefox",
                                            "systemd:app-flatpak-x-1.scope"};
  const auto drafts = draft(
      {{.tags = firefox},
       {.port = 80, .tags = {"flatpak:org.mozilla.firefox", "systemd:app-flatpak-x-2.scope"}},
       {.exe = "/usr/sbin/ntpd", .protocol = "udp", .port = 123, .tags = {"systemd:ntp.service"}},
       {.exe = "/usr/bin/mixed", .tags = {"snap:one"}},
       {.exe = "/usr/bin/mixed", .tags = {"snap:two"}}});
  ASSERT_EQ(drafts.size(), 3u);
  EXPECT_THAT(drafts[0].tags, ElementsAre("flatpak:org.mozilla.firefox"));  // curl
  EXPECT_TRUE(drafts[1].tags.empty());                                      // mixed
  EXPECT_THAT(drafts[2].tags, ElementsAre("systemd:ntp.service"));          // ntpd
}

TEST(PolicyDrafterTest, NamesAreUniqueAgainstThePolicyAndEachOther) {
  const auto drafts = draft(
      {{.exe = "/usr/bin/curl"}, {.exe = "/opt/curl/bin/curl"}, {.exe = "/usr/local/bin/curl"}},
      {"curl"});
  ASSERT_EQ(drafts.size(), 3u);
  // Numbered in path order, whatever order the rows came in.
  EXPECT_EQ(drafts[0].name, "curl-2");
  EXPECT_EQ(drafts[0].path, "/opt/curl/bin/curl");
  EXPECT_EQ(drafts[1].name, "curl-3");
  EXPECT_EQ(drafts[1].path, "/usr/bin/curl");
  EXPECT_EQ(drafts[2].name, "curl-4");
}

TEST(PolicyDrafterTest, RefusedFlowsOfAProfileAreAdditionsToIt) {
  const auto drafts = draft({
      {.action = rules::Action::kReject,
       .mode = rules::Mode::kEnforce,
       .profile = "browser",
       .decidedBy = db::DecidedBy::kProfileRule},
      {.port = 80,
       .mode = rules::Mode::kEnforce,
       .profile = "browser",
       .decidedBy = db::DecidedBy::kProfileDefault},
      // Already allowed by the profile: nothing to add.
      {.port = 22,
       .action = rules::Action::kAllow,
       .profile = "browser",
       .decidedBy = db::DecidedBy::kProfileRule},
  });
  ASSERT_EQ(drafts.size(), 1u);
  EXPECT_EQ(drafts[0].kind, DraftKind::kAddition);
  EXPECT_EQ(drafts[0].name, "browser");
  EXPECT_EQ(drafts[0].fileName(), "browser.suggested.toml");
  ASSERT_EQ(drafts[0].rules.size(), 1u);
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(80, 80), PortRangeIs(443, 443)));
  EXPECT_EQ(drafts[0].flows, 2u);
}

TEST(PolicyDrafterTest, RowsNoProfileCouldChangeAreLeftOut) {
  PolicyDrafter drafter({});
  drafter.add(Row{.decidedBy = db::DecidedBy::kGlobalRule}.entry());
  drafter.add(Row{.decidedBy = db::DecidedBy::kUnknown}.entry());
  drafter.add(Row{.decidedBy = db::DecidedBy::kKernel}.entry());
  drafter.add(Row{.exe = ""}.entry());
  EXPECT_TRUE(drafter.finish().empty());
  EXPECT_EQ(drafter.rowsUsed(), 0u);
}

TEST(PolicyDrafterTest, AllowedFlowsAloneDraftNothingButAreCoveredWithTheRest) {
  // Enforced and allowed by the engine default: nothing to draft for it.
  const auto none = draft({{.action = rules::Action::kAllow, .mode = rules::Mode::kEnforce}});
  EXPECT_TRUE(none.empty());
  // Once a flow of it was refused, its profile must keep the allowed ones allowed.
  const auto drafts =
      draft({{.port = 80, .action = rules::Action::kAllow, .mode = rules::Mode::kEnforce},
             {.port = 443, .mode = rules::Mode::kEnforce}});
  ASSERT_EQ(drafts.size(), 1u);
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(80, 80), PortRangeIs(443, 443)));
}

TEST(PolicyDrafterTest, OutputDoesNotDependOnRowOrder) {
  std::vector<Row> rows = {
      {.exe = "/usr/bin/a", .port = 1, .host = "x.example.org"},
      {.exe = "/usr/bin/a", .port = 2, .host = "y.example.org"},
      {.exe = "/usr/bin/a", .protocol = "udp", .remote = "192.0.2.7", .port = 9},
      {.exe = "/usr/bin/a", .protocol = "udp", .remote = "192.0.2.5", .port = 9},
      {.exe = "/usr/bin/a", .remote = "10.0.0.1", .port = 3},
      {.exe = "/usr/bin/b", .remote = "127.0.0.1", .port = 4},
      {.exe = "/usr/bin/b", .direction = Direction::kIn, .localPort = 22},
      {.port = 5, .profile = "p", .decidedBy = db::DecidedBy::kProfileDefault},
  };
  const auto expected = draft(rows);
  std::mt19937 random(7);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(rows.begin(), rows.end(), random);
    const auto again = draft(rows);
    ASSERT_EQ(again.size(), expected.size());
    for (std::size_t k = 0; k < again.size(); ++k) {
      EXPECT_EQ(again[k].name, expected[k].name);
      EXPECT_EQ(again[k].rules, expected[k].rules);
    }
  }
}

TEST(ProfileNameForTest, TheBaseNameMadeValid) {
  EXPECT_EQ(profileNameFor("/usr/bin/curl"), "curl");
  EXPECT_EQ(profileNameFor("/opt/My App/my app"), "my-app");
  EXPECT_EQ(profileNameFor("/usr/bin/.hidden"), "hidden");
  EXPECT_EQ(profileNameFor("/usr/bin/python3.11"), "python3.11");
  EXPECT_EQ(profileNameFor("/x/__"), "program");
  EXPECT_EQ(profileNameFor(std::string(300, 'a')).size(), 120u);
  // Not the name of another profile's drop-in or draft addition file (attack review: a program
  // named "curl.local" had its draft written as curl's drop-in file).
  EXPECT_EQ(profileNameFor("/tmp/curl.local"), "curl-local");
  EXPECT_EQ(profileNameFor("/tmp/tcp_probe.suggested"), "tcp_probe-suggested");
}

TEST(MergePortsTest, RunsOfThreeOrMoreBecomeRanges) {
  EXPECT_THAT(mergePorts({1, 2, 3, 5, 7, 8, 65534, 65535}),
              ElementsAre(PortRangeIs(1, 3), PortRangeIs(5, 5), PortRangeIs(7, 7),
                          PortRangeIs(8, 8), PortRangeIs(65534, 65534), PortRangeIs(65535, 65535)));
  EXPECT_THAT(mergePorts({65533, 65534, 65535}), ElementsAre(PortRangeIs(65533, 65535)));
  EXPECT_TRUE(mergePorts({}).empty());
}

}  // namespace
}  // namespace warden::cli

namespace warden::cli {
namespace {

// Rows logged before the program got a profile are put to that profile's rules as they are
// now: what it allows needs nothing, what it refuses is an addition, never a second profile.
TEST(PolicyDrafterTest, RowsFromBeforeAProfileClaimedThePathGoToIt) {
  rules::Rule https;
  https.proto = rules::Proto::kTcp;
  https.ports = {{443, 443}};
  PolicyDrafter drafter({"curl"});
  drafter.claim("/usr/bin/curl", "curl", {https}, rules::Action::kDeny);
  drafter.add(Row{.port = 443}.entry());
  drafter.add(Row{.port = 80, .host = "www.example.org"}.entry());
  drafter.add(Row{.exe = "/usr/bin/wget", .port = 80}.entry());
  const auto drafts = drafter.finish();
  ASSERT_EQ(drafts.size(), 2u);
  EXPECT_EQ(drafts[0].kind, DraftKind::kAddition);
  EXPECT_EQ(drafts[0].name, "curl");
  ASSERT_EQ(drafts[0].rules.size(), 1u);
  EXPECT_EQ(drafts[0].rules[0].host, "www.example.org");
  EXPECT_THAT(drafts[0].rules[0].ports, ElementsAre(PortRangeIs(80, 80)));
  EXPECT_EQ(drafts[1].kind, DraftKind::kNewProfile);
  EXPECT_EQ(drafts[1].name, "wget");
  // A profile whose default allows claims everything it sees.
  PolicyDrafter open({"curl"});
  open.claim("/usr/bin/curl", "curl", {}, rules::Action::kAllow);
  open.add(Row{.port = 80}.entry());
  EXPECT_TRUE(open.finish().empty());
}

}  // namespace
}  // namespace warden::cli
