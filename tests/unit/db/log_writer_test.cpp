#include "db/log_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "db/log_table.h"
#include "db/store.h"
#include "db/transaction.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/db/log_rows.h"

namespace warden::db {
namespace {

using namespace std::chrono_literals;
using testing::sampleRow;
using warden::testing::TempDir;

constexpr std::int64_t kDayNs = 86'400LL * 1'000'000'000LL;

// Polls `done` until it holds or a generous deadline (the machine may be busy) passes.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class LogWriterTest : public ::testing::Test {
 protected:
  Database open() {
    auto db = openStore(path(), {.busyTimeout = 5000ms});
    EXPECT_TRUE(db.has_value()) << db.error().message();
    return std::move(*db);
  }

  std::unique_ptr<LogWriter> writer(LogWriterOptions options) {
    auto writer = LogWriter::create(open(), options);
    EXPECT_TRUE(writer.has_value()) << writer.error().message();
    return std::move(*writer);
  }

  std::int64_t rowCount() {
    Database db = open();
    return db.queryInt("SELECT count(*) FROM verdict_log").value();
  }

  std::filesystem::path path() const { return dir_.file("warden.db"); }

  TempDir dir_;
};

TEST_F(LogWriterTest, CommitsInBatchesOfAtMostMaxBatch) {
  auto log = writer({.ringCapacity = 2048, .maxBatch = 100, .retentionDays = 0});
  LogProducer producer = log->producer();
  for (int i = 0; i < 1050; ++i) ASSERT_TRUE(producer.tryEnqueue(sampleRow()));
  log->start();
  log->stop();
  const LogCounters c = log->counters();
  EXPECT_EQ(c.enqueued, 1050u);
  EXPECT_EQ(c.written, 1050u);
  EXPECT_EQ(c.batches, 11u);  // ten full batches and the rest
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(c.backlog, 0u);
  EXPECT_EQ(rowCount(), 1050);
}

TEST_F(LogWriterTest, HostNamesOfEveryLengthCrossTheRing) {
  // Inline and heap-held names alike survive the moves into the ring and out to the batch.
  const std::vector<std::string> hosts = {"", "example.org", std::string(LogHost::kInline, 'a'),
                                          std::string(LogHost::kMaxLength, 'b')};
  auto log = writer({.ringCapacity = 4, .retentionDays = 0});
  LogProducer producer = log->producer();
  for (const std::string& host : hosts) {
    LogRow row = sampleRow();
    row.host = host;
    ASSERT_TRUE(producer.tryEnqueue(std::move(row)));
  }
  log->stop();
  ASSERT_EQ(log->counters().written, hosts.size());
  Database db = open();
  for (const std::string& host : hosts) {
    auto stmt = db.prepare("SELECT count(*) FROM verdict_log WHERE ifnull(host, '') = ?");
    ASSERT_TRUE(stmt.has_value());
    stmt->bindText(1, host);
    ASSERT_TRUE(stmt->step().value());
    EXPECT_EQ(stmt->columnInt64(0), 1) << host;
  }
}

TEST_F(LogWriterTest, FlushesWithinTheIntervalWithoutBeingAsked) {
  auto log = writer({.flushInterval = 20ms, .retentionDays = 0});
  log->start();
  LogProducer producer = log->producer();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(producer.tryEnqueue(sampleRow()));
  EXPECT_TRUE(eventually([&] { return log->counters().written == 5; }));
  EXPECT_EQ(rowCount(), 5);  // committed: visible to another connection
}

TEST_F(LogWriterTest, CountsRowsRefusedByAFullRing) {
  auto log = writer({.ringCapacity = 8, .retentionDays = 0});
  LogProducer producer = log->producer();
  int accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += producer.tryEnqueue(sampleRow()) ? 1 : 0;
  EXPECT_EQ(accepted, 8);
  EXPECT_EQ(producer.dropped(), 12u);
  LogCounters c = log->counters();
  EXPECT_EQ(c.enqueued, 8u);
  EXPECT_EQ(c.dropped, 12u);
  EXPECT_EQ(c.backlog, 8u);
  log->stop();  // never started: stop() still commits what was accepted
  c = log->counters();
  EXPECT_EQ(c.written, 8u);
  EXPECT_EQ(c.backlog, 0u);
  EXPECT_EQ(rowCount(), 8);
}

TEST_F(LogWriterTest, SlowDatabaseMakesDropsNotWaits) {
  auto log = writer({.ringCapacity = 64, .maxBatch = 64, .flushInterval = 1ms, .retentionDays = 0});
  log->start();
  LogProducer producer = log->producer();

  // Another connection holds the write lock: the writer is stuck in its busy wait.
  Database blocker = open();
  auto tx = Transaction::begin(blocker, Transaction::Kind::kImmediate);
  ASSERT_TRUE(tx.has_value()) << tx.error().message();

  constexpr int kRows = 300;
  const auto start = std::chrono::steady_clock::now();
  int accepted = 0;
  for (int i = 0; i < kRows; ++i) accepted += producer.tryEnqueue(sampleRow()) ? 1 : 0;
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, 1s);  // never blocked on the database
  // At most one batch in the writer's hands and one full ring.
  EXPECT_LE(accepted, 128);
  EXPECT_GE(producer.dropped(), static_cast<std::uint64_t>(kRows - 128));

