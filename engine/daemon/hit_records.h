#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/error.h"
#include "db/database.h"
#include "rules/rule_hits.h"

namespace warden::engine {

// The policy's hit counters as the control socket answers them (control_protocol.h, "hits").
nlohmann::json hitsJson(const rules::RuleHits& hits);

// Keeps the counters in the database across restarts: stores them when they changed since
// the last store (or `force`), and adds the stored ones to a freshly started policy's. Control
// thread only, on its own connection.
class HitRecorder {
 public:
  // Writes every counter when their sum or the set of counters changed (or `force`).
  [[nodiscard]] base::Result<void> store(db::Database& db, const rules::RuleHits& hits,
                                         bool force = false);
  // At start: the stored counts go to the counters with the same names; the others are
  // forgotten at the next store.
  [[nodiscard]] base::Result<void> restore(db::Database& db, const rules::RuleHits& hits);

 private:
  std::uint64_t storedSum_ = ~0ull;
  std::size_t storedCounters_ = 0;
};

}  // namespace warden::engine
