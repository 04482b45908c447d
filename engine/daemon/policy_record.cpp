#include "engine/daemon/policy_record.h"

#include <fstream>
#include <iterator>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "base/sha256.h"
#include "rules/rule_text.h"

namespace warden::engine {

base::Result<std::string> sourcesDigest(const rules::Policy& policy) {
  auto hash = base::Sha256::start();
  if (!hash) return std::unexpected(hash.error());
  std::vector<std::string> files = {policy.config.file.string()};
  std::set<std::string> seen;
  for (const auto& profile : policy.profiles) {
    if (seen.insert(profile.file).second) files.push_back(profile.file);
    for (const auto& rule : profile.rules) {  // drop-ins
      if (seen.insert(rule.where.file).second) files.push_back(rule.where.file);
    }
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    // The name with its NUL, which separates it from the text.
    if (auto named = hash->update(std::string_view(file.data(), file.size() + 1)); !named) {
      return std::unexpected(named.error());
    }
    if (auto read = hash->update(text); !read) return std::unexpected(read.error());
  }
  return hash->finishHex();
}

base::Result<db::PolicyRecord> toRecord(const rules::Policy& policy, std::int64_t loadedAtNs) {
  db::PolicyRecord record;
  record.revision.loadedAtNs = loadedAtNs;
  record.revision.configPath = policy.config.file.string();
  auto digest = sourcesDigest(policy);
  if (!digest) return std::unexpected(digest.error());
  record.revision.sourcesDigest = std::move(*digest);
  const auto& globals = policy.config.globalRules;
  for (std::size_t i = 0; i < globals.size(); ++i) {
    record.rules.push_back({db::RuleKind::kGlobal, "", static_cast<int>(i),
                            policy.config.file.string(), globals[i].where.line, globals[i].action,
                            rules::describe(globals[i])});
  }
  for (const auto& profile : policy.profiles) {
    record.profiles.push_back({profile.name, profile.file, profile.where.line,
                               profile.defaultAction, profile.description});
    for (std::size_t i = 0; i < profile.rules.size(); ++i) {
      const auto& rule = profile.rules[i];
      record.rules.push_back({db::RuleKind::kProfile, profile.name, static_cast<int>(i),
                              rule.where.file, rule.where.line, rule.action,
                              rules::describe(rule)});
    }
  }
  return record;
}

base::Result<std::int64_t> storeRecord(db::Database& db, const rules::Policy& policy,
                                       std::int64_t loadedAtNs) {
  auto record = toRecord(policy, loadedAtNs);
  if (!record) return std::unexpected(record.error());
  return db::storeRevision(db, *record);
}

}  // namespace warden::engine
