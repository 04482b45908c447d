#include "base/trusted_path.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace warden::base {
namespace {

using warden::testing::TempDir;

// The walk judges owners: root's directories pass, anyone else's do not. Run as root (CI),
// the test makes both kinds; run otherwise, only the latter.
class TrustedPath : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (to own and chown the directories)";
    std::filesystem::create_directories(dir_.file("etc/warden/profiles.d"));
    for (const char* d : {"", "etc", "etc/warden", "etc/warden/profiles.d"}) {
      ::chmod(dir_.file(d).c_str(), 0755);
    }
    dir_.write("etc/warden/warden.toml", "");
    // TempDir's parent (/tmp) must itself pass for the walk to reach what the tests change.
    ASSERT_EQ(whyOthersCanRedirect(config()), std::nullopt);
  }
  std::filesystem::path config() const { return dir_.file("etc/warden/warden.toml"); }

  TempDir dir_;
};

TEST_F(TrustedPath, AGroupWritableParentIsNamed) {
  ::chmod(dir_.file("etc").c_str(), 0775);
  auto why = whyOthersCanRedirect(config());
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, dir_.file("etc").string() + " is writable by group or others (mode 0775)");
  // Also for the profiles directory, whose own mode is the caller's to judge.
  EXPECT_TRUE(whyOthersCanRedirect(dir_.file("etc/warden/profiles.d")));
}

TEST_F(TrustedPath, ADirectoryOfAnotherOwnerIsNamed) {
  ASSERT_EQ(::chown(dir_.file("etc/warden").c_str(), 65534, 65534), 0);
  auto why = whyOthersCanRedirect(config());
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, dir_.file("etc/warden").string() + " is owned by uid 65534, not root");
}

TEST_F(TrustedPath, TheLastComponentIsTheCallersToJudge) {
  ::chmod(config().c_str(), 0666);
  ASSERT_EQ(::chown(config().c_str(), 65534, 65534), 0);
  EXPECT_EQ(whyOthersCanRedirect(config()), std::nullopt);
  ::chmod(dir_.file("etc/warden/profiles.d").c_str(), 0777);
  EXPECT_EQ(whyOthersCanRedirect(dir_.file("etc/warden/profiles.d")), std::nullopt);
}

TEST_F(TrustedPath, SymbolicLinksAreFollowedAndTheirTargetsWalked) {
  // A root-owned link in a safe directory to a file in a user's directory: the user can
  // replace the file.
  std::filesystem::create_directories(dir_.file("home/user"));
  ::chmod(dir_.file("home").c_str(), 0755);
  ASSERT_EQ(::chown(dir_.file("home/user").c_str(), 65534, 65534), 0);
  std::filesystem::create_symlink("../../home/user", dir_.file("etc/warden/linked"));
  auto why = whyOthersCanRedirect(dir_.file("etc/warden/linked/profile.toml"));
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, dir_.file("home/user").string() + " is owned by uid 65534, not root");
  // An absolute link to a safe place is safe.
  std::filesystem::create_symlink(dir_.file("etc/warden"), dir_.file("etc/alias"));
  EXPECT_EQ(whyOthersCanRedirect(dir_.file("etc/alias/warden.toml")), std::nullopt);
  // A link loop ends the walk with its reason.
  std::filesystem::create_symlink("loop", dir_.file("etc/loop"));
  EXPECT_TRUE(whyOthersCanRedirect(dir_.file("etc/loop/x")));
}

TEST_F(TrustedPath, AStickyDirectoryPassesOnlyRootsEntries) {
  ::chmod(dir_.file("etc").c_str(), 01777);
  EXPECT_EQ(whyOthersCanRedirect(config()), std::nullopt);
  ASSERT_EQ(::chown(dir_.file("etc/warden").c_str(), 65534, 0), 0);
  ::chmod(dir_.file("etc/warden").c_str(), 0755);
  auto why = whyOthersCanRedirect(config());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("in a directory anyone may write to"), std::string::npos) << *why;
}

// A directory root keeps files in: the walk, then the directory itself, whose sticky bit
// passes only when its caller trusts it.
TEST_F(TrustedPath, ADirectoryItselfIsJudgedToo) {
  const auto warden = dir_.file("etc/warden");
  EXPECT_EQ(whyOthersCanChange(warden, Sticky::kRefused), std::nullopt);
  ::chmod(warden.c_str(), 01777);
  EXPECT_EQ(whyOthersCanChange(warden, Sticky::kTrusted), std::nullopt);
  auto why = whyOthersCanChange(warden, Sticky::kRefused);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, warden.string() + " is writable by group or others (mode 1777)");
  ::chmod(warden.c_str(), 0755);
  ASSERT_EQ(::chown(warden.c_str(), 65534, 0), 0);
  EXPECT_TRUE(whyOthersCanChange(warden, Sticky::kTrusted));
  // And the way to it.
  ASSERT_EQ(::chown(warden.c_str(), 0, 0), 0);
  ::chmod(dir_.file("etc").c_str(), 0775);
  EXPECT_TRUE(whyOthersCanChange(warden, Sticky::kTrusted));
}

TEST_F(TrustedPath, MissingComponentsEndTheWalkWithoutComplaint) {
  EXPECT_EQ(whyOthersCanRedirect(dir_.file("etc/nothing/here.toml")), std::nullopt);
}

}  // namespace
}  // namespace warden::base
