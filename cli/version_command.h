#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/exit_code.h"

namespace warden::cli {

// `warden --version`: "warden 0.1.0", then a line about the daemon: its version and policy
// revision when it answers, else why not ("wardend is not running (...)"). The daemon's
// absence is an answer here, not a failure: the exit status is 0 either way.
int runVersion(const std::filesystem::path& configPath, std::ostream& out);

// The daemon's line from its answer to "status" (or the failure to get one), for the tests:
// "wardend 0.1.0 (running, policy revision 7)".
std::string daemonVersionLine(const Outcome<nlohmann::json>& answer);

}  // namespace warden::cli
