#pragma once

#include <bit>
#include <cstdint>

namespace warden::engine {

// The mark bits warden owns, shared by the nft rules and the queue workers.
// Inside the mask, the lowest bit means "accepted" and the next one "reject this packet" (for
// a contiguous mask, the values 1 and 2). On the packet mark they are the verdict's request to
// the table's first rules; on the conntrack mark, "accepted" remembers the decision so the
// flow's later packets never leave the kernel. Both bits together tag, on the packet mark
// only, a DNS reply the table queues to be read (never a decision): see NftTable.
// The values are taken from the mask's own bits so that a mask with gaps (0x101) still holds
// them; a value outside the mask would never match the table's masked comparisons.
struct MarkBits {
  std::uint32_t mask = 0;

  std::uint32_t accept() const { return mask & (~mask + 1); }
  std::uint32_t reject() const {
    const std::uint32_t rest = mask & ~accept();
    return rest & (~rest + 1);
  }
  std::uint32_t dnsReply() const { return accept() | reject(); }
  bool isDnsReply(std::uint32_t packetMark) const {
    return mask != 0 && (packetMark & mask) == dnsReply();
  }

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
