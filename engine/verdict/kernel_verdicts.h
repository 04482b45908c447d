#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bpf/attribution.h"
#include "db/log_producer.h"
#include "db/log_row.h"
#include "engine/dns/dns.h"
#include "engine/verdict/flow_decision.h"
#include "rules/address.h"
#include "rules/config.h"
#include "rules/decision.h"
#include "rules/flow.h"
#include "rules/rule_hits.h"

namespace warden::engine {

// Whether a decision may be held in the kernel (SPEC section 12), so that the process's next
// flow to the same destination is decided at its connect or sendmsg: an outbound TCP or UDP
// flow, decided and enforced by a rule or a default (not learn mode, not a prompt's answer,
// not the `unknown`/`kernel` verdicts), of a process the eBPF hooks recorded at the socket call
// and that was described for exactly that call's image (exec generation, executable) and uid,
// so that the key the hooks compute names what the decision was made for. DNS queries are
// never held while `dns` is on: their replies teach host names only to the flows wardend
// saw the query of.
bool holdable(const rules::Config& config, const rules::Decision& decision, const FlowOwner& owner,
              const rules::Flow& flow);

// The held_verdicts key of an outbound flow decided for `owner`, in the network namespace of
// cookie `netnsCookie` (wardend's: its table sees only that namespace's packets).
warden_held_key heldKeyOf(const rules::Flow& flow, const warden_owner& owner,
                          std::uint64_t netnsCookie);

// One live entry, as `warden explain` lists it.
struct HeldEntry {
  rules::Action action = rules::Action::kAllow;
  std::uint8_t protocol = 0;
  rules::IpAddress remote;
  std::uint16_t remotePort = 0;
  std::uint64_t hits = 0;
  std::uint64_t expiresInNs = 0;
};

// What `warden status` shows.
struct HeldSummary {
  bool enabled = false;
  std::uint32_t capacity = 0;
  std::uint32_t ttlS = 0;
  std::uint64_t entries = 0;  // live: decided under the policy in force, not expired
  std::uint64_t stored = 0;   // in the map, live or not (the LRU drops the rest by and by)
  std::uint64_t written = 0;
  std::uint64_t writeErrors = 0;
  std::uint64_t epochErrors = 0;   // held_state not written: every entry removed, holding off
  std::uint64_t reloads = 0;       // policies replaced: everything held before stopped applying
  std::uint64_t dnsForgotten = 0;  // entries dropped because their address's name changed
  std::uint64_t logged = 0;        // rows of held flows handed to the log
  std::uint64_t unlogged = 0;      // held flows whose row could not be made (no record of it)
  std::uint64_t logFull = 0;       // decisions not held: no room to keep their row's record
};

// The decisions held in the kernel: what the workers decided, written into the map the
// connect and sendmsg hooks read (bpf/attribution.h), and the bookkeeping around it. The maps
// are the eBPF program's; this class only writes, reads and deletes their entries.
//
// Validity: every entry carries the epoch it was decided under, and the hooks apply it only
// while held_state names that epoch: one write retires everything held before. A new epoch
// begins with every policy (setPolicy: the PolicySlot generation a decision was made under
// must be the one in force) and whenever held_names is full. An entry also ends with its TTL,
// with the DNS answer that named its remote address (its expiry), and when DNS gives that
// address another name (held_names, see forgetAddress). What the key holds (exec generation,
// uid) retires it when the process execs or changes uid.
//
// Verdict-log rows of held flows: a decision whose flow is logged keeps its row here (its
// process, profile and rule), keyed like the entry, and every held flow the programs report
// gets a copy stamped with its time and local end. At most kMaxRows are kept; once a decision
// found them full, no logged decision is held (its flows go on through the queue, and are
// logged), not even one whose key has a row, until maintain() drops the rows of entries that
// no longer apply (or a new policy drops them all).
//
// Thread-safety: hold() and ticket() from the workers, logHeld() from the process
// tracker's thread (the only user of the log producer), forgetAddress() from whichever thread
// records DNS answers, the rest from the control thread.
class KernelVerdicts {
 public:
  static constexpr std::size_t kMaxRows = 4096;

  struct Maps {
    int verdicts = -1;  // held_verdicts
    int state = -1;     // held_state
    int names = -1;     // held_names
    // The programs' per-CPU counters (WARDEN_CTR_*): creditHits() skips its walk of
    // held_verdicts while the held flows counted there stay as they were. -1: always walks.
    int counters = -1;
  };

