#include "db/store.h"

#include <string>
#include <utility>

#include "db/migrations.h"
#include "db/sqlite_error.h"

namespace warden::db {

base::Result<Database> openStore(const std::filesystem::path& path, const OpenOptions& options) {
  auto db = Database::open(path, options);
  if (!db) return db;
  if (options.access == Access::kReadWrite) {
    if (auto ok = migrate(*db); !ok) return std::unexpected(std::move(ok.error()));
    return db;
  }
  auto version = schemaVersion(*db);
  if (!version) return std::unexpected(std::move(version.error()));
  if (*version == kSchemaVersion) return db;
  if (*version == 0) {
    return std::unexpected(detail::plainError(
        db->path(), "not initialized (no warden schema); wardend creates it on start"));
  }
  const std::string what = *version > kSchemaVersion ? "newer than this warden understands"
                                                     : "older than this warden; start wardend "
                                                       "to upgrade it";
  return std::unexpected(
      detail::plainError(db->path(), "schema version " + std::to_string(*version) + " is " + what +
                                         " (" + std::to_string(kSchemaVersion) + ")"));
}

}  // namespace warden::db
