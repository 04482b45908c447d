#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <vector>

namespace warden::engine::testing {

// First packets as NFQUEUE hands them over (from the IP header on), built by hand: a test of
// the packet path needs no kernel to make them.
using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value);
}

// A TCP SYN from 192.0.2.1:`localPort` to 198.51.100.7:`remotePort`.
inline Bytes ipv4TcpSyn(std::uint16_t localPort, std::uint16_t remotePort) {
  Bytes b(40, 0);
  b[0] = 0x45;  // version 4, 5 words of header
  put16(b, 2, 40);
  b[8] = 64;
  b[9] = IPPROTO_TCP;
  const std::uint8_t source[4] = {192, 0, 2, 1}, destination[4] = {198, 51, 100, 7};
  std::copy(source, source + 4, b.begin() + 12);
  std::copy(destination, destination + 4, b.begin() + 16);
  put16(b, 20, localPort);
  put16(b, 22, remotePort);
  b[32] = 0x50;  // 5 words of header
  b[33] = 0x02;  // SYN
  return b;
}

// A UDP datagram (no payload) from [2001:db8::1]:`localPort` to [2001:db8::2]:`remotePort`.
inline Bytes ipv6Udp(std::uint16_t localPort, std::uint16_t remotePort) {
  Bytes b(48, 0);
  b[0] = 0x60;
  put16(b, 4, 8);
  b[6] = IPPROTO_UDP;
  b[7] = 64;
  b[8] = 0x20, b[9] = 0x01, b[10] = 0x0d, b[11] = 0xb8, b[23] = 1;
  b[24] = 0x20, b[25] = 0x01, b[26] = 0x0d, b[27] = 0xb8, b[39] = 2;
  put16(b, 40, localPort);
  put16(b, 42, remotePort);
  put16(b, 44, 8);
  return b;
}

// A UDP datagram carrying `payload` from `from`:`fromPort` to `to`:`toPort` (IPv4).
inline Bytes ipv4Udp(const std::uint8_t (&from)[4], std::uint16_t fromPort,
                     const std::uint8_t (&to)[4], std::uint16_t toPort, const Bytes& payload) {
  // Sized once: growing it by insert() trips a false -Warray-bounds of GCC 12 at -O2.
  Bytes b(28 + payload.size(), 0);
  b[0] = 0x45;
  put16(b, 2, static_cast<std::uint16_t>(28 + payload.size()));
  b[8] = 64;
  b[9] = IPPROTO_UDP;
  std::copy(from, from + 4, b.begin() + 12);
  std::copy(to, to + 4, b.begin() + 16);
  put16(b, 20, fromPort);
  put16(b, 22, toPort);
  put16(b, 24, static_cast<std::uint16_t>(8 + payload.size()));
  std::copy(payload.begin(), payload.end(), b.begin() + 28);
  return b;
}

}  // namespace warden::engine::testing
