// cli::parseTimeBound (`warden log --since TEXT`) on any text, and the time formatting the log
// shows times with, on what it returns. In a fixed time zone with daylight saving time (a
// POSIX TZ rule, so no tzdata is needed) for mktime's local-time path to be the same on every
// machine.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cli/time_text.h"

namespace {

constexpr std::int64_t kNowNs = 1'796'300'000'000'000'000;  // 2026-12-03

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto since = warden::cli::parseTimeBound(text, kNowNs);
  if (!since) {
    if (since.error().empty()) std::abort();
    return 0;
  }
  (void)warden::cli::localTime(*since);
  (void)warden::cli::isoTime(*since);
  return 0;
}
