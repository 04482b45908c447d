#include "engine/daemon/hook_record.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

class HookRecordTest : public ::testing::Test {
 protected:
  warden::testing::TempDir temp_;
  const std::filesystem::path& dir_ = temp_.path();
};

TEST_F(HookRecordTest, LivesBesideTheControlSocketAndReadsBackWhatWasWritten) {
  const HookRecord record = HookRecord::besideSocket(dir_ / "run" / "control.sock");
  EXPECT_EQ(record.file(), dir_ / "run" / HookRecord::kFileName);
  EXPECT_TRUE(record.read().empty());  // none yet
  ASSERT_TRUE(record.write({"/sys/fs/cgroup", "/sys/fs/cgroup/system.slice"}));
  EXPECT_EQ(record.read(),
            (std::vector<std::string>{"/sys/fs/cgroup", "/sys/fs/cgroup/system.slice"}));
  ASSERT_TRUE(record.write({}));
  EXPECT_TRUE(record.read().empty());
}

TEST_F(HookRecordTest, CgroupsThatAreGoneLeaveTheRecordWhichThenNamesTheCallersOwn) {
  // A cgroup removed since took its hooks with it: nothing to detach, nothing to remember.
  const HookRecord record(dir_ / "hooks");
  ASSERT_TRUE(record.write({(dir_ / "gone").string(), (dir_ / "gone too").string()}));
  auto detached = detachStaleHooks(record, {(dir_ / "also gone").string()}, "/where/mine/are");
  ASSERT_TRUE(detached) << detached.error().message();
  EXPECT_EQ(*detached, 0);
  EXPECT_EQ(record.read(), std::vector<std::string>{"/where/mine/are"});
  // No hooks of its own (`wardend --cleanup`, eBPF off): an empty record.
  detached = detachStaleHooks(record, {}, "");
  ASSERT_TRUE(detached);
  EXPECT_TRUE(record.read().empty());
}

}  // namespace
}  // namespace warden::engine
