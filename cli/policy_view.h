#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "db/policy_store.h"
#include "rules/policy.h"
#include "rules/rule_hits.h"

namespace warden::cli {

// The policy as `warden profiles` and `warden rules` show it, from either of its two
// sources: a revision stored by wardend (what runs) or the policy files (what would run).
// Plain data.

struct RuleView {
  int index = 0;  // 0-based among the global rules or the profile's rules
  std::string file;
  int line = 0;
  std::string text;                     // rules/rule_text.h: "deny out tcp ports=7001"
  std::string hitKey;                   // rules::HitKey's rule part; known from the files only
  std::optional<rules::HitCount> hits;  // absent: not known (see PolicyView::hitsNote)
};

struct ProfileView {
  std::string name;
  std::string description;
  std::optional<rules::Action> defaultAction;  // absent: the engine default
  std::string file;
  int line = 0;
  std::vector<RuleView> rules;
  // One line per [[match]]; absent when the stored revision is all there is (revisions do
  // not keep [[match]] tables) and the files changed since it was loaded.
  std::optional<std::vector<std::string>> matches;
  std::optional<rules::Mode> mode;             // absent: the engine's
  std::string defaultHitKey;                   // known from the files only
  std::optional<rules::HitCount> defaultHits;  // the flows the fallback decided
};

struct PolicyView {
  enum class Source : std::uint8_t { kRevision, kFiles };
  Source source = Source::kFiles;
  std::int64_t revision = 0;  // with kRevision
  std::int64_t loadedAtNs = 0;
  std::string configPath;
  std::optional<rules::Action> engineDefault;  // known from the files only
  std::optional<rules::Action> engineUnknown;  // known from the files only
  std::optional<rules::Mode> engineMode;       // known from the files only
  bool hitsKnown = false;                      // RuleView::hits filled (see rule_hits_view.h)
  std::vector<RuleView> globalRules;
  std::vector<ProfileView> profiles;
  std::vector<std::string> notes;  // why this source, what is missing; for stderr

  const ProfileView* findProfile(std::string_view name) const;
};

PolicyView viewOfRevision(const db::PolicyRecord& record);
PolicyView viewOfFiles(const rules::Policy& policy);
// What only the files know: each profile's [[match]] lines and the engine default.
void addFileDetails(PolicyView& view, const rules::Policy& policy);

// One line saying where the policy shown comes from, e.g.
// "policy revision 7 in force, loaded 2026-05-01 12:00:00 (3m 12s ago)".
std::string describeSource(const PolicyView& view, std::int64_t nowNs);

// JSON for scripts. `withRules`: every profile carries its rules (and the global rules are
// included); otherwise profiles carry their rule count.
nlohmann::json policyJson(const PolicyView& view, bool withRules);
nlohmann::json ruleJson(const RuleView& rule);
// How the view shows a profile's mode: "learn", "enforce", or "engine (learn)".
std::string modeText(const ProfileView& profile, const PolicyView& view);

}  // namespace warden::cli