  ASSERT_TRUE(tx->commit().has_value());
  log->stop();
  const LogCounters c = log->counters();
  EXPECT_EQ(c.enqueued, static_cast<std::uint64_t>(accepted));
  EXPECT_EQ(c.dropped, static_cast<std::uint64_t>(kRows - accepted));
  EXPECT_EQ(c.written, static_cast<std::uint64_t>(accepted));
  EXPECT_EQ(c.failed, 0u) << log->lastError().value_or("");
  EXPECT_EQ(rowCount(), accepted);
}

TEST_F(LogWriterTest, StopCommitsEverythingEnqueued) {
  {
    auto log = writer({.flushInterval = 10s, .retentionDays = 0});
    log->start();
    LogProducer producer = log->producer();
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(producer.tryEnqueue(sampleRow()));
    log->stop();
    EXPECT_EQ(log->counters().written, 500u);
    EXPECT_EQ(rowCount(), 500);
    // After stop nothing is taken, and that is counted.
    EXPECT_FALSE(producer.tryEnqueue(sampleRow()));
    EXPECT_EQ(log->counters().dropped, 1u);
  }
  {
    // The destructor stops and flushes too.
    auto log = writer({.flushInterval = 10s, .retentionDays = 0});
    log->start();
    LogProducer producer = log->producer();
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(producer.tryEnqueue(sampleRow()));
  }
  EXPECT_EQ(rowCount(), 600);
}

TEST_F(LogWriterTest, ProducersMayComeGoAndOutliveTheWriter) {
  auto log = writer({.flushInterval = 5ms, .retentionDays = 0});
  log->start();
  {
    LogProducer shortLived = log->producer();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(shortLived.tryEnqueue(sampleRow()));
  }
  LogProducer moved = log->producer();
  LogProducer worker = std::move(moved);
  ASSERT_TRUE(worker.tryEnqueue(sampleRow()));
  EXPECT_TRUE(eventually([&] { return log->counters().written == 11; }));
  EXPECT_EQ(log->counters().enqueued, 11u);  // the gone producer's rows still count
  log.reset();
  EXPECT_FALSE(worker.tryEnqueue(sampleRow()));
  EXPECT_EQ(worker.dropped(), 1u);

  LogProducer detached;
  EXPECT_FALSE(detached.tryEnqueue(sampleRow()));
  EXPECT_EQ(rowCount(), 11);
}

TEST_F(LogWriterTest, RetentionDeletesOldRowsOnStart) {
  {
    Database db = open();
    auto inserter = LogInserter::create(db);
    ASSERT_TRUE(inserter.has_value());
    for (int i = 0; i < 7; ++i) {
      ASSERT_TRUE(inserter->insert(sampleRow(base::realtimeNs() - 40 * kDayNs + i)).has_value());
    }
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(inserter->insert(sampleRow(base::realtimeNs() - 29 * kDayNs)).has_value());
    }
  }
  // Small chunks: the deletion takes several rounds.
  auto log = writer({.retentionDays = 30, .retentionChunk = 2});
  log->start();
  EXPECT_TRUE(eventually([&] { return log->counters().expired == 7; }));
  log->stop();
  EXPECT_EQ(rowCount(), 3);
}

TEST_F(LogWriterTest, RetentionOffKeepsEverything) {
  {
    Database db = open();
    auto inserter = LogInserter::create(db);
    ASSERT_TRUE(inserter.has_value());
    ASSERT_TRUE(inserter->insert(sampleRow(base::realtimeNs() - 4000 * kDayNs)).has_value());
  }
  auto log = writer({.retentionDays = 0});
  log->start();
  LogProducer producer = log->producer();
  ASSERT_TRUE(producer.tryEnqueue(sampleRow()));
  log->stop();
  EXPECT_EQ(log->counters().expired, 0u);
  EXPECT_EQ(rowCount(), 2);
}

TEST_F(LogWriterTest, DatabaseErrorsAreCountedAndDescribed) {
  auto log = writer({.retentionDays = 0});
  {
    Database other = open();
    ASSERT_TRUE(other.exec("DROP TABLE verdict_log", "sabotage").has_value());
  }
  LogProducer producer = log->producer();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(producer.tryEnqueue(sampleRow()));
  log->start();
  log->stop();
  const LogCounters c = log->counters();
  EXPECT_EQ(c.failed, 3u);
  EXPECT_EQ(c.written, 0u);
  EXPECT_EQ(c.backlog, 0u);
  ASSERT_TRUE(log->lastError().has_value());
  EXPECT_NE(log->lastError()->find(path().string()), std::string::npos) << *log->lastError();
  EXPECT_NE(log->lastError()->find("verdict_log"), std::string::npos) << *log->lastError();
}

