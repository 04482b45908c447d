#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/unique_fd.h"
#include "cli/exit_code.h"

namespace warden::cli {

// The client side of wardend's control socket (engine/daemon/control_protocol.h): one JSON request
// line per connection, one JSON answer line back, protocol version 1.

// Sends {"version":1,"command":COMMAND, ...fields} and returns the answer if it says
// "ok": true. Failures say what a user should know: wardend not running (socket absent or
// nobody listening: kDaemonDown), not root (the socket file's mode or the daemon's peer
// check: kPermissionDenied), or the daemon's own refusal (kError, its message).
[[nodiscard]] Outcome<nlohmann::json> askDaemon(
    const std::filesystem::path& socket, std::string_view command,
    const nlohmann::json& fields = nlohmann::json::object(),
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A connection to the control socket, for a command that keeps it (`warden prompt`). Failures
// as askDaemon's.
[[nodiscard]] Outcome<base::UniqueFd> connectDaemon(const std::filesystem::path& socket);

// The pieces of askDaemon that decide what a failure means, separate for the tests.

// connect(2) on `socket` failed with `error`.
Failure connectFailure(const std::filesystem::path& socket, int error);

// One answer line: the parsed answer when "ok" is true, else the failure it reports.
Outcome<nlohmann::json> interpretAnswer(const std::filesystem::path& socket, std::string_view line);

}  // namespace warden::cli
