#include "db/log_writer.h"

#include <pthread.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "base/clock.h"
#include "db/hash_cache.h"
#include "db/log_channel.h"
#include "db/policy_store.h"
#include "db/transaction.h"

namespace warden::db {
namespace {

constexpr std::int64_t kNsPerDay = 86'400LL * 1'000'000'000LL;

}  // namespace

base::Result<std::unique_ptr<LogWriter>> LogWriter::create(Database db, LogWriterOptions options) {
  options.ringCapacity = std::max<std::size_t>(options.ringCapacity, 2);
  options.maxBatch = std::max<std::size_t>(options.maxBatch, 1);
  options.retentionChunk = std::max<std::int64_t>(options.retentionChunk, 1);
  if (options.checkpointInterval.count() > 0) {
    // The checkpointer thread keeps the WAL short; SQLite's own checkpoint in the writer stays
    // only as a bound (64 MiB of 4 KiB pages) should the checkpointer fall behind. After a
    // burst, the WAL file is cut back to the same size when it restarts.
    if (auto ok = db.exec("PRAGMA wal_autocheckpoint = 16384; "
                          "PRAGMA journal_size_limit = 67108864",
                          "configure the log writer's connection");
        !ok) {
      return std::unexpected(std::move(ok.error()));
    }
  }
  auto inserter = LogInserter::create(db);
  if (!inserter) return std::unexpected(std::move(inserter.error()));
  // The statement lives in the connection, so it stays valid as the Database moves in.
  return std::unique_ptr<LogWriter>(
      new LogWriter(std::move(db), std::move(*inserter), std::move(options)));
}

LogWriter::LogWriter(Database db, LogInserter inserter, LogWriterOptions options)
    : db_(std::move(db)),
      inserter_(std::move(inserter)),
      options_(std::move(options)),
      signal_(std::make_shared<detail::WriterSignal>()) {
  batch_.reserve(options_.maxBatch);
}

LogWriter::~LogWriter() { stop(); }

LogProducer LogWriter::producer(std::size_t capacity) {
  auto channel =
      std::make_shared<detail::LogChannel>(capacity ? capacity : options_.ringCapacity, signal_);
  {
    std::lock_guard lock(mutex_);
    channels_.push_back(channel);
  }
  return LogProducer(std::move(channel));
}

void LogWriter::start() {
  std::lock_guard lock(lifecycle_);
  if (thread_.joinable() || signal_->stopRequested.load()) return;
  if (options_.checkpointInterval.count() > 0) {
    auto checkpointer = Checkpointer::start(db_.path(), options_.checkpointInterval,
                                            [this](const base::Error& error) { noteError(error); });
    // Without it SQLite still checkpoints inside the writer's commits (every 64 MiB of WAL):
    // slower, not wrong.
    if (checkpointer) {
      checkpointer_ = std::move(*checkpointer);
    } else {
      noteError(checkpointer.error());
    }
  }
  thread_ = std::thread([this] { run(); });
}

void LogWriter::stop() {
  std::lock_guard lock(lifecycle_);
  signal_->accepting.store(false);
  {
    // Under the mutex, so the writer cannot miss it between its check and its wait.
    std::lock_guard signalLock(signal_->mutex);
    signal_->stopRequested.store(true);
  }
  signal_->cv.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    // Never started (or already stopped): flush here; no other thread uses the connection.
    drainAndCommit(channels(), std::numeric_limits<std::size_t>::max());
  }
  if (checkpointer_ != nullptr) checkpointer_->stop();
}

LogCounters LogWriter::counters() const {
  LogCounters c;
  // Outcomes first: every written or failed row was enqueued before, so the enqueued total
  // read afterwards is never smaller and the backlog never negative.
  c.written = written_.load(std::memory_order_relaxed);
  c.failed = failed_.load(std::memory_order_relaxed);
  c.batches = batches_.load(std::memory_order_relaxed);
  c.expired = expired_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    c.enqueued = retiredEnqueued_;
    c.dropped = retiredDropped_;
    for (const auto& channel : channels_) {
      c.enqueued += channel->enqueued.load(std::memory_order_relaxed);
      c.dropped += channel->dropped.load(std::memory_order_relaxed);
    }
  }
  c.backlog = c.enqueued - std::min(c.enqueued, c.written + c.failed);
  {
    // The checkpointer only changes under lifecycle_, in start() and stop().
    std::lock_guard lock(lifecycle_);
    if (checkpointer_ != nullptr) c.checkpoints = checkpointer_->checkpoints();
  }
  return c;
}

std::optional<std::string> LogWriter::lastError() const {
  std::lock_guard lock(mutex_);
  return lastError_;
}

