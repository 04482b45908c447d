#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <utility>

namespace warden::db {

// A bounded single-producer single-consumer queue without locks: the producer only writes
// head_, the consumer only writes tail_, and each keeps a private copy of the other's index
// so that the shared cache line is read only when the ring looks full (producer) or empty
// (consumer). Elements are moved in and out of preallocated slots.
//
// Thread-safety: exactly one thread may call tryPush() and exactly one (other) thread may call
// drain(); size() may be called from anywhere and is approximate.
template <typename T>
class SpscRing {
 public:
  // The capacity is rounded up to a power of two (at least 2).
  explicit SpscRing(std::size_t capacity)
      : capacity_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)),
        mask_(capacity_ - 1),
        slots_(std::make_unique<T[]>(capacity_)) {}

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer: moves `value` in, or leaves it untouched and returns false when full.
  bool tryPush(T&& value) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head - producerTail_ == capacity_) {
      producerTail_ = tail_.load(std::memory_order_acquire);
      if (head - producerTail_ == capacity_) return false;
    }
    slots_[head & mask_] = std::move(value);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer: moves up to `max` elements, oldest first, into `sink(T&&)`; returns how many.
  template <typename Sink>
  std::size_t drain(Sink&& sink, std::size_t max) {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t taken = 0;
    while (taken < max) {
      if (tail == consumerHead_) {
        consumerHead_ = head_.load(std::memory_order_acquire);
        if (tail == consumerHead_) break;
      }
      sink(std::move(slots_[tail & mask_]));
      ++tail;
      ++taken;
      // Free each slot at once: a producer waiting for room need not wait for the batch.
      tail_.store(tail, std::memory_order_release);
    }
    return taken;
  }

  std::size_t size() const {
    // Tail first: the head read after it can only be further on, so this never underflows.
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    return head_.load(std::memory_order_acquire) - tail;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  static constexpr std::size_t kCacheLine = 64;

  const std::size_t capacity_;
  const std::size_t mask_;
  const std::unique_ptr<T[]> slots_;

  // Producer's line.
  alignas(kCacheLine) std::atomic<std::size_t> head_{0};
  std::size_t producerTail_ = 0;
  // Consumer's line.
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
  std::size_t consumerHead_ = 0;
};

}  // namespace warden::db
