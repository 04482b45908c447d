#pragma once

#include <cstdint>
#include <memory>

#include "db/log_row.h"

namespace warden::db {

namespace detail {
struct LogChannel;
}

// The verdict path's end of the log: a handle on one bounded ring that the LogWriter drains.
// Each NFQUEUE worker thread gets its own from LogWriter::producer().
//
// Thread-safety: one thread at a time may use a producer (it is the single producer of its
// ring); move it to hand it over. tryEnqueue never blocks, allocates nothing and takes no lock.
class LogProducer {
 public:
  // A detached producer: every row is refused (and not counted anywhere).
  LogProducer() = default;
  LogProducer(LogProducer&&) noexcept = default;
  LogProducer& operator=(LogProducer&& other) noexcept;
  LogProducer(const LogProducer&) = delete;
  LogProducer& operator=(const LogProducer&) = delete;
  ~LogProducer();

  // Takes the row if the ring has room; otherwise (writer behind, or stopped) the row is left
  // untouched, counted as dropped, and false is returned.
  bool tryEnqueue(LogRow&& row);

  // Rows this producer had refused.
  std::uint64_t dropped() const;

 private:
  friend class LogWriter;
  explicit LogProducer(std::shared_ptr<detail::LogChannel> channel);
  void release();

  std::shared_ptr<detail::LogChannel> channel_;
  std::uint64_t nudgeMask_ = 0;  // wake the writer each time this many + 1 rows went in
};

}  // namespace warden::db
