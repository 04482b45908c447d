#pragma once

#include <array>
#include <cstddef>
#include <memory>

namespace warden::engine {

// References whose release is put off to a moment that can afford it. Dropping a shared_ptr
// may drop the last reference and free the object with all it holds; a thread whose path must
// not free (a queue worker between a packet's read and its verdict) hands such references
// over here and releases them all when it is idle. Bounded: once N are held, take() refuses
// and the reference stays with the caller, who should keep it rather than drop it.
//
// Thread-safety: none; one per thread.
template <typename T, std::size_t N>
class DeferredRelease {
 public:
  // Moves `ref` in, or leaves it untouched and returns false when N are held already.
  bool take(std::shared_ptr<T>& ref) {
    if (!ref) return true;  // nothing to hold
    if (count_ == N) return false;
    held_[count_++] = std::move(ref);
    return true;
  }

  // Drops every reference held: objects no one else refers to are freed here.
  void releaseAll() {
    for (std::size_t i = 0; i < count_; ++i) held_[i].reset();
    count_ = 0;
  }

  std::size_t size() const { return count_; }

 private:
  std::array<std::shared_ptr<T>, N> held_;
  std::size_t count_ = 0;
};

}  // namespace warden::engine
