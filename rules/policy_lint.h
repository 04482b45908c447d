#pragma once

#include <cstddef>

#include "rules/diagnostic.h"
#include "rules/policy.h"
#include "rules/rule.h"

namespace warden::rules {

// What lintPolicy did, for tests that hold it to linear work: a policy of n rules must not
// cost n * n comparisons.
struct LintWork {
  std::size_t ruleComparisons = 0;   // `covers` asked
  std::size_t matchComparisons = 0;  // `mayOverlap` asked
};

// Warnings about a valid policy that probably does not do what its author meant:
// - a rule shadowed by an earlier rule of the same list that matches every flow it does;
// - a [[match]] with the same specificity as one of an earlier profile that may select
//   the same processes (the earlier profile wins, SPEC section 4).
// Overlap is judged by what can be proven disjoint: different exact paths, a path outside
// a glob, different hashes, users, uids, parents, exact env values, single-valued tags;
// two different cmdline regexes are taken as meant to be distinct.
Diagnostics lintPolicy(const Policy& policy, LintWork* work = nullptr);

// Whether `earlier` matches every flow `later` matches, so `later` can never decide.
bool covers(const Rule& earlier, const Rule& later);

// Whether some process might satisfy both matches (false only if provably not).
bool mayOverlap(const Match& a, const Match& b);

}  // namespace warden::rules
