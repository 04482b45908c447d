#pragma once

#include <chrono>
#include <thread>

namespace warden::testing {

// Polls `done` every millisecond until it holds (true) or `within` passes (false): for what
// another thread does in its own time. Generous by default, for a busy machine.
template <typename Done>
bool eventually(Done&& done, std::chrono::milliseconds within = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace warden::testing
