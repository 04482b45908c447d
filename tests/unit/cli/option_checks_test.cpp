#include "cli/option_checks.h"

#include <gtest/gtest.h>

namespace warden::cli {
namespace {

TEST(WholeNumber, AcceptsTheRangeInclusive) {
  EXPECT_EQ(wholeNumberProblem("0", 0, 10), "");
  EXPECT_EQ(wholeNumberProblem("10", 0, 10), "");
  EXPECT_EQ(wholeNumberProblem("-2", -5, 10), "");
}

// CLI11's own range check printed "[1 - 1.79769e+308]"; the words say what is accepted.
TEST(WholeNumber, SaysInWordsWhatItAccepts) {
  EXPECT_EQ(wholeNumberProblem("0", 1, 4194304),
            "must be a whole number from 1 to 4194304, got '0'");
  EXPECT_EQ(wholeNumberProblem("11", 0, 10), "must be a whole number from 0 to 10, got '11'");
  EXPECT_EQ(wholeNumberProblem("", 0, 10), "must be a whole number from 0 to 10, got nothing");
  for (const char* bad :
       {"-3", "1e3", "1.0", " 5", "5 ", "+5", "0x10", "ten", "99999999999999999999"}) {
    EXPECT_NE(wholeNumberProblem(bad, 0, 10), "") << bad;
  }
}

TEST(WholeNumber, CliNamesTheOption) {
  CLI::App app;
  int limit = 0;
  app.add_option("--limit", limit)->check(wholeNumber(0, 1000));
  try {
    app.parse(std::vector<std::string>{"-3", "--limit"});
    FAIL() << "--limit -3 was accepted";
  } catch (const CLI::ParseError& e) {
    EXPECT_STREQ(e.what(), "--limit: must be a whole number from 0 to 1000, got '-3'");
  }
}

TEST(OneOf, ListsTheChoices) {
  const std::vector<std::string> actions = {"allow", "deny", "reject"};
  EXPECT_EQ(oneOfProblem("deny", actions), "");
  EXPECT_EQ(oneOfProblem("maybe", actions), "must be allow, deny or reject, got 'maybe'");
  EXPECT_EQ(oneOfProblem("Deny", actions), "must be allow, deny or reject, got 'Deny'");
  EXPECT_EQ(oneOfProblem("x", {"a", "b"}), "must be a or b, got 'x'");
}

}  // namespace
}  // namespace warden::cli
