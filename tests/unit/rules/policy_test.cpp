#include "rules/policy.h"
#include "rules/policy_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/temp_dir.h"
#include "tests/unit/rules/test_files.h"

namespace warden::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using warden::testing::TempDir;

// A config and profiles directory in a temporary directory.
class PolicyFiles : public ::testing::Test {
 protected:
  PolicyFiles() {
    config_ = dir_.write("warden.toml", "[profiles]\ndir = \"profiles.d\"\n");
    std::filesystem::create_directory(dir_.path() / "profiles.d");
    ::chmod((dir_.path() / "profiles.d").c_str(), 0755);
  }

  std::filesystem::path profile(std::string_view name, std::string_view text) {
    return dir_.write(std::filesystem::path("profiles.d") / name, text);
  }

  std::string relative(const std::string& file) const {
    return std::filesystem::path(file).lexically_relative(dir_.path()).string();
  }

  // "file:line:column: severity: message" with the file relative to the directory.
  std::vector<std::string> describe(const Diagnostics& diagnostics) const {
    std::vector<std::string> out;
    for (Diagnostic d : diagnostics) {
      d.where.file = relative(d.where.file);
      out.push_back(d.format());
    }
    return out;
  }

  std::vector<std::string> errors() {
    const auto policy = loadPolicy(config_);
    EXPECT_FALSE(policy) << "expected errors";
    return policy ? std::vector<std::string>{} : describe(policy.error());
  }

  TempDir dir_;
  std::filesystem::path config_;
};

TEST_F(PolicyFiles, LoadsProfilesInFileNameOrder) {
  profile("20-b.toml", "name = 'b'\n[[match]]\npath = '/b'\n");
  profile("10-a.toml",
          "[[profile]]\nname = 'a1'\n[[profile.match]]\npath = '/a1'\n"
          "[[profile]]\nname = 'a2'\n[[profile.match]]\npath = '/a2'\n");
  profile("30-c.toml", "name = 'c'\n[[match]]\npath = '/c'\n");
  profile("README", "not toml");
  profile("40-d.toml.disabled", "broken =");
  profile(".50-hidden.toml", "broken =");
  std::filesystem::create_directory(dir_.path() / "profiles.d" / "60-dir.toml");
  Diagnostics warnings;
  const auto policy = loadPolicy(config_, &warnings);
  ASSERT_TRUE(policy) << policy.error().front().format();
  EXPECT_THAT(warnings, IsEmpty());
  std::vector<std::string> names;
  for (const auto& p : policy->profiles) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("a1", "a2", "b", "c"));
  EXPECT_EQ(relative(policy->profiles[2].file), "profiles.d/20-b.toml");
  EXPECT_EQ(policy->config.profilesDir, dir_.path() / "profiles.d");
}

TEST_F(PolicyFiles, EmptyDirectoryIsAnEmptyPolicy) {
  const auto policy = loadPolicy(config_);
  ASSERT_TRUE(policy);
  EXPECT_THAT(policy->profiles, IsEmpty());
}

TEST_F(PolicyFiles, MissingDirectoryIsAnError) {
  std::filesystem::remove(dir_.path() / "profiles.d");
  EXPECT_THAT(errors(),
              ElementsAre("profiles.d: error: cannot open directory: No such file or directory"));
}

TEST_F(PolicyFiles, AllErrorsOfAllFilesInLoadOrder) {
  profile("b.toml", "name = 'b'\n[[match]]\npath = 'b'\n");
  profile("a.toml", "name = 'a'\n[[match]]\nuid = 'x'\n[[rule]]\nports = 1\n");
  profile("c.toml", "name = 'c'\n[[match]\n");
  EXPECT_THAT(errors(),
              ElementsAre("profiles.d/a.toml:3:7: error: expected an integer for 'uid', got string",
                          "profiles.d/a.toml:4:1: error: [[rule]] needs 'action'",
                          "profiles.d/b.toml:3:8: error: 'path' must be an absolute path, got 'b'",
                          ::testing::StartsWith("profiles.d/c.toml:2:")));
}

TEST_F(PolicyFiles, DuplicateNamesAcrossFiles) {
  profile("a.toml", "name = 'curl'\n[[match]]\npath = '/usr/bin/curl'\n");
  profile("b.toml", "\n\nname = 'curl'\n[[match]]\npath = '/usr/local/bin/curl'\n");
  const auto all = errors();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0],
            "profiles.d/b.toml:3:8: error: duplicate profile name 'curl' (first defined at " +
                (dir_.path() / "profiles.d/a.toml").string() + ":1:8)");
}

