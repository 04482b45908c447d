#include "engine/daemon/hit_records.h"

#include <utility>

#include "db/rule_hits_store.h"

namespace warden::engine {

nlohmann::json hitsJson(const rules::RuleHits& hits) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& entry : hits.entries()) {
    list.push_back({{"profile", entry.key.profile},
                    {"rule", entry.rule},
                    {"key", entry.key.rule},
                    {"hits", entry.count.hits},
                    {"last_ns", entry.count.lastNs}});
  }
  return list;
}

base::Result<void> HitRecorder::store(db::Database& db, const rules::RuleHits& hits, bool force) {
  const auto entries = hits.entries();
  std::uint64_t sum = 0;
  for (const auto& entry : entries) sum += entry.count.hits;
  // Counts only grow while a policy is in force; a reload changes the set (and is forced).
  if (!force && sum == storedSum_ && entries.size() == storedCounters_) return {};
  std::vector<db::StoredHits> rows;
  rows.reserve(entries.size());
  for (const auto& entry : entries) {
    rows.push_back(db::StoredHits{entry.key.profile, entry.key.rule,
                                  static_cast<std::int64_t>(entry.count.hits), entry.count.lastNs});
  }
  if (auto saved = db::saveRuleHits(db, rows); !saved) return saved;
  storedSum_ = sum;
  storedCounters_ = entries.size();
  return {};
}

base::Result<void> HitRecorder::restore(db::Database& db, const rules::RuleHits& hits) {
  auto stored = db::loadRuleHits(db);
  if (!stored) return std::unexpected(std::move(stored.error()));
  std::vector<std::pair<rules::HitKey, rules::HitCount>> counts;
  counts.reserve(stored->size());
  for (auto& row : *stored) {
    counts.emplace_back(rules::HitKey{std::move(row.profile), std::move(row.rule)},
                        rules::HitCount{static_cast<std::uint64_t>(row.hits), row.lastNs});
  }
  hits.add(counts);
  return {};
}

}  // namespace warden::engine
