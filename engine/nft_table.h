#pragma once

#include <cstdint>

#include "engine/error.h"
#include "engine/marks.h"

namespace warden::engine {

// How new flows are handed to userspace.
enum class QueueMethod : std::uint8_t {
  kNative,    // the nft `queue` expression (nft_queue)
  kXtCompat,  // the xtables NFQUEUE target through nft_compat, as iptables-nft does
};

const char* toString(QueueMethod method);

// The `inet warden` table warden installs: per hook (output, and input when inbound):
//   1. packet mark says "accepted"  -> copy it to the ct mark, restore the packet mark, accept
//   2. packet mark says "reject"    -> reject (TCP reset, else ICMP admin prohibited)
//   3. ct mark says "accepted"      -> accept (a decided flow never leaves the kernel again)
//   4. ct state new                 -> queue (with bypass when failing open)
// Rules 1 and 2 serve packets the workers hand back with NF_REPEAT and a mark: this kernel
// build cannot set the ct mark from a queue verdict (no NETFILTER_NETLINK_GLUE_CT).
struct TablePlan {
  QueueMethod method = QueueMethod::kXtCompat;
  std::uint16_t firstQueue = 0;
  std::uint16_t queueCount = 1;
  bool bypass = true;  // fail open: pass new flows when no process listens on the queue
  bool inbound = true;
  MarkBits marks;
  int priority = 0;  // filter priority of both chains
};

// Everything talks to nf_tables over netlink in single transactions; only the table
// `inet warden` is ever created, changed or deleted. Stateless: safe from any thread.
class NftTable {
 public:
  static constexpr const char* kName = "warden";

  // Whether the kernel has the native queue expression: a transaction that would add it is
  // sent with a final message that always fails, so the kernel aborts it and nothing changes.
  [[nodiscard]] static Result<QueueMethod> probeQueueMethod();

  // Creates or atomically replaces the table (add, delete, add: one transaction).
  [[nodiscard]] static Result<void> install(const TablePlan& plan);

  // Deletes the table; true if there was one.
  [[nodiscard]] static Result<bool> remove();

  // Whether the table exists in this network namespace.
  [[nodiscard]] static Result<bool> exists();
};

}  // namespace warden::engine
