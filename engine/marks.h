#pragma once

#include <bit>
#include <cstdint>

namespace warden::engine {

// The mark bits warden owns, shared by the nft rules and the queue workers.
// Inside the mask, value 1 means "accepted" and 2 means "reject this packet". On the packet
// mark they are the verdict's request to the table's first rules; on the conntrack mark,
// "accepted" remembers the decision so the flow's later packets never leave the kernel.
struct MarkBits {
  std::uint32_t mask = 0;

  std::uint32_t accept() const { return 1u << std::countr_zero(mask); }
  std::uint32_t reject() const { return 2u << std::countr_zero(mask); }

  // The packet mark to hand back with a verdict: foreign bits kept, ours replaced.
  std::uint32_t withValue(std::uint32_t packetMark, std::uint32_t value) const {
    return (packetMark & ~mask) | value;
  }
  static bool valid(std::uint32_t mask) { return std::popcount(mask) >= 2; }
};

}  // namespace warden::engine
