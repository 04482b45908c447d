#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/file_identity.h"
#include "db/database.h"
#include "db/statement.h"

namespace warden::db {

// The persistent half of the executable-hash cache: survives restarts so that images are not
// hashed again. One row per (device, inode): storing a new version replaces the old one, which
// bounds the table by the number of executables seen. The in-memory cache in front of it is
// the engine's (engine::ImageHashLru).
//
// Thread-safety: that of the Database it was created on, which must outlive it and stay where
// it is (not be moved from) meanwhile.
class HashCache {
 public:
  [[nodiscard]] static base::Result<HashCache> create(Database& db);

  // The lowercase hex SHA-256 stored for exactly this identity, if any.
  [[nodiscard]] base::Result<std::optional<std::string>> lookup(const base::FileIdentity& file);

  // `sha256Hex` must be 64 hex digits (stored lowercase). `seenAtNs` dates the entry for
  // pruneHashes().
  [[nodiscard]] base::Result<void> store(const base::FileIdentity& file, std::string_view sha256Hex,
                                         std::int64_t seenAtNs);

 private:
  HashCache(Database& db, Statement lookup, Statement store)
      : db_(&db), lookup_(std::move(lookup)), store_(std::move(store)) {}

  Database* db_;
  Statement lookup_;
  Statement store_;
};

// Deletes entries stored before `cutoffNs`; returns how many. A pruned entry that is still in
// use costs one more hash.
[[nodiscard]] base::Result<std::int64_t> pruneHashes(Database& db, std::int64_t cutoffNs);

}  // namespace warden::db
