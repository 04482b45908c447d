#include "db/migrations.h"

#include <span>
#include <string>
#include <string_view>

#include "db/sqlite_error.h"
#include "db/transaction.h"

namespace warden::db {
namespace {

struct Migration {
  int version;  // user_version after it
  std::string_view sql;
};

// Version 1. Enumerations are stored as the words the SPEC uses ("allow", "out", "learn") so
// that the file reads well in the sqlite3 shell and `warden log` filters need no mapping.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE policy_revision (
  id             INTEGER PRIMARY KEY,
  loaded_at_ns   INTEGER NOT NULL,  -- ns since the Unix epoch
  config_path    TEXT NOT NULL,     -- the warden.toml it was loaded through
  sources_digest TEXT NOT NULL      -- SHA-256 (hex) over the config and profile files
);

-- Profiles in load order, so that a log row naming a profile default can be explained.
CREATE TABLE policy_profile (
  revision       INTEGER NOT NULL REFERENCES policy_revision (id) ON DELETE CASCADE,
  name           TEXT NOT NULL,
  position       INTEGER NOT NULL,  -- load order, 0-based
  file           TEXT NOT NULL,
  line           INTEGER NOT NULL,
  default_action TEXT CHECK (default_action IN ('allow', 'deny', 'reject')),  -- NULL: engine's
  description    TEXT NOT NULL,
  PRIMARY KEY (revision, name)
) WITHOUT ROWID;

-- Every rule, global or of a profile, so that a log row can name the rule that decided it.
CREATE TABLE policy_rule (
  revision   INTEGER NOT NULL REFERENCES policy_revision (id) ON DELETE CASCADE,
  kind       TEXT NOT NULL CHECK (kind IN ('global', 'profile')),
  profile    TEXT NOT NULL,     -- '' for global rules
  rule_index INTEGER NOT NULL,  -- 0-based position among the global rules or the profile's
  file       TEXT NOT NULL,
  line       INTEGER NOT NULL,
  action     TEXT NOT NULL CHECK (action IN ('allow', 'deny', 'reject')),
  summary    TEXT NOT NULL,     -- the rule in one line, for display
  PRIMARY KEY (revision, kind, profile, rule_index)
) WITHOUT ROWID;

-- One row per decided flow (SPEC section 7). AUTOINCREMENT keeps ids increasing even after
-- retention empties the table, which `warden log -f` relies on to resume after an id.
CREATE TABLE verdict_log (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns          INTEGER NOT NULL,  -- ns since the Unix epoch
  direction        TEXT NOT NULL,     -- out | in
  protocol         TEXT NOT NULL,     -- tcp | udp | icmp | icmpv6 | the IP protocol number
  local_addr       TEXT NOT NULL,
  local_port       INTEGER NOT NULL,
  remote_addr      TEXT NOT NULL,
  remote_port      INTEGER NOT NULL,
  host             TEXT,              -- remote host name learned from DNS
  pid              INTEGER,           -- NULL: no process attributed
  process_start_ns INTEGER,           -- ns since boot; with pid, identifies the process
  uid              INTEGER,
  exe              TEXT,
  argv             TEXT,              -- JSON array of strings, secrets scrubbed
  profile          TEXT,              -- NULL: the process has no profile
  decided_by       TEXT NOT NULL,     -- global-rule | rule | profile-default | engine-default
                                      -- | unknown | kernel
  rule_index       INTEGER,           -- with decided_by global-rule or rule: policy_rule index
  action           TEXT NOT NULL,     -- allow | deny | reject (what was decided)
  mode             TEXT NOT NULL,     -- enforce | learn (learn accepted it regardless)
  revision         INTEGER NOT NULL,  -- policy_revision.id in force; 0 = none stored
  latency_us       REAL NOT NULL      -- from packet arrival to verdict
);
CREATE INDEX verdict_log_time ON verdict_log (time_ns);
CREATE INDEX verdict_log_profile ON verdict_log (profile, time_ns);
CREATE INDEX verdict_log_action ON verdict_log (action, time_ns);

-- SHA-256 of executables by file identity; any change of size, mtime or ctime is a miss.
CREATE TABLE exe_hash (
  device     INTEGER NOT NULL,
  inode      INTEGER NOT NULL,
  size       INTEGER NOT NULL,
  mtime_ns   INTEGER NOT NULL,
  ctime_ns   INTEGER NOT NULL,
  sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
  seen_at_ns INTEGER NOT NULL,  -- last stored; old entries are pruned with the log
  PRIMARY KEY (device, inode)
) WITHOUT ROWID;
)sql";

