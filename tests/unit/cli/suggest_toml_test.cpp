#include "cli/suggest_toml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rules/profile_codec.h"
#include "tests/unit/cli/suggest_rows.h"

namespace warden::cli {
namespace {

using ::testing::HasSubstr;
using testing::Row;

// What a drafted file says, read back by the profile codec wardend and `warden check` use.
rules::Profile parseOne(const std::string& text) {
  auto parsed = rules::parseProfiles(text, "/etc/warden/profiles.d/draft.toml");
  EXPECT_TRUE(parsed.has_value()) << text << "\n" << (parsed ? "" : parsed.error().front().message);
  if (!parsed || parsed->size() != 1) return {};
  return parsed->front();
}

rules::Flow flowOf(const db::LogEntry& e) {
  rules::Flow flow;
  flow.direction = e.direction;
  flow.ipProto = e.protocol == "tcp" ? 6 : e.protocol == "udp" ? 17 : 1;
  flow.remote = *rules::IpAddress::parse(e.remoteAddr);
  flow.local = *rules::IpAddress::parse(e.localAddr);
  flow.remotePort = e.remotePort;
  flow.localPort = e.localPort;
  flow.host = e.host;
  return flow;
}

TEST(TomlStringTest, EscapesWhatABasicStringCannotHold) {
  EXPECT_EQ(tomlString("plain"), "\"plain\"");
  EXPECT_EQ(tomlString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(tomlString("tab\there\nnew\x01\x7f"), "\"tab\\there\\nnew\\u0001\\u007F\"");
  // And the profile codec reads back exactly what was escaped.
  const std::string nasty = "/opt/a \"b\"\\c\t\n\x1b[31m\xc3\xa9";
  const rules::Profile profile =
      parseOne("name = \"x\"\ndescription = " + tomlString(nasty) + "\n[[match]]\npath = \"/x\"\n");
  EXPECT_EQ(profile.description, nasty);
}

TEST(IsUtf8Test, RefusesWhatATomlFileCannotHold) {
  EXPECT_TRUE(isUtf8("/usr/bin/caf\xc3\xa9"));
  EXPECT_TRUE(isUtf8("\xf0\x9f\x94\xa5"));
  EXPECT_FALSE(isUtf8("/usr/bin/\xff"));
  EXPECT_FALSE(isUtf8("\xc0\xaf"));      // overlong "/"
  EXPECT_FALSE(isUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(isUtf8("\xe2\x82"));      // cut short
  ProfileDraft draft;
  draft.path = "/usr/bin/\xfe";
  EXPECT_FALSE(writable(draft));
}

// From an attack review: a user runs a program from a directory whose name holds a newline and
// TOML; the draft's notes name the path in comments, which a newline would end, so the rest
// became keys of the draft (a profile of every program, allowing all). Read back, the draft
// holds one [[match]] of that exact path and nothing else.
TEST(DraftTomlTest, APathInANoteCannotEndItsComment) {
  const std::string path =
      "/tmp/a\n[[match]]\npath_glob = \"/**\"\n[[rule]]\naction = \"allow\"\n#b";
  ProfileDraft draft;
  draft.name = "b";
  draft.path = path;
  draft.sha256Note = path + " was not a readable file when warden suggest ran";
  const std::string text = draftToml(draft, "");
  const rules::Profile profile = parseOne(text);
  ASSERT_EQ(profile.matches.size(), 1u) << text;
  EXPECT_EQ(profile.matches[0].path, path);
  EXPECT_FALSE(profile.matches[0].pathGlob.has_value());
  EXPECT_TRUE(profile.rules.empty()) << text;
  draft.sha256 = std::string(64, 'a');
  draft.sha256Note = "sha256 of " + path;
  EXPECT_EQ(parseOne(draftToml(draft, "")).matches.size(), 1u);
}

TEST(DraftTomlTest, ANewProfileReadsBackAndAllowsExactlyWhatWasObserved) {
  const std::vector<Row> rows = {
      {.exe = "/opt/my \"app\"/run", .port = 443, .host = "a.cdn.example.org"},
      {.exe = "/opt/my \"app\"/run", .port = 443, .host = "b.cdn.example.org"},
      {.exe = "/opt/my \"app\"/run", .port = 8000, .host = "files.other.example"},
      {.exe = "/opt/my \"app\"/run", .port = 8001, .host = "files.other.example"},
      {.exe = "/opt/my \"app\"/run", .port = 8002, .host = "files.other.example"},
      {.exe = "/opt/my \"app\"/run", .protocol = "udp", .remote = "192.0.2.53", .port = 53},
      {.exe = "/opt/my \"app\"/run", .remote = "10.0.0.4", .port = 22},
      {.exe = "/opt/my \"app\"/run",
       .remote = "192.168.3.3",
       .direction = rules::Direction::kIn,
       .localPort = 8080},
      {.exe = "/opt/my \"app\"/run", .tags = {}},
  };
  PolicyDrafter drafter({});
  for (const Row& row : rows) drafter.add(row.entry());
  auto drafts = drafter.finish();
  ASSERT_EQ(drafts.size(), 1u);
  drafts[0].sha256 = std::string(64, 'a');
  drafts[0].sha256Note = "sha256 of the file (hashed by warden suggest)";
  const std::string text = draftToml(drafts[0], "# header\n");
  EXPECT_TRUE(text.starts_with("# header\n")) << text;
  EXPECT_THAT(text, HasSubstr("# sha256 of the file (hashed by warden suggest)\n"));

  const rules::Profile profile = parseOne(text);
  EXPECT_EQ(profile.name, "run");
  EXPECT_EQ(profile.defaultAction, rules::Action::kDeny);
  ASSERT_EQ(profile.matches.size(), 1u);
  EXPECT_EQ(profile.matches[0].path, "/opt/my \"app\"/run");
  EXPECT_EQ(profile.matches[0].sha256.size(), 1u);
  for (const Row& row : rows) {
    const db::LogEntry e = row.entry();
    const rules::Rule* rule = rules::firstMatch(profile.rules, flowOf(e));
    ASSERT_NE(rule, nullptr) << "not allowed: " << e.remoteAddr << ":" << e.remotePort << "\n"
                             << text;
    EXPECT_EQ(rule->action, rules::Action::kAllow);
  }
  // Other destinations, ports and protocols stay with the profile's default.
  const std::vector<Row> others = {
      {.port = 8003, .host = "files.other.example"},
      {.remote = "192.0.2.99", .port = 443, .host = "other.example.net"},
      {.port = 444, .host = "a.cdn.example.org"},
      {.protocol = "udp", .remote = "192.0.2.54", .port = 53},
      {.remote = "192.0.2.53", .port = 53},
      {.remote = "8.8.8.8", .port = 22},
      {.remote = "192.168.3.3", .port = 8080},  // out, not in
  };
  for (const Row& row : others) {
    const db::LogEntry e = row.entry();
    EXPECT_EQ(rules::firstMatch(profile.rules, flowOf(e)), nullptr)
        << "allowed: " << e.remoteAddr << ":" << e.remotePort << " " << e.host << "\n"
        << text;
  }
}

TEST(DraftTomlTest, TagsAndAMissingHashAreWritten) {
  ProfileDraft draft;
  draft.name = "firefox";
  draft.path = "/app/lib/firefox/firefox";
  draft.tags = {"flatpak:org.mozilla.firefox"};
  draft.sha256Note = "/app/lib/firefox/firefox was not a readable file when warden suggest ran";
  draft.rules.push_back({.proto = rules::Proto::kTcp, .host = "*.mozilla.org", .flows = 2});
  const std::string text = draftToml(draft, "");
  EXPECT_THAT(text, HasSubstr("# No sha256: /app/lib/firefox/firefox was not a readable file"));
  const rules::Profile profile = parseOne(text);
  ASSERT_EQ(profile.matches.size(), 1u);
  EXPECT_EQ(profile.matches[0].tags, std::vector<std::string>{"flatpak:org.mozilla.firefox"});
  EXPECT_TRUE(profile.matches[0].sha256.empty());
  ASSERT_EQ(profile.rules.size(), 1u);
  EXPECT_EQ(profile.rules[0].host, "*.mozilla.org");
}

TEST(DraftTomlTest, AnAdditionExtendsItsProfile) {
  ProfileDraft draft;
  draft.kind = DraftKind::kAddition;
  draft.name = "browser";
  draft.rules.push_back({.proto = rules::Proto::kUdp, .ports = {{443, 443}}, .flows = 1});
  const std::string text = draftToml(draft, "# h\n");
  EXPECT_THAT(text, HasSubstr("\nextends = \"browser\"\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("name =")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("[[match]]")));
  EXPECT_THAT(text, HasSubstr("[[rule]]  # 1 flow observed\naction = \"allow\"\n"
                              "direction = \"out\"\nproto = \"udp\"\nports = [443]\n"));
}

TEST(DraftJsonTest, TheDraftAsData) {
  ProfileDraft draft;
  draft.name = "curl";
  draft.path = "/usr/bin/curl";
  draft.sha256 = std::string(64, 'b');
  draft.rules.push_back({.proto = rules::Proto::kTcp,
                         .host = "example.org",
                         .ports = {{80, 80}, {8000, 8002}},
                         .flows = 4});
  const auto json = draftJson(draft);
  EXPECT_EQ(json["kind"], "profile");
  EXPECT_EQ(json["file"], "curl.toml");
  EXPECT_EQ(json["match"]["path"], "/usr/bin/curl");
  EXPECT_EQ(json["match"]["sha256"][0], std::string(64, 'b'));
  EXPECT_EQ(json["rules"][0]["ports"], nlohmann::json::parse(R"([80, "8000-8002"])"));
  EXPECT_EQ(json["rules"][0]["host"], "example.org");
}

}  // namespace
}  // namespace warden::cli
