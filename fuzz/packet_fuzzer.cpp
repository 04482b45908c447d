// engine::parsePacket on any bytes, as NFQUEUE hands them over: the whole packet, and a prefix
// of it as a queue with a short copy range delivers (the real length said apart). Besides the
// sanitizers, what a parsed packet claims about the buffer is checked.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "engine/netfilter/packet.h"

namespace {

void parseAndCheck(std::span<const std::uint8_t> buffer, std::size_t wireLength) {
  const warden::engine::ParseResult result = warden::engine::parsePacket(buffer, wireLength);
  if (!result.ok) {
    (void)warden::engine::toString(result.error);
    return;
  }
  const warden::engine::PacketInfo& info = result.info;
  // The queue worker reads the transport header (TCP flags, a DNS payload) from these.
  if (info.transportOffset > info.transportEnd || info.transportEnd > buffer.size()) std::abort();
  if (info.ipVersion != 4 && info.ipVersion != 6) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> packet(data, size);
  parseAndCheck(packet, 0);
  parseAndCheck(packet.first(size / 2), size);
  return 0;
}
