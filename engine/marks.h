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

  // On the conntrack mark only: an accepted flow that `warden reload --redecide` decided
  // again and the new policy refuses. The table drops, or rejects, its every later packet.
  // Built from the two values above so that any valid mask holds them; on the ct mark
  // "reject" alone never meant anything before (it only ever travels on the packet mark).
  std::uint32_t revokedReject() const { return reject(); }
  std::uint32_t revokedDrop() const { return accept() | reject(); }
};

}  // namespace warden::engine
