#include "engine/verdict/kernel_verdicts.h"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/clock.h"
#include "base/logging.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/dns/host_cache.h"

namespace warden::engine {
namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

std::uint32_t heldAction(rules::Action action) {
  switch (action) {
    case rules::Action::kAllow:
      return WARDEN_HELD_ALLOW;
    case rules::Action::kDeny:
      return WARDEN_HELD_DENY;
    case rules::Action::kReject:
      return WARDEN_HELD_REJECT;
  }
  return WARDEN_HELD_DENY;
}

rules::Action actionOf(std::uint32_t held) {
  switch (held) {
    case WARDEN_HELD_ALLOW:
      return rules::Action::kAllow;
    case WARDEN_HELD_REJECT:
      return rules::Action::kReject;
    default:
      return rules::Action::kDeny;
  }
}

}  // namespace

bool holdable(const rules::Config& config, const rules::Decision& decision, const FlowOwner& owner,
              const rules::Flow& flow) {
  if (!config.kernelVerdicts || decision.learn) return false;
  switch (decision.by) {
    case rules::DecidedBy::kGlobalRule:
    case rules::DecidedBy::kProfileRule:
    case rules::DecidedBy::kProfileDefault:
    case rules::DecidedBy::kEngineDefault:
      break;
    case rules::DecidedBy::kUnknown:  // what is not known now may be known at the next flow
    case rules::DecidedBy::kKernel:
    case rules::DecidedBy::kPrompt:  // a person's answer, "once" included
      return false;
  }
  if (flow.direction != rules::Direction::kOut) return false;
  if (flow.ipProto != IPPROTO_TCP && flow.ipProto != IPPROTO_UDP) return false;
  if (config.dns && flow.remotePort == 53) return false;
  const Attribution& attribution = owner.attribution;
  if (attribution.kind != OwnerKind::kProcess || attribution.via != Attribution::Via::kFlowMap) {
    return false;
  }
  const ProcessDescription* process = owner.process.get();
  return process != nullptr && process->complete && process->match != nullptr &&
         process->source != ProcessSource::kOwnerOnly && process->execId != 0 &&
         process->execId == attribution.owner.exec_id &&
         process->exeKernelDev == attribution.owner.exe_dev &&
         process->exeInode == attribution.owner.exe_ino && process->uid == attribution.owner.uid;
}

warden_held_key heldKeyOf(const rules::Flow& flow, const warden_owner& owner,
                          std::uint64_t netnsCookie) {
  warden_held_key key;
  std::memset(&key, 0, sizeof key);
  key.start_time_ns = owner.start_time_ns;
  key.exec_id = owner.exec_id;
  key.netns_cookie = netnsCookie;
  std::memcpy(key.remote_addr, flow.remote.bytes.data(), sizeof key.remote_addr);
  key.tgid = owner.tgid;
  key.uid = owner.uid;
  key.remote_port = flow.remotePort;
  key.protocol = flow.ipProto;
  key.direction = WARDEN_HELD_OUT;
  return key;
}

std::size_t KernelVerdicts::KeyHash::operator()(const warden_held_key& key) const noexcept {
  std::uint64_t words[sizeof key / 8];
  std::memcpy(words, &key, sizeof key);
  std::uint64_t hash = 0;
  for (std::uint64_t word : words) hash = (hash ^ word) * 0x9e3779b97f4a7c15ull;
  return static_cast<std::size_t>(hash ^ (hash >> 29));
}

