#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "db/database.h"

namespace warden::db {

// The hit counts of rules and profile defaults (table rule_hits), so that they outlive a
// restart. wardend's control thread writes the whole set now and then, at reload and at stop;
// `warden rules` reads it when wardend is not running. The names are rules::HitKey's.
//
// Thread-safety: the caller's connection, under its rules (database.h).

struct StoredHits {
  std::string profile;  // "" for a global rule
  std::string rule;     // the rule's content, or "default=<action>"
  std::int64_t hits = 0;
  std::int64_t lastNs = 0;  // 0: never
};

// Replaces every stored count with `hits` (counts that are 0 are not stored), in one
// transaction: a rule gone from the policy is forgotten.
[[nodiscard]] base::Result<void> saveRuleHits(Database& db, const std::vector<StoredHits>& hits);

[[nodiscard]] base::Result<std::vector<StoredHits>> loadRuleHits(Database& db);

}  // namespace warden::db
