#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "db/database.h"
#include "rules/verdict.h"

namespace warden::db {

// Accepted policies, stored as numbered revisions so that a verdict-log row (which carries
// the revision and a rule index) can later be explained: which file, which line, what rule.
// The records are plain descriptions filled by whoever compiled the policy; this module does
// not know the policy model.
//
// Thread-safety: the functions use the caller's connection, under its rules (database.h).

enum class RuleKind : std::uint8_t { kGlobal, kProfile };

struct RevisionRecord {
  std::int64_t id = 0;  // assigned by storeRevision()
  std::int64_t loadedAtNs = 0;
  std::string configPath;
  std::string sourcesDigest;  // SHA-256 (hex) of the sources, to tell revisions apart
};

struct ProfileRecord {
  std::string name;
  std::string file;
  int line = 0;
  std::optional<rules::Action> defaultAction;  // absent: the engine default applies
  std::string description;
  std::optional<rules::Mode> mode;  // absent: the engine's mode applies
};

struct RuleRecord {
  RuleKind kind = RuleKind::kProfile;
  std::string profile;  // empty for global rules
  int index = 0;        // 0-based among the global rules or among the profile's rules
  std::string file;
  int line = 0;
  rules::Action action = rules::Action::kAllow;
  std::string summary;  // the rule in one line, e.g. "allow out tcp 443 host=*.example.org"
};

struct PolicyRecord {
  RevisionRecord revision;
  std::vector<ProfileRecord> profiles;  // in load order
  std::vector<RuleRecord> rules;
};

// Stores the whole policy in one transaction and returns the new revision id (always greater
// than any before it).
[[nodiscard]] base::Result<std::int64_t> storeRevision(Database& db, const PolicyRecord& policy);

[[nodiscard]] base::Result<std::optional<RevisionRecord>> latestRevision(Database& db);

// The stored policy of one revision; absent if there is no such revision.
[[nodiscard]] base::Result<std::optional<PolicyRecord>> loadRevision(Database& db, std::int64_t id);

[[nodiscard]] base::Result<std::optional<RuleRecord>> findRule(Database& db, std::int64_t revision,
                                                               RuleKind kind,
                                                               std::string_view profile, int index);

// Deletes revisions that no remaining log row refers to, never the latest one. Cheap: it looks
// only at the oldest log rows (revisions only grow with time). Returns how many were deleted.
[[nodiscard]] base::Result<std::int64_t> pruneRevisions(Database& db);

std::string_view toString(RuleKind kind);

}  // namespace warden::db
