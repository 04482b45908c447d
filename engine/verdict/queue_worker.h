#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/heartbeat.h"
#include "base/repeated_log.h"
#include "base/unique_fd.h"
#include "db/log_producer.h"
#include "engine/attribution/attributor.h"
#include "engine/dns/dns_confirmer.h"
#include "engine/dns/dns_snoop.h"
#include "engine/dns/host_cache.h"
#include "engine/dns/pending_dns_queries.h"
#include "engine/netfilter/marks.h"
#include "engine/netfilter/nfqueue.h"
#include "engine/netfilter/queue_counters.h"
#include "engine/verdict/deferred_release.h"
#include "engine/verdict/flow_decision.h"
#include "engine/verdict/kernel_verdicts.h"
#include "engine/verdict/owner_lookup.h"
#include "engine/verdict/packet_source.h"
#include "engine/verdict/policy_slot.h"
#include "engine/verdict/prompt_broker.h"
#include "engine/verdict/recent_decisions.h"

namespace warden::engine {

// The thread that serves one NFQUEUE: reads first packets, decides, and gives every packet
// a verdict. Nothing on its path reads /proc or waits on the database. Beside the queue's
// own syscalls it makes none: attribution reads the eBPF mirror in memory (a bpf map lookup
// only for a flow the mirror lost); a process it has met before is described from its own
// memory (no lock); a logged flow's row shares the process's strings and the profile's name
// and holds the host name inline. Once warm, the path neither allocates nor frees (but see
// db::LogHost for very long host names): what it would free is put off until the queue is
// empty (see retired_).
// It has its queue and attribution through PacketSource and OwnerLookup, so that tests serve
// it fakes, with no kernel.
// A first packet of a process whose description is not there yet (it has just started, its
// exec event still on its way to the tracker) is parked: the kernel keeps the packet while
// the worker serves the rest of its queue, and it gets its verdict once the description
// arrives or the owner lookup's describeWait is over, whichever comes first.
// While a `warden prompt` client is connected (see PromptBroker), a first packet that the
// engine default would decide for a process no profile matches is held too, a second kind of
// wait: until an answer comes, [prompt] timeout passes (the engine verdict), or the last
// client leaves (the engine verdict, at once); at most [prompt] hold such flows across the
// workers. A later packet of a held flow (a SYN sent again, another datagram) is dropped
// meanwhile: nothing of the flow passes before the answer.
// A verdict that fails to send for a passing reason (ENOBUFS, ENOMEM, EINTR, EAGAIN) is sent
// again, up to kVerdictAttempts times in all: a packet without a verdict stays in the kernel
// until the queue goes, its connection hanging.
// A queue that fails for good (poll or receive with anything but EINTR or ENOBUFS, which are
// retried and counted) ends the worker: every packet it holds gets its verdict, then its
// owner is told (onFailure), who must stop the daemon: a queue nobody reads drops or passes
// every new flow (as `fail` says) without a decision.
class QueueWorker {
 public:
  // Called once, on the worker's thread, when its queue failed for good and every packet it
  // held has had its verdict; the thread ends right after.
  using FailureHandler = std::function<void(const base::Error& error)>;
  // Monotonic nanoseconds: what latencies and parked packets' waits are measured by (tests
  // move it by hand).
  using Clock = std::uint64_t (*)();
  static constexpr int kVerdictAttempts = 3;
  // First packets parked at most: once every place is taken (a storm of new processes), a
  // packet waits for its description on the worker's thread (describeForVerdict), as bounded.
  static constexpr std::size_t kMaxParked = 128;
  // Processes the worker remembers (their descriptions and profile choices), direct-mapped by
  // ProcessKeyHash; bounds what it keeps alive.
  static constexpr std::size_t kKnownProcesses = 64;

