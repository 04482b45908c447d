#include "engine/attribution/bpf_attribution.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "attribution.skel.h"
#include "base/logging.h"
#include "base/proc_stat.h"
#include "engine/attribution/pid_namespace.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace warden::engine {
namespace {

// libbpf reports through a global callback: its warnings go to our log, its debug chatter
// only to the verbose log.
int printLibbpf(enum libbpf_print_level level, const char* format, va_list args) {
  char line[1024];
  const int n = vsnprintf(line, sizeof line, format, args);
  if (n <= 0) return 0;
  std::string_view text(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (level == LIBBPF_WARN) {
    base::logWarning("libbpf: ", text);
  } else {
    base::logDebug("libbpf: ", text);
  }
  return 0;
}

// What onRecord returns to make ring_buffer__consume stop (after the record, which counts as
// consumed) when the handler asks it to: libbpf passes it on as the call's result.
constexpr int kStopConsuming = -ECANCELED;

// exec_windows holds one entry per process forked or exec'd since the attach, until the tracker
// has read its exit (or found it gone): sized as there can be pids (/proc/sys/kernel/pid_max),
// within 256K (its bucket array is allocated whole, 16 bytes an entry, where systemd sets
// pid_max to 4M). An entry it had no room for makes /proc reads of processes started before
// the loss and without an entry be taken unchecked, as before the windows (counted:
// exec_window_unknown).
std::uint32_t execWindowEntries() {
  constexpr std::uint32_t kPidMaxLimit = 256u << 10;
  std::uint32_t pidMax = kPidMaxLimit;
  if (FILE* file = std::fopen("/proc/sys/kernel/pid_max", "re")) {
    unsigned value = 0;
    if (std::fscanf(file, "%u", &value) == 1 && value > 0) pidMax = value;
    std::fclose(file);
  }
  return std::clamp<std::uint32_t>(pidMax, WARDEN_EXEC_WINDOWS, kPidMaxLimit);
}

// libbpf returns -errno (and sets errno) from its int-returning calls.
base::Error libbpfError(int result, std::string where) {
  return base::makeError(result < 0 ? -result : errno, std::move(where));
}

static_assert(sizeof(warden_flow_key) == 32 && sizeof(warden_listener_key) == 16,
              "warden_*_slot_index() hash the keys as 4 and 2 words");

// A copy of the slot if it holds `key` and no program wrote it while it was copied (the
// sequence count is even and unchanged around the copy; see bpf/attribution.h).
template <typename Slot, typename Key>
bool readSlot(const Slot& slot, const Key& key, warden_owner& owner) {
  const std::uint32_t before = __atomic_load_n(&slot.seq, __ATOMIC_ACQUIRE);
  if ((before & 1u) != 0) return false;
  Key seen;
  warden_owner copy;
  std::memcpy(&seen, &slot.key, sizeof seen);
  std::memcpy(&copy, &slot.owner, sizeof copy);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (__atomic_load_n(&slot.seq, __ATOMIC_RELAXED) != before) return false;
  if (std::memcmp(&seen, &key, sizeof key) != 0) return false;
  owner = copy;
  return true;
}

std::uint32_t powerOfTwoAtLeast(std::uint32_t n) {
  std::uint32_t p = 1;
  while (p < n && p < (1u << 24)) p <<= 1;
  return p;
}

}  // namespace

void BpfAttribution::SkeletonDeleter::operator()(attribution_bpf* skeleton) const {
  attribution_bpf__destroy(skeleton);
}
void BpfAttribution::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }
void BpfAttribution::RingDeleter::operator()(ring_buffer* ring) const { ring_buffer__free(ring); }

template <typename Slot>
BpfAttribution::Mirror<Slot>::~Mirror() {
  if (slots != nullptr) munmap(const_cast<Slot*>(slots), bytes);
}

BpfAttribution::~BpfAttribution() {
  // Hooks attached without a link stay until detached; the skeleton still owns their fds here.
  for (const auto& [fd, type] : persistent_) {
    if (bpf_prog_detach2(fd, cgroupFd_.get(), static_cast<bpf_attach_type>(type)) != 0) {
      base::logWarning("detaching a held-verdict hook: ", std::strerror(errno));
    }
  }
  if (portBits_ != nullptr) munmap(portBits_, portBitsBytes_);
}

