#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/exit_code.h"

namespace warden::cli {

// One JSON document on one line. Text from outside (paths, host names, argv) need not be
// valid UTF-8; invalid bytes become U+FFFD instead of failing the whole output.
inline std::string jsonLine(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// {"ok":false,"error":MESSAGE,"exit_status":N}: what --json prints on stdout when a command
// fails, so that a script reading stdout always gets a document. No row, profile or status
// object has an "error" member beside "ok": false, so it cannot be taken for one.
nlohmann::json failureJson(const Failure& failure);

// A command's failure: the message on `err` as always and, with `json`, failureJson on
// `out` too. Returns the exit status.
int reportFailure(const Failure& failure, bool json, std::ostream& out, std::ostream& err);

}  // namespace warden::cli