bool KernelVerdicts::KeyEqual::operator()(const warden_held_key& a,
                                          const warden_held_key& b) const noexcept {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

static_assert(sizeof(warden_held_key) % 8 == 0, "KeyHash reads the key as words");

KernelVerdicts::KernelVerdicts(Maps maps, std::uint32_t capacity, std::uint64_t netnsCookie,
                               db::LogProducer log)
    : maps_(maps), capacity_(capacity), netnsCookie_(netnsCookie), log_(std::move(log)) {}

KernelVerdicts::~KernelVerdicts() { stopWriter(); }

void KernelVerdicts::startWriter(std::chrono::microseconds interval) {
  if (writer_.joinable()) return;
  {
    std::lock_guard lock(queueMutex_);
    writerStopping_ = false;
  }
  deferred_.store(true, std::memory_order_release);
  writer_ = std::thread([this, interval] { writerLoop(interval); });
}

void KernelVerdicts::stopWriter() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(queueMutex_);
    writerStopping_ = true;
  }
  queueFilled_.notify_one();
  writer_.join();
  deferred_.store(false, std::memory_order_release);
  flush();  // what a worker queued as the thread ended
}

void KernelVerdicts::writerLoop(std::chrono::microseconds interval) {
  pthread_setname_np(pthread_self(), "wardend-held");
  std::unique_lock lock(queueMutex_);
  while (!writerStopping_) {
    queueFilled_.wait(lock, [&] { return writerStopping_ || !queued_.keys.empty(); });
    // What else comes within the interval goes in the same call (one wake-up a batch: hold()
    // wakes the thread only when it finds the queue empty).
    queueFilled_.wait_for(lock, interval, [&] { return writerStopping_; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

void KernelVerdicts::flush() {
  std::lock_guard order(flushMutex_);
  {
    std::lock_guard lock(queueMutex_);
    // The emptied vectors of the last turn go back: the workers append without growing them.
    std::swap(writing_, queued_);
  }
  write(writing_);
}

void KernelVerdicts::write(Batch& batch) {
  auto count = static_cast<std::uint32_t>(batch.keys.size());
  if (count == 0) return;
  LIBBPF_OPTS(bpf_map_batch_opts, options, .elem_flags = BPF_ANY);
  const int rc = bpf_map_update_batch(maps_.verdicts, batch.keys.data(), batch.values.data(),
                                      &count, &options);
  // On an error partway, `count` says how many were written before it; one the kernel raised
  // before it began (EINVAL, ENOMEM, ...) leaves `count` as it was, and says nothing (libbpf's
  // bpf.h). The rest go one by one, each counted written or failed.
  const auto size = static_cast<std::uint32_t>(batch.keys.size());
  std::uint32_t done = rc == 0 ? size : (count < size ? count : 0);
  written_.fetch_add(done, std::memory_order_relaxed);
  for (; done < batch.keys.size(); ++done) {
    if (bpf_map_update_elem(maps_.verdicts, &batch.keys[done], &batch.values[done], BPF_ANY) != 0) {
      writeErrors_.fetch_add(1, std::memory_order_relaxed);
    } else {
      written_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  batch.keys.clear();
  batch.values.clear();
}

std::uint32_t KernelVerdicts::epoch() const {
  return static_cast<std::uint32_t>(current_.load(std::memory_order_acquire));
}

bool KernelVerdicts::newEpoch(std::optional<std::uint64_t> policyGeneration) {
  std::lock_guard lock(epochMutex_);
  const std::uint64_t current = current_.load(std::memory_order_relaxed);
  std::uint32_t next = static_cast<std::uint32_t>(current) + 1;
  if (next == 0) next = 1;
  const std::uint64_t generation =
      policyGeneration ? (*policyGeneration & 0xffffffffu) : (current >> 32);
  // Workers see the new epoch before the kernel does: what they write from now on waits for
  // the kernel to name it, and nothing written before can apply after the kernel's write.
  current_.store(generation << 32 | next, std::memory_order_release);
  if (policyGeneration) policyEpoch_.store(next, std::memory_order_relaxed);
  warden_held_state state{};
  const std::uint32_t zero = 0;
  const char* failed = "reading";
  if (bpf_map_lookup_elem(maps_.state, &zero, &state) == 0) {
    state.epoch = enabled_.load(std::memory_order_relaxed) ? next : 0;
    if (bpf_map_update_elem(maps_.state, &zero, &state, BPF_ANY) == 0) return true;
    failed = "writing";
  }
  const int error = errno;
  // The hooks go on naming the epoch before, whose entries may allow what the policy in force
  // refuses: they all go instead, and nothing is held until a policy's epoch is written.
  epochErrors_.fetch_add(1, std::memory_order_relaxed);
  enabled_.store(false, std::memory_order_relaxed);
  const std::size_t left = removeAll();
  base::logError(failed, " the held-verdict state: ", std::strerror(error),
                 "; held verdicts are off until the next reload (",
                 left == 0 ? std::string("every entry removed")
                           : "at least " + std::to_string(left) + " entries could not be removed",
                 ")");
  return false;
}

std::size_t KernelVerdicts::removeAll() {
  // The writer's batch in flight lands before (flushMutex_), and what is queued is dropped:
  // it was decided under the epoch the hooks still name. hold() checks the epoch again under
  // queueMutex_ (and under flushMutex_ when it writes itself), so nothing of it comes after.
  std::lock_guard order(flushMutex_);
  {
    std::lock_guard lock(queueMutex_);
    queued_.keys.clear();
    queued_.values.clear();
  }
  std::vector<warden_held_key> keys;
  const bool whole =
      walk([&](const warden_held_key& key, const warden_held_verdict&) { keys.push_back(key); });
  std::size_t left = whole ? 0 : 1;  // (unknown how many the walk did not reach: at least one)
  for (const warden_held_key& key : keys) {
    if (bpf_map_delete_elem(maps_.verdicts, &key) != 0 && errno != ENOENT) ++left;
  }
  return left;
}

bool KernelVerdicts::setPolicy(std::uint64_t policyGeneration, bool enabled, std::uint32_t ttlS,
                               std::optional<std::chrono::sys_seconds> until) {
  if (epoch() != 0) reloads_.fetch_add(1, std::memory_order_relaxed);
  enabled_.store(enabled, std::memory_order_relaxed);
  ttlS_.store(ttlS, std::memory_order_relaxed);
  untilUnixS_.store(until ? until->time_since_epoch().count() : 0, std::memory_order_relaxed);
  const bool written = newEpoch(policyGeneration);
  std::lock_guard lock(rowsMutex_);
  rows_.clear();
  rowsFull_.store(false, std::memory_order_relaxed);
  return written;
}

void KernelVerdicts::hold(std::uint64_t policyGeneration, const Ticket& ticket,
                          const rules::Flow& flow, const DnsName& host, const FlowOwner& owner,
                          rules::Action action, std::optional<std::uint32_t> hitCounter,
                          const db::LogRow* row) {
  if (!enabled_.load(std::memory_order_relaxed)) return;
  const std::uint64_t current = current_.load(std::memory_order_acquire);
  if ((current >> 32) != (policyGeneration & 0xffffffffu)) return;  // decided under another
  if (current != ticket.epoch) return;  // an epoch began since the decision began
  const std::uint64_t namesVersion = ticket.namesVersion;
  if (namesVersion_.load(std::memory_order_acquire) != namesVersion) return;

  const warden_held_key key = heldKeyOf(flow, owner.attribution.owner, netnsCookie_);
  warden_held_verdict value{};
  value.epoch = static_cast<std::uint32_t>(current);
  const std::uint64_t now = base::bootTimeNs();
  value.expires_ns = now + ttlS_.load(std::memory_order_relaxed) * kNsPerSecond;
  if (const std::int64_t until = untilUnixS_.load(std::memory_order_relaxed); until != 0) {
    // A rule of the policy expires then (a wall-clock date), which wardend meets with a
    // reload and a new epoch; were it down then, the entry would outlive the rule. A second
    // is taken off, as for the name below.
    const std::int64_t leftNs =
        until * static_cast<std::int64_t>(kNsPerSecond) - base::realtimeNs();
    if (leftNs <= static_cast<std::int64_t>(kNsPerSecond)) return;
    value.expires_ns = std::min<std::uint64_t>(
        value.expires_ns, now + static_cast<std::uint64_t>(leftNs) - kNsPerSecond);
  }
  if (host.length > 0) {
    // The name's expiry is in whole seconds of another clock: a second is taken off, so that
    // the entry never outlives the answer.
    const std::uint64_t nowSeconds = HostCache::nowSeconds();
    if (host.expiresAt <= nowSeconds + 1) return;
    value.expires_ns = std::min<std::uint64_t>(
        value.expires_ns, now + (host.expiresAt - nowSeconds - 1) * kNsPerSecond);
  }
  // The row first: a decision not held for want of room for it costs no bpf(2) call. Full:
  // not held until maintain() or setPolicy() made room (sweeping the rows here would put a
  // walk of kMaxRows on a worker's every decision while they stay full). Once full, told by
  // the flag without the lock or a look among the rows (cold in the cache, a miss there cost
  // a worker about 0.5 us a decision), so a key whose row is kept is not renewed meanwhile.
  if (row) {
    if (rowsFull_.load(std::memory_order_relaxed)) {
      logFull_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(rowsMutex_);
    if (rows_.size() >= kMaxRows && !rows_.contains(key)) {
      rowsFull_.store(true, std::memory_order_relaxed);
      logFull_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    rows_.insert_or_assign(key, KeptRow{*row, value.epoch, value.expires_ns});
  }
  // Every number held_names has now is at most this one; an address that gets a new name from
  // here on gets a higher one, and the entry stops applying (see forgetAddress).
  value.name_gen = nameGeneration_.load(std::memory_order_acquire);
  value.action = heldAction(action);
  value.log = row != nullptr;
  value.hit_counter = hitCounter ? *hitCounter + 1 : 0;
  // After the number was read: a name changed since the decision either shows here (its
  // version moved before its number) or gets a number above the one read.
  if (namesVersion_.load(std::memory_order_acquire) != namesVersion) return;
  if (deferred_.load(std::memory_order_acquire)) {
    bool wake;
    {
      std::lock_guard lock(queueMutex_);
      if (current_.load(std::memory_order_acquire) != current) return;  // see removeAll()
      // A writer that fell a whole table behind: what is past it is not held.
      if (queued_.keys.size() >= capacity_) {
        writeErrors_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      wake = queued_.keys.empty();
      queued_.keys.push_back(key);
      queued_.values.push_back(value);
    }
    if (wake) queueFilled_.notify_one();
    return;
  }
  std::lock_guard order(flushMutex_);
  if (current_.load(std::memory_order_acquire) != current) return;  // see removeAll()
  if (bpf_map_update_elem(maps_.verdicts, &key, &value, BPF_ANY) != 0) {
    writeErrors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  written_.fetch_add(1, std::memory_order_relaxed);
}

void KernelVerdicts::forgetAddress(const rules::IpAddress& address) {
  // Numbers reach held_names in the order they are given: were a number written after a higher
  // one for the same address, an entry decided with the name between them would apply again.
  std::lock_guard lock(namesMutex_);
  namesVersion_.fetch_add(1, std::memory_order_acq_rel);
  dnsForgotten_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t number = nameGeneration_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (bpf_map_update_elem(maps_.names, address.bytes.data(), &number, BPF_ANY) == 0) return;
  // Full (or failing): the address's number cannot change, so every entry goes instead.
  namesFull_.store(true, std::memory_order_relaxed);
  newEpoch(std::nullopt);
}

void KernelVerdicts::maintain() {
  {
    const std::uint32_t current = epoch();
    const std::uint64_t now = base::bootTimeNs();
    std::lock_guard lock(rowsMutex_);
    std::erase_if(rows_, [&](const auto& kept) {
      return kept.second.epoch != current || kept.second.expiresNs <= now;
    });
    rowsFull_.store(rows_.size() >= kMaxRows, std::memory_order_relaxed);
  }
  if (!namesFull_.exchange(false, std::memory_order_relaxed)) return;
  // The addresses first, outside the lock that name changes wait for (a walk of up to 65,536
  // keys). One renamed meanwhile loses its new number with the rest, which is safe: the
  // epoch below retires everything decided before it.
  std::vector<rules::IpAddress> addresses;
  rules::IpAddress key, next;
  const void* previous = nullptr;
  while (bpf_map_get_next_key(maps_.names, previous, next.bytes.data()) == 0) {
    addresses.push_back(next);
    key = next;
    previous = key.bytes.data();
  }
  // Everything held so far goes before any number does: a deleted number reads as "none" and
  // would let an entry it made stale apply again. No name changes until the numbers are gone
  // (the lock), so every entry decided from then on saw every name change there was, and
  // stays right whatever number its address reads.
  std::lock_guard lock(namesMutex_);
  newEpoch(std::nullopt);
  static_assert(sizeof(rules::IpAddress) == sizeof key.bytes, "held_names keys are packed");
  auto count = static_cast<std::uint32_t>(addresses.size());
  if (count > 0 && bpf_map_delete_batch(maps_.names, addresses.data(), &count, nullptr) != 0) {
    for (const auto& address : addresses) bpf_map_delete_elem(maps_.names, address.bytes.data());
  }
  base::logInfo("kernel-held verdicts: the table of host-name changes was full; emptied it (",
                addresses.size(), " addresses) and retired every held verdict");
}

std::optional<std::uint64_t> KernelVerdicts::heldFlows() const {
  if (maps_.counters < 0) return std::nullopt;
  std::uint64_t total = 0;
  for (std::uint32_t i = WARDEN_CTR_HELD_ALLOW; i <= WARDEN_CTR_HELD_REJECT; ++i) {
    const auto counted = BpfAttribution::counter(maps_.counters, i);
    if (!counted) return std::nullopt;
    total += *counted;
  }
  return total;
}

void KernelVerdicts::creditHits(const rules::RuleHits& hits) {
  // The programs count a flow after adding it to its entry's hits: read first, a count that
  // has not moved since the last walk began means no entry has new hits to credit.
  const std::optional<std::uint64_t> flows = heldFlows();
  if (flows && flows == creditedFlows_) return;
  const std::uint32_t first = policyEpoch_.load(std::memory_order_relaxed);
  const std::uint32_t span = epoch() - first;  // unsigned: right across a wrap of the number
  const std::uint64_t bootNow = base::bootTimeNs();
  const std::int64_t realNow = base::realtimeNs();
  decltype(credited_) seen;
  walk([&](const warden_held_key& key, const warden_held_verdict& value) {
    // Entries of an earlier policy were credited to it before it was replaced.
    if (value.hit_counter == 0 || value.epoch - first > span) return;
    Credited credited;
    if (const auto before = credited_.find(key);
        before != credited_.end() && before->second.expiresNs == value.expires_ns) {
      credited = before->second;
    }
    if (value.hits > credited.hits) {
      const std::uint64_t ago = bootNow > value.last_hit_ns ? bootNow - value.last_hit_ns : 0;
      hits.add(value.hit_counter - 1, value.hits - credited.hits,
               realNow - static_cast<std::int64_t>(ago));
    }
    if (value.hits > 0) seen.emplace(key, Credited{value.expires_ns, value.hits});
  });
  credited_ = std::move(seen);
  creditedFlows_ = flows;
}

void KernelVerdicts::logHeld(const warden_held_event& event) {
  db::LogRow row;
  {
    std::lock_guard lock(rowsMutex_);
    const auto kept = rows_.find(event.key);
    if (kept == rows_.end()) {
      unlogged_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    row = kept->second.row;
  }
  const std::uint64_t bootNow = base::bootTimeNs();
  const std::uint64_t ago = bootNow > event.head.time_ns ? bootNow - event.head.time_ns : 0;
  row.timeNs = base::realtimeNs() - static_cast<std::int64_t>(ago);
  std::memcpy(row.localAddr.bytes.data(), event.local_addr, sizeof event.local_addr);
  row.localPort = event.local_port;
  std::memcpy(row.remoteAddr.bytes.data(), event.key.remote_addr, sizeof event.key.remote_addr);
  row.remotePort = event.key.remote_port;
  row.ipProto = event.key.protocol;
  row.action = actionOf(event.action);
  row.latencyNs = 0;  // decided at the syscall, without a round trip
  if (log_.tryEnqueue(std::move(row))) logged_.fetch_add(1, std::memory_order_relaxed);
}

// In batches (BPF_MAP_LOOKUP_BATCH): a full table of 16,384 entries read one key at a time took
// two syscalls an entry, some 30 ms of a reload (which credits the entries' hits first).
template <typename Visit>
bool KernelVerdicts::walk(Visit visit) const {
  // More than any one hash bucket holds (the kernel refuses a batch smaller than a bucket).
  constexpr std::uint32_t kBatch = 256;
  std::vector<warden_held_key> keys(kBatch);
  std::vector<warden_held_verdict> values(kBatch);
  std::uint32_t token = 0;  // where the next batch starts: a bucket index for hash maps
  void* resume = nullptr;   // the first batch starts at the beginning
  for (std::size_t visited = 0; visited <= capacity_;) {
    std::uint32_t count = kBatch;
    const int rc = bpf_map_lookup_batch(maps_.verdicts, resume, &token, keys.data(), values.data(),
                                        &count, nullptr);
    if (rc != 0 && errno != ENOENT) return false;  // a failure: what came before is all
    for (std::uint32_t i = 0; i < count; ++i) visit(keys[i], values[i]);
    if (rc != 0) return true;  // ENOENT: that batch was the last
    visited += count;
    resume = &token;
  }
  return true;
}

HeldSummary KernelVerdicts::summary() const {
  HeldSummary s;
  s.enabled = enabled_.load(std::memory_order_relaxed);
  s.capacity = capacity_;
  s.ttlS = ttlS_.load(std::memory_order_relaxed);
  const std::uint32_t current = epoch();
  const std::uint64_t now = base::bootTimeNs();
  walk([&](const warden_held_key&, const warden_held_verdict& value) {
    ++s.stored;
    if (s.enabled && value.epoch == current && value.expires_ns > now) ++s.entries;
  });
  s.written = written_.load(std::memory_order_relaxed);
  s.writeErrors = writeErrors_.load(std::memory_order_relaxed);
  s.epochErrors = epochErrors_.load(std::memory_order_relaxed);
  s.reloads = reloads_.load(std::memory_order_relaxed);
  s.dnsForgotten = dnsForgotten_.load(std::memory_order_relaxed);
  s.logged = logged_.load(std::memory_order_relaxed);
  s.unlogged = unlogged_.load(std::memory_order_relaxed);
  s.logFull = logFull_.load(std::memory_order_relaxed);
  return s;
}

std::vector<HeldEntry> KernelVerdicts::entriesOf(std::uint32_t tgid,
                                                 std::uint64_t startTicks) const {
  std::vector<HeldEntry> entries;
  if (!enabled_.load(std::memory_order_relaxed)) return entries;
  const std::uint32_t current = epoch();
  const std::uint64_t now = base::bootTimeNs();
  walk([&](const warden_held_key& key, const warden_held_verdict& value) {
    if (key.tgid != tgid || ticksFromBootNs(key.start_time_ns) != startTicks) return;
    if (value.epoch != current || value.expires_ns <= now) return;
    std::uint64_t number = 0;
    if (bpf_map_lookup_elem(maps_.names, key.remote_addr, &number) != 0) number = 0;
    if (number > value.name_gen) return;  // as the hooks compare
    HeldEntry entry;
    entry.action = actionOf(value.action);
    entry.protocol = key.protocol;
    std::memcpy(entry.remote.bytes.data(), key.remote_addr, sizeof key.remote_addr);
    entry.remotePort = key.remote_port;
    entry.hits = value.hits;
    entry.expiresInNs = value.expires_ns - now;
    entries.push_back(entry);
  });
  return entries;
}

}  // namespace warden::engine
