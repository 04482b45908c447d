#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace warden::cli {

// One JSON document on one line. Text from outside (paths, host names, argv) need not be
// valid UTF-8; invalid bytes become U+FFFD instead of failing the whole output.
inline std::string jsonLine(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace warden::cli
