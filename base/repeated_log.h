#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/clock.h"
#include "base/logging.h"

namespace warden::base {

// A problem that can come again and again (per packet, per process, per write): its first
// occurrence is logged at once, the next ones only counted, and once `interval` has passed
// since the last line, the next occurrence is logged with how many were not:
//   wardend: error: sending a verdict on NFQUEUE 0: No buffer space available
//   wardend: error: sending a verdict on NFQUEUE 0: ... (and 4211 more like it in the last 61 s)
// flush() writes the count of those not logged yet once their interval is over, for a problem
// that has stopped coming. So a storm of errors costs at most one line per interval.
//
// Thread-safety: none; one per thread, or guarded by its owner's lock.
class RepeatedLog {
 public:
  using Clock = std::uint64_t (*)();  // monotonic nanoseconds
  static constexpr std::chrono::seconds kDefaultInterval{60};

  explicit RepeatedLog(LogLevel level = LogLevel::kError,
                       std::chrono::nanoseconds interval = kDefaultInterval,
                       Clock clock = monotonicNs)
      : level_(level), intervalNs_(static_cast<std::uint64_t>(interval.count())), clock_(clock) {}

  // One occurrence; the message is put together only when it is logged.
  template <typename... Parts>
  void note(const Parts&... parts) {
    ++occurrences_;
    const std::uint64_t now = clock_();
    if (logged_ && now - lastLineNs_ < intervalNs_) {
      ++unlogged_;
      return;
    }
    write(now, concat(parts...));
  }

  // Logs how many occurrences were not, if any and their interval is over.
  void flush();

  // Every occurrence noted, logged or not.
  std::uint64_t occurrences() const { return occurrences_; }

 private:
  void write(std::uint64_t now, std::string message);

  LogLevel level_;
  std::uint64_t intervalNs_;
  Clock clock_;
  bool logged_ = false;           // a line has been written
  std::uint64_t lastLineNs_ = 0;  // when
  std::string lastMessage_;       // its message, for flush()
  std::uint64_t unlogged_ = 0;    // occurrences since then, not logged
  std::uint64_t occurrences_ = 0;
};

}  // namespace warden::base
