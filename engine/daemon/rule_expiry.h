#pragma once

#include <chrono>
#include <vector>

#include "rules/policy.h"

namespace warden::engine {

// Takes expired rules out of the profiles.d files that warden manages (first line
// rules::kManagedMarker), so that a `warden allow --for 10m` leaves nothing behind. A file a
// person wrote is never touched: its expired rules are only left out of the policy. Each
// file is re-read under the edit lock, and only rules that have expired by `now` are removed
// (a command may have edited it since the load); the file is replaced whole (temporary file,
// rename). Failures are logged; the rules stay out of the policy anyway.
void removeExpiredRules(const std::filesystem::path& profilesDir,
                        const std::vector<rules::Policy::ExpiredRule>& expired,
                        std::chrono::sys_seconds now);

// The rules of `policy` that have expired by `now` taken out (for the policy in force, when a
// reload at an expiry is refused: an expired rule must not stay in force with it). Returns
// whether any was.
bool pruneExpired(rules::Policy& policy, std::chrono::sys_seconds now);

}  // namespace warden::engine
