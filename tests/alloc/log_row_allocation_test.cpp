// A logged flow's row is built and handed to the log writer's ring on the packet path: once
// warm, that must not touch the heap, long profile and host names included.
#include <gtest/gtest.h>

#include <string>

#include "db/log_writer.h"
#include "db/store.h"
#include "engine/verdict/flow_decision.h"
#include "tests/alloc/allocation_counter.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/engine/verdict/verdict_rows.h"

namespace warden::engine {
namespace {

using testing::browserOwner;
using testing::browserPolicy;
using testing::outboundFlow;
using warden::testing::allocationsOf;

class LogRowAllocation : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = db::openStore(dir_.file("warden.db"));
    ASSERT_TRUE(db.has_value()) << db.error().message();
    // Not started: the rows wait in the ring, as they do between two of the writer's rounds.
    auto writer = db::LogWriter::create(std::move(*db), {.ringCapacity = 16, .retentionDays = 0});
    ASSERT_TRUE(writer.has_value()) << writer.error().message();
    writer_ = std::move(*writer);
    producer_ = writer_->producer();
  }

  // What QueueWorker::conclude does for a decided flow worth a row: true if it was enqueued.
  bool decideAndLog(const rules::Flow& flow) {
    const rules::Decision decision = decideForOwner(*snapshot_.policy, flow, owner_);
    return wantsLogRow(snapshot_.config(), decision) &&
           producer_.tryEnqueue(verdictRow(snapshot_, decision, flow, 1000, owner_));
  }

  warden::testing::TempDir dir_;
  std::unique_ptr<db::LogWriter> writer_;
  db::LogProducer producer_;
  const PolicySnapshot snapshot_ = browserPolicy();
  const FlowOwner owner_ = browserOwner();
};

TEST_F(LogRowAllocation, LongProfileAndHostNamesAllocateNothing) {
  // The profile's name is past std::string's inline 15 characters; so is the host's, which is
  // as long as a row holds inline.
  const std::string host = "a-rather-long-edge-name.eu-west-1.cdn.browservendor.com";
  ASSERT_EQ(host.size(), db::LogHost::kInline);
  const rules::Flow flow = outboundFlow(host);
  ASSERT_TRUE(decideAndLog(flow));  // warm-up

  bool logged = false;
  EXPECT_EQ(allocationsOf([&] { logged = decideAndLog(flow); }), 0u);
  EXPECT_TRUE(logged);
}

TEST_F(LogRowAllocation, OnlyAHostLongerThanARowHoldsIsCopiedToTheHeap) {
  // The case db::LogHost documents: a name of kInline + 1 to 253 characters, one allocation.
  const std::string host = std::string(70, 'x') + ".example.com";
  const rules::Flow flow = outboundFlow(host);
  ASSERT_TRUE(decideAndLog(flow));

  EXPECT_EQ(allocationsOf([&] { decideAndLog(flow); }), 1u);
}

}  // namespace
}  // namespace warden::engine