base::Result<void*> BpfAttribution::mapArray(int mapFd, std::size_t bytes, int protection,
                                             std::size_t& mapped, const char* what) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  mapped = (bytes + page - 1) / page * page;
  void* address = mmap(nullptr, mapped, protection, MAP_SHARED, mapFd, 0);
  if (address == MAP_FAILED) return std::unexpected(base::errnoError(what));
  return address;
}

template <typename Slot>
base::Result<void> BpfAttribution::mapMirror(int mapFd, std::uint32_t slots, Mirror<Slot>& mirror) {
  static_assert(sizeof(Slot) % 8 == 0);  // an array map's values are 8-byte aligned
  auto mapped = mapArray(mapFd, sizeof(Slot) * slots, PROT_READ, mirror.bytes,
                         "mapping an attribution mirror");
  if (!mapped) return std::unexpected(mapped.error());
  mirror.slots = static_cast<const Slot*>(*mapped);
  mirror.mask = slots - 1;
  return {};
}

base::Result<std::unique_ptr<BpfAttribution>> BpfAttribution::load(const BpfOptions& options) {
  libbpf_set_print(printLibbpf);
  std::unique_ptr<BpfAttribution> self(new BpfAttribution());

  // open
  self->skeleton_.reset(attribution_bpf__open());
  if (!self->skeleton_)
    return std::unexpected(base::errnoError("opening the attribution BPF object"));
  attribution_bpf* skel = self->skeleton_.get();

  // size maps, set rodata, switch off what is not wanted
  if (int err = bpf_map__set_max_entries(skel->maps.flows, options.flowEntries); err) {
    return std::unexpected(libbpfError(err, "sizing the flow map"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.decided, options.flowEntries); err) {
    return std::unexpected(libbpfError(err, "sizing the map of decided UDP flows"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.listeners, options.listenerEntries); err) {
    return std::unexpected(libbpfError(err, "sizing the listener map"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.bound_sockets, options.listenerEntries); err) {
    return std::unexpected(libbpfError(err, "sizing the map of bound sockets"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.exec_windows, execWindowEntries()); err) {
    return std::unexpected(libbpfError(err, "sizing the map of execs under way"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.held_verdicts,
                                         std::max<std::uint32_t>(options.heldEntries, 16));
      err) {
    return std::unexpected(libbpfError(err, "sizing the held-verdict map"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.eventsBytes); err) {
    return std::unexpected(libbpfError(err, "sizing the event ring buffer"));
  }
  const std::uint32_t flowSlots = powerOfTwoAtLeast(options.flowSlots);
  const std::uint32_t listenerSlots = powerOfTwoAtLeast(options.listenerSlots);
  if (int err = bpf_map__set_max_entries(skel->maps.flow_slots, flowSlots); err) {
    return std::unexpected(libbpfError(err, "sizing the flow mirror"));
  }
  if (int err = bpf_map__set_max_entries(skel->maps.listener_slots, listenerSlots); err) {
    return std::unexpected(libbpfError(err, "sizing the listener mirror"));
  }
  {
    auto netns = currentNetnsCookie();
    if (!netns) return std::unexpected(netns.error());
    skel->rodata->table_netns_cookie = *netns;
  }
  skel->rodata->capture_args = options.captureArgs;
  skel->rodata->flow_slot_mask = flowSlots - 1;
  skel->rodata->listener_slot_mask = listenerSlots - 1;
  self->pidNamespaceInode_ = options.pidNamespaceInode;
  if (self->pidNamespaceInode_ == 0) {
    auto own = procPidNamespace();
    if (!own) return std::unexpected(own.error());
    self->pidNamespaceInode_ = own->inode;
  }
  skel->rodata->pidns_inum = self->pidNamespaceInode_;
  skel->rodata->pidns_initial = self->pidNamespaceInode_ == kInitialPidNamespaceInode;
  if (!options.processEvents) {
    bpf_program__set_autoload(skel->progs.warden_exec, false);
    bpf_program__set_autoload(skel->progs.warden_fork, false);
    bpf_program__set_autoload(skel->progs.warden_exit, false);
    bpf_program__set_autoload(skel->progs.warden_exec_begin, false);
  }

  // load
  if (int err = attribution_bpf__load(skel); err) {
    return std::unexpected(libbpfError(err, "loading the attribution BPF programs"));
  }
  self->flowsFd_ = bpf_map__fd(skel->maps.flows);
  if (options.processEvents) self->execWindowsFd_ = bpf_map__fd(skel->maps.exec_windows);
  self->listenersFd_ = bpf_map__fd(skel->maps.listeners);
  self->countersFd_ = bpf_map__fd(skel->maps.counters);
  self->decidedFd_ = bpf_map__fd(skel->maps.decided);
  self->inboundReceiversFd_ = bpf_map__fd(skel->maps.inbound_receivers);
  self->boundSocketsFd_ = bpf_map__fd(skel->maps.bound_sockets);
  self->udpSendersFd_ = bpf_map__fd(skel->maps.udp_senders);
  self->flowEntries_ = options.flowEntries;
  self->heldVerdictsFd_ = bpf_map__fd(skel->maps.held_verdicts);
  self->heldStateFd_ = bpf_map__fd(skel->maps.held_state);
  self->heldNamesFd_ = bpf_map__fd(skel->maps.held_names);
  self->heldEntries_ = options.heldEntries;
  {  // Who loaded the hooks, for detachStaleHooks(); epoch 0: nothing held yet.
    warden_held_state state{};
    state.owner_pid = static_cast<std::uint32_t>(getpid());
    state.owner_start_ticks =
        base::readProcStat(state.owner_pid).value_or(base::ProcStat{}).startTicks;
    const std::uint32_t zero = 0;
    if (bpf_map_update_elem(self->heldStateFd_, &zero, &state, BPF_ANY) != 0) {
      return std::unexpected(base::errnoError("writing the held-verdict state"));
    }
  }
  if (auto mapped = mapMirror(bpf_map__fd(skel->maps.flow_slots), flowSlots, self->flowMirror_);
      !mapped) {
    return std::unexpected(mapped.error());
  }
  if (auto mapped =
          mapMirror(bpf_map__fd(skel->maps.listener_slots), listenerSlots, self->listenerMirror_);
      !mapped) {
    return std::unexpected(mapped.error());
  }

  auto portBits =
      mapArray(bpf_map__fd(skel->maps.port_bits),
               sizeof(std::uint64_t) * WARDEN_PORT_WORDS * WARDEN_PORT_BITMAPS,
               PROT_READ | PROT_WRITE, self->portBitsBytes_, "mapping the bitmaps of local ports");
  if (!portBits) return std::unexpected(portBits.error());
  self->portBits_ = static_cast<std::uint64_t*>(*portBits);

  // attach
  if (auto attached = self->attach(options); !attached) {
    return std::unexpected(attached.error());
  }
  // Loading parsed the kernel's BTF (several MB) for the CO-RE relocations and freed it: give
  // those pages back rather than keep them in the heap for the daemon's life.
  malloc_trim(0);
  return self;
}

base::Result<void> BpfAttribution::attach(const BpfOptions& options) {
  attribution_bpf* skel = skeleton_.get();
  auto cgroupFd = base::openFile(options.cgroup, O_RDONLY | O_DIRECTORY);
  if (!cgroupFd) {
    return std::unexpected(
        base::makeError(cgroupFd.error().code, "opening cgroup " + options.cgroup));
  }
  cgroupFd_ = std::move(*cgroupFd);

  // The process tracepoints first: an exec that the table's hooks could see a process make is
  // then in exec_windows (warden_exec_begin first of all).
  std::vector<bpf_program*> tracing;
  if (options.processEvents) {
    tracing = {skel->progs.warden_exec_begin, skel->progs.warden_exec, skel->progs.warden_fork,
               skel->progs.warden_exit};
  }
  for (bpf_program* program : tracing) {
    bpf_link* link = bpf_program__attach(program);
    if (!link) {
      return std::unexpected(base::errnoError(std::string("attaching tracepoint program ") +
                                              bpf_program__name(program)));
    }
    links_.emplace_back(link);
  }
  // The hooks that arm held TCP verdicts, and the sendmsg hooks that keep UDP owner records
  // current for the table's reuse check (a new sender on an accepted flow's 4-tuple changes
  // the record, and is queued), are attached so that they outlive wardend when verdicts are
  // held: a legacy attachment stays until detached (destructor, detachStaleHooks).
  if (options.heldEntries > 0) {
    for (bpf_program* program : {skel->progs.warden_sendmsg4, skel->progs.warden_sendmsg6,
                                 skel->progs.warden_connect4, skel->progs.warden_connect6}) {
      const int fd = bpf_program__fd(program);
      const bpf_attach_type type = bpf_program__expected_attach_type(program);
      if (bpf_prog_attach(fd, cgroupFd_.get(), type, BPF_F_ALLOW_MULTI) != 0) {
        return std::unexpected(base::errnoError(std::string("attaching ") +
                                                bpf_program__name(program) + " to cgroup " +
                                                options.cgroup));
      }
      persistent_.emplace_back(fd, static_cast<int>(type));
    }
  }
  // The other hooks are bpf_link attachments: they detach when their fd closes.
  std::vector<bpf_program*> linked = {
      skel->progs.warden_sockops,      skel->progs.warden_post_bind4,
      skel->progs.warden_post_bind6,   skel->progs.warden_inbound_check,
      skel->progs.warden_sock_release, skel->progs.warden_echo_socket};
  if (options.heldEntries == 0) {
    linked.insert(linked.end(), {skel->progs.warden_sendmsg4, skel->progs.warden_sendmsg6,
                                 skel->progs.warden_connect4, skel->progs.warden_connect6});
  }
  for (bpf_program* program : linked) {
    bpf_link* link = bpf_program__attach_cgroup(program, cgroupFd_.get());
    if (!link) {
      return std::unexpected(base::errnoError(
          std::string("attaching ") + bpf_program__name(program) + " to cgroup " + options.cgroup));
    }
    links_.emplace_back(link);
  }
  return {};
}

bool BpfAttribution::mirroredFlow(const warden_flow_key& key, warden_owner& owner) const noexcept {
  if (flowMirror_.slots == nullptr) return false;
  return readSlot(flowMirror_.slots[warden_flow_slot_index(&key, flowMirror_.mask)], key, owner);
}

bool BpfAttribution::mirroredListener(const warden_listener_key& key,
                                      warden_owner& owner) const noexcept {
  if (listenerMirror_.slots == nullptr) return false;
  return readSlot(listenerMirror_.slots[warden_listener_slot_index(&key, listenerMirror_.mask)],
                  key, owner);
}

bool BpfAttribution::markDecided(const warden_flow_key& key,
                                 std::uint64_t generation) const noexcept {
  return bpf_map_update_elem(decidedFd_, &key, &generation, BPF_ANY) == 0;
}

int BpfAttribution::icmpEchoFd() const {
  return bpf_program__fd(skeleton_->progs.warden_icmp_echo);
}

int BpfAttribution::icmpReusedFd() const {
  return bpf_program__fd(skeleton_->progs.warden_icmp_reused);
}

int BpfAttribution::udpReuseFilterFd() const {
  return bpf_program__fd(skeleton_->progs.warden_udp_reused);
}

int BpfAttribution::udpConnectedFd() const {
  return bpf_program__fd(skeleton_->progs.warden_udp_connected);
}

bool BpfAttribution::lookupInboundReceiver(const warden_inbound_key& key,
                                           warden_inbound_receiver& receiver) const noexcept {
  return bpf_map_lookup_elem(inboundReceiversFd_, &key, &receiver) == 0;
}

bool BpfAttribution::noteInboundReceiver(const warden_inbound_key& key,
                                         const warden_inbound_receiver& receiver) const noexcept {
  return bpf_map_update_elem(inboundReceiversFd_, &key, &receiver, BPF_ANY) == 0;
}

std::atomic_ref<std::uint64_t> BpfAttribution::portWord(warden_port_bitmap bitmap,
                                                        std::uint16_t port) const noexcept {
  return std::atomic_ref<std::uint64_t>(portBits_[bitmap * WARDEN_PORT_WORDS + port / 64]);
}

void BpfAttribution::markPort(warden_port_bitmap bitmap, std::uint16_t port) const noexcept {
  const auto word = portWord(bitmap, port);
  const std::uint64_t bit = std::uint64_t{1} << (port % 64);
  if ((word.load(std::memory_order_relaxed) & bit) == 0) word.fetch_or(bit);
}

void BpfAttribution::noteInboundPort(std::uint16_t port) const noexcept {
  markPort(WARDEN_PORTS_NOTED, port);
}

bool BpfAttribution::portMarked(warden_port_bitmap bitmap, std::uint16_t port) const noexcept {
  // Acquire: a bit the programs set before writing what it announces (a note) is seen with it.
  return (portWord(bitmap, port).load(std::memory_order_acquire) & std::uint64_t{1}
                                                                       << (port % 64)) != 0;
}

bool BpfAttribution::inboundPortNoted(std::uint16_t port) const noexcept {
  return portMarked(WARDEN_PORTS_NOTED, port);
}

bool BpfAttribution::portMisdelivered(std::uint16_t port) const noexcept {
  return portMarked(WARDEN_PORTS_MISDELIVERED, port);
}

void BpfAttribution::forgetInboundReceiver(const warden_inbound_key& key) const noexcept {
  (void)bpf_map_delete_elem(inboundReceiversFd_, &key);  // ENOENT: nothing was left
}

bool BpfAttribution::portBound(std::uint16_t port) const noexcept {
  return portMarked(WARDEN_PORTS_BOUND, port);
}

bool BpfAttribution::lookupBoundSocket(std::uint64_t cookie, warden_owner& owner) const noexcept {
  return bpf_map_lookup_elem(boundSocketsFd_, &cookie, &owner) == 0;
}

bool BpfAttribution::lookupUdpSender(std::uint64_t cookie, warden_owner& owner) const noexcept {
  return bpf_map_lookup_elem(udpSendersFd_, &cookie, &owner) == 0;
}

int BpfAttribution::inboundMisdeliveredFd() const {
  return bpf_program__fd(skeleton_->progs.warden_inbound_misdelivered);
}

bool BpfAttribution::lookupFlow(const warden_flow_key& key, warden_owner& owner) const noexcept {
  if (mirroredFlow(key, owner)) return true;
  mirrorMisses_.fetch_add(1, std::memory_order_relaxed);
  return bpf_map_lookup_elem(flowsFd_, &key, &owner) == 0;
}

bool BpfAttribution::lookupListener(const warden_listener_key& key,
                                    warden_owner& owner) const noexcept {
  if (mirroredListener(key, owner)) return true;
  if (!portBound(key.local_port)) return false;
  mirrorMisses_.fetch_add(1, std::memory_order_relaxed);
  return bpf_map_lookup_elem(listenersFd_, &key, &owner) == 0;
}

int BpfAttribution::onRecord(void* context, void* data, std::size_t size) {
  auto* reader = static_cast<EventReader*>(context);
  ++reader->handled;
  const bool more =
      reader->handler(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  return more ? 0 : kStopConsuming;
}

base::Result<void> BpfAttribution::openEvents(EventHandler handler) {
  reader_.handler = std::move(handler);
  ring_.reset(ring_buffer__new(bpf_map__fd(skeleton_->maps.events), onRecord, &reader_, nullptr));
  if (!ring_) return std::unexpected(base::errnoError("opening the event ring buffer"));
  // The held flows' ring: the same reader and handler (records say what they are).
  if (int err = ring_buffer__add(ring_.get(), bpf_map__fd(skeleton_->maps.held_events), onRecord,
                                 &reader_);
      err) {
    return std::unexpected(libbpfError(err, "opening the held-flow ring buffer"));
  }
  return {};
}

int BpfAttribution::eventsFd() const { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }

base::Result<int> BpfAttribution::consumeEvents() {
  if (!ring_) return 0;
  reader_.handled = 0;
  const int n = ring_buffer__consume(ring_.get());
  if (n < 0 && n != kStopConsuming) {
    return std::unexpected(libbpfError(n, "reading the event ring buffer"));
  }
  return reader_.handled;
}

BpfCounters BpfAttribution::counters() const {
  BpfCounters sums{};
  for (std::uint32_t i = 0; i < WARDEN_CTR_COUNT; ++i)
    sums[i] = counter(countersFd_, i).value_or(0);
  return sums;
}

std::optional<warden_exec_window> BpfAttribution::execWindow(std::uint32_t tgid,
                                                             std::uint64_t startNs) const {
  if (execWindowsFd_ < 0) return std::nullopt;
  const warden_exec_window_key key{.tgid = tgid, .pad = 0, .start_time_ns = startNs};
  warden_exec_window window{};
  if (bpf_map_lookup_elem(execWindowsFd_, &key, &window) == 0) return window;
  if (errno != ENOENT) return std::nullopt;
  // No entry: none since the attach, unless one of this process's was lost.
  const std::uint64_t lostNs = std::atomic_ref<__u64>(skeleton_->bss->exec_windows_lost_ns).load();
  if (lostNs != 0 && lostNs >= startNs) return std::nullopt;
  return warden_exec_window{};
}

void BpfAttribution::forgetExecWindow(const warden_exec_window_key& key) const {
  if (execWindowsFd_ < 0) return;
  (void)bpf_map_delete_elem(execWindowsFd_, &key);  // ENOENT: it exec'd before the attach
}

std::vector<warden_exec_window_key> BpfAttribution::execWindowKeys(
    const warden_exec_window_key* after, std::size_t max) const {
  std::vector<warden_exec_window_key> keys;
  if (execWindowsFd_ < 0) return keys;
  warden_exec_window_key key{};
  const void* previous = after;
  while (keys.size() < max && bpf_map_get_next_key(execWindowsFd_, previous, &key) == 0) {
    keys.push_back(key);
    previous = &keys.back();
  }
  return keys;
}

std::optional<std::uint64_t> BpfAttribution::counter(int countersFd, std::uint32_t index) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return std::nullopt;
  std::vector<std::uint64_t> perCpu(static_cast<std::size_t>(cpus));
  if (bpf_map_lookup_elem(countersFd, &index, perCpu.data()) != 0) return std::nullopt;
  std::uint64_t sum = 0;
  for (std::uint64_t v : perCpu) sum += v;
  return sum;
}

base::Result<std::size_t> BpfAttribution::flowEntryCount() const {
  constexpr std::uint32_t kBatch = 4096;
  std::vector<warden_flow_key> keys(kBatch);
  std::vector<warden_owner> values(kBatch);
  std::size_t total = 0;
  std::uint64_t inBatch = 0, outBatch = 0;
  bool first = true;
  for (;;) {
    std::uint32_t count = kBatch;
    const int err = bpf_map_lookup_batch(flowsFd_, first ? nullptr : &inBatch, &outBatch,
                                         keys.data(), values.data(), &count, nullptr);
    first = false;
    if (err != 0 && errno != ENOENT)
      return std::unexpected(base::errnoError("walking the flow map"));
    total += count;
    if (err != 0) break;  // ENOENT: that was the last batch
    inBatch = outBatch;
  }
  return total;
}

std::size_t BpfAttribution::programCount() const { return links_.size() + persistent_.size(); }

HeldMatchFds BpfAttribution::heldMatchFds() const {
  if (!holdsVerdicts()) return {};
  return {bpf_program__fd(skeleton_->progs.warden_held_allow),
          bpf_program__fd(skeleton_->progs.warden_held_deny),
          bpf_program__fd(skeleton_->progs.warden_held_reject),
          bpf_program__fd(skeleton_->progs.warden_held_syn_again)};
}

namespace {

constexpr bpf_attach_type kHeldHookTypes[] = {BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT,
                                              BPF_CGROUP_UDP4_SENDMSG, BPF_CGROUP_UDP6_SENDMSG};

// A program attached to the cgroup by a legacy attachment: a wardend's (named warden_*) has
// the maps of the load it came from; those of the connect hooks include held_state, whose
// entry names the wardend that loaded them.
struct AttachedProgram {
  bpf_attach_type type;
  base::UniqueFd fd;
  std::vector<std::uint32_t> mapIds;
  std::optional<warden_held_state> state;
};

std::optional<AttachedProgram> wardenProgram(bpf_attach_type type, std::uint32_t id) {
  AttachedProgram program{type, base::UniqueFd(bpf_prog_get_fd_by_id(id)), {}, std::nullopt};
  if (!program.fd) return std::nullopt;
  std::uint32_t mapIds[16] = {};
  bpf_prog_info info{};
  info.nr_map_ids = std::size(mapIds);
  info.map_ids = reinterpret_cast<std::uintptr_t>(mapIds);
  std::uint32_t size = sizeof info;
  if (bpf_obj_get_info_by_fd(program.fd.get(), &info, &size) != 0) return std::nullopt;
  if (std::string_view(info.name).substr(0, 7) != "warden_") return std::nullopt;
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(info.nr_map_ids, std::size(mapIds)); ++i) {
    program.mapIds.push_back(mapIds[i]);
    base::UniqueFd map(bpf_map_get_fd_by_id(mapIds[i]));
    if (!map) continue;
    bpf_map_info mapInfo{};
    std::uint32_t mapSize = sizeof mapInfo;
    if (bpf_obj_get_info_by_fd(map.get(), &mapInfo, &mapSize) != 0) continue;
    if (std::string_view(mapInfo.name) != "held_state") continue;
    warden_held_state state{};
    const std::uint32_t zero = 0;
    if (bpf_map_lookup_elem(map.get(), &zero, &state) == 0) program.state = state;
  }
  return program;
}

bool ownerGone(const warden_held_state& state) {
  // Not read in time: not a wardend (see TableOwner::alive).
  const auto stat = base::readOtherProcStat(state.owner_pid);
  return !stat || stat->startTicks != state.owner_start_ticks;
}

base::Result<int> detachStale(int cgroupFd) {
  std::vector<AttachedProgram> programs;
  for (bpf_attach_type type : kHeldHookTypes) {
    std::uint32_t ids[64] = {};
    std::uint32_t count = std::size(ids);
    std::uint32_t flags = 0;
    if (bpf_prog_query(cgroupFd, type, 0, &flags, ids, &count) != 0) {
      return std::unexpected(base::errnoError("listing the cgroup's BPF programs"));
    }
    for (std::uint32_t i = 0; i < count; ++i) {
      if (auto program = wardenProgram(type, ids[i])) programs.push_back(std::move(*program));
    }
  }
  // A program without held_state (the sendmsg hooks) is told by the maps it shares with the
  // connect hooks of its load, which name their wardend.
  std::vector<std::uint32_t> staleMaps;
  for (const AttachedProgram& program : programs) {
    if (program.state && ownerGone(*program.state)) {
      staleMaps.insert(staleMaps.end(), program.mapIds.begin(), program.mapIds.end());
    }
  }
  int detached = 0;
  for (const AttachedProgram& program : programs) {
    const bool stale = program.state ? ownerGone(*program.state)
                                     : std::ranges::any_of(program.mapIds, [&](std::uint32_t id) {
                                         return std::ranges::find(staleMaps, id) != staleMaps.end();
                                       });
    if (!stale) continue;
    if (bpf_prog_detach2(program.fd.get(), cgroupFd, program.type) != 0) {
      return std::unexpected(base::errnoError("detaching a stale held-verdict hook"));
    }
    ++detached;
  }
  return detached;
}

}  // namespace

base::Result<int> BpfAttribution::detachStaleHooks(const std::string& cgroup) {
  auto fd = base::openFile(cgroup, O_RDONLY | O_DIRECTORY);
  if (!fd) return std::unexpected(base::makeError(fd.error().code, "opening cgroup " + cgroup));
  return detachStale(fd->get());
}

base::Result<std::uint64_t> BpfAttribution::currentNetnsCookie() {
  // Any socket carries its network namespace's cookie; a unix one needs nothing of the
  // network (the unit allows internet sockets only for DnsConfirmer's queries).
  auto fd = base::makeSocket(AF_UNIX, SOCK_DGRAM, 0, "creating a socket for SO_NETNS_COOKIE");
  if (!fd) return std::unexpected(fd.error());
  std::uint64_t cookie = 0;
  socklen_t size = sizeof cookie;
  if (getsockopt(fd->get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &size) != 0) {
    return std::unexpected(base::errnoError("reading SO_NETNS_COOKIE"));
  }
  return cookie;
}

}  // namespace warden::engine
