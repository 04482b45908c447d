#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "engine/marks.h"

namespace warden::engine {

// How new flows are handed to userspace.
enum class QueueMethod : std::uint8_t {
  kNative,    // the nft `queue` expression (nft_queue)
  kXtCompat,  // the xtables NFQUEUE target through nft_compat, as iptables-nft does
};

const char* toString(QueueMethod method);

// The `inet warden` table warden installs: per hook (output, and input when inbound or dns):
//   0.  input only, when dns: UDP from port 53 and ct mark says "accepted"
//                                      -> tag the packet mark "DNS reply", queue (always bypass)
//   0q. output only, when dns: UDP to port 53 and ct mark says "accepted"
//                                      -> the same (a DNS query, read and accepted unchanged)
//   0b. TCP SYN (no ACK), ct mark says "accepted", packet mark has none of ours
//                                      -> queue: a new connection on an old flow's 4-tuple
//                                         (on input only when inbound)
//   1.  ct mark says "accepted"        -> accept (a decided flow never leaves the kernel again)
//   1b. ct mark says "revoked: drop"   -> drop
//   1c. ct mark says "revoked: reject" -> reject (TCP reset, else ICMP admin prohibited), but
//                                         not packets only related to the flow
//   2.  packet mark says "accepted"    -> copy it to the ct mark, restore the packet mark, accept
//   3.  packet mark says "reject"      -> reject (TCP reset, else ICMP admin prohibited)
//   4.  ct state new                   -> queue (with bypass when failing open); on input only
//                                         when inbound
// Rules 2 and 3 serve packets the workers hand back with NF_REPEAT and a mark: this kernel
// build cannot set the ct mark from a queue verdict (no NETFILTER_NETLINK_GLUE_CT). Rule 1
// comes first because nearly every packet of an established flow stops there, except the DNS
// replies rule 0 hands to the workers to read host names from (they accept them unchanged,
// mark restored). Only replies of accepted flows are read, so that a flow still to be decided
// is never waved through as "DNS"; and rule 0 always bypasses, since an accepted flow must
// keep working while no wardend listens, whatever `fail` says. Rules 1b and 1c hold the flows
// `warden reload --redecide` revoked by rewriting their ct mark; only accepted flows can be
// revoked, as a denied flow's conntrack entry never outlives its first packet.
struct TablePlan {
  QueueMethod method = QueueMethod::kXtCompat;
  std::uint16_t firstQueue = 0;
  std::uint16_t queueCount = 1;
  bool bypass = true;  // fail open: pass new flows when no process listens on the queue
  bool inbound = true;
  bool dns = true;  // rules 0 and 0q: queue DNS replies and queries to learn host names
  MarkBits marks;
  int priority = 0;      // filter priority of both chains
  bool queueing = true;  // false: no rules 0 and 4, for draining the queues at shutdown
  // Stored in the table's userdata when the table is created, so that a wardend can tell its
  // own table from another live one's (see TableOwner).
  std::string owner;
  bool recreate = false;  // replace the table whole (and so take its ownership)
};

// Who created the table: "wardend pid=123 start=456789" (start = /proc/PID/stat starttime),
// so that a reused pid is never mistaken for the owner.
struct TableOwner {
  int pid = 0;
  std::uint64_t startTime = 0;

  static TableOwner self();
  static std::optional<TableOwner> parse(std::string_view text);
  std::string toString() const;
  bool alive() const;  // that very process still runs
  bool operator==(const TableOwner&) const = default;
};

// Everything talks to nf_tables over netlink in single transactions; only the table
// `inet warden` is ever created, changed or deleted. Stateless: safe from any thread.
class NftTable {
 public:
  static constexpr const char* kName = "warden";

  // Whether the kernel has the native queue expression: a transaction that would add it is
  // sent with a final message that always fails, so the kernel aborts it and nothing changes.
  [[nodiscard]] static Result<QueueMethod> probeQueueMethod();

  // Creates the table or replaces its rules, in one transaction. An existing table keeps its
  // base chains, so their hooks stay registered: unregistering a hook makes the kernel drop
  // every packet still waiting in any queue. Only if the existing table cannot be updated in
  // place (an incompatible chain) is it deleted and created anew, still in one transaction.
  [[nodiscard]] static Result<void> install(const TablePlan& plan);

  // Deletes the table; true if there was one. Drain the queues first (see install).
  [[nodiscard]] static Result<bool> remove();

  // The owner recorded in the table; nullopt if there is no table, "" if it names none.
  [[nodiscard]] static Result<std::optional<std::string>> owner();

  // Whether the table (or, when named, one of its chains) exists in this network namespace.
  [[nodiscard]] static Result<bool> exists(const char* chain = nullptr);
};

}  // namespace warden::engine
