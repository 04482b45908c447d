#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "engine/daemon/queue_status.h"

namespace warden::engine {

// Flows the kernel let through without a decision while wardend ran: first packets the table
// sent to a queue that never entered it because the queue was full and failed open (or, for a
// DNS packet, which always bypasses, because it was full). The kernel counts these nowhere
// (see KernelQueueStats), so they are what is left of the table's "queued" counter once the
// packets the queues took (their id deltas) and those they dropped (failing closed) are taken
// away. Packets passed because sending them to wardend failed (an overrun, failing open) took
// an id: they show as ENOBUFS instead.
//
// sample() keeps running totals, so that a queue's 32-bit id may wrap and the table may be
// created anew (its counter starting from 0) between two samples; sample at least once per
// 2^32 packets queued (the daemon does every minute). Thread-safe.
class UndecidedPasses {
 public:
  // The state to count from: the table's counter (0 for a table just created) and the
  // kernel's numbers of each queue, in the order later samples give them.
  void start(std::uint64_t tableQueued, const std::vector<KernelQueueStats>& queues);
  // Takes in new readings (the counter read first, then the queues) and returns the packets
  // passed undecided since start().
  std::uint64_t sample(std::uint64_t tableQueued, const std::vector<KernelQueueStats>& queues);
  // The count of the last sample (for when the table's counter cannot be read).
  std::uint64_t last() const;

 private:
  mutable std::mutex mutex_;
  std::uint64_t lastTable_ = 0;
  std::vector<KernelQueueStats> last_;
  std::uint64_t sentTotal_ = 0;     // packets the queue rules sent
  std::uint64_t queuedTotal_ = 0;   // packets that entered a queue
  std::uint64_t droppedTotal_ = 0;  // packets a full queue dropped
  std::uint64_t passes_ = 0;
};

}  // namespace warden::engine
