#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rules/decision.h"
#include "rules/policy.h"

namespace warden::rules {

// What one rule or profile default has decided: how many flows, and when the last one was.
struct HitCount {
  std::uint64_t hits = 0;
  std::int64_t lastNs = 0;  // ns since the epoch; 0 = never
};

// Who a counter belongs to across reloads and restarts: the profile's name ("" for the global
// rules) and the rule's decision-relevant content (rules/rule_text.h without `log`, with
// "#2", "#3"... for repeats of the same rule in one list), or "default=<action>" for the
// verdict a profile falls back to. Not the line: a rule moved in its file keeps its count, a
// rule whose content changed starts from zero.
struct HitKey {
  std::string profile;
  std::string rule;
  bool operator==(const HitKey&) const = default;
};

// The keys of a list of rules, in order (see HitKey).
std::vector<std::string> hitKeysOf(const std::vector<Rule>& rules);
// The key of the line for what a profile falls back to (its default, or the engine's).
std::string defaultHitKey(Action action);

// The hit counters of one compiled policy: one per global rule, per profile rule and per
// profile default. record() is what the packet path calls: two relaxed atomic operations, no
// lock, no allocation; it may run on any thread. A counter is shared (not copied) with the
// policy before it when its key is the same, so a reload loses no count even while a worker
// still decides under the old policy. Built once, then immutable but for the counts.
class RuleHits {
 public:
  struct Entry {
    HitKey key;
    std::int32_t profile = -1;  // -1: a global rule
    std::int32_t rule = -1;     // index among the global or the profile's rules; -1: default
    HitCount count;
  };

  RuleHits() = default;
  // `previous`: the hits of the policy this one replaces, whose counters are taken over.
  RuleHits(const Policy& policy, const RuleHits* previous);

  // Counts `decision` if a rule or a profile's fallback made it; engine verdicts for flows
  // without a profile are not counted.
  void record(const Decision& decision, std::int64_t nowNs) const;

  // The number of the counter record() counts `decision` on; nullopt when it counts none. For
  // flows decided elsewhere on the policy's behalf (kernel-held verdicts), credited with add().
  std::optional<std::uint32_t> counterOf(const Decision& decision) const;
  // Adds `hits` flows to counter `counter` (of counterOf), the last of them at `lastNs`.
  void add(std::uint32_t counter, std::uint64_t hits, std::int64_t lastNs) const;

  // Every counter with its key, in policy order (global rules, then each profile's rules and
  // its default).
  std::vector<Entry> entries() const;
  // Adds stored counts (from the database, at start) to the counters with the same key;
  // others are ignored. Control thread, before the policy decides its first flow.
  void add(const std::vector<std::pair<HitKey, HitCount>>& stored) const;

  std::size_t size() const { return counters_.size(); }

 private:
  struct Counter {
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::int64_t> lastNs{0};
  };
  std::size_t slotOf(const Decision& decision) const;

  std::vector<std::shared_ptr<Counter>> counters_;
  std::vector<Entry> layout_;                  // key and position of each counter (no counts)
  std::vector<std::uint32_t> profileOffsets_;  // first counter of each profile; default last
};

}  // namespace warden::rules
