#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/repeated_log.h"
#include "engine/attribution/exe_hasher.h"

namespace warden::db {
class Database;
class HashCache;
}  // namespace warden::db

namespace warden::engine {

// The executable-hash table of warden.db behind the in-memory ImageHashLru, on a connection of
// its own. Failures are logged once and counted; a lookup that fails is a miss (the image is
// hashed again), a store that fails only costs a hash after the next restart.
//
// Thread-safety: every call is serialised on one mutex (the connection is single-threaded).
class DbHashStore : public HashStore {
 public:
  static std::unique_ptr<DbHashStore> open(const std::filesystem::path& dbPath);
  ~DbHashStore() override;

  std::optional<std::string> load(const base::FileIdentity& image) override;
  void save(const base::FileIdentity& image, std::string_view sha256Hex) override;

  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  DbHashStore(std::unique_ptr<db::Database> database, std::unique_ptr<db::HashCache> table);
  void failed(const std::string& message);

  std::mutex mutex_;
  std::unique_ptr<db::Database> database_;  // guarded by mutex_
  std::unique_ptr<db::HashCache> table_;    // guarded by mutex_
  std::atomic<std::uint64_t> errors_{0};
  base::RepeatedLog errorLog_{base::LogLevel::kWarning};  // guarded by mutex_
};

}  // namespace warden::engine
