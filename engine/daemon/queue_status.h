#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/netfilter/queue_counters.h"

namespace warden::engine {

// What the kernel says of one queue in /proc/net/netfilter/nfnetlink_queue.
// Verified in net/netfilter/nfnetlink_queue.c (__nfqnl_enqueue_packet): a packet that finds
// the queue full is counted in queueDropped only when the queue fails closed; failing open it
// is passed (accepted) and counted nowhere. One that enters the queue takes the next id
// (idSequence) before it is sent to us; if the sending fails, failing closed counts it in
// userDropped, failing open passes it uncounted.
struct KernelQueueStats {
  std::uint64_t queueDropped = 0;  // the queue was full (failing closed)
  std::uint64_t userDropped = 0;   // netlink could not deliver to us (failing closed)
  std::uint64_t waiting = 0;
  std::uint32_t idSequence = 0;  // the id of the last packet queued; wraps at 2^32
};

// nullopt when the kernel lists no such queue (nobody has bound it).
std::optional<KernelQueueStats> kernelQueueStats(std::uint16_t number);

// The queues' part of `warden status` ("queues" and "totals") and of wardend's "stopped:" log
// line, built from one reading of each worker's counters (see kQueueCounterFields). Used by
// the control thread, one report at a time.
class QueueStatus {
 public:
  void add(std::uint16_t number, const QueueCounters& counters, const KernelQueueStats& kernel);

  // One object per queue added: its number, its counters and the kernel's numbers.
  const nlohmann::json& queues() const { return queues_; }
  // The sum over the queues of every counter but the peaks, and of the kernel's drops.
  nlohmann::json totals() const;
  // "12 packets decided (10 allowed, 2 denied, 0 rejected, 0 verdict errors, 0 ENOBUFS)".
  std::string stoppedSummary() const;

 private:
  nlohmann::json queues_ = nlohmann::json::array();
  std::array<std::uint64_t, kQueueCounterFields.size()> totals_{};
  std::uint64_t queueDrops_ = 0;
};

}  // namespace warden::engine