  // `maps` are borrowed (they must outlive this); `capacity` is held_verdicts' size. `log`
  // receives the rows of held flows.
  KernelVerdicts(Maps maps, std::uint32_t capacity, std::uint64_t netnsCookie, db::LogProducer log);
  KernelVerdicts(const KernelVerdicts&) = delete;
  KernelVerdicts& operator=(const KernelVerdicts&) = delete;
  ~KernelVerdicts();

  // From here on hold() queues its entries and a thread of this object writes them, the
  // entries of up to `interval` in one bpf(2) call: a worker makes no bpf(2) call to hold (it
  // wakes the thread when it finds the queue empty, a futex call a turn), and a burst of
  // decisions costs one call, not one each. Without it, hold() writes each entry at
  // once. An entry carries everything that decides whether it applies (epoch, name number,
  // expiry), so written late it is as right as written at once: one decided under a policy
  // replaced meanwhile is written, and never applies.
  void startWriter(std::chrono::microseconds interval);
  // Writes what is queued and stops that thread; call it once no worker calls hold() any
  // more (an entry queued after it would never be written), and before the maps go (the
  // destructor calls it too, for tests: the daemon's maps are gone by then).
  void stopWriter();
  // Writes what hold() queued so far (the writer's turn; tests).
  void flush();

  // The policy in force (its PolicySlot generation), and whether to hold at all; what was held
  // before stops applying. False when the kernel's state could not be written. `until`: when
  // its first rule expires (Policy::nextExpiry), past which nothing held under it applies: a
  // held verdict must not outlive the rule it rested on while no wardend runs to reload.
  bool setPolicy(std::uint64_t policyGeneration, bool enabled, std::uint32_t ttlS,
                 std::optional<std::chrono::sys_seconds> until = std::nullopt);

  // What a worker reads before it decides a flow (before it looks up the name of the remote
  // address, and before it asks whether a prompt client is connected), and hands to hold(),
  // which holds nothing when a name changed meanwhile (the decision may rest on the old one)
  // or a new epoch began (a policy, retireAll(): a prompt client that connected after the
  // worker found none would otherwise see the decision held under the epoch meant to retire
  // what was decided without it).
  struct Ticket {
    std::uint64_t namesVersion = 0;  // changes with every forgetAddress()
    std::uint64_t epoch = 0;         // current_: changes with every new epoch
  };
  Ticket ticket() const {
    // The epoch first: a rename's new epoch (held_names full) shows in one or the other.
    const std::uint64_t epoch = current_.load(std::memory_order_acquire);
    return {namesVersion_.load(std::memory_order_acquire), epoch};
  }

  // Holds `action` for the flow, decided for `owner` under the policy of generation
  // `policyGeneration` (see holdable()); `host` is the name the decision saw for the remote
  // address (empty: none), whose expiry bounds the entry's. `hitCounter`: the policy's hit
  // counter of the deciding rule (RuleHits::counterOf), which creditHits() adds its flows to.
  // `row`: the flow's verdict-log row when it is logged. Call after the flow's verdict was
  // given: it makes a bpf(2) call unless a writer thread was started.
  void hold(std::uint64_t policyGeneration, const Ticket& ticket, const rules::Flow& flow,
            const DnsName& host, const FlowOwner& owner, rules::Action action,
            std::optional<std::uint32_t> hitCounter, const db::LogRow* row);

  // Control thread: adds the flows held verdicts decided since the last call to the hit
  // counters of the rules that made them (`hits`: the RuleHits of the policy in force, whose
  // counters the entries name), so that `warden rules` counts them as it counts the queue's.
  // Call before a new policy is set, with the one it replaces: what was held under it counts
  // there. Flows an entry decided after the last call are lost when a later decision of the
  // queue replaces the entry (it starts again from 0): the daemon calls this every 2 s.
  void creditHits(const rules::RuleHits& hits);

  // The name of `address` changed (HostCache's observer, called once the new name is in
  // place): whatever was decided with the old one (or with none) stops applying.
  void forgetAddress(const rules::IpAddress& address);

  // A held flow the programs reported (WARDEN_EVENT_HELD): its row goes to the log.
  void logHeld(const warden_held_event& event);

  // Everything held so far stops applying (a `warden prompt` client connected: flows it is
  // to be asked about may have been decided without it).
  void retireAll() { newEpoch(std::nullopt); }

  // Control thread, every few seconds: drops the kept rows of entries that no longer apply
  // (expired, or of an epoch before), so that hold() on the workers never has to; empties
  // held_names once it filled up (retiring every entry, which may have been decided with a
  // name it forgot).
  void maintain();

