#pragma once

#include <cstddef>

namespace warden::testing {

// Heap allocations (global operator new) made on this thread. allocation_counter.cpp replaces
// the global operator new to count them: it belongs in every allocation test binary and only
// there.
void startCountingAllocations();
std::size_t stopCountingAllocations();  // allocations since the start

// Allocations made by `work` on this thread.
template <typename Work>
std::size_t allocationsOf(Work work) {
  startCountingAllocations();
  work();
  return stopCountingAllocations();
}

}  // namespace warden::testing
