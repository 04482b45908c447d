#include "db/policy_store.h"

#include <utility>

#include "db/transaction.h"

namespace warden::db {
namespace {

template <typename T>
base::Result<T> fail(base::Error error) {
  return std::unexpected(std::move(error));
}

std::optional<RuleKind> parseRuleKind(std::string_view text) {
  if (text == "global") return RuleKind::kGlobal;
  if (text == "profile") return RuleKind::kProfile;
  return std::nullopt;
}

// The CHECK constraints guarantee the words; a bad one means someone else wrote the file.
rules::Action actionOf(std::string_view text) {
  return rules::parseAction(text).value_or(rules::Action::kDeny);
}

constexpr std::string_view kRuleColumns =
    "r.kind, r.profile, r.rule_index, r.file, r.line, r.action, r.summary FROM policy_rule AS r ";

RuleRecord readRule(const Statement& stmt) {
  RuleRecord rule;
  rule.kind = parseRuleKind(stmt.columnText(0)).value_or(RuleKind::kProfile);
  rule.profile = stmt.columnText(1);
  rule.index = static_cast<int>(stmt.columnInt64(2));
  rule.file = stmt.columnText(3);
  rule.line = static_cast<int>(stmt.columnInt64(4));
  rule.action = actionOf(stmt.columnText(5));
  rule.summary = stmt.columnText(6);
  return rule;
}

}  // namespace

std::string_view toString(RuleKind kind) {
  return kind == RuleKind::kGlobal ? "global" : "profile";
}

base::Result<std::int64_t> storeRevision(Database& db, const PolicyRecord& policy) {
  auto tx = Transaction::begin(db);
  if (!tx) return fail<std::int64_t>(std::move(tx.error()));

  auto revision = db.prepare(
      "INSERT INTO policy_revision (loaded_at_ns, config_path, sources_digest) VALUES (?, ?, ?)");
  if (!revision) return fail<std::int64_t>(std::move(revision.error()));
  revision->bindInt64(1, policy.revision.loadedAtNs)
      .bindText(2, policy.revision.configPath)
      .bindText(3, policy.revision.sourcesDigest);
  if (auto ok = revision->run(); !ok) return fail<std::int64_t>(std::move(ok.error()));
  const std::int64_t id = db.lastInsertId();

  auto profile = db.prepare(
      "INSERT INTO policy_profile (revision, name, position, file, line, default_action, "
      "description, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!profile) return fail<std::int64_t>(std::move(profile.error()));
  for (std::size_t i = 0; i < policy.profiles.size(); ++i) {
    const ProfileRecord& p = policy.profiles[i];
    std::optional<std::string_view> defaultAction;
    if (p.defaultAction) defaultAction = rules::toString(*p.defaultAction);
    std::optional<std::string_view> mode;
    if (p.mode) mode = rules::toString(*p.mode);
    profile->bindInt64(1, id)
        .bindText(2, p.name)
        .bindInt64(3, static_cast<std::int64_t>(i))
        .bindText(4, p.file)
        .bindInt64(5, p.line)
        .bindOptionalText(6, defaultAction)
        .bindText(7, p.description)
        .bindOptionalText(8, mode);
    if (auto ok = profile->run(); !ok) return fail<std::int64_t>(std::move(ok.error()));
  }

  auto rule = db.prepare(
      "INSERT INTO policy_rule (revision, kind, profile, rule_index, file, line, action, "
      "summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!rule) return fail<std::int64_t>(std::move(rule.error()));
  for (const RuleRecord& r : policy.rules) {
    rule->bindInt64(1, id)
        .bindText(2, toString(r.kind))
        .bindText(3, r.kind == RuleKind::kGlobal ? std::string_view() : r.profile)
        .bindInt64(4, r.index)
        .bindText(5, r.file)
        .bindInt64(6, r.line)
        .bindText(7, rules::toString(r.action))
        .bindText(8, r.summary);
    if (auto ok = rule->run(); !ok) return fail<std::int64_t>(std::move(ok.error()));
  }

  if (auto ok = tx->commit(); !ok) return fail<std::int64_t>(std::move(ok.error()));
  return id;
}

base::Result<std::optional<RevisionRecord>> latestRevision(Database& db) {
  auto stmt = db.prepare(
      "SELECT id, loaded_at_ns, config_path, sources_digest FROM policy_revision "
      "ORDER BY id DESC LIMIT 1");
  if (!stmt) return fail<std::optional<RevisionRecord>>(std::move(stmt.error()));
  auto row = stmt->step();
  if (!row) return fail<std::optional<RevisionRecord>>(std::move(row.error()));
  if (!*row) return std::optional<RevisionRecord>();
  RevisionRecord revision;
  revision.id = stmt->columnInt64(0);
  revision.loadedAtNs = stmt->columnInt64(1);
  revision.configPath = stmt->columnText(2);
  revision.sourcesDigest = stmt->columnText(3);
  return revision;
}

base::Result<std::optional<PolicyRecord>> loadRevision(Database& db, std::int64_t id) {
  using Out = std::optional<PolicyRecord>;
  // One read transaction, so the three queries see the same state.
  auto tx = Transaction::begin(db, Transaction::Kind::kDeferred);
  if (!tx) return fail<Out>(std::move(tx.error()));

  auto revision = db.prepare(
      "SELECT loaded_at_ns, config_path, sources_digest FROM policy_revision WHERE id = ?");
  if (!revision) return fail<Out>(std::move(revision.error()));
  revision->bindInt64(1, id);
  auto found = revision->step();
  if (!found) return fail<Out>(std::move(found.error()));
  if (!*found) return Out();
  PolicyRecord policy;
  policy.revision.id = id;
  policy.revision.loadedAtNs = revision->columnInt64(0);
  policy.revision.configPath = revision->columnText(1);
  policy.revision.sourcesDigest = revision->columnText(2);

  auto profiles = db.prepare(
      "SELECT name, file, line, default_action, description, mode FROM policy_profile "
      "WHERE revision = ? ORDER BY position");
  if (!profiles) return fail<Out>(std::move(profiles.error()));
  profiles->bindInt64(1, id);
  for (;;) {
    auto row = profiles->step();
    if (!row) return fail<Out>(std::move(row.error()));
    if (!*row) break;
    ProfileRecord& p = policy.profiles.emplace_back();
    p.name = profiles->columnText(0);
    p.file = profiles->columnText(1);
    p.line = static_cast<int>(profiles->columnInt64(2));
    if (!profiles->columnIsNull(3)) p.defaultAction = actionOf(profiles->columnText(3));
    p.description = profiles->columnText(4);
    if (!profiles->columnIsNull(5)) p.mode = rules::parseMode(profiles->columnText(5));
  }

  // Global rules first, then each profile's in load order, each in rule order.
  auto rules = db.prepare(std::string("SELECT ") + std::string(kRuleColumns) +
                          "LEFT JOIN policy_profile AS p ON p.revision = r.revision "
                          "AND p.name = r.profile AND r.kind = 'profile' "
                          "WHERE r.revision = ? "
                          "ORDER BY r.kind = 'profile', p.position, r.profile, r.rule_index");
  if (!rules) return fail<Out>(std::move(rules.error()));
  rules->bindInt64(1, id);
  for (;;) {
    auto row = rules->step();
    if (!row) return fail<Out>(std::move(row.error()));
    if (!*row) break;
    policy.rules.push_back(readRule(*rules));
  }
  return policy;
}

base::Result<std::optional<RuleRecord>> findRule(Database& db, std::int64_t revision, RuleKind kind,
                                                 std::string_view profile, int index) {
  using Out = std::optional<RuleRecord>;
  auto stmt =
      db.prepare(std::string("SELECT ") + std::string(kRuleColumns) +
                 "WHERE r.revision = ? AND r.kind = ? AND r.profile = ? AND r.rule_index = ?");
  if (!stmt) return fail<Out>(std::move(stmt.error()));
  stmt->bindInt64(1, revision)
      .bindText(2, toString(kind))
      .bindText(3, kind == RuleKind::kGlobal ? std::string_view() : profile)
      .bindInt64(4, index);
  auto row = stmt->step();
  if (!row) return fail<Out>(std::move(row.error()));
  if (!*row) return Out();
  return readRule(*stmt);
}

base::Result<std::int64_t> pruneRevisions(Database& db) {
  // Revisions grow with time and retention deletes the oldest rows, so the oldest rows carry
  // the oldest revision still referenced. A sample rather than one row absorbs workers that
  // logged a little out of order around a reload.
  auto ok = db.exec(
      "DELETE FROM policy_revision "
      "WHERE id < (SELECT max(id) FROM policy_revision) "
      "AND id < coalesce((SELECT min(revision) FROM (SELECT revision FROM verdict_log "
      "WHERE revision > 0 ORDER BY time_ns LIMIT 1000)), 9223372036854775807)",
      "prune unused policy revisions");
  if (!ok) return fail<std::int64_t>(std::move(ok.error()));
  return db.changes();
}

}  // namespace warden::db
