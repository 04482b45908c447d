#pragma once

#include "rules/config.h"

namespace warden::engine {

// The engine's mode and fail mode as the log and `warden status` name them.
inline const char* modeName(const rules::Config& config) {
  return config.mode == rules::Mode::kLearn ? "learn" : "enforce";
}

inline const char* failName(const rules::Config& config) {
  return config.fail == rules::FailMode::kOpen ? "open" : "closed";
}

}  // namespace warden::engine
