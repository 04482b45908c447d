#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"
#include "db/database.h"
#include "db/policy_store.h"
#include "rules/policy.h"

namespace warden::engine {

// The stored form of an accepted policy: every profile and rule with its file and line, so
// that a log row (revision + rule index) can be explained later. `digest` is the SHA-256 of
// the sources (see sourcesDigest), which tells revisions apart.
[[nodiscard]] base::Result<db::PolicyRecord> toRecord(const rules::Policy& policy,
                                                      std::int64_t loadedAtNs);

// toRecord, then db::storeRevision: the new revision's id.
[[nodiscard]] base::Result<std::int64_t> storeRecord(db::Database& db, const rules::Policy& policy,
                                                     std::int64_t loadedAtNs);

// SHA-256 (hex) of warden.toml and every profile file, in load order.
[[nodiscard]] base::Result<std::string> sourcesDigest(const rules::Policy& policy);

}  // namespace warden::engine