TEST_F(PolicyFiles, DuplicateNamesInOneFile) {
  profile("a.toml",
          "[[profile]]\nname = 'x'\n[[profile.match]]\nuid = 1\n"
          "[[profile]]\nname = 'x'\n[[profile.match]]\nuid = 2\n");
  EXPECT_THAT(errors(), ElementsAre(::testing::StartsWith(
                            "profiles.d/a.toml:5:1: error: duplicate profile name 'x'")));
}

TEST_F(PolicyFiles, WarningsFromFilesAndLint) {
  dir_.write(
      "warden.toml",
      "[profiles]\ndir = \"profiles.d\"\n[[rule]]\naction='allow'\n[[rule]]\naction='deny'\n");
  profile("a.toml", "name = 'a'\n[[match]]\npath = '/x'\n");
  profile("b.toml", "name = 'b'\n[[match]]\npath = '/x'\n");
  profile("c.toml", "name = 'c'\n");
  Diagnostics warnings;
  const auto policy = loadPolicy(config_, &warnings);
  ASSERT_TRUE(policy);
  EXPECT_THAT(describe(warnings),
              ElementsAre(::testing::StartsWith("warden.toml:5:1: warning: rule can never match"),
                          ::testing::StartsWith("profiles.d/b.toml:2:1: warning: [[match]] of "
                                                "profile 'b' may select the same processes"),
                          "profiles.d/c.toml:1:8: warning: profile 'c' has no [[match]] and "
                          "applies to no process"));
  EXPECT_TRUE(loadPolicy(config_));  // warnings never make a policy fail
}

TEST_F(PolicyFiles, ErrorsComeWithTheWarningsOfTheRun) {
  profile("a.toml", "name = 'a'\n");
  profile("b.toml", "name = 'b'\n[[match]]\npath = 1\n");
  EXPECT_THAT(errors(), ElementsAre("profiles.d/a.toml:1:8: warning: profile 'a' has no [[match]] "
                                    "and applies to no process",
                                    "profiles.d/b.toml:3:8: error: expected a string for 'path', "
                                    "got integer"));
}

TEST_F(PolicyFiles, ConfigErrorsStopBeforeProfiles) {
  dir_.write("warden.toml", "[profiles]\ndir = 5\n");
  EXPECT_THAT(errors(), ElementsAre("warden.toml:2:7: error: expected a string for 'dir', got "
                                    "integer"));
}

TEST_F(PolicyFiles, ConfigErrorsElsewhereStillReadTheProfiles) {
  dir_.write("warden.toml", "[engine]\nmode = 'x'\n[profiles]\ndir = \"profiles.d\"\n");
  profile("a.toml", "name = 'a'\n[[match]]\npath = 'a'\n");
  EXPECT_THAT(
      errors(),
      ElementsAre("warden.toml:2:8: error: invalid value 'x' for 'mode' (expected enforce "
                  "or learn)",
                  "profiles.d/a.toml:3:8: error: 'path' must be an absolute path, got 'a'"));
}

TEST_F(PolicyFiles, AsRootRefusesWritableProfilesAndDirectories) {
  if (::geteuid() != 0) GTEST_SKIP() << "ownership is only enforced for root";
  const auto file = profile("a.toml", "name = 'a'\n[[match]]\npath = '/x'\n");
  profile("b.toml", "name = 'b'\n[[match]]\npath = '/y'\n");
  ::chmod(file.c_str(), 0666);
  EXPECT_THAT(errors(), ElementsAre("profiles.d/a.toml: error: refusing policy file writable by "
                                    "group or others, mode 0666 (chmod go-w)"));
  ::chmod(file.c_str(), 0644);
  ASSERT_EQ(::chown(file.c_str(), 65534, 0), 0);
  EXPECT_THAT(errors(), ElementsAre("profiles.d/a.toml: error: refusing policy file owned by uid "
                                    "65534, not root (chown root)"));
  ASSERT_EQ(::chown(file.c_str(), 0, 0), 0);
  EXPECT_TRUE(loadPolicy(config_));
  ::chmod((dir_.path() / "profiles.d").c_str(), 0777);
  EXPECT_THAT(errors(), ElementsAre("profiles.d: error: refusing policy directory writable by "
                                    "group or others, mode 0777 (chmod go-w)"));
}

std::vector<std::string> namesOf(const Policy& policy) {
  std::vector<std::string> names;
  for (const auto& p : policy.profiles) names.push_back(p.name);
  return names;
}

