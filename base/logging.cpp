#include "base/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>

namespace warden::base {
namespace {

std::mutex gLogMutex;
std::atomic<bool> gVerbose{false};
std::atomic<bool> gJournal{false};  // stderr is the journal (detectLogSink)

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

// syslog(3)'s priorities, as journald reads them from a `<N>` prefix.
int syslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 7;
    case LogLevel::kInfo:
      return 6;
    case LogLevel::kWarning:
      return 4;
    case LogLevel::kError:
      return 3;
  }
  return 6;
}

bool parseDecimal(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

void setLogVerbose(bool verbose) { gVerbose.store(verbose, std::memory_order_relaxed); }

bool isJournalStream(std::string_view journalStream, int fd) {
  const std::size_t colon = journalStream.find(':');
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  if (colon == std::string_view::npos || !parseDecimal(journalStream.substr(0, colon), dev) ||
      !parseDecimal(journalStream.substr(colon + 1), ino)) {
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == dev &&
         static_cast<std::uint64_t>(st.st_ino) == ino;
}

void detectLogSink() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  gJournal.store(stream != nullptr && isJournalStream(stream, STDERR_FILENO),
                 std::memory_order_relaxed);
}

std::string formatLogLine(LogLevel level, std::string_view message, bool journal) {
  std::string prefix;
  if (journal) {
    prefix = "<" + std::to_string(syslogPriority(level)) + ">";
  } else {
    prefix = "wardend: ";
    prefix += levelName(level);
    prefix += ": ";
  }
  std::string text;
  text.reserve(prefix.size() + message.size() + 1);
  // journald gives a line without a prefix its default priority (info): an error's second
  // line would be lost to `journalctl -p err`.
  for (;;) {
    const std::size_t newline = message.find('\n');
    text += prefix;
    text += message.substr(0, newline);
    text += '\n';
    if (newline == std::string_view::npos || newline + 1 == message.size()) break;
    message.remove_prefix(newline + 1);
  }
  return text;
}

void logLine(LogLevel level, std::string_view message) {
  if (level == LogLevel::kDebug && !gVerbose.load(std::memory_order_relaxed)) return;
  const std::string line = formatLogLine(level, message, gJournal.load(std::memory_order_relaxed));
  // One write(2) per line so lines from several threads never interleave mid-line.
  std::lock_guard lock(gLogMutex);
  for (std::string_view rest = line; !rest.empty();) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace warden::base
