#include "engine/verdict/deferred_release.h"

#include <gtest/gtest.h>

#include <memory>

namespace warden::engine {
namespace {

// Counts its own destructions.
struct Tracked {
  explicit Tracked(int& destroyed) : destroyed(destroyed) {}
  ~Tracked() { ++destroyed; }
  int& destroyed;
};

TEST(DeferredRelease, FreesOnlyWhenReleased) {
  int destroyed = 0;
  DeferredRelease<const Tracked, 4> retired;
  auto last = std::make_shared<const Tracked>(destroyed);
  ASSERT_TRUE(retired.take(last));
  EXPECT_EQ(last, nullptr);  // the caller's reference went in
  EXPECT_EQ(destroyed, 0);
  EXPECT_EQ(retired.size(), 1u);
  retired.releaseAll();
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(retired.size(), 0u);
}

TEST(DeferredRelease, ObjectsReferredToElsewhereLive) {
  int destroyed = 0;
  DeferredRelease<const Tracked, 4> retired;
  const auto kept = std::make_shared<const Tracked>(destroyed);
  auto shared = kept;
  ASSERT_TRUE(retired.take(shared));
  retired.releaseAll();
  EXPECT_EQ(destroyed, 0);
  EXPECT_EQ(kept.use_count(), 1);
}

TEST(DeferredRelease, RefusesWhenFullAndLeavesTheReference) {
  int destroyed = 0;
  DeferredRelease<const Tracked, 2> retired;
  for (int i = 0; i < 2; ++i) {
    auto ref = std::make_shared<const Tracked>(destroyed);
    ASSERT_TRUE(retired.take(ref));
  }
  auto extra = std::make_shared<const Tracked>(destroyed);
  EXPECT_FALSE(retired.take(extra));
  EXPECT_NE(extra, nullptr);
  EXPECT_EQ(destroyed, 0);
  retired.releaseAll();
  EXPECT_EQ(destroyed, 2);
  EXPECT_TRUE(retired.take(extra));  // room again
  EXPECT_EQ(extra, nullptr);
  retired.releaseAll();
  EXPECT_EQ(destroyed, 3);
}

TEST(DeferredRelease, NothingToHoldTakesNoRoom) {
  DeferredRelease<const int, 1> retired;
  std::shared_ptr<const int> none;
  EXPECT_TRUE(retired.take(none));
  EXPECT_EQ(retired.size(), 0u);
}

}  // namespace
}  // namespace warden::engine
