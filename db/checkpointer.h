#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "db/database.h"

namespace warden::db {

// Copies the WAL back into the database file on its own connection and thread. A checkpoint
// ends in an fsync; run by SQLite's automatic checkpointing inside the connection that writes,
// that fsync stalled the verdict-log writer for tens of milliseconds every few megabytes and
// halved its throughput. A passive checkpoint here runs beside the writer instead; the WAL is
// then restarted by the writer's next transaction.
//
// Thread-safety: construct, destroy and stop from one thread; errors are reported through the
// callback on the checkpointer's thread.
class Checkpointer {
 public:
  using ErrorSink = std::function<void(const base::Error&)>;

  [[nodiscard]] static base::Result<std::unique_ptr<Checkpointer>> start(
      const std::filesystem::path& path, std::chrono::milliseconds interval, ErrorSink onError);

  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  ~Checkpointer();

  // Joins after a last checkpoint that also truncates the WAL when no one is using it.
  void stop();

  std::uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }

 private:
  Checkpointer(Database db, std::chrono::milliseconds interval, ErrorSink onError);
  void run();

  Database db_;  // the checkpointer thread's
  const std::chrono::milliseconds interval_;
  const ErrorSink onError_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<std::uint64_t> checkpoints_{0};
  std::thread thread_;
};

}  // namespace warden::db
