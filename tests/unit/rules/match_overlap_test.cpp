#include "rules/match_overlap.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "rules/policy_lint.h"

namespace warden::rules {
namespace {

struct Added {
  Match match;
  std::size_t profile;
};

// The first earlier match of another profile that may overlap added[later], compared with
// every one: what the index must answer.
std::int64_t firstOverlapByEveryPair(const std::vector<Added>& added, std::size_t later) {
  for (std::size_t earlier = 0; earlier < later; ++earlier) {
    if (added[earlier].profile != added[later].profile &&
        mayOverlap(added[earlier].match, added[later].match)) {
      return static_cast<std::int64_t>(earlier);
    }
  }
  return -1;
}

template <typename T>
std::optional<T> maybe(std::mt19937& random, const std::vector<T>& values) {
  const std::size_t slot = random() % (values.size() + 1);
  if (slot == values.size()) return std::nullopt;
  return values[slot];
}

// Matches drawn from small sets of values, so that they overlap through every key.
std::vector<Added> randomMatches(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<std::string> paths, globs = {"/usr/bin/*", "/usr/*/t1", "*", "/o*", "/usr/bin/t1*"};
  std::vector<std::string> users, cmdlines;
  for (int i = 0; i < 10; ++i) {
    const std::string n = std::to_string(i);
    paths.push_back("/usr/bin/t" + n);
    paths.push_back("/opt/v" + n + "/bin/t" + n);
    globs.push_back("/opt/v" + n + "/*");
    globs.push_back("/opt/v" + n + "/bin/[ab]");
    users.push_back("user" + n);
    cmdlines.push_back("--" + n);
  }
  const std::vector<std::string> parents = {"/usr/bin/bash", "/usr/bin/zsh"};
  const std::vector<std::uint32_t> uids = {0, 1000};
  std::vector<Added> out;
  std::size_t profile = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Match match;
    if (random() % 2) match.path = maybe(random, paths);
    if (random() % 2) match.pathGlob = maybe(random, globs);
    match.user = users[random() % users.size()];
    if (random() % 4) match.cmdline = maybe(random, cmdlines);
    if (random() % 3 == 0) match.parentPath = maybe(random, parents);
    if (random() % 3 == 0) match.uid = maybe(random, uids);
    if (random() % 4 == 0) match.tags = {random() % 2 ? "snap:a" : "snap:b"};
    profile += random() % 3 == 0 ? 0 : 1;  // some profiles hold several matches
    out.push_back(Added{std::move(match), profile});
  }
  return out;
}

TEST(OverlapIndex, FindsTheFirstOverlapLikeComparingEveryPair) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const std::vector<Added> added = randomMatches(300, seed);
    OverlapIndex index;
    std::size_t overlapping = 0;
    for (std::size_t i = 0; i < added.size(); ++i) {
      const std::int64_t expected = firstOverlapByEveryPair(added, i);
      ASSERT_EQ(index.addAndFindOverlap(added[i].match, added[i].profile), expected)
          << "seed " << seed << ", match " << i;
      overlapping += expected >= 0 ? 1 : 0;
    }
    EXPECT_GT(overlapping, 20u);
    EXPECT_LT(overlapping, added.size() - 20);
  }
}

// `count` profiles of one match each, of the kinds a large policy holds: exact paths, globs,
// cmdline patterns and interpreters (path and cmdline), every hundredth repeating the
// match of the profile 50 before it (an overlap).
Policy manyProfiles(std::size_t count) {
  Policy policy;
  for (std::size_t i = 0; i < count; ++i) {
    Profile& profile = policy.profiles.emplace_back();
    profile.name = "p" + std::to_string(i);
    const std::size_t k = i % 100 == 99 ? i - 50 : i;
    const std::string n = std::to_string(k);
    Match match;
    switch (k % 4) {
      case 0:
        match.path = "/usr/bin/tool" + n;
        break;
      case 1:
        match.pathGlob = "/opt/vendor" + n + "/bin/*";
        break;
      case 2:
        match.cmdline = "--service=svc" + n + "( |$)";
        break;
      default:
        match.path = "/usr/bin/python3";
        match.cmdline = "/srv/app" + n + "\\.py";
        break;
    }
    profile.matches.push_back(std::move(match));
  }
  return policy;
}

// Linear, not quadratic: comparing every pair of same-specificity matches, as the lint once
// did, asks `mayOverlap` about n * n / 8 times here.
TEST(Lint, OverlapCheckWorkGrowsLinearly) {
  for (const std::size_t count : {2000u, 20000u}) {
    LintWork work;
    const Diagnostics warnings = lintPolicy(manyProfiles(count), &work);
    EXPECT_EQ(warnings.size(), count / 100) << count << " profiles";
    EXPECT_LE(work.matchComparisons, 2 * count) << count << " profiles";
  }
}

}  // namespace
}  // namespace warden::rules
