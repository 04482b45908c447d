#include "cli/pager.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

TEST(PagerCommand, WardenPagerThenPagerThenLess) {
  EXPECT_EQ(pagerCommand(nullptr, nullptr), "less");
  EXPECT_EQ(pagerCommand(nullptr, "more"), "more");
  EXPECT_EQ(pagerCommand("less -S", "more"), "less -S");
}

// systemd's habit: an empty pager variable or cat means "do not page"; WARDEN_PAGER set to
// either wins over a PAGER that names a pager.
TEST(PagerCommand, EmptyOrCatMeansNone) {
  EXPECT_EQ(pagerCommand("", "less"), std::nullopt);
  EXPECT_EQ(pagerCommand("cat", "less"), std::nullopt);
  EXPECT_EQ(pagerCommand(nullptr, ""), std::nullopt);
  EXPECT_EQ(pagerCommand(nullptr, "cat"), std::nullopt);
}

// A pager that is not installed (less is missing from minimal systems) must not swallow the
// output: showPaged then writes it to stdout itself.
TEST(PagerFound, LooksUpTheFirstWordInPath) {
  warden::testing::TempDir dir;
  const auto pager = dir.file("mypager");
  std::ofstream(pager) << "#!/bin/sh\ncat\n";
  std::filesystem::permissions(pager, std::filesystem::perms::owner_all);
  const std::string path = "/nonexistent:" + dir.path().string();
  EXPECT_TRUE(pagerFound("mypager", path.c_str()));
  EXPECT_TRUE(pagerFound("  mypager -S -R", path.c_str()));
  EXPECT_TRUE(pagerFound(pager.string(), nullptr));
  EXPECT_FALSE(pagerFound("mypager", "/nonexistent"));
  EXPECT_FALSE(pagerFound("mypager", nullptr));
  EXPECT_FALSE(pagerFound((dir.path() / "absent").string() + " -S", path.c_str()));
  EXPECT_FALSE(pagerFound("", path.c_str()));
  // Shell syntax: only the shell can tell, so it is run.
  EXPECT_TRUE(pagerFound("absent-pager | cat", "/nonexistent"));
  EXPECT_TRUE(pagerFound("$HOME/bin/pager", "/nonexistent"));
}

TEST(ShowPagedMissing, AMissingPagerLeavesTheTextOnStdout) {
  ::testing::internal::CaptureStdout();
  showPaged("the whole text\n", "/nonexistent/less -S");
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "the whole text\n");
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class ShowPaged : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* less = getenv("LESS")) saved_ = less;
    unsetenv("LESS");
  }
  void TearDown() override {
    if (saved_) {
      setenv("LESS", saved_->c_str(), 1);
    } else {
      unsetenv("LESS");
    }
  }

 private:
  std::optional<std::string> saved_;
};

// The pager gets the whole text on its stdin, and LESS=FRXMK when LESS is not set.
TEST_F(ShowPaged, ThePagerReadsEverythingWithLessOptions) {
  warden::testing::TempDir dir;
  const auto got = dir.file("got");
  const auto less = dir.file("less");
  const std::string text = std::string(200'000, 'x') + "\nend\n";  // more than a pipe holds
  showPaged(text, "printf %s \"$LESS\" > '" + less.string() + "'; cat > '" + got.string() + "'");
  EXPECT_EQ(slurp(got), text);
  EXPECT_EQ(slurp(less), "FRXMK");
}

TEST_F(ShowPaged, AGivenLessIsKept) {
  warden::testing::TempDir dir;
  setenv("LESS", "-S", 1);
  const auto less = dir.file("less");
  showPaged("text\n", "printf %s \"$LESS\" > '" + less.string() + "'; cat > /dev/null");
  EXPECT_EQ(slurp(less), "-S");
}

// A pager that quits before reading everything (q in less) ends the output quietly: no
// SIGPIPE kills the tool.
TEST_F(ShowPaged, APagerThatQuitsEarlyIsNoError) {
  showPaged(std::string(1'000'000, 'y'), "head -c 10 > /dev/null");
  SUCCEED();
}

}  // namespace
}  // namespace warden::cli
