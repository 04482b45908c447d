#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/repeated_log.h"
#include "db/checkpointer.h"
#include "db/database.h"
#include "db/log_producer.h"
#include "db/log_row.h"
#include "db/log_table.h"

namespace warden::db {

namespace detail {
struct LogChannel;
struct WriterSignal;
}  // namespace detail

struct LogWriterOptions {
  std::size_t ringCapacity = 8192;  // rows per producer ring (rounded up to a power of two)
  std::size_t maxBatch = 4096;      // rows per transaction
  // Rows wait at most about this long before they are committed; a ring filling up wakes the
  // writer sooner. It also bounds what a SIGKILL can lose.
  std::chrono::milliseconds flushInterval{100};
  int retentionDays = 30;  // <= 0 keeps rows forever
  std::chrono::seconds retentionInterval{600};
  std::int64_t retentionChunk = 10000;  // rows deleted per statement
  // WAL checkpoints run on a separate thread this often (see db/checkpointer.h); zero leaves
  // them to SQLite inside the writer's commits, which then wait on the checkpoint's fsync.
  std::chrono::milliseconds checkpointInterval{250};
};

// A consistent-enough view of the writer's counters for `warden status`. Each field is read
// atomically; the fields are not read at one instant, so backlog is approximate.
struct LogCounters {
  std::uint64_t enqueued = 0;     // rows accepted by tryEnqueue
  std::uint64_t dropped = 0;      // rows refused by tryEnqueue: ring full or writer stopped
  std::uint64_t written = 0;      // rows committed
  std::uint64_t failed = 0;       // rows dequeued but lost to a database error (see lastError)
  std::uint64_t batches = 0;      // transactions committed
  std::uint64_t expired = 0;      // rows deleted by retention
  std::uint64_t checkpoints = 0;  // WAL checkpoints run by the checkpointer thread
  std::uint64_t backlog = 0;      // rows enqueued and not yet committed or failed
};

// The verdict log's writer (SPEC section 7): a thread that drains every producer's ring and
// inserts the rows in transactions of up to maxBatch rows with one prepared statement, every
// flushInterval or sooner when rings fill. It applies retention on start and every
// retentionInterval, then prunes policy revisions and hash-cache entries no longer needed.
// stop() (and the destructor) stops accepting rows, commits everything already enqueued and
// joins. The database is in WAL mode, so a SIGKILL loses at most the rows not yet committed
// and never corrupts the file.
//
// Thread-safety: producer(), counters(), lastError() and stop() may be called from any
// thread. The Database given to create() belongs to the writer thread from then on.
// Producers must finish enqueueing before stop() is called (join the workers first): a row
// enqueued concurrently with stop() may be refused (counted) or, rarely, never drained.
class LogWriter {
 public:
  [[nodiscard]] static base::Result<std::unique_ptr<LogWriter>> create(
      Database db, LogWriterOptions options = {});

  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;
  ~LogWriter();

  // A new ring for one producer thread. Rows may be enqueued before start(); they wait (or
  // are dropped once the ring is full) until the writer runs. `capacity` 0: the options'
  // ringCapacity (a ring's rows are allocated up front: smaller for a seldom producer).
  [[nodiscard]] LogProducer producer(std::size_t capacity = 0);

  // Starts the writer thread; later calls do nothing.
  void start();
  // Stops accepting rows, commits everything enqueued, joins. Idempotent.
  void stop();

  [[nodiscard]] LogCounters counters() const;
  // The most recent database error, if any happened.
  [[nodiscard]] std::optional<std::string> lastError() const;

 private:
  LogWriter(Database db, LogInserter inserter, LogWriterOptions options);

  void run();
  std::vector<std::shared_ptr<detail::LogChannel>> channels();
  // Drains up to `maxRows` rows into transactions; returns how many rows were taken.
  std::size_t drainAndCommit(const std::vector<std::shared_ptr<detail::LogChannel>>& channels,
                             std::size_t maxRows);
  void commit();
  // One retention step; returns true while more expired rows may remain.
  bool retentionStep();
  void noteError(const base::Error& error);

  Database db_;
  LogInserter inserter_;
  const LogWriterOptions options_;
  std::shared_ptr<detail::WriterSignal> signal_;
  std::vector<LogRow> batch_;    // writer thread only
  std::size_t nextChannel_ = 0;  // writer thread only: round-robin start

  mutable std::mutex lifecycle_;  // guards thread_ and checkpointer_ (start/stop)
  std::thread thread_;
  std::unique_ptr<Checkpointer> checkpointer_;

  mutable std::mutex mutex_;  // guards channels_, retired*, lastError_, errorLog_
  std::vector<std::shared_ptr<detail::LogChannel>> channels_;
  std::uint64_t retiredEnqueued_ = 0;  // counters of channels forgotten after their producer
  std::uint64_t retiredDropped_ = 0;
  std::optional<std::string> lastError_;
  base::RepeatedLog errorLog_;  // each error logged, at most once a minute (guarded by mutex_)

  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> expired_{0};
};

}  // namespace warden::db
