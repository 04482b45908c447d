#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/policy_view.h"

namespace warden::cli {

// What `warden explain PID` shows: wardend's description of the process and the profile its
// own matcher selects under the policy in force (the "process" member of its answer to
// {"command":"explain"}, with "profile" or "profile_reason"), completed from the policy
// view where it says more: the [[match]] in words, the profile's default and rules.
struct Explanation {
  nlohmann::json process;
  const PolicyView* policy = nullptr;  // the policy in force, if it could be read
};

// Labelled lines: how the process is identified (executable, hash, command line, user,
// parents, tags, environment, cgroup), then its profile, the [[match]] that won with its
// specificity, and what then decides its flows.
void printExplanation(const Explanation& explanation, std::ostream& out);

// {"process": wardend's description, "profile": the selection with what the view adds, or
// null, "revision": the policy revision it was selected under}.
nlohmann::json explanationJson(const Explanation& explanation);

}  // namespace warden::cli
