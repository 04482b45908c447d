#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "rules/profile.h"

namespace warden::rules {

// Finds, for each [[match]] of one specificity in load order, the first match of an earlier
// profile that may select the same processes (`mayOverlap`), without comparing every pair:
// 20,000 profiles must lint in linear time. Earlier matches are indexed by the keys that can
// prove two matches disjoint (exact path, path glob's literal prefix, user, cmdline, parent
// path, uid); a match is compared only with the earlier ones its fewest-candidates key allows.
// A match naming none of those keys (only env, tags, sha256 or ancestor_path) is compared
// with every earlier one. The matches added must outlive the index. Not thread-safe.
class OverlapIndex {
 public:
  // Position (in the order of adding) of the first match added before `match`, from a
  // profile other than `profile`, that may overlap it, or -1; then adds `match`.
  std::int64_t addAndFindOverlap(const Match& match, std::size_t profile);

  // How many times `mayOverlap` was asked so far.
  std::size_t comparisons() const { return comparisons_; }

 private:
  using Bucket = std::vector<std::int64_t>;  // positions, ascending
  using Candidates = std::vector<const Bucket*>;
  struct Entry {
    const Match* match;
    std::size_t profile;
  };

  void pathCandidates(const Match& match, Candidates& out) const;
  void globCandidates(std::string_view literal, Candidates& out) const;
  void add(const Match& match, std::int64_t position);
  const Bucket* find(const std::unordered_map<std::string, Bucket>& map,
                     const std::string& key) const;

  std::vector<Entry> entries_;
  Bucket all_;
  Bucket pathless_;                                        // neither path nor a valid glob
  std::unordered_map<std::string, Bucket> byPath_;         // exact path
  std::unordered_map<std::string, Bucket> pathsUnder_;     // path, by each directory prefix
  std::unordered_map<std::string, Bucket> globByLiteral_;  // glob without path, by literal prefix
  std::unordered_map<std::string, Bucket> globsUnder_;     // the same, by each directory prefix
  std::unordered_map<std::string, Bucket> byValue_;        // key letter + user/cmdline/...
  Bucket lacking_[4];                                      // without user, cmdline, parent, uid
  std::size_t comparisons_ = 0;
};

}  // namespace warden::rules
