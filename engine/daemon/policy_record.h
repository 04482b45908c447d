#pragma once

#include <cstdint>
#include <string>

#include "db/policy_store.h"
#include "rules/policy.h"

namespace warden::engine {

// The stored form of an accepted policy: every profile and rule with its file and line, so
// that a log row (revision + rule index) can be explained later. `digest` is the SHA-256 of
// the sources (see sourcesDigest), which tells revisions apart.
db::PolicyRecord toRecord(const rules::Policy& policy, std::int64_t loadedAtNs);

// SHA-256 (hex) of warden.toml and every profile file, in load order.
std::string sourcesDigest(const rules::Policy& policy);

}  // namespace warden::engine
