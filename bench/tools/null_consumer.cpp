// null_consumer: the floor of the NFQUEUE design. Installs the same `inet warden` table as
// wardend and serves the same queues with one thread each, but accepts every packet without
// parsing or deciding anything. Runs until SIGINT/SIGTERM, then removes the table.
//   null_consumer FIRST_QUEUE COUNT [--blocking]
// --blocking: each thread waits in a blocking recv (as bench/tools/plain_consumer does) instead
// of wardend's loop (poll, then read until the queue is empty): what that loop costs.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "engine/netfilter/marks.h"
#include "engine/netfilter/nfqueue.h"
#include "engine/netfilter/nft_table.h"

using namespace warden::engine;

namespace {

void serve(NfQueue& queue, MarkBits marks, int stopFd) {
  preferQueueThread();  // as wardend's workers do: the floor gets the same scheduling
  std::vector<QueuedPacket> batch;
  batch.reserve(64);
  pollfd fds[2] = {{queue.fd(), POLLIN, 0}, {stopFd, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) continue;
    for (;;) {
      batch.clear();
      auto got = queue.receive(batch, false);
      if (!got || *got == 0) break;
      for (const auto& packet : batch) {
        const std::uint32_t mark = marks.withValue(packet.mark, marks.accept());
        (void)queue.verdict(packet.id, Verdict::kAccept, &mark);
      }
    }
    if (fds[1].revents & POLLIN) return;
  }
}

// One blocking recv per wake-up, nothing else: the thread ends with the process (_exit).
void serveBlocking(NfQueue& queue, MarkBits marks) {
  preferQueueThread();
  std::vector<QueuedPacket> batch;
  batch.reserve(64);
  for (;;) {
    batch.clear();
    auto got = queue.receive(batch, true);
    if (!got) continue;
    for (const auto& packet : batch) {
      const std::uint32_t mark = marks.withValue(packet.mark, marks.accept());
      (void)queue.verdict(packet.id, Verdict::kAccept, &mark);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: null_consumer FIRST_QUEUE COUNT\n");
    return 2;
  }
  const auto first = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const auto count = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const bool blocking = argc > 3 && std::string_view(argv[3]) == "--blocking";
  auto signalFd = warden::base::makeSignalFd({SIGINT, SIGTERM});
  if (!signalFd) {
    std::fprintf(stderr, "null_consumer: %s\n", signalFd.error().message().c_str());
    return 1;
  }

  const MarkBits marks{0x00f00000};
  auto method = NftTable::probeQueueMethod();
  if (!method) return 1;
  std::vector<NfQueue> queues;
  for (std::uint16_t q = first; q < first + count; ++q) {
    auto queue = NfQueue::open({q, 4096, true});
    if (!queue) {
      std::fprintf(stderr, "null_consumer: %s\n", queue.error().message().c_str());
      return 1;
    }
    queues.push_back(std::move(*queue));
  }
  TablePlan plan;
  plan.method = *method;
  plan.firstQueue = first;
  plan.queueCount = count;
  plan.marks = marks;
  if (auto installed = NftTable::install(plan); !installed) {
    std::fprintf(stderr, "null_consumer: %s\n", installed.error().message().c_str());
    return 1;
  }
  auto stopFd = warden::base::makeEventFd(0, "creating the stop eventfd");
  if (!stopFd) {
    std::fprintf(stderr, "null_consumer: %s\n", stopFd.error().message().c_str());
    (void)NftTable::remove();
    return 1;
  }
  std::vector<std::thread> threads;
  for (auto& queue : queues) {
    if (blocking) {
      std::thread([&queue, marks] { serveBlocking(queue, marks); }).detach();
      continue;
    }
    threads.emplace_back([&queue, marks, fd = stopFd->get()] { serve(queue, marks, fd); });
  }
  std::printf("ready\n");
  std::fflush(stdout);
  signalfd_siginfo info;
  (void)!read(signalFd->get(), &info, sizeof info);
  (void)NftTable::remove();
  if (blocking) _exit(0);  // its threads still wait in recv on the queues main would free
  const std::uint64_t one = 1;
  (void)!write(stopFd->get(), &one, sizeof one);
  for (auto& t : threads) t.join();
  return 0;
}
