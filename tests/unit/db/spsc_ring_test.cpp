#include "db/spsc_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace warden::db {
namespace {

TEST(SpscRing, RoundsCapacityAndRefusesWhenFull) {
  SpscRing<int> ring(5);
  EXPECT_EQ(ring.capacity(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(ring.tryPush(int{i}));
  EXPECT_FALSE(ring.tryPush(99));
  EXPECT_EQ(ring.size(), 8u);

  std::vector<int> out;
  EXPECT_EQ(ring.drain([&](int&& v) { out.push_back(v); }, 3), 3u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(ring.tryPush(8));
  EXPECT_EQ(ring.drain([&](int&& v) { out.push_back(v); }, 100), 6u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(ring.size(), 0u);
}

TEST(SpscRing, RefusedValueIsLeftIntact) {
  SpscRing<std::unique_ptr<int>> ring(2);
  ASSERT_TRUE(ring.tryPush(std::make_unique<int>(1)));
  ASSERT_TRUE(ring.tryPush(std::make_unique<int>(2)));
  auto third = std::make_unique<int>(3);
  EXPECT_FALSE(ring.tryPush(std::move(third)));
  ASSERT_NE(third, nullptr);  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(*third, 3);
}

TEST(SpscRing, TransfersEverythingInOrderAcrossThreads) {
  constexpr std::uint64_t kCount = 200'000;
  SpscRing<std::uint64_t> ring(1024);
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kCount;) {
      // Yield when full: the machine may have fewer free cores than threads here.
      if (ring.tryPush(std::uint64_t{i})) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint64_t expected = 0;
  bool inOrder = true;
  while (expected < kCount) {
    if (ring.size() == 0) std::this_thread::yield();
    ring.drain(
        [&](std::uint64_t&& v) {
          inOrder = inOrder && v == expected;
          ++expected;
        },
        512);
  }
  producer.join();
  EXPECT_TRUE(inOrder);
  EXPECT_EQ(ring.size(), 0u);
}

}  // namespace
}  // namespace warden::db
