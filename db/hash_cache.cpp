#include "db/hash_cache.h"

#include <algorithm>
#include <utility>

#include "db/sqlite_error.h"

namespace warden::db {
namespace {

// SQLite integers are signed 64-bit; device and inode numbers are unsigned 64-bit. The bit
// pattern is kept, so large values round-trip (they merely read as negative in the shell).
std::int64_t asStored(std::uint64_t value) { return static_cast<std::int64_t>(value); }

bool isHexDigest(std::string_view text) {
  return text.size() == 64 && std::ranges::all_of(text, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

}  // namespace

base::Result<HashCache> HashCache::create(Database& db) {
  auto lookup = db.prepare(
      "SELECT sha256 FROM exe_hash WHERE device = ? AND inode = ? AND size = ? "
      "AND mtime_ns = ? AND ctime_ns = ? AND ctime_ns <= seen_at_ns - ?");
  if (!lookup) return std::unexpected(std::move(lookup.error()));
  auto store = db.prepare(
      "INSERT INTO exe_hash (device, inode, size, mtime_ns, ctime_ns, sha256, seen_at_ns) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (device, inode) DO UPDATE SET size = excluded.size, "
      "mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256, "
      "seen_at_ns = excluded.seen_at_ns");
  if (!store) return std::unexpected(std::move(store.error()));
  return HashCache(db, std::move(*lookup), std::move(*store));
}

base::Result<std::optional<std::string>> HashCache::lookup(const base::FileIdentity& file) {
  lookup_.bindInt64(1, asStored(file.device))
      .bindInt64(2, asStored(file.inode))
      .bindInt64(3, file.size)
      .bindInt64(4, file.mtimeNs)
      .bindInt64(5, file.ctimeNs)
      // Only a row stored once the file had settled (FileIdentity::settledAt): one an older
      // wardend stored in the tick of the file's last change may name other bytes.
      .bindInt64(6, base::FileIdentity::kSettledAfterNs);
  auto row = lookup_.step();
  std::optional<std::string> hash;
  if (row && *row) hash = std::string(lookup_.columnText(0));
  lookup_.reset();
  if (!row) return std::unexpected(std::move(row.error()));
  return hash;
}

base::Result<void> HashCache::store(const base::FileIdentity& file, std::string_view sha256Hex,
                                    std::int64_t seenAtNs) {
  if (!isHexDigest(sha256Hex)) {
    return std::unexpected(
        detail::plainError(db_->path(), "store executable hash: not a SHA-256 hex digest: \"" +
                                            std::string(sha256Hex.substr(0, 80)) + "\""));
  }
  std::string lower(sha256Hex);
  std::ranges::transform(lower, lower.begin(),
                         [](char c) { return c >= 'A' && c <= 'F' ? char(c - 'A' + 'a') : c; });
  store_.bindInt64(1, asStored(file.device))
      .bindInt64(2, asStored(file.inode))
      .bindInt64(3, file.size)
      .bindInt64(4, file.mtimeNs)
      .bindInt64(5, file.ctimeNs)
      .bindText(6, lower)
      .bindInt64(7, seenAtNs);
  return store_.run();
}

base::Result<std::int64_t> pruneHashes(Database& db, std::int64_t cutoffNs) {
  auto stmt = db.prepare("DELETE FROM exe_hash WHERE seen_at_ns < ?");
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  stmt->bindInt64(1, cutoffNs);
  if (auto ok = stmt->run(); !ok) return std::unexpected(std::move(ok.error()));
  return db.changes();
}

}  // namespace warden::db
