#include "db/log_producer.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "db/log_channel.h"

namespace warden::db {
namespace {

// Single-writer counter: the owning producer is the only thread that writes it.
void bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

LogProducer::LogProducer(std::shared_ptr<detail::LogChannel> channel)
    : channel_(std::move(channel)),
      // A quarter of the ring between wake-ups: the writer drains long before the ring fills
      // even if one wake-up is lost, and the wake cost is spread over many rows.
      nudgeMask_(std::bit_floor(std::max<std::size_t>(channel_->ring.capacity() / 4, 1)) - 1) {}

LogProducer& LogProducer::operator=(LogProducer&& other) noexcept {
  if (this != &other) {
    release();
    channel_ = std::move(other.channel_);
    nudgeMask_ = other.nudgeMask_;
  }
  return *this;
}

LogProducer::~LogProducer() { release(); }

void LogProducer::release() {
  if (channel_ != nullptr) {
    channel_->producerGone.store(true, std::memory_order_release);
    channel_.reset();
  }
}

bool LogProducer::tryEnqueue(LogRow&& row) {
  if (channel_ == nullptr) return false;
  detail::LogChannel& channel = *channel_;
  if (!channel.signal->accepting.load(std::memory_order_relaxed) ||
      !channel.ring.tryPush(std::move(row))) {
    bump(channel.dropped);
    return false;
  }
  bump(channel.enqueued);
  if ((channel.enqueued.load(std::memory_order_relaxed) & nudgeMask_) == 0) {
    channel.signal->wake();
  }
  return true;
}

std::uint64_t LogProducer::dropped() const {
  return channel_ == nullptr ? 0 : channel_->dropped.load(std::memory_order_relaxed);
}

}  // namespace warden::db
