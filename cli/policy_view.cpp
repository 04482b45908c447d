#include "cli/policy_view.h"

#include <algorithm>

#include "cli/match_text.h"
#include "cli/time_text.h"
#include "rules/rule_text.h"

namespace warden::cli {
namespace {

using nlohmann::json;

json actionJson(const std::optional<rules::Action>& action) {
  return action ? json(rules::toString(*action)) : json();
}

}  // namespace

const ProfileView* PolicyView::findProfile(std::string_view name) const {
  for (const auto& profile : profiles) {
    if (profile.name == name) return &profile;
  }
  return nullptr;
}

PolicyView viewOfRevision(const db::PolicyRecord& record) {
  PolicyView view;
  view.source = PolicyView::Source::kRevision;
  view.revision = record.revision.id;
  view.loadedAtNs = record.revision.loadedAtNs;
  view.configPath = record.revision.configPath;
  for (const auto& p : record.profiles) {
    view.profiles.push_back(
        {p.name, p.description, p.defaultAction, p.file, p.line, {}, {}, p.mode, {}, {}});
  }
  // Rules are stored in order of kind, profile and index; profiles in load order.
  for (const auto& r : record.rules) {
    RuleView rule{r.index, r.file, r.line, r.summary, {}, {}};
    if (r.kind == db::RuleKind::kGlobal) {
      view.globalRules.push_back(std::move(rule));
    } else {
      // Profile names are unique within a revision.
      const auto profile = std::ranges::find(view.profiles, r.profile, &ProfileView::name);
      if (profile != view.profiles.end()) profile->rules.push_back(std::move(rule));
    }
  }
  const auto byIndex = [](const RuleView& a, const RuleView& b) { return a.index < b.index; };
  std::ranges::sort(view.globalRules, byIndex);
  for (auto& profile : view.profiles) std::ranges::sort(profile.rules, byIndex);
  return view;
}

PolicyView viewOfFiles(const rules::Policy& policy) {
  PolicyView view;
  view.source = PolicyView::Source::kFiles;
  view.configPath = policy.config.file.string();
  const auto& globals = policy.config.globalRules;
  const auto globalKeys = rules::hitKeysOf(globals);
  for (std::size_t i = 0; i < globals.size(); ++i) {
    view.globalRules.push_back({static_cast<int>(i),
                                view.configPath,
                                globals[i].where.line,
                                rules::describe(globals[i]),
                                globalKeys[i],
                                {}});
  }
  for (const auto& p : policy.profiles) {
    ProfileView profile{p.name,
                        p.description,
                        p.defaultAction,
                        p.file,
                        p.where.line,
                        {},
                        {},
                        p.mode,
                        rules::defaultHitKey(p.defaultAction.value_or(policy.config.defaultAction)),
                        {}};
    const auto keys = rules::hitKeysOf(p.rules);
    for (std::size_t i = 0; i < p.rules.size(); ++i) {
      profile.rules.push_back({static_cast<int>(i),
                               p.rules[i].where.file,
                               p.rules[i].where.line,
                               rules::describe(p.rules[i]),
                               keys[i],
                               {}});
    }
    view.profiles.push_back(std::move(profile));
  }
  addFileDetails(view, policy);
  return view;
}

void addFileDetails(PolicyView& view, const rules::Policy& policy) {
  view.engineDefault = policy.config.defaultAction;
  view.engineUnknown = policy.config.unknownAction;
  view.engineMode = policy.config.mode;
  for (const auto& p : policy.profiles) {
    for (auto& profile : view.profiles) {
      if (profile.name != p.name) continue;
      std::vector<std::string> matches;
      matches.reserve(p.matches.size());
      for (const auto& match : p.matches) matches.push_back(describeMatch(match));
      profile.matches = std::move(matches);
    }
  }
}

std::string describeSource(const PolicyView& view, std::int64_t nowNs) {
  if (view.source == PolicyView::Source::kFiles) {
    return "policy files of " + view.configPath + " (not a running policy)";
  }
  return "policy revision " + std::to_string(view.revision) + " in force, loaded " +
         localTime(view.loadedAtNs) + " (" + formatAge(nowNs - view.loadedAtNs) + " ago)";
}

std::string modeText(const ProfileView& profile, const PolicyView& view) {
  if (profile.mode) return std::string(rules::toString(*profile.mode));
  if (view.engineMode) return "engine (" + std::string(rules::toString(*view.engineMode)) + ")";
  return "engine";
}

namespace {

void addHitsJson(json& out, const std::optional<rules::HitCount>& hits, std::string_view prefix) {
  out[std::string(prefix) + "hits"] = hits ? json(hits->hits) : json();
  out[std::string(prefix) + "last_ns"] = hits && hits->lastNs > 0 ? json(hits->lastNs) : json();
}

}  // namespace

json ruleJson(const RuleView& rule) {
  json out = {{"index", rule.index}, {"file", rule.file}, {"line", rule.line}, {"rule", rule.text}};
  addHitsJson(out, rule.hits, "");
  return out;
}

json policyJson(const PolicyView& view, bool withRules) {
  const bool fromRevision = view.source == PolicyView::Source::kRevision;
  json out = {{"source", fromRevision ? "revision" : "files"},
              {"revision", fromRevision ? json(view.revision) : json()},
              {"loaded_at_ns", fromRevision ? json(view.loadedAtNs) : json()},
              {"config", view.configPath},
              {"engine_default", actionJson(view.engineDefault)},
              {"engine_mode", view.engineMode ? json(rules::toString(*view.engineMode)) : json()}};
  if (withRules) {
    json globals = json::array();
    for (const auto& rule : view.globalRules) globals.push_back(ruleJson(rule));
    out["global_rules"] = std::move(globals);
  }
  json profiles = json::array();
  for (const auto& p : view.profiles) {
    json profile = {{"name", p.name},
                    {"description", p.description},
                    {"default", actionJson(p.defaultAction)},
                    {"file", p.file},
                    {"line", p.line},
                    {"matches", p.matches ? json(*p.matches) : json()},
                    {"mode", p.mode ? json(rules::toString(*p.mode)) : json()}};
    if (withRules) {
      json rules = json::array();
      for (const auto& rule : p.rules) rules.push_back(ruleJson(rule));
      profile["rules"] = std::move(rules);
      addHitsJson(profile, p.defaultHits, "default_");
    } else {
      profile["rule_count"] = p.rules.size();
    }
    profiles.push_back(std::move(profile));
  }
  out["profiles"] = std::move(profiles);
  return out;
}

}  // namespace warden::cli