// Version 2: the index by action covers only refused flows. Allowed rows are most of the log
// and were paying a third index insert each (about a sixth of the writer's time per row); a
// query for allowed rows reads the time index instead, where they are the majority anyway.
// Queries for deny/reject repeat the index's condition so that the planner may use it.
// Building the new index reads the whole log once, at the first start after an upgrade
// (before the table is installed: start-up is slower, no packet waits).
constexpr std::string_view kSchemaV2 = R"sql(
DROP INDEX IF EXISTS verdict_log_action;
CREATE INDEX verdict_log_refused ON verdict_log (action, time_ns) WHERE action <> 'allow';
)sql";

// Version 3: a profile's own `mode` in the stored policy (NULL: the engine's), and the hit
// counts of rules and profile defaults, kept across restarts. A counter is named by its
// profile ('' for the global rules) and the rule's content ('default=<action>' for a profile's
// fallback), not by revision: an unchanged rule keeps its count whatever revision it is in.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE policy_profile ADD COLUMN mode TEXT CHECK (mode IN ('enforce', 'learn'));
CREATE TABLE rule_hits (
  profile TEXT NOT NULL,
  rule    TEXT NOT NULL,
  hits    INTEGER NOT NULL,
  last_ns INTEGER NOT NULL,  -- ns since the Unix epoch of the last flow decided; 0: never
  PRIMARY KEY (profile, rule)
) WITHOUT ROWID;
)sql";

// Version 4: the tags of the process (SPEC section 5) on each row, as a JSON array of strings
// (NULL: none known), so that `warden suggest` can draft a [[match]] that names a flatpak, snap,
// systemd unit or container. Older rows keep NULL.
constexpr std::string_view kSchemaV4 = R"sql(
ALTER TABLE verdict_log ADD COLUMN tags TEXT;
)sql";

constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
    {2, kSchemaV2},
    {3, kSchemaV3},
    {4, kSchemaV4},
};

static_assert(std::span(kMigrations).back().version == kSchemaVersion,
              "the last migration must reach kSchemaVersion");

base::Result<void> apply(Database& db, const Migration& migration) {
  auto tx = Transaction::begin(db, Transaction::Kind::kImmediate);
  if (!tx) return std::unexpected(std::move(tx.error()));
  // Re-read under the write lock: another process may have migrated while we waited.
  auto current = schemaVersion(db);
  if (!current) return std::unexpected(std::move(current.error()));
  if (*current >= migration.version) return {};
  const std::string step = "migrate schema to version " + std::to_string(migration.version);
  if (auto ok = db.exec(migration.sql, step); !ok) return ok;
  // PRAGMA takes no parameters; the version is our own integer.
  if (auto ok = db.exec("PRAGMA user_version = " + std::to_string(migration.version), step); !ok) {
    return ok;
  }
  return tx->commit();
}

}  // namespace

base::Result<int> schemaVersion(Database& db) {
  auto version = db.queryInt("PRAGMA user_version");
  if (!version) return std::unexpected(std::move(version.error()));
  return static_cast<int>(*version);
}

base::Result<void> migrate(Database& db) {
  auto current = schemaVersion(db);
  if (!current) return std::unexpected(std::move(current.error()));
  if (*current > kSchemaVersion) {
    return std::unexpected(
        detail::plainError(db.path(), "schema version " + std::to_string(*current) +
                                          " is newer than this warden understands (" +
                                          std::to_string(kSchemaVersion) + "); upgrade warden"));
  }
  if (*current == 0) {
    // A database some other program made: do not add our tables next to its own.
    auto tables = db.queryInt("SELECT count(*) FROM sqlite_schema");
    if (!tables) return std::unexpected(std::move(tables.error()));
    if (*tables > 0) {
      return std::unexpected(detail::plainError(
          db.path(), "not a warden database (it has tables but no warden schema version)"));
    }
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= *current) continue;
    if (auto ok = apply(db, migration); !ok) return ok;
  }
  return {};
}

}  // namespace warden::db
