#include "rules/compiled_rules.h"

#include <algorithm>

namespace warden::rules {
namespace {

// Sorts and merges overlapping or adjacent ranges, so that a lookup is one binary search.
template <typename Range>
std::vector<Range> mergeRanges(std::vector<Range> ranges) {
  std::ranges::sort(ranges, [](const Range& a, const Range& b) { return a.first < b.first; });
  std::vector<Range> merged;
  for (const Range& range : ranges) {
    if (!merged.empty() &&
        (merged.back().last == decltype(range.last)(~0) || range.first <= merged.back().last + 1)) {
      merged.back().last = std::max(merged.back().last, range.last);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

template <typename Range, typename Value>
bool inRanges(const std::vector<Range>& ranges, Value value) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), value,
                             [](Value v, const Range& range) { return v < range.first; });
  if (it == ranges.begin()) return false;
  return value <= std::prev(it)->last;
}

}  // namespace

Address128 toAddress128(const IpAddress& address) {
  Address128 value = 0;
  for (const std::uint8_t byte : address.bytes) value = (value << 8) | byte;
  return value;
}

FlowView::FlowView(const Flow& f)
    : flow(f), remote(toAddress128(f.remote)), scope(scopeOf(f.remote)) {}

CompiledRules::CompiledRules(const std::vector<Rule>& rules) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& rule = rules[i];
    Entry entry{static_cast<std::int32_t>(i), rule.proto, rule.scope, {}, {}, rule.host};
    entry.ports = mergeRanges(rule.ports);
    std::vector<IpRange> ip;
    for (const Cidr& cidr : rule.ip) {
      const Address128 base = toAddress128(cidr.base);
      const Address128 hostBits =
          cidr.prefix >= 128 ? Address128{0} : (~Address128{0} >> cidr.prefix);
      ip.push_back(IpRange{base & ~hostBits, base | hostBits});
    }
    entry.ip = mergeRanges(std::move(ip));
    (rule.direction == Direction::kOut ? out_ : in_).push_back(std::move(entry));
  }
}

bool CompiledRules::matches(const Entry& entry, const FlowView& view) {
  const Flow& flow = view.flow;
  if (!protoMatches(entry.proto, flow.ipProto)) return false;
  if (!entry.ports.empty()) {
    if (isIcmp(flow.ipProto)) return false;
    const std::uint16_t port = flow.direction == Direction::kOut ? flow.remotePort : flow.localPort;
    if (!inRanges(entry.ports, port)) return false;
  }
  if (!entry.ip.empty() && !inRanges(entry.ip, view.remote)) return false;
  if (entry.scope && *entry.scope != view.scope) return false;
  if (!entry.host.empty() && !hostMatches(entry.host, flow.host)) return false;
  return true;
}

std::int32_t CompiledRules::firstMatch(const FlowView& view) const {
  const auto& entries = view.flow.direction == Direction::kOut ? out_ : in_;
  for (const Entry& entry : entries) {
    if (matches(entry, view)) return entry.index;
  }
  return -1;
}

}  // namespace warden::rules
