#include "engine/daemon/undecided_passes.h"

#include <algorithm>

namespace warden::engine {

void UndecidedPasses::start(std::uint64_t tableQueued,
                            const std::vector<KernelQueueStats>& queues) {
  std::lock_guard lock(mutex_);
  lastTable_ = tableQueued;
  last_ = queues;
}

std::uint64_t UndecidedPasses::sample(std::uint64_t tableQueued,
                                      const std::vector<KernelQueueStats>& queues) {
  std::lock_guard lock(mutex_);
  // A counter below the last reading belongs to a table created since: it counts from 0.
  sentTotal_ += tableQueued >= lastTable_ ? tableQueued - lastTable_ : tableQueued;
  lastTable_ = tableQueued;
  for (std::size_t i = 0; i < queues.size() && i < last_.size(); ++i) {
    // Unsigned 32-bit difference: right across a wrap of the id.
    queuedTotal_ += static_cast<std::uint32_t>(queues[i].idSequence - last_[i].idSequence);
    if (queues[i].queueDropped >= last_[i].queueDropped) {
      droppedTotal_ += queues[i].queueDropped - last_[i].queueDropped;
    }
  }
  if (queues.size() == last_.size()) last_ = queues;
  // A packet counted by the rule an instant before it took its id may show as passed for one
  // sample; the totals put that right at the next.
  passes_ = sentTotal_ - std::min(sentTotal_, queuedTotal_ + droppedTotal_);
  return passes_;
}

std::uint64_t UndecidedPasses::last() const {
  std::lock_guard lock(mutex_);
  return passes_;
}

}  // namespace warden::engine
