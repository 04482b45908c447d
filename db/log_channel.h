#pragma once

// Private to db/: the state a LogWriter shares with its producers. Kept apart from the
// public headers so that users see only LogProducer and LogWriter.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "db/log_row.h"
#include "db/spsc_ring.h"

namespace warden::db::detail {

// How producers reach the writer thread. Producers never wait on it: they set `wakeRequested`
// and signal the condition variable without taking its mutex. A signal that races with the
// writer going to sleep is lost, which only delays the drain to the next flush interval.
struct WriterSignal {
  std::atomic<bool> accepting{true};  // false once stop() began: enqueues are dropped
  std::atomic<bool> stopRequested{false};
  std::atomic<bool> wakeRequested{false};
  std::mutex mutex;  // only for the condition variable; guards no data
  std::condition_variable cv;

  void wake() {
    wakeRequested.store(true, std::memory_order_release);
    cv.notify_one();
  }
};

// One producer's ring and counters. The counters are written by the producer thread only
// (plain load+store, no read-modify-write needed) and read by anyone.
struct LogChannel {
  LogChannel(std::size_t capacity, std::shared_ptr<WriterSignal> signal)
      : ring(capacity), signal(std::move(signal)) {}

  SpscRing<LogRow> ring;
  std::shared_ptr<WriterSignal> signal;
  std::atomic<std::uint64_t> enqueued{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<bool> producerGone{false};  // the handle is gone: forget the ring once drained
};

}  // namespace warden::db::detail
