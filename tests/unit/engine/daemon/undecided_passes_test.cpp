// The flows passed undecided, from readings of the table's counter and the kernel's queues.
#include "engine/daemon/undecided_passes.h"

#include <gtest/gtest.h>

#include <vector>

namespace warden::engine {
namespace {

KernelQueueStats queue(std::uint32_t idSequence, std::uint64_t dropped = 0) {
  KernelQueueStats stats;
  stats.idSequence = idSequence;
  stats.queueDropped = dropped;
  return stats;
}

TEST(UndecidedPasses, PacketsSentThatNoQueueTookNorDroppedPassedUndecided) {
  UndecidedPasses passes;
  passes.start(0, {queue(5), queue(0)});  // queue 0 took 5 packets of an old table before
  EXPECT_EQ(passes.sample(0, {queue(5), queue(0)}), 0u);
  // 30 sent: 10 and 12 queued, 8 passed (the queues were full, failing open).
  EXPECT_EQ(passes.sample(30, {queue(15), queue(12)}), 8u);
  // 10 more, all queued: still 8.
  EXPECT_EQ(passes.sample(40, {queue(20), queue(17)}), 8u);
}

TEST(UndecidedPasses, PacketsAFullQueueDroppedDidNotPass) {
  UndecidedPasses passes;
  passes.start(0, {queue(0)});
  EXPECT_EQ(passes.sample(10, {queue(2, /*dropped=*/8)}), 0u);
}

TEST(UndecidedPasses, AQueueIdThatWrapsIsCountedAcrossTheWrap) {
  UndecidedPasses passes;
  passes.start(0, {queue(0xfffffff0u)});
  EXPECT_EQ(passes.sample(40, {queue(0x10u)}), 8u);  // 32 queued across the wrap
}

TEST(UndecidedPasses, ATableCreatedAnewCountsFromZeroWithoutLosingWhatPassedBefore) {
  UndecidedPasses passes;
  passes.start(0, {queue(0)});
  EXPECT_EQ(passes.sample(100, {queue(90)}), 10u);
  // Created anew (its counter from 0): 7 sent since, 5 queued.
  EXPECT_EQ(passes.sample(7, {queue(95)}), 12u);
  EXPECT_EQ(passes.last(), 12u);
}

TEST(UndecidedPasses, APacketCountedBeforeItTookItsIdIsNotAPassForLong) {
  UndecidedPasses passes;
  passes.start(0, {queue(0)});
  EXPECT_EQ(passes.sample(3, {queue(2)}), 1u);  // the third was on its way into the queue
  EXPECT_EQ(passes.sample(3, {queue(3)}), 0u);
}

}  // namespace
}  // namespace warden::engine
