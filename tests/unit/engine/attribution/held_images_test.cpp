#include "engine/attribution/held_images.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/attribution/proc_reader.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::TempDir;

std::size_t openFds() {
  std::size_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (dir && readdir(dir)) ++count;
  if (dir) closedir(dir);
  return count;
}

struct Opened {
  base::FileIdentity identity;
  base::UniqueFd fd;
};

Opened openImage(const std::filesystem::path& path) {
  auto fd = base::openFile(path, O_RDONLY);
  EXPECT_TRUE(fd.has_value());
  auto identity = identityOfFd(fd->get());
  EXPECT_TRUE(identity.has_value());
  return Opened{*identity, std::move(*fd)};
}

TEST(HeldImages, OneDescriptorPerImageHoweverManyProcessesRunIt) {
  TempDir dir;
  const auto exe = dir.write("bin/app", "ELF");
  HeldImages held(4);
  const std::size_t before = openFds();
  std::vector<std::shared_ptr<ImageHandle>> processes;
  for (int i = 0; i < 500; ++i) {
    Opened image = openImage(exe);
    processes.push_back(held.hold(image.identity, std::move(image.fd)));
    ASSERT_NE(processes.back(), nullptr);
    EXPECT_EQ(processes.back(), processes.front());
  }
  EXPECT_EQ(held.held(), 1u);
  EXPECT_EQ(openFds(), before + 1);
  processes.clear();
  EXPECT_EQ(held.held(), 0u);
  EXPECT_EQ(openFds(), before);
}

TEST(HeldImages, NoMoreThanTheBoundOfDistinctImages) {
  TempDir dir;
  HeldImages held(3);
  const std::size_t before = openFds();
  std::vector<std::shared_ptr<ImageHandle>> kept;
  for (int i = 0; i < 10; ++i) {
    Opened image = openImage(dir.write("bin/app" + std::to_string(i), "ELF"));
    if (auto handle = held.hold(image.identity, std::move(image.fd))) kept.push_back(handle);
  }
  EXPECT_EQ(kept.size(), 3u);
  EXPECT_EQ(held.held(), 3u);
  EXPECT_EQ(held.refused(), 7u);
  EXPECT_EQ(openFds(), before + 3);  // the refused ones were closed
  // An image no description holds any more makes room.
  kept.erase(kept.begin());
  Opened next = openImage(dir.write("bin/next", "ELF"));
  kept.push_back(held.hold(next.identity, std::move(next.fd)));
  EXPECT_NE(kept.back(), nullptr);
  EXPECT_EQ(held.held(), 3u);
  EXPECT_EQ(held.refused(), 7u);
}

}  // namespace
}  // namespace warden::engine
