#include "engine/verdict/policy_slot.h"

namespace warden::engine {

void PolicySlot::publish(std::shared_ptr<const PolicySnapshot> snapshot) {
  std::shared_ptr<const PolicySnapshot> previous;
  {
    std::lock_guard lock(mutex_);
    previous = std::exchange(snapshot_, std::move(snapshot));
    generation_.fetch_add(1, std::memory_order_release);
  }
  // `previous` dies here, outside the lock, unless a reader still holds it.
}

std::shared_ptr<const PolicySnapshot> PolicySlot::current() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

const PolicySnapshot& PolicySlot::Reader::get() {
  const std::uint64_t generation = store_.generation_.load(std::memory_order_acquire);
  if (generation != generation_) {
    snapshot_ = store_.current();
    generation_ = generation;
  }
  return *snapshot_;
}

}  // namespace warden::engine
