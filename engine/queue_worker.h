#pragma once

#include <thread>
#include <vector>

#include "db/log_producer.h"
#include "engine/attributor.h"
#include "engine/counters.h"
#include "engine/flow_decision.h"
#include "engine/host_cache.h"
#include "engine/marks.h"
#include "engine/nfqueue.h"
#include "engine/policy_store.h"

namespace warden::engine {

// The thread that serves one NFQUEUE: reads first packets, decides, and gives every packet
// a verdict. Nothing on its path locks, allocates in steady state, or reads /proc.
class QueueWorker {
 public:
  // `log` receives one row per decided flow (a detached producer: no verdict log).
  // `attributor` (may be null: then the queue's uid alone separates process from kernel
  // packets) must outlive the worker. `hosts` (may be null: no host names) is where DNS
  // replies are recorded and outbound flows' remote addresses are named; it must outlive
  // the worker too.
  QueueWorker(NfQueue queue, const PolicyStore& policy, MarkBits marks, db::LogProducer log,
              Attributor* attributor = nullptr, HostCache* hosts = nullptr);
  ~QueueWorker();
  QueueWorker(const QueueWorker&) = delete;
  QueueWorker& operator=(const QueueWorker&) = delete;

  void start();
  // Asks the worker to give a verdict to everything still queued, then stop. Call once the
  // table no longer queues, so that nothing new arrives; then join().
  void drainAndStop();
  void join();

  std::uint16_t queueNumber() const { return queue_.number(); }
  const QueueCounters& counters() const { return counters_; }

 private:
  void run();
  void serveWaiting();
  void handle(const QueuedPacket& packet);
  void passDnsReply(const QueuedPacket& packet);
  void logDecision(const PolicySnapshot& snapshot, const rules::Decision& decision,
                   const rules::Flow& flow, std::uint64_t latencyNs, const FlowOwner& owner);
  rules::Decision decideAttributed(const PolicySnapshot& snapshot, const QueuedPacket& packet,
                                   const PacketInfo& info, const rules::Flow& flow,
                                   FlowOwner& owner);

  NfQueue queue_;
  PolicyStore::Reader policy_;
  MarkBits marks_;
  db::LogProducer log_;
  Attributor* attributor_ = nullptr;       // process attribution (thread-safe, shared by workers)
  HostCache* hosts_ = nullptr;             // host names from DNS (thread-safe, shared)
  std::uint64_t hashingRevision_ = ~0ull;  // policy revision image hashing was set for
  QueueCounters counters_;
  int stopFd_ = -1;  // eventfd
  std::vector<QueuedPacket> batch_;
  std::thread thread_;
};

}  // namespace warden::engine