  HeldSummary summary() const;
  // The live entries of process `tgid` started at `startTicks` (ProcessKey's clock ticks).
  std::vector<HeldEntry> entriesOf(std::uint32_t tgid, std::uint64_t startTicks) const;

 private:
  struct KeyHash {
    std::size_t operator()(const warden_held_key& key) const noexcept;
  };
  struct KeyEqual {
    bool operator()(const warden_held_key& a, const warden_held_key& b) const noexcept;
  };
  struct KeptRow {
    db::LogRow row;
    std::uint64_t epoch = 0;
    std::uint64_t expiresNs = 0;
  };
  // The flows the programs counted as decided by a held verdict (WARDEN_CTR_HELD_ALLOW to
  // _REJECT); nullopt when unknown.
  std::optional<std::uint64_t> heldFlows() const;
  // Calls `visit(key, value)` for every entry of held_verdicts; false when a failed read ended
  // the walk early.
  template <typename Visit>
  bool walk(Visit visit) const;
  // Entries hold() queued for the writer, in the order they were decided: keys and values
  // apart, as bpf_map_update_batch takes them.
  struct Batch {
    std::vector<warden_held_key> keys;
    std::vector<warden_held_verdict> values;
  };
  // Writes `batch` into held_verdicts and empties it.
  void write(Batch& batch);
  void writerLoop(std::chrono::microseconds interval);
  // Starts a new epoch (for the same policy unless `policyGeneration` is given) and writes it
  // into held_state: everything held before stops applying. Should the kernel refuse that
  // write, every entry is removed instead and nothing is held until a later call succeeds
  // (false).
  bool newEpoch(std::optional<std::uint64_t> policyGeneration);
  // Removes every entry of held_verdicts and what is queued for it; the entries that could
  // not be removed.
  std::size_t removeAll();
  std::uint32_t epoch() const;

  const Maps maps_;
  const std::uint32_t capacity_;
  const std::uint64_t netnsCookie_;
  // The policy generation (high half, truncated) and the epoch entries are written with (low
  // half; 0 never, as held_state's 0 means "nothing held"): read together by the workers.
  std::atomic<std::uint64_t> current_{0};
  std::atomic<std::uint32_t> ttlS_{600};
  std::atomic<std::int64_t> untilUnixS_{0};  // setPolicy's `until`; 0: no rule expires
  std::atomic<bool> enabled_{false};
  std::mutex epochMutex_;                      // serializes newEpoch()
  std::atomic<std::uint32_t> policyEpoch_{0};  // the first epoch of the policy in force
  // Serializes forgetAddress() and maintain()'s emptying of held_names (taken before
  // epochMutex_, never after it).
  std::mutex namesMutex_;
  std::atomic<std::uint64_t> namesVersion_{0};
  std::atomic<std::uint64_t> nameGeneration_{0};
  std::atomic<bool> namesFull_{false};

  // Per entry that decided any flow, the flows already credited (creditHits), and which holding
  // of the key they were of (its expiry: a new decision for the key writes another). Control
  // thread only.
  struct Credited {
    std::uint64_t expiresNs = 0;
    std::uint64_t hits = 0;
  };
  std::unordered_map<warden_held_key, Credited, KeyHash, KeyEqual> credited_;
  std::optional<std::uint64_t> creditedFlows_;  // heldFlows() when the last walk began

  mutable std::mutex rowsMutex_;
  std::unordered_map<warden_held_key, KeptRow, KeyHash, KeyEqual> rows_;  // guarded
  // Set when a decision found rows_ full, cleared when maintain() or setPolicy() made room:
  // read by hold() without the lock.
  std::atomic<bool> rowsFull_{false};
  db::LogProducer log_;

  // The writer (startWriter): hold() appends to queued_ and wakes it when it was empty; it
  // takes the whole batch at each turn. flushMutex_ keeps batches written in their order.
  std::atomic<bool> deferred_{false};
  std::mutex queueMutex_;
  std::condition_variable queueFilled_;
  Batch queued_;                 // guarded by queueMutex_
  bool writerStopping_ = false;  // guarded by queueMutex_
  std::mutex flushMutex_;
  Batch writing_;  // guarded by flushMutex_: the batch being written, emptied after
  std::thread writer_;

  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> writeErrors_{0};
  std::atomic<std::uint64_t> epochErrors_{0};
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> dnsForgotten_{0};
  std::atomic<std::uint64_t> logged_{0};
  std::atomic<std::uint64_t> unlogged_{0};
  std::atomic<std::uint64_t> logFull_{0};
};

}  // namespace warden::engine
