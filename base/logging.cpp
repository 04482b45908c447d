#include "base/logging.h"

#include <unistd.h>

#include <atomic>
#include <mutex>

namespace warden::base {
namespace {

std::mutex gLogMutex;
std::atomic<bool> gVerbose{false};

std::string_view levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void setLogVerbose(bool verbose) { gVerbose.store(verbose, std::memory_order_relaxed); }

void logLine(LogLevel level, std::string_view message) {
  if (level == LogLevel::kDebug && !gVerbose.load(std::memory_order_relaxed)) return;
  std::string line = "wardend: ";
  line += levelName(level);
  line += ": ";
  line += message;
  line += '\n';
  // One write(2) per line so lines from several threads never interleave mid-line.
  std::lock_guard lock(gLogMutex);
  for (std::string_view rest = line; !rest.empty();) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace warden::base
