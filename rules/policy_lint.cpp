#include "rules/policy_lint.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "rules/glob.h"

namespace warden::rules {
namespace {

std::string formatLocation(const SourceLocation& where) {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
}

std::vector<PortRange> merged(std::vector<PortRange> ranges) {
  std::ranges::sort(ranges, {}, &PortRange::first);
  std::vector<PortRange> out;
  for (const auto& range : ranges) {
    if (!out.empty() && range.first <= out.back().last + 1) {
      out.back().last = std::max(out.back().last, range.last);
    } else {
      out.push_back(range);
    }
  }
  return out;
}

bool portsCover(const std::vector<PortRange>& earlier, const std::vector<PortRange>& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  const auto blocks = merged(earlier);
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

void lintRules(const std::vector<Rule>& rules, Diagnostics& out) {
  for (std::size_t later = 1; later < rules.size(); ++later) {
    for (std::size_t earlier = 0; earlier < later; ++earlier) {
      if (covers(rules[earlier], rules[later])) {
        out.push_back(Diagnostic{Severity::kWarning, rules[later].where,
                                 "rule can never match: the rule at " +
                                     formatLocation(rules[earlier].where) +
                                     " matches every flow it matches"});
        break;
      }
    }
  }
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

// Within one specificity: matches with an exact path can only meet others with the same
// path or without one, which keeps this near-linear for the usual path-per-profile policy.
void lintOverlaps(int score, const std::vector<MatchRef>& group, Diagnostics& out) {
  std::unordered_map<std::string_view, std::vector<const MatchRef*>> byPath;
  std::vector<const MatchRef*> withoutPath;
  for (const MatchRef& ref : group) {
    const auto* earlierOnes = ref.match->path ? &byPath[*ref.match->path] : nullptr;
    const MatchRef* conflict = nullptr;
    const auto consider = [&](const std::vector<const MatchRef*>& candidates) {
      for (const MatchRef* other : candidates) {
        if (other->order == ref.order) continue;
        if (conflict && conflict->order <= other->order) break;
        if (mayOverlap(*other->match, *ref.match)) {
          conflict = other;
          break;
        }
      }
    };
    if (earlierOnes) consider(*earlierOnes);
    consider(withoutPath);
    if (!ref.match->path) {
      for (const auto& [path, refs] : byPath) consider(refs);
    }
    if (conflict) warnOverlap(ref, *conflict, score, out);
    if (earlierOnes) {
      byPath[*ref.match->path].push_back(&ref);
    } else {
      withoutPath.push_back(&ref);
    }
  }
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

Diagnostics lintPolicy(const Policy& policy) {
  Diagnostics out;
  lintRules(policy.config.globalRules, out);
  std::map<int, std::vector<MatchRef>> byScore;
  for (std::size_t i = 0; i < policy.profiles.size(); ++i) {
    const Profile& profile = policy.profiles[i];
    lintRules(profile.rules, out);
    for (const Match& match : profile.matches) {
      byScore[match.specificity()].push_back(MatchRef{&profile, &match, i});
    }
  }
  for (const auto& [score, group] : byScore) lintOverlaps(score, group, out);
  return out;
}

}  // namespace warden::rules
