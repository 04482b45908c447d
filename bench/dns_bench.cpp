// Host names from DNS: the host-cache lookup every new outbound flow makes on the verdict path
// (a hit, a miss, and a hit while a writer keeps recording), and parsing a DNS reply.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "engine/dns/dns.h"
#include "engine/dns/host_cache.h"

namespace {

using warden::engine::DnsName;
using warden::engine::DnsResponse;
using warden::engine::HostCache;
using warden::rules::IpAddress;

IpAddress nth(std::uint32_t n) {
  std::uint8_t raw[16] = {0x20, 0x01, 0x0d, 0xb8};
  raw[12] = static_cast<std::uint8_t>(n >> 24);
  raw[13] = static_cast<std::uint8_t>(n >> 16);
  raw[14] = static_cast<std::uint8_t>(n >> 8);
  raw[15] = static_cast<std::uint8_t>(n);
  return IpAddress::fromV6(raw);
}

// A cache filled as a busy desktop would have it: 3000 addresses of the default 4096 slots.
HostCache& filledCache() {
  static HostCache cache;
  static const bool filled = [] {
    for (std::uint32_t i = 0; i < 3000; ++i) {
      cache.record(nth(i), "host-" + std::to_string(i) + ".cdn.example.org", 3600);
    }
    return true;
  }();
  (void)filled;
  return cache;
}

void BM_HostLookupHit(benchmark::State& state) {
  HostCache& cache = filledCache();
  DnsName name;
  std::uint32_t i = 0;
  for (auto _ : state) {
    const bool found = cache.lookup(nth(i++ % 3000), name);
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(name);
  }
}
BENCHMARK(BM_HostLookupHit);

void BM_HostLookupMiss(benchmark::State& state) {
  HostCache& cache = filledCache();
  DnsName name;
  std::uint32_t i = 0;
  for (auto _ : state) {
    const bool found = cache.lookup(nth(100000 + i++ % 3000), name);
    benchmark::DoNotOptimize(found);
  }
}
BENCHMARK(BM_HostLookupMiss);

// Lookups while another thread records an answer every few microseconds (far more DNS than
// any host sees), so that readers sometimes meet a slot being written.
void BM_HostLookupWhileRecording(benchmark::State& state) {
  HostCache& cache = filledCache();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::uint32_t i = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      cache.record(nth(i % 3000), "rewritten-" + std::to_string(i % 7) + ".example.org", 3600);
      ++i;
      std::this_thread::sleep_for(std::chrono::microseconds(5));
    }
  });
  DnsName name;
  std::uint32_t i = 0;
  for (auto _ : state) {
    const bool found = cache.lookup(nth(i++ % 3000), name);
    benchmark::DoNotOptimize(found);
  }
  stop = true;
  writer.join();
}
BENCHMARK(BM_HostLookupWhileRecording);

// A typical CDN answer: www.example.org CNAME www.example.org.cdn.example.net, two A records.
std::vector<std::uint8_t> cdnReply() {
  std::vector<std::uint8_t> m = {0x12, 0x34, 0x81, 0x80, 0,   1,   0,   3,   0,   0,   0,
                                 0,    3,    'w',  'w',  'w', 7,   'e', 'x', 'a', 'm', 'p',
                                 'l',  'e',  3,    'o',  'r', 'g', 0,   0,   1,   0,   1};
  // CNAME -> "cdn.example.net" written as 3cdn + 7example 3net 0
  m.insert(m.end(), {0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 17});
  const std::size_t target = m.size();
  m.insert(m.end(), {3, 'c', 'd', 'n', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0});
  for (std::uint8_t last : {10, 11}) {
    m.insert(m.end(), {0xc0, static_cast<std::uint8_t>(target), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198,
                       51, 100, last});
  }
  return m;
}

void BM_DnsParseCdnReply(benchmark::State& state) {
  const std::vector<std::uint8_t> message = cdnReply();
  DnsResponse response;
  for (auto _ : state) {
    const auto status = warden::engine::parseDnsResponse(message, response);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(response);
  }
  if (response.addressCount != 2) state.SkipWithError("the reply did not parse");
}
BENCHMARK(BM_DnsParseCdnReply);

}  // namespace
