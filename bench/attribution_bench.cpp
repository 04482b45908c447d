// The attribution lookup of the verdict path (SPEC section 10: p99 <= 5 us, no /proc).
// Needs root: loads the programs on a cgroup of its own, moves itself into it to send one
// datagram (so the flow map holds a real record), and moves back and removes it at the end.
// Reports the mean (Google Benchmark) and p50/p99 of single lookups as counters.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
// after netinet/in.h
#include <linux/netfilter.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/unique_fd.h"
#include "engine/attribution/attributor.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/attribution/system_mounts.h"

namespace {

using namespace warden::engine;

// One cgroup with the programs attached, and one recorded UDP flow from this process.
struct Fixture {
  std::string cgroup;
  std::string original;
  std::unique_ptr<Attributor> attributor;
  PacketInfo packet;
  std::string error;

  Fixture() {
    if (geteuid() != 0) {
      error = "needs root";
      return;
    }
    auto root = cgroup2MountPoint();
    if (!root) {
      error = root.error().message();
      return;
    }
    cgroup = *root + "/warden-bench-" + std::to_string(getpid());
    original = *root + currentCgroup();
    mkdir(cgroup.c_str(), 0755);
    AttributorOptions options;
    options.cgroup = cgroup;
    attributor = Attributor::create(options);
    if (attributor->method() != AttributionMethod::kEbpf) {
      error = "eBPF attribution unavailable";
      return;
    }
    moveTo(cgroup);
    auto fd = warden::base::makeSocket(AF_INET, SOCK_DGRAM, 0, "a socket to attribute");
    if (!fd) {
      error = fd.error().message();
      return;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(fd->get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    sockaddr_in local{};
    socklen_t length = sizeof local;
    getsockname(fd->get(), reinterpret_cast<sockaddr*>(&local), &length);
    fd->reset();
    moveTo(original);
    packet.ipVersion = 4;
    packet.ipProto = IPPROTO_UDP;
    packet.source = warden::rules::IpAddress::fromV4(htonl(INADDR_LOOPBACK));
    packet.destination = packet.source;
    packet.sourcePort = ntohs(local.sin_port);
    packet.destinationPort = 9;
    if (attributor->attribute(packet, NF_INET_LOCAL_OUT, true).kind != OwnerKind::kProcess) {
      error = "the recorded flow was not found";
    }
  }
  ~Fixture() {
    attributor.reset();
    if (!cgroup.empty()) rmdir(cgroup.c_str());
  }

  static std::string currentCgroup() {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("0::")) return line.substr(3);
    }
    return "/";
  }
  static void moveTo(const std::string& dir) { std::ofstream(dir + "/cgroup.procs") << getpid(); }
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

void reportPercentiles(benchmark::State& state, std::vector<std::uint64_t>& samples) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  state.counters["p50_ns"] = static_cast<double>(samples[samples.size() / 2]);
  state.counters["p99_ns"] = static_cast<double>(samples[samples.size() * 99 / 100]);
}

// Attributor::attribute() for a recorded flow: the flow-map lookup syscall and key building.
void BM_AttributeFlowHit(benchmark::State& state) {
  Fixture& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  std::vector<std::uint64_t> samples;
  samples.reserve(1 << 20);
  for (auto _ : state) {
    const std::uint64_t t0 = warden::base::monotonicNs();
    benchmark::DoNotOptimize(f.attributor->attribute(f.packet, NF_INET_LOCAL_OUT, true));
    const std::uint64_t t1 = warden::base::monotonicNs();
    if (samples.size() < samples.capacity()) samples.push_back(t1 - t0);
  }
  reportPercentiles(state, samples);
}
BENCHMARK(BM_AttributeFlowHit);

// The same, then the process-table lookup the profile matcher needs.
void BM_AttributeAndDescribe(benchmark::State& state) {
  Fixture& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const Attribution first = f.attributor->attribute(f.packet, NF_INET_LOCAL_OUT, true);
  f.attributor->describeWithin(first, std::chrono::seconds(2));
  std::vector<std::uint64_t> samples;
  samples.reserve(1 << 20);
  for (auto _ : state) {
    const std::uint64_t t0 = warden::base::monotonicNs();
    const Attribution a = f.attributor->attribute(f.packet, NF_INET_LOCAL_OUT, true);
    benchmark::DoNotOptimize(f.attributor->describe(a));
    const std::uint64_t t1 = warden::base::monotonicNs();
    if (samples.size() < samples.capacity()) samples.push_back(t1 - t0);
  }
  reportPercentiles(state, samples);
}
BENCHMARK(BM_AttributeAndDescribe);

// A miss of a packet without a uid: kernel traffic, decided without sock_diag.
void BM_AttributeKernelMiss(benchmark::State& state) {
  Fixture& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  PacketInfo stray = f.packet;
  stray.sourcePort = 1;
  std::vector<std::uint64_t> samples;
  samples.reserve(1 << 20);
  for (auto _ : state) {
    const std::uint64_t t0 = warden::base::monotonicNs();
    benchmark::DoNotOptimize(f.attributor->attribute(stray, NF_INET_LOCAL_OUT, false));
    const std::uint64_t t1 = warden::base::monotonicNs();
    if (samples.size() < samples.capacity()) samples.push_back(t1 - t0);
  }
  reportPercentiles(state, samples);
}
BENCHMARK(BM_AttributeKernelMiss);

}  // namespace
