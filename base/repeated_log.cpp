#include "base/repeated_log.h"

#include <utility>

namespace warden::base {
namespace {

// " (and 12 more like it in the last 61 s)"
std::string unloggedSuffix(std::uint64_t unlogged, std::uint64_t elapsedNs) {
  return concat(" (and ", unlogged, " more like it in the last ",
                (elapsedNs + 500'000'000) / 1'000'000'000, " s)");
}

}  // namespace

void RepeatedLog::write(std::uint64_t now, std::string message) {
  std::string line = message;
  if (unlogged_ > 0) line += unloggedSuffix(unlogged_, now - lastLineNs_);
  logLine(level_, line);
  logged_ = true;
  lastLineNs_ = now;
  lastMessage_ = std::move(message);
  unlogged_ = 0;
}

void RepeatedLog::flush() {
  if (unlogged_ == 0) return;
  const std::uint64_t now = clock_();
  if (now - lastLineNs_ < intervalNs_) return;
  logLine(level_, lastMessage_ + unloggedSuffix(unlogged_, now - lastLineNs_));
  lastLineNs_ = now;
  unlogged_ = 0;
}

}  // namespace warden::base
