#pragma once

#include <cstddef>
#include <deque>
#include <utility>

#include "rules/process_info.h"

namespace warden::engine {

// The environments the tracker built lately, so that processes started with the same one
// share its map (rules::Environment copies share): a shell loop or a build starts thousands
// of processes with one environment, and each description would otherwise hold its own copy.
// At most kMaxEntries distinct environments are remembered; the oldest gives way.
// Not thread-safe: the tracker thread's.
class EnvironmentPool {
 public:
  static constexpr std::size_t kMaxEntries = 64;

  // An environment equal to `env`: one remembered (sharing its map), else `env`, remembered.
  rules::Environment intern(rules::Environment env);
  std::size_t size() const { return recent_.size(); }

 private:
  std::deque<std::pair<std::size_t, rules::Environment>> recent_;  // (hash, env), newest first
};

}  // namespace warden::engine
