#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace warden::base {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Writes one line `wardend: <level>: <message>` to stderr (journald adds the time).
// Thread-safe; not meant for the per-packet path, which counts instead of logging.
void logLine(LogLevel level, std::string_view message);
void setLogVerbose(bool verbose);

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
