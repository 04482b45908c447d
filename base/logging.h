#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace warden::base {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Writes one line to stderr: `wardend: <level>: <message>` (journald adds the time), or, once
// detectLogSink() found stderr to be systemd's journal, `<N>message` with N the syslog
// priority of the level (3 error, 4 warning, 6 info, 7 debug), which journald takes as the
// entry's priority (`journalctl -p err` finds errors) and strips.
// Thread-safe; not meant for the per-packet path, which counts instead of logging.
void logLine(LogLevel level, std::string_view message);
void setLogVerbose(bool verbose);

// Looks at JOURNAL_STREAM (set by systemd to the device and inode of the stream it connected
// stdout and stderr to): the journal's form only when that names the file stderr is now, so
// that a child whose stderr was redirected elsewhere (a terminal, a file, a test's pipe) keeps
// the plain form although it inherited the variable. wardend calls it once at start.
void detectLogSink();
// Whether `journalStream` ("DEV:INODE", decimal, as in JOURNAL_STREAM) names the file open on
// `fd`.
bool isJournalStream(std::string_view journalStream, int fd);
// The text logLine writes for one message, newline included: every line of a message of
// several carries the prefix.
std::string formatLogLine(LogLevel level, std::string_view message, bool journal);

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <typename... Parts>
void logInfo(const Parts&... parts) {
  logLine(LogLevel::kInfo, concat(parts...));
}
template <typename... Parts>
void logWarning(const Parts&... parts) {
  logLine(LogLevel::kWarning, concat(parts...));
}
template <typename... Parts>
void logError(const Parts&... parts) {
  logLine(LogLevel::kError, concat(parts...));
}
template <typename... Parts>
void logDebug(const Parts&... parts) {
  logLine(LogLevel::kDebug, concat(parts...));
}

}  // namespace warden::base
