#include "cli/rule_hits_view.h"

#include <map>
#include <string>
#include <utility>

#include "cli/config_files.h"
#include "cli/control_client.h"
#include "db/rule_hits_store.h"

namespace warden::cli {
namespace {

// A view from the files with every count at zero: what a database without counts says.
void zeroHits(PolicyView& view) {
  for (auto& rule : view.globalRules) rule.hits = rules::HitCount{};
  for (auto& profile : view.profiles) {
    profile.defaultHits = rules::HitCount{};
    for (auto& rule : profile.rules) rule.hits = rules::HitCount{};
  }
  view.hitsKnown = true;
}

}  // namespace

bool addLiveHits(PolicyView& view, const nlohmann::json& answer) {
  if (answer.value("revision", std::int64_t{-1}) != view.revision) return false;
  const auto list = answer.find("hits");
  if (list == answer.end() || !list->is_array()) return false;
  std::map<std::string, ProfileView*> profiles;
  for (auto& profile : view.profiles) profiles[profile.name] = &profile;
  for (const auto& entry : *list) {
    const std::string profileName = entry.value("profile", std::string());
    const int index = entry.value("rule", -1);
    const rules::HitCount count{entry.value("hits", std::uint64_t{0}),
                                entry.value("last_ns", std::int64_t{0})};
    std::vector<RuleView>* rules = &view.globalRules;
    if (!profileName.empty()) {
      const auto found = profiles.find(profileName);
      if (found == profiles.end()) continue;
      if (index < 0) {
        found->second->defaultHits = count;
        continue;
      }
      rules = &found->second->rules;
    }
    for (auto& rule : *rules) {
      if (rule.index == index) rule.hits = count;
    }
  }
  view.hitsKnown = true;
  return true;
}

void addStoredHits(PolicyView& view, db::Database& db) {
  zeroHits(view);
  auto stored = db::loadRuleHits(db);
  if (!stored) {
    view.hitsKnown = false;
    view.notes.push_back("hit counts not shown: " + stored.error().message());
    return;
  }
  std::map<std::pair<std::string, std::string>, rules::HitCount> counts;
  for (const auto& row : *stored) {
    counts[{row.profile, row.rule}] =
        rules::HitCount{static_cast<std::uint64_t>(row.hits), row.lastNs};
  }
  const auto lookup = [&counts](const std::string& profile, const std::string& key) {
    const auto found = counts.find({profile, key});
    return found == counts.end() ? rules::HitCount{} : found->second;
  };
  for (auto& rule : view.globalRules) rule.hits = lookup("", rule.hitKey);
  for (auto& profile : view.profiles) {
    profile.defaultHits = lookup(profile.name, profile.defaultHitKey);
    for (auto& rule : profile.rules) rule.hits = lookup(profile.name, rule.hitKey);
  }
}

void addHits(PolicyView& view, const rules::Config& config) {
  if (view.source == PolicyView::Source::kRevision) {
    auto answer = askDaemon(config.controlSocket, "hits");
    if (!answer) {
      view.notes.push_back("hit counts not shown: " + answer.error().message);
    } else if (!addLiveHits(view, *answer)) {
      view.notes.push_back("hit counts not shown: wardend loaded another policy meanwhile");
    }
    return;
  }
  // wardend is not running: the counts it stored last (every 30 s, at reload and at stop).
  auto db = openLogDatabase(config);
  if (!db) {
    if (db.error().code == ExitCode::kNoDatabase) {
      zeroHits(view);  // no wardend ever ran with it: nothing was decided
    } else {
      view.notes.push_back("hit counts not shown: " + db.error().message);
    }
    return;
  }
  addStoredHits(view, *db);
  if (view.hitsKnown) {
    view.notes.push_back("hit counts as wardend last stored them in " + config.logDb.string());
  }
}

}  // namespace warden::cli
