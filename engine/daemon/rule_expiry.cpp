#include "engine/daemon/rule_expiry.h"

#include <set>

#include "base/atomic_file.h"
#include "base/file_lock.h"
#include "base/logging.h"
#include "rules/policy_file.h"
#include "rules/profile_codec.h"
#include "rules/rule_file_text.h"

namespace warden::engine {
namespace {

constexpr mode_t kPolicyFileMode = 0644;

void removeFromFile(const std::string& file, std::chrono::sys_seconds now) {
  auto text = rules::readPolicyFile(file);
  if (!text) {
    base::logWarning("removing expired rules: ", text.error().format());
    return;
  }
  if (!rules::isManagedText(*text)) return;  // no longer warden's: a person took it over
  auto parsed = rules::parseProfileFile(*text, file);
  if (!parsed) {
    base::logWarning("removing expired rules: ", parsed.error().front().format());
    return;
  }
  std::vector<int> lines;
  const auto collect = [&](const std::vector<rules::Rule>& rules) {
    for (const auto& rule : rules) {
      if (rule.expires && *rule.expires <= now) lines.push_back(rule.where.line);
    }
  };
  if (parsed->dropIn) collect(parsed->dropIn->rules);
  for (const auto& profile : parsed->profiles) collect(profile.rules);
  if (lines.empty()) return;
  auto edited = rules::removeRuleTables(*text, file, lines);
  if (!edited) {
    base::logWarning("removing expired rules: ", edited.error().front().format());
    return;
  }
  if (auto written = base::replaceFile(file, *edited, kPolicyFileMode); !written) {
    base::logWarning("removing expired rules: ", written.error().message());
    return;
  }
  base::logInfo("removed ", lines.size(), " expired rule", lines.size() == 1 ? "" : "s", " from ",
                file);
}

}  // namespace

void removeExpiredRules(const std::filesystem::path& profilesDir,
                        const std::vector<rules::Policy::ExpiredRule>& expired,
                        std::chrono::sys_seconds now) {
  std::set<std::string> files;
  for (const auto& rule : expired) {
    if (rule.managed) files.insert(rule.where.file);
  }
  if (files.empty()) return;
  auto lock = base::lockFile(profilesDir / rules::kEditLockName);
  if (!lock) {
    base::logWarning("removing expired rules: ", lock.error().message());
    return;
  }
  for (const auto& file : files) removeFromFile(file, now);
}

bool pruneExpired(rules::Policy& policy, std::chrono::sys_seconds now) {
  bool pruned = false;
  const auto prune = [&](std::vector<rules::Rule>& rules) {
    pruned |= std::erase_if(rules, [&](const rules::Rule& rule) {
                return rule.expires && *rule.expires <= now;
              }) > 0;
  };
  prune(policy.config.globalRules);
  for (auto& profile : policy.profiles) prune(profile.rules);
  policy.nextExpiry.reset();
  const auto next = [&](const std::vector<rules::Rule>& rules) {
    for (const auto& rule : rules) {
      if (rule.expires && (!policy.nextExpiry || *rule.expires < *policy.nextExpiry)) {
        policy.nextExpiry = rule.expires;
      }
    }
  };
  next(policy.config.globalRules);
  for (const auto& profile : policy.profiles) next(profile.rules);
  return pruned;
}

}  // namespace warden::engine
