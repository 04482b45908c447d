#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "rules/rule.h"

namespace warden::rules {

// `ranges` sorted, with overlapping and adjacent ranges joined.
std::vector<PortRange> mergedPortRanges(std::vector<PortRange> ranges);

// Finds, for each rule of an ordered list, the first earlier rule that matches every flow it
// matches (`covers`), without comparing every pair: the lint of a 20,000-rule profile must
// stay linear. Earlier rules are grouped by direction, proto, scope and which of host, ip and
// ports they name, and indexed by host pattern, address block and port block, so a rule is
// compared only with earlier rules that may cover it and cover it in one of those keys.
// The answer is the same as comparing with every earlier rule in order. The rules added must
// outlive the index. Not thread-safe.
class ShadowIndex {
 public:
  // Index of the first rule before `rule` that covers it, or -1; then adds `rule` to the
  // index as the next rule of the list.
  std::int64_t addAndFindCover(const Rule& rule);

  // How many times `covers` was asked so far: the work the index saves, seen by tests.
  std::size_t comparisons() const { return comparisons_; }

 private:
  using Bucket = std::vector<std::int64_t>;  // rule indices, ascending
  // The rules of one direction, proto and scope that name the same keys (host, ip, ports):
  // a rule can only be covered by rules that name no key it does not name itself.
  struct Subgroup {
    Bucket all;
    std::bitset<129> prefixes;  // of the address blocks its rules hold
  };

  // The buckets in which every rule of `subgroup` that covers `rule` in one key is found.
  using Candidates = std::vector<const Bucket*>;
  void hostCandidates(int subgroup, const Rule& rule, Candidates& out) const;
  void ipCandidates(int subgroup, const Rule& rule, Candidates& out) const;
  void portCandidates(int subgroup, const Rule& rule, Candidates& out) const;
  void insert(int subgroup, const Rule& rule, std::int64_t index);

  std::vector<const Rule*> rules_;
  std::vector<Subgroup> subgroups_ = std::vector<Subgroup>(256);
  std::unordered_map<std::string, Bucket> byHost_;        // subgroup + host pattern
  std::unordered_map<std::string, Bucket> byBlock_;       // subgroup + prefix + masked address
  std::unordered_map<std::uint64_t, Bucket> byPortNode_;  // subgroup + segment-tree node
  std::size_t comparisons_ = 0;
};

}  // namespace warden::rules
