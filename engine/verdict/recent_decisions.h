#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/verdict/flow_decision.h"
#include "rules/decision.h"
#include "rules/flow.h"

namespace warden::engine {

// What makes two decisions of one flow the same for the verdict log: the flow (protocol,
// direction, both ends), its owner (a process by pid + start time; or kernel, or unknown) and
// the decision (action, mode, what decided it, under which policy revision).
struct DecisionKey {
  rules::IpAddress local;
  rules::IpAddress remote;
  std::uint16_t localPort = 0;
  std::uint16_t remotePort = 0;
  std::uint8_t ipProto = 0;
  rules::Direction direction = rules::Direction::kOut;
  OwnerKind ownerKind = OwnerKind::kUnknown;
  rules::Action action = rules::Action::kAllow;
  rules::DecidedBy by = rules::DecidedBy::kEngineDefault;
  bool learn = false;
  std::uint32_t pid = 0;
  std::uint64_t startTicks = 0;
  std::int32_t ruleIndex = -1;
  std::int32_t profileIndex = -1;
  std::uint64_t revision = 0;

  bool operator==(const DecisionKey&) const = default;
};

DecisionKey decisionKeyOf(const rules::Flow& flow, const FlowOwner& owner,
                          const rules::Decision& decision, std::uint64_t revision);

// Whether a packet's TCP or UDP ports name its flow, so that a repeat can be told by them:
// not for other protocols (two pings of one host look alike here) nor for a fragment.
bool portsNameFlow(const PacketInfo& info);

// A queue worker's memory of the decisions it logged lately, so that a flow decided again the
// same way gets one verdict-log row, not one per packet: a TCP SYN sent again because the first
// was dropped (a dropped first packet leaves no conntrack entry, so its retransmissions are
// queued and decided afresh) or because no answer came to an accepted one (the table queues a
// SYN on an accepted flow again), and the datagrams of a refused UDP flow. Each is still
// decided (the policy may have changed meanwhile); only its row is left out.
// A remembered decision is forgotten kWindowNs after it was logged, so a flow refused for longer
// gets a row every kWindowNs.
// Bounded: kSlots entries, direct-mapped by the flow (its 5-tuple), allocated once at
// construction; a flow displaces another that shares its slot, which costs that one a row more
// should it come again. Not thread-safe: one worker's.
class RecentDecisions {
 public:
  static constexpr std::size_t kSlots = 1024;
  // TCP's SYN retransmissions of one connection attempt: with the default tcp_syn_retries (6)
  // the last is sent at most 63 s after the first (sooner where tcp_syn_linear_timeouts makes
  // the first ones a second apart), and connect() fails by 127 s.
  static constexpr std::uint64_t kWindowNs = 130'000'000'000ull;

  RecentDecisions();

  // Whether `key` was logged less than kWindowNs before `nowNs` (monotonic): a repeat, not to
  // be logged. Otherwise remembers it as logged at `nowNs` and returns false.
  bool repeat(const DecisionKey& key, std::uint64_t nowNs);
  // Forgets `key` (its row could not be logged after all), so that its next repeat is logged.
  void forget(const DecisionKey& key);

 private:
  struct Slot {
    DecisionKey key;
    std::uint64_t loggedAt = 0;
    bool used = false;
  };
  static std::size_t slotOf(const DecisionKey& key);

  std::unique_ptr<Slot[]> slots_;
};

}  // namespace warden::engine
