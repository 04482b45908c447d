#include "engine/attribution/system_mounts.h"

#include <gtest/gtest.h>

namespace warden::engine {
namespace {

constexpr const char* kHybrid =
    "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n"
    "32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
    "40 22 0:12 / /sys/kernel/tracing rw - tracefs tracefs rw\n";

TEST(Mounts, FindsTheCgroup2MountOnHybridSystems) {
  EXPECT_EQ(findMountPoint(kHybrid, "cgroup2"), "/sys/fs/cgroup/unified");
  EXPECT_EQ(findMountPoint(kHybrid, "tracefs"), "/sys/kernel/tracing");
  EXPECT_EQ(findMountPoint(kHybrid, "debugfs"), std::nullopt);
  // "cgroup" must not match "cgroup2" or vice versa.
  EXPECT_EQ(findMountPoint(kHybrid, "cgroup"), "/sys/fs/cgroup/systemd");
}

TEST(Mounts, OptionalFieldsAndEscapes) {
  EXPECT_EQ(findMountPoint("5 1 0:30 / /mnt/my\\040cg rw master:1 shared:2 - cgroup2 none rw\n",
                           "cgroup2"),
            "/mnt/my cg");
  EXPECT_EQ(findMountPoint("garbage\n\n", "cgroup2"), std::nullopt);
}

TEST(Mounts, ConfiguredCgroupIsUsedAsIs) {
  EXPECT_EQ(resolveAttachCgroup("/sys/fs/cgroup/unified/warden-test").value(),
            "/sys/fs/cgroup/unified/warden-test");
}

}  // namespace
}  // namespace warden::engine
