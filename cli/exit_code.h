#pragma once

#include <cstdint>
#include <expected>
#include <ostream>
#include <string>
#include <string_view>

namespace warden::cli {

// The exit status of `warden`: what a script can tell apart without parsing messages.
// The numbers are part of the interface (documented in `warden --help`); never renumber.
enum class ExitCode : std::uint8_t {
  kOk = 0,
  kError = 1,             // any error, or the daemon refused the request
  kUsage = 2,             // unknown command or option, bad option value
  kDaemonDown = 3,        // wardend is not running: no control socket, or nobody listens on it
  kPermissionDenied = 4,  // not root: the control socket or a file is closed to the caller
  kNoDatabase = 5,        // the verdict log database does not exist (yet)
};

// Why a command could not do its work: the message (one or more complete lines, without
// the "warden: " prefix) and the exit status it ends with.
struct Failure {
  ExitCode code = ExitCode::kError;
  std::string message;

  bool operator==(const Failure&) const = default;
};

template <typename T>
using Outcome = std::expected<T, Failure>;

// The "Exit status" section of every --help.
std::string exitStatusHelp();

// An errno of a failed open/connect/read as an exit status: EACCES and EPERM are the
// caller's privileges (4); anything else is an error (1).
ExitCode exitCodeForErrno(int error);

// Prints "warden: <message>" on `err` and returns the exit status.
int report(const Failure& failure, std::ostream& err);

constexpr int toInt(ExitCode code) { return static_cast<int>(code); }

}  // namespace warden::cli
