#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "rules/policy.h"
#include "rules/profile_selector.h"

namespace warden::cli {

// What `warden explain PID` found: wardend's description of the process, and the profile
// the policy selects for it.
struct Explanation {
  nlohmann::json process;        // the "process" member of wardend's explain answer
  bool environmentRead = false;  // the environment's values were there for `env` matches
  const rules::Policy* policy = nullptr;
  rules::ProfileSelection selection;
  std::optional<std::int64_t> revision;  // the revision in force, when wardend said
  bool filesChanged = false;             // the files differ from that revision
};

// Labelled lines: how the process is identified (executable, hash, command line, user,
// parents, tags, cgroup), then its profile, the [[match]] that won and its specificity, and
// what decides its flows.
void printExplanation(const Explanation& explanation, std::ostream& out);

nlohmann::json explanationJson(const Explanation& explanation);

}  // namespace warden::cli