TEST_F(PolicyFiles, LoaderParsesOnlyChangedFiles) {
  profile("a.toml", "name = 'a'\n[[match]]\npath = '/a'\n");
  profile("b.toml", "name = 'b'\n[[match]]\npath = '/b'\n");
  profile("c.toml", "name = 'c'\n");
  PolicyLoader loader;
  Diagnostics warnings;
  auto policy = loader.load(config_, &warnings);
  ASSERT_TRUE(policy);
  EXPECT_EQ(loader.filesParsed(), 3u);
  EXPECT_EQ(warnings.size(), 1u);

  warnings.clear();
  policy = loader.load(config_, &warnings);
  ASSERT_TRUE(policy);
  EXPECT_EQ(loader.filesParsed(), 0u);
  EXPECT_THAT(namesOf(*policy), ElementsAre("a", "b", "c"));
  EXPECT_EQ(warnings.size(), 1u);  // a cached file keeps its warnings

  profile("b.toml", "name = 'b2'\n[[match]]\npath = '/b'\n");
  std::filesystem::remove(dir_.path() / "profiles.d/c.toml");
  policy = loader.load(config_);
  ASSERT_TRUE(policy);
  EXPECT_EQ(loader.filesParsed(), 1u);
  EXPECT_THAT(namesOf(*policy), ElementsAre("a", "b2"));

  profile("a.toml", "name = 'a'\n[[match]]\npath = 1\n");
  EXPECT_FALSE(loader.load(config_));
  profile("a.toml", "name = 'a'\n[[match]]\npath = '/a'\n");
  policy = loader.load(config_);
  ASSERT_TRUE(policy);
  EXPECT_EQ(loader.filesParsed(), 1u);
}

// Enough files for the loader to parse on several threads: profiles, errors and warnings
// still come in file order, and a second load takes them all from the cache.
TEST_F(PolicyFiles, ManyFilesLoadInFileOrder) {
  constexpr int kFiles = 200;
  std::vector<std::string> expected;
  for (int i = 0; i < kFiles; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.toml", i);
    const std::string n = std::to_string(i);
    // Every tenth profile has no [[match]]: a warning (it can never be chosen).
    profile(name,
            "name = 'p" + n + "'\n" + (i % 10 == 0 ? "" : "[[match]]\npath = '/p" + n + "'\n"));
    expected.push_back("p" + n);
  }
  PolicyLoader loader;
  Diagnostics warnings;
  auto policy = loader.load(config_, &warnings);
  ASSERT_TRUE(policy) << policy.error().front().format();
  EXPECT_EQ(loader.filesParsed(), static_cast<std::size_t>(kFiles));
  EXPECT_EQ(namesOf(*policy), expected);
  ASSERT_EQ(warnings.size(), static_cast<std::size_t>(kFiles / 10));
  for (int i = 0; i < kFiles / 10; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.toml", i * 10);
    EXPECT_EQ(std::filesystem::path(warnings[i].where.file).filename().string(), name);
  }
  policy = loader.load(config_);
  ASSERT_TRUE(policy);
  EXPECT_EQ(loader.filesParsed(), 0u);
  EXPECT_EQ(namesOf(*policy), expected);

  // Two broken files among them: both reported, in file order.
  profile("150.toml", "name = 'p150'\n[[match]]\npath = 'relative'\n");
  profile("050.toml", "name = 'p50'\n[[match]\n");
  std::vector<std::string> errorsOnly;
  for (const std::string& line : errors()) {
    if (line.find(": error: ") != std::string::npos) errorsOnly.push_back(line);
  }
  ASSERT_EQ(errorsOnly.size(), 2u);
  EXPECT_THAT(errorsOnly[0], ::testing::StartsWith("profiles.d/050.toml:2:"));
  EXPECT_THAT(errorsOnly[1], ::testing::StartsWith("profiles.d/150.toml:3:8: error"));
}

TEST_F(PolicyFiles, LoaderChecksOwnershipOfCachedFiles) {
  if (::geteuid() != 0) GTEST_SKIP() << "ownership is only enforced for root";
  const auto file = profile("a.toml", "name = 'a'\n[[match]]\npath = '/a'\n");
  PolicyLoader loader;
  ASSERT_TRUE(loader.load(config_));
  ::chmod(file.c_str(), 0666);
  EXPECT_FALSE(loader.load(config_));
  ::chmod(file.c_str(), 0644);
  EXPECT_TRUE(loader.load(config_));
}

TEST(ShippedPolicy, PassesWithoutWarnings) {
  Diagnostics warnings;
  const auto policy = loadPolicy(testing::sourceDir() / "etc/warden/warden.toml", &warnings);
  ASSERT_TRUE(policy) << policy.error().front().format();
  for (const auto& w : warnings) ADD_FAILURE() << w.format();
  EXPECT_GE(policy->profiles.size(), 5u);
}

}  // namespace
}  // namespace warden::rules
