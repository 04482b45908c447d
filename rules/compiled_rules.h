#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rules/flow.h"
#include "rules/rule.h"

namespace warden::rules {

using Address128 = unsigned __int128;

// A flow with what every rule of one decision needs computed once.
struct FlowView {
  explicit FlowView(const Flow& flow);
  const Flow& flow;
  Address128 remote;
  Scope scope;
};

// An ordered [[rule]] list prepared for first-match evaluation: split by direction,
// address lists as sorted merged ranges, ports as sorted merged ranges. Immutable;
// matching allocates nothing.
class CompiledRules {
 public:
  CompiledRules() = default;
  explicit CompiledRules(const std::vector<Rule>& rules);

  // Index (in the original list) of the first rule matching the flow, or -1.
  std::int32_t firstMatch(const FlowView& flow) const;

 private:
  struct IpRange {
    Address128 first;
    Address128 last;
  };
  struct Entry {
    std::int32_t index;
    Proto proto;
    std::optional<Scope> scope;
    std::vector<PortRange> ports;  // merged, ascending; empty = any
    std::vector<IpRange> ip;       // merged, ascending; empty = any
    std::string host;              // normalized pattern; empty = any
  };

  static bool matches(const Entry& entry, const FlowView& flow);

  std::vector<Entry> out_;
  std::vector<Entry> in_;
};

Address128 toAddress128(const IpAddress& address);

}  // namespace warden::rules
