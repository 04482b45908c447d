// Packet parsing on the verdict path: IPv4 TCP SYN and IPv6 UDP behind extension headers.
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <cstdint>
#include <vector>

#include "engine/netfilter/packet.h"

namespace {

std::vector<std::uint8_t> ipv4TcpSyn() {
  std::vector<std::uint8_t> p(40, 0);
  p[0] = 0x45;
  p[3] = 40;
  p[9] = IPPROTO_TCP;
  p[12] = 192, p[15] = 1, p[16] = 192, p[19] = 2;
  p[20] = 0x9c, p[21] = 0x40, p[23] = 80;
  p[32] = 0x50, p[33] = 0x02;
  return p;
}

std::vector<std::uint8_t> ipv6UdpWithExtensions() {
  std::vector<std::uint8_t> p(40 + 8 + 8 + 8, 0);
  p[0] = 0x60;
  p[5] = 24;
  p[6] = IPPROTO_HOPOPTS;
  p[40] = IPPROTO_DSTOPTS;
  p[48] = IPPROTO_UDP;
  p[56] = 0x30, p[57] = 0x39, p[59] = 53, p[61] = 8;
  return p;
}

void parse(benchmark::State& state, std::vector<std::uint8_t> packet) {
  for (auto _ : state) {
    auto result = warden::engine::parsePacket(packet);
    benchmark::DoNotOptimize(result);
  }
}

}  // namespace

BENCHMARK_CAPTURE(parse, ipv4_tcp_syn, ipv4TcpSyn());
BENCHMARK_CAPTURE(parse, ipv6_udp_extension_headers, ipv6UdpWithExtensions());
