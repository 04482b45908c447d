#include "engine/attribution/db_hash_store.h"

#include <time.h>

#include "base/clock.h"
#include "base/logging.h"
#include "db/hash_cache.h"
#include "db/store.h"

namespace warden::engine {

std::unique_ptr<DbHashStore> DbHashStore::open(const std::filesystem::path& dbPath) {
  auto database = db::openStore(dbPath);
  if (!database) {
    base::logWarning("executable hashes are cached in memory only: ", database.error().message());
    return nullptr;
  }
  auto owned = std::make_unique<db::Database>(std::move(*database));
  auto table = db::HashCache::create(*owned);
  if (!table) {
    base::logWarning("executable hashes are cached in memory only: ", table.error().message());
    return nullptr;
  }
  return std::unique_ptr<DbHashStore>(
      new DbHashStore(std::move(owned), std::make_unique<db::HashCache>(std::move(*table))));
}

DbHashStore::DbHashStore(std::unique_ptr<db::Database> database,
                         std::unique_ptr<db::HashCache> table)
    : database_(std::move(database)), table_(std::move(table)) {}

// The statements go before the connection they were prepared on.
DbHashStore::~DbHashStore() { table_.reset(); }

void DbHashStore::failed(const std::string& message) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  errorLog_.note("executable-hash table: ", message);
}

std::optional<std::string> DbHashStore::load(const base::FileIdentity& image) {
  std::lock_guard lock(mutex_);
  auto found = table_->lookup(image);
  if (!found) {
    failed(found.error().message());
    return std::nullopt;
  }
  return *found;
}

void DbHashStore::save(const base::FileIdentity& image, std::string_view sha256Hex) {
  std::lock_guard lock(mutex_);
  if (auto stored = table_->store(image, sha256Hex, base::realtimeNs()); !stored) {
    failed(stored.error().message());
  }
}

}  // namespace warden::engine
