#include "rules/rule_hits.h"

#include <string_view>
#include <unordered_map>

#include "rules/rule_text.h"

namespace warden::rules {
namespace {

constexpr std::size_t kNoSlot = static_cast<std::size_t>(-1);

struct HitKeyHash {
  std::size_t operator()(const HitKey& key) const {
    const std::size_t a = std::hash<std::string>{}(key.profile);
    return a ^ (std::hash<std::string>{}(key.rule) + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  }
};

}  // namespace

std::vector<std::string> hitKeysOf(const std::vector<Rule>& rules) {
  std::vector<std::string> keys;
  keys.reserve(rules.size());
  std::unordered_map<std::string, int> seen;
  for (const Rule& rule : rules) {
    // `log` says what is recorded, not what is decided: switching it keeps the count.
    Rule content = rule;
    content.log = true;
    std::string key = describe(content);
    const int n = ++seen[key];
    if (n > 1) key += " #" + std::to_string(n);
    keys.push_back(std::move(key));
  }
  return keys;
}

std::string defaultHitKey(Action action) { return "default=" + std::string(toString(action)); }

RuleHits::RuleHits(const Policy& policy, const RuleHits* previous) {
  std::unordered_map<HitKey, std::shared_ptr<Counter>, HitKeyHash> before;
  if (previous != nullptr) {
    before.reserve(previous->layout_.size());
    for (std::size_t i = 0; i < previous->layout_.size(); ++i) {
      before.emplace(previous->layout_[i].key, previous->counters_[i]);
    }
  }
  const auto add = [&](HitKey key, std::int32_t profile, std::int32_t rule) {
    std::shared_ptr<Counter> counter;
    if (auto found = before.find(key); found != before.end()) {
      counter = std::move(found->second);
      before.erase(found);  // a key is unique within a policy; never share one counter twice
    } else {
      counter = std::make_shared<Counter>();
    }
    counters_.push_back(std::move(counter));
    layout_.push_back(Entry{std::move(key), profile, rule, {}});
  };
  const auto globalKeys = hitKeysOf(policy.config.globalRules);
  for (std::size_t i = 0; i < globalKeys.size(); ++i) {
    add(HitKey{"", globalKeys[i]}, -1, static_cast<std::int32_t>(i));
  }
  profileOffsets_.reserve(policy.profiles.size());
  for (std::size_t p = 0; p < policy.profiles.size(); ++p) {
    const Profile& profile = policy.profiles[p];
    profileOffsets_.push_back(static_cast<std::uint32_t>(counters_.size()));
    const auto keys = hitKeysOf(profile.rules);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      add(HitKey{profile.name, keys[i]}, static_cast<std::int32_t>(p),
          static_cast<std::int32_t>(i));
    }
    add(HitKey{profile.name,
               defaultHitKey(profile.defaultAction.value_or(policy.config.defaultAction))},
        static_cast<std::int32_t>(p), -1);
  }
}

std::size_t RuleHits::slotOf(const Decision& decision) const {
  switch (decision.by) {
    case DecidedBy::kGlobalRule:
      return static_cast<std::size_t>(decision.ruleIndex);
    case DecidedBy::kProfileRule:
      return profileOffsets_[decision.profileIndex] + static_cast<std::size_t>(decision.ruleIndex);
    case DecidedBy::kProfileDefault:
    case DecidedBy::kEngineDefault: {
      if (decision.profileIndex < 0) return kNoSlot;  // no profile: the engine's own verdict
      const auto next = static_cast<std::size_t>(decision.profileIndex) + 1;
      return (next < profileOffsets_.size() ? profileOffsets_[next] : counters_.size()) - 1;
    }
    case DecidedBy::kUnknown:
    case DecidedBy::kKernel:
    case DecidedBy::kPrompt:  // a person's answer, not a rule of the files
      break;
  }
  return kNoSlot;
}

void RuleHits::record(const Decision& decision, std::int64_t nowNs) const {
  const std::size_t slot = slotOf(decision);
  if (slot >= counters_.size()) return;
  Counter& counter = *counters_[slot];
  counter.hits.fetch_add(1, std::memory_order_relaxed);
  counter.lastNs.store(nowNs, std::memory_order_relaxed);
}

std::optional<std::uint32_t> RuleHits::counterOf(const Decision& decision) const {
  const std::size_t slot = slotOf(decision);
  if (slot >= counters_.size()) return std::nullopt;
  return static_cast<std::uint32_t>(slot);
}

void RuleHits::add(std::uint32_t counter, std::uint64_t hits, std::int64_t lastNs) const {
  if (counter >= counters_.size()) return;
  Counter& c = *counters_[counter];
  c.hits.fetch_add(hits, std::memory_order_relaxed);
  if (lastNs > c.lastNs.load(std::memory_order_relaxed)) {
    c.lastNs.store(lastNs, std::memory_order_relaxed);
  }
}

std::vector<RuleHits::Entry> RuleHits::entries() const {
  std::vector<Entry> all = layout_;
  for (std::size_t i = 0; i < all.size(); ++i) {
    all[i].count.hits = counters_[i]->hits.load(std::memory_order_relaxed);
    all[i].count.lastNs = counters_[i]->lastNs.load(std::memory_order_relaxed);
  }
  return all;
}

void RuleHits::add(const std::vector<std::pair<HitKey, HitCount>>& stored) const {
  std::unordered_map<HitKey, std::size_t, HitKeyHash> slots;
  slots.reserve(layout_.size());
  for (std::size_t i = 0; i < layout_.size(); ++i) slots.emplace(layout_[i].key, i);
  for (const auto& [key, count] : stored) {
    const auto found = slots.find(key);
    if (found != slots.end())
      add(static_cast<std::uint32_t>(found->second), count.hits, count.lastNs);
  }
}

}  // namespace warden::rules