  // Serves `source`; `owners` (may be null: then the queue's uid alone separates process from
  // kernel packets) names the process behind each packet. `log` receives one row per decided
  // flow (a detached producer: no verdict log). `hosts` (may be null: no host names) is where
  // DNS replies are recorded and outbound flows' remote addresses are named, `dnsQueries`
  // where the queries those replies must answer are kept (both or neither); they must outlive
  // the worker.
  QueueWorker(std::unique_ptr<PacketSource> source, const PolicySlot& policy, MarkBits marks,
              db::LogProducer log, std::unique_ptr<OwnerLookup> owners, HostCache* hosts,
              PendingDnsQueries* dnsQueries, Clock clock = base::monotonicNs);
  // The daemon's: serves `queue` and asks `attributor` (may be null; shared by the workers, it
  // must outlive them).
  QueueWorker(NfQueue queue, const PolicySlot& policy, MarkBits marks, db::LogProducer log,
              Attributor* attributor = nullptr, HostCache* hosts = nullptr,
              PendingDnsQueries* dnsQueries = nullptr);
  ~QueueWorker();
  QueueWorker(const QueueWorker&) = delete;
  QueueWorker& operator=(const QueueWorker&) = delete;

  // Before start(): holds flows for `broker`'s prompt clients, as its worker `slot` (see
  // PromptBroker::wakeFd). The broker must outlive the worker.
  void servePrompts(PromptBroker* broker, std::size_t slot) {
    prompts_ = broker;
    promptSlot_ = slot;
  }
  // Before start(): also holds its decisions in the kernel (see KernelVerdicts), which must
  // outlive the worker.
  void holdVerdicts(KernelVerdicts* kernelVerdicts) { kernelVerdicts_ = kernelVerdicts; }
  // Before start(), with host names: opens the worker's DnsConfirmer, whose ports it adds to
  // `ports`, the set every worker shares (it must outlive them, and be filled by every
  // worker before the first starts). Without it, replies from other hosts teach nothing.
  [[nodiscard]] base::Result<void> confirmDns(DnsConfirmerPorts& ports);
  // Before start(). Without a handler a failure is only logged.
  void onFailure(FailureHandler handler) { onFailure_ = std::move(handler); }
  [[nodiscard]] base::Result<void> start();
  // Asks the worker to give a verdict to everything still queued, then stop. Call once the
  // table no longer queues, so that nothing new arrives; then join().
  void drainAndStop();
  void join();

  std::uint16_t queueNumber() const { return source_->number(); }
  const QueueCounters& counters() const { return counters_; }
  // Beaten (on clock_) at every turn of the worker's loop, at least once a second even when
  // no packet comes, and for every batch read: the daemon's watchdog reads it.
  const base::Heartbeat& heartbeat() const { return heartbeat_; }

 private:
  // A first packet between its reading and its verdict.
  struct Pending {
    std::uint32_t id = 0;
    std::uint32_t mark = 0;
    std::uint64_t started = 0;   // monotonic ns, when it was read
    std::uint64_t deadline = 0;  // parked: when to stop waiting for the description
    rules::Flow flow;            // host left empty: see named()
    DnsName host;                // the remote address's name, if DNS gave one
    FlowOwner owner;
    bool portsNameFlow = false;  // see recentDecisions_
    bool dnsQuery = false;       // the packet is a DNS query: remembered if the flow is accepted
    KernelVerdicts::Ticket heldTicket;  // KernelVerdicts::ticket() before `host` was read
    DnsExchange query;

    // The flow with its host name (a view into `host`, so taken after every move).
    rules::Flow named() const;
  };

  // A complete description this worker has used, by process, image and exec generation (as
  // the socket record names them). Complete descriptions
  // never change, so a hit needs neither the process table's lock nor the tracker.
  // The profile it gets depends on the process alone, so it is kept here too, for the policy
  // it was chosen under (a reload publishes a new generation).
  struct KnownProcess {
    ProcessKey key;
    std::uint32_t exeDev = 0;
    std::uint64_t exeIno = 0;
    std::uint64_t execId = 0;  // the flow records' exec generation (an exec of the same file)
    std::shared_ptr<const ProcessDescription> info;
    std::uint64_t selectedIn = ~0ull;  // PolicySlot generation of `selection`
    std::optional<rules::ProfileSelection> selection;
  };
  // Descriptions displaced from known_ between two idle moments, at most.
  static constexpr std::size_t kRetiredProcesses = 64;

  // A first packet held for a prompt's answer.
  struct Held {
    Pending pending;
    std::uint64_t question = 0;
    std::uint64_t deadline = 0;  // clock_: when the engine verdict is given instead
  };