void LogWriter::noteError(const base::Error& error) {
  std::lock_guard lock(mutex_);
  lastError_ = error.message();
  errorLog_.note("verdict log: ", *lastError_);
}

std::vector<std::shared_ptr<detail::LogChannel>> LogWriter::channels() {
  std::lock_guard lock(mutex_);
  // Forget rings whose producer is gone once they are empty. producerGone is set after the
  // producer's last push, so an empty ring seen after it stays empty.
  std::erase_if(channels_, [this](const std::shared_ptr<detail::LogChannel>& channel) {
    if (!channel->producerGone.load(std::memory_order_acquire) || channel->ring.size() != 0) {
      return false;
    }
    retiredEnqueued_ += channel->enqueued.load(std::memory_order_relaxed);
    retiredDropped_ += channel->dropped.load(std::memory_order_relaxed);
    return true;
  });
  return channels_;
}

std::size_t LogWriter::drainAndCommit(
    const std::vector<std::shared_ptr<detail::LogChannel>>& channels, std::size_t maxRows) {
  std::size_t total = 0;
  const std::size_t count = channels.size();
  while (count > 0 && total < maxRows) {
    std::size_t round = 0;
    // Rotate the starting ring so that one busy producer cannot starve the others.
    for (std::size_t k = 0; k < count && batch_.size() < options_.maxBatch; ++k) {
      const std::size_t room = std::min(options_.maxBatch - batch_.size(), maxRows - total - round);
      if (room == 0) break;
      round += channels[(nextChannel_ + k) % count]->ring.drain(
          [this](LogRow&& row) { batch_.push_back(std::move(row)); }, room);
    }
    nextChannel_ = (nextChannel_ + 1) % count;
    total += round;
    if (round == 0 || batch_.size() >= options_.maxBatch || total >= maxRows) commit();
    if (round == 0) break;
  }
  return total;
}

void LogWriter::commit() {
  if (batch_.empty()) return;
  const auto fail = [this](const base::Error& error) {
    failed_.fetch_add(batch_.size(), std::memory_order_relaxed);
    noteError(error);
    batch_.clear();
  };
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  if (auto ok = inserter_.insert(batch_); !ok) return fail(ok.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  written_.fetch_add(batch_.size(), std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  batch_.clear();
}

bool LogWriter::retentionStep() {
  const std::int64_t cutoff = base::realtimeNs() - options_.retentionDays * kNsPerDay;
  auto deleted = deleteLogRowsBefore(db_, cutoff, options_.retentionChunk);
  if (!deleted) {
    noteError(deleted.error());
    return false;
  }
  expired_.fetch_add(static_cast<std::uint64_t>(*deleted), std::memory_order_relaxed);
  if (*deleted >= options_.retentionChunk) return true;
  // The expired rows are gone: so is the need for the revisions and hashes only they used.
  if (auto pruned = pruneRevisions(db_); !pruned) noteError(pruned.error());
  if (auto pruned = pruneHashes(db_, cutoff); !pruned) noteError(pruned.error());
  return false;
}

void LogWriter::run() {
  pthread_setname_np(pthread_self(), "wardend-log");
  using Clock = std::chrono::steady_clock;
  // Retention runs first on start, then every retentionInterval, a chunk per round so that a
  // large expiry does not hold up the log.
  Clock::time_point nextRetention = Clock::now();
  bool retentionRunning = false;
  // Per round, bound the rows taken so that retention and stop requests are looked at even
  // when producers never let the rings run empty.
  const std::size_t budget = options_.maxBatch * 16;
  for (;;) {
    const bool stopping = signal_->stopRequested.load(std::memory_order_acquire);
    if (stopping) {
      // Producers are done (see the class comment): take everything there is, then leave.
      drainAndCommit(channels(), std::numeric_limits<std::size_t>::max());
      return;
    }
    bool moreWork = drainAndCommit(channels(), budget) >= budget;
    if (options_.retentionDays > 0) {
      if (!retentionRunning && Clock::now() >= nextRetention) retentionRunning = true;
      if (retentionRunning) {
        retentionRunning = retentionStep();
        if (!retentionRunning) nextRetention = Clock::now() + options_.retentionInterval;
        moreWork = moreWork || retentionRunning;
      }
    }
    if (moreWork) continue;
    {
      std::lock_guard lock(mutex_);
      errorLog_.flush();
    }
    std::unique_lock lock(signal_->mutex);
    signal_->cv.wait_for(lock, options_.flushInterval, [this] {
      return signal_->wakeRequested.exchange(false, std::memory_order_acq_rel) ||
             signal_->stopRequested.load(std::memory_order_acquire);
    });
  }
}

}  // namespace warden::db
