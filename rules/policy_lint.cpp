#include "rules/policy_lint.h"

#include <algorithm>
#include <map>
#include <string>

#include "rules/glob.h"
#include "rules/match_overlap.h"
#include "rules/rule_shadow.h"

namespace warden::rules {
namespace {

std::string formatLocation(const SourceLocation& where) {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
}

bool portsCover(const std::vector<PortRange>& earlier, const std::vector<PortRange>& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  const auto blocks = mergedPortRanges(earlier);
  return std::ranges::all_of(later, [&](const PortRange& range) {
    return std::ranges::any_of(blocks, [&](const PortRange& block) {
      return block.first <= range.first && range.last <= block.last;
    });
  });
}

bool cidrCovers(const Cidr& outer, const Cidr& inner) {
  return outer.prefix <= inner.prefix && outer.contains(inner.base);
}

bool ipCovers(const std::vector<Cidr>& earlier, const std::vector<Cidr>& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  return std::ranges::all_of(later, [&](const Cidr& inner) {
    return std::ranges::any_of(earlier,
                               [&](const Cidr& outer) { return cidrCovers(outer, inner); });
  });
}

bool hostCovers(std::string_view earlier, std::string_view later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  if (!earlier.starts_with("*.")) return earlier == later;
  const std::string_view domain = earlier.substr(2);
  if (later.starts_with("*.")) later.remove_prefix(2);
  return later == domain || (later.size() > domain.size() && later.ends_with(domain) &&
                             later[later.size() - domain.size() - 1] == '.');
}

bool differ(const std::optional<std::string>& a, const std::optional<std::string>& b) {
  return a && b && *a != *b;
}

bool outsideGlob(const std::optional<std::string>& path, const std::optional<std::string>& glob) {
  if (!path || !glob) return false;
  const auto compiled = Glob::compile(*glob);
  return compiled && !compiled->matches(*path);
}

bool globsDisjoint(const std::string& a, const std::string& b) {
  const auto first = Glob::compile(a);
  const auto second = Glob::compile(b);
  if (!first || !second) return false;
  const std::string_view x = first->literalPrefix();
  const std::string_view y = second->literalPrefix();
  return !x.starts_with(y) && !y.starts_with(x);
}

bool envConflicts(const std::vector<EnvRequirement>& a, const std::vector<EnvRequirement>& b) {
  return std::ranges::any_of(a, [&](const EnvRequirement& x) {
    return std::ranges::any_of(b, [&](const EnvRequirement& y) {
      return x.name == y.name && x.value && y.value && *x.value != *y.value;
    });
  });
}

// Every tag kind names one thing per process (one flatpak app, one systemd unit, ...).
bool tagsConflict(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const auto kind = [](std::string_view tag) { return tag.substr(0, tag.find(':')); };
  return std::ranges::any_of(a, [&](const std::string& x) {
    return std::ranges::any_of(b,
                               [&](const std::string& y) { return kind(x) == kind(y) && x != y; });
  });
}

bool hashesDisjoint(const std::vector<Sha256>& a, const std::vector<Sha256>& b) {
  if (a.empty() || b.empty()) return false;
  return std::ranges::none_of(a,
                              [&](const Sha256& x) { return std::ranges::find(b, x) != b.end(); });
}

void lintRules(const std::vector<Rule>& rules, Diagnostics& out, LintWork& work) {
  ShadowIndex index;
  for (const Rule& rule : rules) {
    const std::int64_t earlier = index.addAndFindCover(rule);
    if (earlier >= 0) {
      out.push_back(Diagnostic{Severity::kWarning, rule.where,
                               "rule can never match: the rule at " +
                                   formatLocation(rules[earlier].where) +
                                   " matches every flow it matches"});
    }
  }
  work.ruleComparisons += index.comparisons();
}

struct MatchRef {
  const Profile* profile;
  const Match* match;
  std::size_t order;  // profile load order
};

void warnOverlap(const MatchRef& later, const MatchRef& earlier, int score, Diagnostics& out) {
  out.push_back(Diagnostic{Severity::kWarning, later.match->where,
                           "[[match]] of profile '" + later.profile->name +
                               "' may select the same processes as the " + "one of profile '" +
                               earlier.profile->name + "' at " +
                               formatLocation(earlier.match->where) +
                               " with the same specificity (" + std::to_string(score) + "); '" +
                               earlier.profile->name + "' wins because it is loaded first"});
}

// Within one specificity, in load order: the first match of an earlier profile that may
// select the same processes.
void lintOverlaps(int score, const std::vector<MatchRef>& group, Diagnostics& out, LintWork& work) {
  OverlapIndex index;
  for (const MatchRef& ref : group) {
    const std::int64_t earlier = index.addAndFindOverlap(*ref.match, ref.order);
    if (earlier >= 0) warnOverlap(ref, group[earlier], score, out);
  }
  work.matchComparisons += index.comparisons();
}

}  // namespace

bool covers(const Rule& earlier, const Rule& later) {
  return earlier.direction == later.direction &&
         (earlier.proto == Proto::kAny || earlier.proto == later.proto) &&
         portsCover(earlier.ports, later.ports) && ipCovers(earlier.ip, later.ip) &&
         (!earlier.scope || earlier.scope == later.scope) && hostCovers(earlier.host, later.host);
}

bool mayOverlap(const Match& a, const Match& b) {
  if (differ(a.path, b.path) || differ(a.user, b.user) || differ(a.cmdline, b.cmdline) ||
      differ(a.parentPath, b.parentPath)) {
    return false;
  }
  if (a.uid && b.uid && *a.uid != *b.uid) return false;
  if (outsideGlob(a.path, b.pathGlob) || outsideGlob(b.path, a.pathGlob)) return false;
  if (a.pathGlob && b.pathGlob && globsDisjoint(*a.pathGlob, *b.pathGlob)) return false;
  if (hashesDisjoint(a.sha256, b.sha256)) return false;
  if (envConflicts(a.env, b.env) || tagsConflict(a.tags, b.tags)) return false;
  return true;
}

Diagnostics lintPolicy(const Policy& policy, LintWork* work) {
  LintWork counted;
  Diagnostics out;
  lintRules(policy.config.globalRules, out, counted);
  std::map<int, std::vector<MatchRef>> byScore;
  for (std::size_t i = 0; i < policy.profiles.size(); ++i) {
    const Profile& profile = policy.profiles[i];
    lintRules(profile.rules, out, counted);
    for (const Match& match : profile.matches) {
      byScore[match.specificity()].push_back(MatchRef{&profile, &match, i});
    }
  }
  for (const auto& [score, group] : byScore) lintOverlaps(score, group, out, counted);
  if (work) *work = counted;
  return out;
}

}  // namespace warden::rules
