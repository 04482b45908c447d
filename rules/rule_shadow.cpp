#include "rules/rule_shadow.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "rules/policy_lint.h"

namespace warden::rules {
namespace {

// Port blocks are indexed in a segment tree over 0..65535 laid out as a heap (root 1, the
// children of n at 2n and 2n+1, port p's leaf at kPortLeaves + p): a block is stored at the
// O(log) nodes that tile it, and the blocks holding a port are those on its leaf's path up.
constexpr std::uint64_t kPortLeaves = 65536;
constexpr int kNodeBits = 18;

constexpr int kHostKey = 1;
constexpr int kIpKey = 2;
constexpr int kPortsKey = 4;

int keysOf(const Rule& rule) {
  return (rule.host.empty() ? 0 : kHostKey) | (rule.ip.empty() ? 0 : kIpKey) |
         (rule.ports.empty() ? 0 : kPortsKey);
}

// direction (2) x proto (4) x scope or none (4) x keys named (8): 256 subgroups.
int subgroupOf(Direction direction, Proto proto, std::optional<Scope> scope, int keys) {
  const int scopeSlot = scope ? 1 + static_cast<int>(*scope) : 0;
  return ((static_cast<int>(direction) * 4 + static_cast<int>(proto)) * 4 + scopeSlot) * 8 + keys;
}

// The subgroups whose rules may cover `rule`: same direction; any proto or its own; any
// scope or its own; no key that `rule` does not name (a rule naming a host covers no flow
// without one).
std::vector<int> coveringSubgroups(const Rule& rule) {
  std::vector<int> out;
  const int keys = keysOf(rule);
  for (const Proto proto : {Proto::kAny, rule.proto}) {
    for (const std::optional<Scope> scope : {std::optional<Scope>(), rule.scope}) {
      for (int named = 0; named < 8; ++named) {
        if ((named & ~keys) != 0) continue;
        const int subgroup = subgroupOf(rule.direction, proto, scope, named);
        if (std::ranges::find(out, subgroup) == out.end()) out.push_back(subgroup);
      }
    }
  }
  return out;
}

std::string hostKey(int subgroup, std::string_view host) {
  std::string key(1, static_cast<char>(subgroup));
  key += host;
  return key;
}

std::string blockKey(int subgroup, const IpAddress& address, int prefix) {
  std::array<std::uint8_t, 16> bytes = address.bytes;
  for (int bit = prefix; bit < 128; ++bit) {
    bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  std::string key = {static_cast<char>(subgroup), static_cast<char>(prefix)};
  key.append(bytes.begin(), bytes.end());
  return key;
}

std::uint64_t portNodeKey(int subgroup, std::uint64_t node) {
  return (static_cast<std::uint64_t>(subgroup) << kNodeBits) | node;
}

// The nodes of the subtree at `node` (covering lo..hi) that tile first..last.
template <typename Each>
void forEachTile(std::uint64_t node, std::uint64_t lo, std::uint64_t hi, std::uint64_t first,
                 std::uint64_t last, Each& each) {
  if (last < lo || hi < first) return;
  if (first <= lo && hi <= last) {
    each(node);
    return;
  }
  const std::uint64_t mid = lo + (hi - lo) / 2;
  forEachTile(2 * node, lo, mid, first, last, each);
  forEachTile(2 * node + 1, mid + 1, hi, first, last, each);
}

std::size_t totalSize(const std::vector<const std::vector<std::int64_t>*>& buckets) {
  std::size_t total = 0;
  for (const auto* bucket : buckets) total += bucket->size();
  return total;
}

}  // namespace

std::vector<PortRange> mergedPortRanges(std::vector<PortRange> ranges) {
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

void ShadowIndex::hostCandidates(int subgroup, const Rule& rule, Candidates& out) const {
  const auto add = [&](std::string_view pattern) {
    if (const auto it = byHost_.find(hostKey(subgroup, pattern)); it != byHost_.end()) {
      out.push_back(&it->second);
    }
  };
  // The same pattern, or "*.<domain>" for the name (or the wildcard's domain) and each of
  // its parent domains.
  std::string_view name = rule.host;
  const bool wildcard = name.starts_with("*.");
  if (wildcard) {
    name.remove_prefix(2);
  } else {
    add(name);
  }
  while (true) {
    add("*." + std::string(name));
    const auto dot = name.find('.');
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
}

void ShadowIndex::ipCandidates(int subgroup, const Rule& rule, Candidates& out) const {
  // A rule covering this one has a block holding its first block: try the shorter prefixes
  // that rules of the subgroup have.
  const Cidr& first = rule.ip.front();
  const auto& prefixes = subgroups_[subgroup].prefixes;
  for (int prefix = 0; prefix <= first.prefix; ++prefix) {
    if (!prefixes[prefix]) continue;
    if (const auto it = byBlock_.find(blockKey(subgroup, first.base, prefix));
        it != byBlock_.end()) {
      out.push_back(&it->second);
    }
  }
}

void ShadowIndex::portCandidates(int subgroup, const Rule& rule, Candidates& out) const {
  // A rule covering this one has a merged block holding its lowest port.
  std::uint16_t lowest = rule.ports.front().first;
  for (const PortRange& range : rule.ports) lowest = std::min(lowest, range.first);
  for (std::uint64_t node = kPortLeaves + lowest; node >= 1; node /= 2) {
    if (const auto it = byPortNode_.find(portNodeKey(subgroup, node)); it != byPortNode_.end()) {
      out.push_back(&it->second);
    }
  }
}

void ShadowIndex::insert(int subgroup, const Rule& rule, std::int64_t index) {
  Subgroup& sub = subgroups_[subgroup];
  sub.all.push_back(index);
  if (!rule.host.empty()) byHost_[hostKey(subgroup, rule.host)].push_back(index);
  if (!rule.ip.empty()) {
    std::vector<std::string> keys;
    for (const Cidr& cidr : rule.ip) {
      keys.push_back(blockKey(subgroup, cidr.base, cidr.prefix));
      sub.prefixes[cidr.prefix] = true;
    }
    std::ranges::sort(keys);
    const auto [end, last] = std::ranges::unique(keys);
    keys.erase(end, last);
    for (auto& key : keys) byBlock_[std::move(key)].push_back(index);
  }
  if (!rule.ports.empty()) {
    // Merged blocks are disjoint, so a port's path meets at most one tile per rule.
    auto each = [&](std::uint64_t node) {
      byPortNode_[portNodeKey(subgroup, node)].push_back(index);
    };
    for (const PortRange& block : mergedPortRanges(rule.ports)) {
      forEachTile(1, 0, kPortLeaves - 1, block.first, block.last, each);
    }
  }
}

std::int64_t ShadowIndex::addAndFindCover(const Rule& rule) {
  const auto index = static_cast<std::int64_t>(rules_.size());
  std::int64_t found = index;  // none yet
  Candidates byKey;
  Candidates fewest;
  for (const int subgroup : coveringSubgroups(rule)) {
    const int keys = subgroup % 8;
    fewest.clear();
    if (keys == 0) {
      // Rules that name none of the keys cover every rule their group may cover.
      fewest.push_back(&subgroups_[subgroup].all);
    } else {
      // A cover is in the candidates of every key the subgroup names; take the fewest.
      bool first = true;
      const auto consider = [&](int key, auto collect) {
        if ((keys & key) == 0) return;
        byKey.clear();
        (this->*collect)(subgroup, rule, byKey);
        if (first || totalSize(byKey) < totalSize(fewest)) fewest.swap(byKey);
        first = false;
      };
      consider(kHostKey, &ShadowIndex::hostCandidates);
      consider(kIpKey, &ShadowIndex::ipCandidates);
      consider(kPortsKey, &ShadowIndex::portCandidates);
    }
    for (const Bucket* bucket : fewest) {
      for (const std::int64_t earlier : *bucket) {
        if (earlier >= found) break;  // buckets ascend; an earlier cover is already known
        ++comparisons_;
        if (covers(*rules_[earlier], rule)) {
          found = earlier;
          break;
        }
      }
    }
  }
  rules_.push_back(&rule);
  insert(subgroupOf(rule.direction, rule.proto, rule.scope, keysOf(rule)), rule, index);
  return found == index ? -1 : found;
}

}  // namespace warden::rules
