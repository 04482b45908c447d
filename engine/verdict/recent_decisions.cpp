#include "engine/verdict/recent_decisions.h"

#include <netinet/in.h>

#include <cstring>

#include "base/bit_mix.h"

namespace warden::engine {
namespace {

std::uint64_t addressHash(const rules::IpAddress& address) {
  std::uint64_t high = 0, low = 0;
  std::memcpy(&high, address.bytes.data(), sizeof high);
  std::memcpy(&low, address.bytes.data() + sizeof high, sizeof low);
  return (high * 0x9e3779b97f4a7c15ull) ^ (low * 0xc2b2ae3d27d4eb4full);
}

}  // namespace

DecisionKey decisionKeyOf(const rules::Flow& flow, const FlowOwner& owner,
                          const rules::Decision& decision, std::uint64_t revision) {
  DecisionKey key;
  key.local = flow.local;
  key.remote = flow.remote;
  key.localPort = flow.localPort;
  key.remotePort = flow.remotePort;
  key.ipProto = flow.ipProto;
  key.direction = flow.direction;
  key.ownerKind = owner.attribution.kind;
  if (owner.attribution.kind == OwnerKind::kProcess) {
    key.pid = owner.attribution.key.pid;
    key.startTicks = owner.attribution.key.startTicks;
  }
  key.action = decision.action;
  key.by = decision.by;
  key.learn = decision.learn;
  key.ruleIndex = decision.ruleIndex;
  key.profileIndex = decision.profileIndex;
  key.revision = revision;
  return key;
}

bool portsNameFlow(const PacketInfo& info) {
  return (info.ipProto == IPPROTO_TCP || info.ipProto == IPPROTO_UDP) && !info.fragment;
}

RecentDecisions::RecentDecisions() : slots_(std::make_unique<Slot[]>(kSlots)) {}

std::size_t RecentDecisions::slotOf(const DecisionKey& key) {
  const std::uint64_t ports =
      (std::uint64_t{key.localPort} << 24) | (std::uint64_t{key.remotePort} << 8) | key.ipProto;
  const std::uint64_t h =
      base::mixBits(addressHash(key.local) ^
                    base::mixBits(addressHash(key.remote) + ports * 0x94d049bb133111ebull));
  return static_cast<std::size_t>(h % kSlots);
}

bool RecentDecisions::repeat(const DecisionKey& key, std::uint64_t nowNs) {
  Slot& slot = slots_[slotOf(key)];
  // (A time before the logged one, from a caller's clock read earlier, is within the window.)
  if (slot.used && slot.key == key &&
      (nowNs < slot.loggedAt || nowNs - slot.loggedAt < kWindowNs)) {
    return true;
  }
  slot.key = key;
  slot.loggedAt = nowNs;
  slot.used = true;
  return false;
}

void RecentDecisions::forget(const DecisionKey& key) {
  Slot& slot = slots_[slotOf(key)];
  if (slot.used && slot.key == key) slot.used = false;
}

}  // namespace warden::engine
