#include "db/rule_hits_store.h"

#include <utility>

#include "db/transaction.h"

namespace warden::db {

base::Result<void> saveRuleHits(Database& db, const std::vector<StoredHits>& hits) {
  auto tx = Transaction::begin(db);
  if (!tx) return std::unexpected(std::move(tx.error()));
  if (auto ok = db.exec("DELETE FROM rule_hits", "forget the stored rule hits"); !ok) return ok;
  auto insert = db.prepare(
      "INSERT OR REPLACE INTO rule_hits (profile, rule, hits, last_ns) VALUES (?, ?, ?, ?)");
  if (!insert) return std::unexpected(std::move(insert.error()));
  for (const StoredHits& h : hits) {
    if (h.hits == 0) continue;
    insert->bindText(1, h.profile).bindText(2, h.rule).bindInt64(3, h.hits).bindInt64(4, h.lastNs);
    if (auto ok = insert->run(); !ok) return ok;
  }
  return tx->commit();
}

base::Result<std::vector<StoredHits>> loadRuleHits(Database& db) {
  auto select = db.prepare("SELECT profile, rule, hits, last_ns FROM rule_hits");
  if (!select) return std::unexpected(std::move(select.error()));
  std::vector<StoredHits> hits;
  for (;;) {
    auto row = select->step();
    if (!row) return std::unexpected(std::move(row.error()));
    if (!*row) break;
    hits.push_back(StoredHits{std::string(select->columnText(0)),
                              std::string(select->columnText(1)), select->columnInt64(2),
                              select->columnInt64(3)});
  }
  return hits;
}

}  // namespace warden::db