  void run();
  // Whether a flow decided so is one to ask about: the engine default for a process no
  // profile matches, enforced.
  static bool asksAbout(const rules::Decision& decision, const FlowOwner& owner);
  // Holds the packet for a question; false when it is to be decided now.
  bool hold(const PolicySnapshot& snapshot, const Pending& pending);
  // Held packets whose question was resolved or whose deadline passed get their verdict;
  // every one of them with `releaseAll` (stopping, or the queue lost).
  void serveHeld(bool releaseAll);
  // The poll timeout while packets wait (parked or held).
  int pollTimeoutMs() const;
  // Reads and serves what waits; an error only when the queue failed for good.
  [[nodiscard]] base::Result<void> serveWaiting();
  // The queue is lost: verdicts for what is parked, then the owner is told.
  void fail(const base::Error& error);
  void serveParked();
  std::shared_ptr<const ProcessDescription> describe(const Attribution& attribution);
  void handle(const QueuedPacket& packet);
  void passDns(const QueuedPacket& packet);
  // Whether the first packet of a flow is one of wardend's own confirming queries; `owner`
  // is its attribution when one was made.
  bool ownDnsQuery(const QueuedPacket& packet, const PacketInfo& info, Attribution& owner);
  // Replies whose confirmation ended get their verdict; all of them with `releaseAll`.
  // `readable`: poll found something on the confirmer's sockets.
  void serveConfirmations(bool releaseAll, bool readable = false);
  void followHashing(const PolicySnapshot& snapshot);
  // `mayHold`: false for a held packet let go without an answer (it is not asked about again).
  void decideAttributed(const PolicySnapshot& snapshot, const Pending& pending,
                        bool mayHold = true);
  std::optional<rules::ProfileSelection>* rememberedSelection(const PolicySnapshot& snapshot,
                                                              const FlowOwner& owner);
  void conclude(const PolicySnapshot& snapshot, const Pending& pending,
                const rules::Decision& decision);
  // Sends a verdict, again while it fails for a passing reason; counts what it could not send.
  void sendVerdict(std::uint32_t id, Verdict verdict, const std::uint32_t* mark);

  std::unique_ptr<PacketSource> source_;
  PolicySlot::Reader policy_;
  MarkBits marks_;
  db::LogProducer log_;
  std::unique_ptr<OwnerLookup> owners_;             // process attribution (null: none)
  HostCache* hosts_ = nullptr;                      // host names from DNS (thread-safe, shared)
  PendingDnsQueries* dnsQueries_ = nullptr;         // what DNS replies must answer (same)
  std::unique_ptr<DnsConfirmer> confirmer_;         // this worker's (null: not confirming)
  const DnsConfirmerPorts* ownDnsPorts_ = nullptr;  // every worker's confirmers' ports
  std::unique_ptr<UnconfirmedReply> unconfirmed_;   // a reply read, allocated once
  std::vector<DnsConfirmer::Held> confirmed_;       // replies to let go, allocated once
  bool confirming_ = true;                 // false once stopping: replies are no longer held
  Clock clock_;                            // what waits and latencies are timed by
  std::uint64_t hashingRevision_ = ~0ull;  // policy revision image hashing was set for
  // Lost verdicts and overruns are counted, and logged at most once a minute each.
  base::RepeatedLog verdictLoss_;
  base::RepeatedLog overruns_;
  QueueCounters counters_;
  base::Heartbeat heartbeat_;
  FailureHandler onFailure_;
  base::UniqueFd stopFd_;  // eventfd, made by start()
  std::vector<QueuedPacket> batch_;
  std::vector<Pending> parked_;               // capacity reserved up front, never grown
  PromptBroker* prompts_ = nullptr;           // null: nothing is held for a prompt
  KernelVerdicts* kernelVerdicts_ = nullptr;  // null: decisions are not held in the kernel
  std::size_t promptSlot_ = 0;
  bool holding_ = true;  // false once stopping: nothing new is held
  std::vector<Held> held_;
  std::vector<PromptResolution> resolutions_;
  std::array<KnownProcess, kKnownProcesses> known_;
  // Descriptions that gave way in known_: one may be the last reference to an exited
  // process's, whose strings and vectors run() frees when the queue is empty rather than on a
  // packet's path.
  DeferredRelease<const ProcessDescription, kRetiredProcesses> retired_;
  // The decisions logged lately: a flow decided again the same way (a SYN sent again) is not
  // logged again, only counted (counters_.repeats).
  RecentDecisions recentDecisions_;
  std::thread thread_;
};

}  // namespace warden::engine