TEST_F(LogWriterTest, ABatchThatFailsMidwayLeavesNoneOfItsRows) {
  // A row fails in the middle of a multi-row statement, whose earlier rows stay in the
  // transaction (RAISE(FAIL) keeps them whatever the statement's own conflict clause, as
  // OR FAIL does for the statement's own constraints): the writer rolls the whole batch back.
  {
    Database db = open();
    ASSERT_TRUE(db.exec("CREATE TRIGGER refuse_port_7 BEFORE INSERT ON verdict_log "
                        "WHEN NEW.local_port = 7 BEGIN SELECT RAISE(FAIL, 'refused'); END",
                        "sabotage")
                    .has_value());
  }
  auto log = writer({.retentionDays = 0});
  LogProducer producer = log->producer();
  for (int i = 0; i < 40; ++i) {
    LogRow row = sampleRow();
    row.localPort = static_cast<std::uint16_t>(i == 25 ? 7 : 1000 + i);
    ASSERT_TRUE(producer.tryEnqueue(std::move(row)));
  }
  log->start();
  log->stop();
  EXPECT_EQ(log->counters().failed, 40u);
  EXPECT_EQ(log->counters().written, 0u);
  EXPECT_EQ(rowCount(), 0) << "a prefix of the failed batch was kept";

  // The next batch, without the bad row, is stored whole.
  auto again = writer({.retentionDays = 0});
  LogProducer next = again->producer();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(next.tryEnqueue(sampleRow()));
  again->start();
  again->stop();
  EXPECT_EQ(rowCount(), 40);
}

TEST_F(LogWriterTest, AFailingRowStopsItsInsertButNeedsNoUndoOfTheRowsBefore) {
  // Rows go in OR FAIL, so that SQLite keeps no statement journal (a copy of every page a
  // statement changes, in case it must undo that statement alone inside a transaction). A
  // statement's conflict clause also governs the statements its triggers run: here a NOT NULL
  // failure in a trigger at row 25 of 40 (statements of 16 rows). Undone alone (ABORT), the
  // failing statement would leave 16 rows in the transaction; OR FAIL leaves the 25 before it.
  Database db = open();
  ASSERT_TRUE(db.exec("CREATE TABLE guard (x INTEGER NOT NULL); "
                      "CREATE TRIGGER refuse_port_7 BEFORE INSERT ON verdict_log "
                      "WHEN NEW.local_port = 7 BEGIN INSERT INTO guard VALUES (NULL); END",
                      "sabotage")
                  .has_value());
  auto inserter = LogInserter::create(db);
  ASSERT_TRUE(inserter.has_value());
  std::vector<LogRow> rows;
  for (int i = 0; i < 40; ++i) {
    rows.push_back(sampleRow());
    rows.back().localPort = static_cast<std::uint16_t>(i == 25 ? 7 : 1000 + i);
  }
  auto tx = Transaction::begin(db);
  ASSERT_TRUE(tx.has_value());
  EXPECT_FALSE(inserter->insert(rows).has_value());
  auto inside = db.queryInt("SELECT count(*) FROM verdict_log");
  ASSERT_TRUE(inside.has_value());
  EXPECT_EQ(*inside, 25) << "the failing statement was undone alone: a statement journal";
}

TEST_F(LogWriterTest, ManyBatchesFromSeveralThreadsKeepTheFileIntact) {
  auto log =
      writer({.ringCapacity = 1024, .maxBatch = 256, .flushInterval = 2ms, .retentionDays = 30});
  log->start();
  constexpr int kThreads = 3;
  constexpr int kRowsEach = 20000;
  std::vector<std::thread> workers;
  std::atomic<std::uint64_t> refusals{0};
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, producer = log->producer(), t]() mutable {
      for (int i = 0; i < kRowsEach; ++i) {
        LogRow row = sampleRow();
        row.pid = t + 1;
        row.remotePort = static_cast<std::uint16_t>(i);
        // Offer each row until it is taken, so that every row goes through many batches; a
        // refused row is left intact by tryEnqueue.
        while (!producer.tryEnqueue(std::move(row))) {  // NOLINT(bugprone-use-after-move)
          refusals.fetch_add(1);
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  log->stop();

  const LogCounters c = log->counters();
  constexpr auto kTotal = static_cast<std::uint64_t>(kThreads * kRowsEach);
  EXPECT_EQ(c.enqueued, kTotal);
  EXPECT_EQ(c.dropped, refusals.load());
  EXPECT_EQ(c.written, kTotal);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_GE(c.batches, kTotal / 256);
  EXPECT_EQ(rowCount(), static_cast<std::int64_t>(kTotal));

  Database db = open();
  auto check = db.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.has_value());
  ASSERT_TRUE(check->step().value());
  EXPECT_EQ(check->columnText(0), "ok");
  // Each producer's rows arrived in its own order.
  auto order = db.queryInt(
      "SELECT count(*) FROM verdict_log AS a JOIN verdict_log AS b ON a.pid = b.pid "
      "AND a.id < b.id AND a.remote_port > b.remote_port AND b.id = (SELECT min(id) FROM "
      "verdict_log WHERE pid = a.pid AND id > a.id)");
  ASSERT_TRUE(order.has_value()) << order.error().message();
  EXPECT_EQ(*order, 0);
}

}  // namespace
}  // namespace warden::db
