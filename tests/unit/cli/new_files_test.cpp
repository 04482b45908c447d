#include "cli/new_files.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

using ::testing::HasSubstr;
using warden::testing::TempDir;

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(WriteNewFilesTest, WritesEachFile0644IntoADirectoryItMakes) {
  TempDir dir;
  const auto out = dir.file("drafts");
  const mode_t old = ::umask(077);
  auto ok = writeNewFiles(out, {{"a.toml", "name = \"a\"\n"}, {"b.toml", "x"}});
  ::umask(old);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(slurp(out / "a.toml"), "name = \"a\"\n");
  EXPECT_EQ(slurp(out / "b.toml"), "x");
  struct stat st {};
  ASSERT_EQ(::stat((out / "a.toml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out), {}), 2);
}

TEST(WriteNewFilesTest, WritesNothingWhenAnyTargetExists) {
  TempDir dir;
  const auto out = dir.file("drafts");
  std::filesystem::create_directory(out);
  std::ofstream(out / "b.toml") << "mine";
  auto ok = writeNewFiles(out, {{"a.toml", "new"}, {"b.toml", "new"}});
  ASSERT_FALSE(ok.has_value());
  EXPECT_THAT(ok.error().message, HasSubstr((out / "b.toml").string()));
  EXPECT_THAT(ok.error().message, HasSubstr("nothing was written"));
  EXPECT_EQ(slurp(out / "b.toml"), "mine");
  EXPECT_FALSE(std::filesystem::exists(out / "a.toml"));
}

TEST(WriteNewFilesTest, ADanglingSymlinkCountsAsExisting) {
  TempDir dir;
  const auto out = dir.file("drafts");
  std::filesystem::create_directory(out);
  std::filesystem::create_symlink(dir.file("elsewhere"), out / "a.toml");
  EXPECT_FALSE(writeNewFiles(out, {{"a.toml", "new"}}).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir.file("elsewhere")));
}

}  // namespace
}  // namespace warden::cli
