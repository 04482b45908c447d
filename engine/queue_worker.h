#pragma once

#include <thread>
#include <vector>

#include "engine/counters.h"
#include "engine/marks.h"
#include "engine/nfqueue.h"
#include "engine/policy_store.h"

namespace warden::engine {

class Attributor;

// The thread that serves one NFQUEUE: reads first packets, decides, and gives every packet
// a verdict. Nothing on its path locks, allocates in steady state, or reads /proc.
class QueueWorker {
 public:
  // `attributor` (may be null: then the queue's uid alone separates process from kernel
  // packets) must outlive the worker.
  QueueWorker(NfQueue queue, const PolicyStore& policy, MarkBits marks,
              Attributor* attributor = nullptr);
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

  NfQueue queue_;
  PolicyStore::Reader policy_;
  MarkBits marks_;
  QueueCounters counters_;
  Attributor* attributor_ = nullptr;  // process attribution (thread-safe, shared by workers)
  int stopFd_ = -1;  // eventfd
  std::vector<QueuedPacket> batch_;
  std::thread thread_;
};

}  // namespace warden::engine
