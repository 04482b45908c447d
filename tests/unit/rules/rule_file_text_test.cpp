#include "rules/rule_file_text.h"

#include <gtest/gtest.h>

#include <chrono>

#include "rules/profile_codec.h"

namespace warden::rules {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kFile = "/t/curl.local.toml";

constexpr std::string_view kPersonText =
    "# Managed by warden (warden allow|deny|reject); edits are kept.\n"
    "extends = \"curl\"   # the profile\n"
    "\n"
    "# why: the mirror\n"
    "[[rule]]\n"
    "action = 'allow'  # keep me\n"
    "ports = [\n"
    "  443,  # https\n"
    "  '8000-8100',\n"
    "]\n"
    "comment = \"\"\"\n"
    "[[rule]] inside a string\"\"\"\n"
    "\n"
    "# about the second\n"
    "[[rule]]\n"
    "action='deny'\n";

TEST(RuleFileText, InsertKeepsEveryOtherByte) {
  Rule rule;
  rule.action = Action::kReject;
  rule.proto = Proto::kTcp;
  rule.ports = {{443, 443}, {8000, 8100}};
  rule.host = "example.org";
  rule.expires = std::chrono::sys_days(std::chrono::year(2026) / 12 / 3) + 22h + 10min;
  const std::string block = ruleText(rule);
  EXPECT_EQ(block,
            "[[rule]]\naction = \"reject\"\nproto = \"tcp\"\nports = [443, \"8000-8100\"]\n"
            "host = \"example.org\"\nexpires = 2026-12-03T22:10:00Z\n\n");
  auto edited = insertBeforeFirstTable(kPersonText, kFile, block);
  ASSERT_TRUE(edited) << edited.error().front().format();
  // Above the first table and the comment that belongs to it; the rest untouched.
  const std::size_t at = kPersonText.find("# why");
  EXPECT_EQ(*edited,
            std::string(kPersonText.substr(0, at)) + block + std::string(kPersonText.substr(at)));
  auto parsed = parseProfileFile(*edited, kFile);
  ASSERT_TRUE(parsed) << parsed.error().front().format();
  ASSERT_EQ(parsed->dropIn->rules.size(), 3u);
  EXPECT_EQ(parsed->dropIn->rules[0].action, Action::kReject);
  EXPECT_EQ(parsed->dropIn->rules[0].expires, rule.expires);
  EXPECT_TRUE(sameSelectors(parsed->dropIn->rules[0], rule));
}

TEST(RuleFileText, InsertIntoAFileWithoutTables) {
  Rule rule;
  auto edited =
      insertBeforeFirstTable("# Managed by warden\nextends = \"a\"", kFile, ruleText(rule));
  ASSERT_TRUE(edited);
  EXPECT_EQ(*edited, "# Managed by warden\nextends = \"a\"\n\n[[rule]]\naction = \"allow\"\n\n");
}

TEST(RuleFileText, RemoveTakesOneTableAndLeavesTheNextOnesComments) {
  auto parsed = parseProfileFile(kPersonText, kFile);
  ASSERT_TRUE(parsed) << parsed.error().front().format();
  ASSERT_EQ(parsed->dropIn->rules.size(), 2u);
  const int first = parsed->dropIn->rules[0].where.line;
  const int second = parsed->dropIn->rules[1].where.line;
  EXPECT_EQ(first, 5);
  auto edited = removeRuleTables(kPersonText, kFile, {first});
  ASSERT_TRUE(edited);
  EXPECT_EQ(*edited,
            "# Managed by warden (warden allow|deny|reject); edits are kept.\n"
            "extends = \"curl\"   # the profile\n"
            "\n"
            "# about the second\n"
            "[[rule]]\n"
            "action='deny'\n");
  edited = removeRuleTables(kPersonText, kFile, {second});
  ASSERT_TRUE(edited);
  const std::size_t at = kPersonText.find("# about the second");
  EXPECT_EQ(*edited, std::string(kPersonText.substr(0, at)));
  // A note after the last key of the last table is the file's, not the table's.
  edited = removeRuleTables("extends = 'a'\n[[rule]]\naction = 'allow'\n\n# a note\n", kFile, {2});
  ASSERT_TRUE(edited);
  EXPECT_EQ(*edited, "extends = 'a'\n# a note\n");
  // A line that starts no table is refused rather than guessed at.
  EXPECT_FALSE(removeRuleTables(kPersonText, kFile, {6}));
}

TEST(RuleFileText, SameSelectorsIgnoresActionAndExpiry) {
  Rule a;
  a.proto = Proto::kTcp;
  a.ports = {{443, 443}};
  Rule b = a;
  b.action = Action::kDeny;
  b.expires = std::chrono::sys_seconds(100s);
  EXPECT_TRUE(sameSelectors(a, b));
  b.ports = {{443, 444}};
  EXPECT_FALSE(sameSelectors(a, b));
  b = a;
  b.host = "example.org";
  EXPECT_FALSE(sameSelectors(a, b));
}

}  // namespace
}  // namespace warden::rules
