#include "engine/attribution/tag_evidence.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::TempDir;

// The test's own uid stands for root: what it made, only it may write.
const std::uint32_t kOwner = static_cast<std::uint32_t>(getuid());

std::uint32_t kernelDevOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return major(st.st_dev) << 20 | minor(st.st_dev);
}

std::uint64_t inodeOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return st.st_ino;
}

TEST(TagEvidence, ACgroupNamedBelowADirectoryOthersMayWriteIsNotTrusted) {
  TempDir dir;
  dir.write("cg/system.slice/nginx.service/cgroup.procs", "");
  dir.write("cg/user.slice/user-1000.slice/user@1000.service/app.slice/x.service/cgroup.procs", "");
  const std::string root = (dir.path() / "cg").string();
  EXPECT_EQ(trustedCgroupPath(root, "/system.slice/nginx.service", kOwner),
            "/system.slice/nginx.service");
  const auto user = dir.path() / "cg/user.slice/user-1000.slice/user@1000.service";
  ::chmod(user.c_str(), 0775);  // handed over: another may write it
  EXPECT_EQ(trustedCgroupPath(root,
                              "/user.slice/user-1000.slice/user@1000.service/app.slice/"
                              "x.service",
                              kOwner),
            "/user.slice/user-1000.slice/user@1000.service");
  EXPECT_EQ(trustedCgroupPath(root, "/", kOwner), "");
  EXPECT_EQ(trustedCgroupPath(root, "/system.slice/../x", kOwner), "/system.slice");
  EXPECT_EQ(trustedCgroupPath("", "/system.slice", kOwner), "");
  EXPECT_EQ(trustedCgroupPath(root, "/system.slice", kOwner + 1), "");  // another's tree
}

TEST(TagEvidence, AFlatpakAppIsItsInstallationsFileOnly) {
  TempDir dir;
  const auto installed =
      dir.write("flatpak/app/org.example.App/x86_64/stable/c0ffee/files/bin/app", "elf");
  const auto other =
      dir.write("home/a/.local/share/flatpak/app/org.example.App/files/bin/app", "elf");
  const std::string root = (dir.path() / "flatpak").string();
  const auto check = [&](const std::string& id, std::string_view path,
                         const std::filesystem::path& file) {
    return flatpakInstalled(root, id, path, kernelDevOf(file), inodeOf(file), 0, kOwner);
  };
  EXPECT_TRUE(check("org.example.App", "/app/bin/app", installed));
  EXPECT_FALSE(check("org.example.App", "/app/bin/app", other));      // the user's own file
  EXPECT_FALSE(check("org.other.App", "/app/bin/app", installed));    // another app's claim
  EXPECT_FALSE(check("org.example.App", "/usr/bin/app", installed));  // not in a sandbox
  EXPECT_FALSE(check("../../home", "/app/bin/app", installed));
  // Another device number than stat(2)'s (btrfs): the ctime tells.
  struct stat st {};
  ASSERT_EQ(stat(installed.c_str(), &st), 0);
  const std::uint64_t ctime =
      static_cast<std::uint64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  EXPECT_TRUE(flatpakInstalled(root, "org.example.App", "/app/bin/app", kernelDevOf(installed) + 1,
                               inodeOf(installed), ctime, kOwner));
  EXPECT_FALSE(flatpakInstalled(root, "org.example.App", "/app/bin/app", kernelDevOf(installed) + 1,
                                inodeOf(installed), ctime + 1, kOwner));
  // An installation someone else may write is no evidence.
  ::chmod((dir.path() / "flatpak/app/org.example.App").c_str(), 0777);
  EXPECT_FALSE(check("org.example.App", "/app/bin/app", installed));
}

}  // namespace
}  // namespace warden::engine
