// SPDX-License-Identifier: GPL-2.0
/*
 * warden process attribution: record, at the syscall and in the task's own context, which
 * process a flow belongs to, keyed so that wardend finds it from the flow's first packet (in
 * a mirror it reads from memory, else with one map lookup); and report exec/fork/exit so
 * wardend keeps a process table.
 *
 * Hooks (all verified to load and attach on the build machine's 6.18 kernel, where fentry and
 * kprobes are not available):
 *   TCP out          sockops BPF_SOCK_OPS_TCP_CONNECT_CB: full 4-tuple, runs inside connect()
 *                    (no cb flags needed for this callback)
 *   UDP unconnected  cgroup/sendmsg4|6: the local port is already bound there
 *   UDP connected    cgroup/connect4|6: the hook keeps the owner by socket cookie (a socket
 *                    bound already is keyed there too, provisionally; else its local port is
 *                    bound only after the hook) and the table's socket filters
 *                    (warden_udp_connected, warden_udp_reused) key the flow at its first
 *                    datagram, read from the packet, for its sender. Connected sends skip
 *                    the sendmsg hook.
 *   inbound          cgroup/post_bind4|6: {netns, proto, port} -> the binder
 *   processes        tracepoints sched_process_exec / sched_process_exit, raw_tp
 *                    sched_process_fork, into one ring buffer; sched_prepare_exec and
 *                    sched_process_exec keep exec_windows (no syscall tracepoint: see there)
 *
 * Helper availability verified by loading one program per (type, helper) on this kernel:
 * cgroup sock_addr, sock_ops and cgroup_sock (post_bind) may all call get_current_pid_tgid,
 * get_current_uid_gid, get_current_comm, get_current_task, get_current_cgroup_id,
 * get_netns_cookie and ktime_get_boot_ns. Tracepoints may not call get_netns_cookie (none of
 * them needs it). Socket filters: see warden_udp_connected and warden_held_allow. (bpftool 7.1 /
 * libbpf 1.1 feature probes report every helper as available for every type on this kernel: do
 * not trust them.)
 *
 * Pid namespaces: get_current_pid_tgid and task->pid/tgid are the initial namespace's numbers,
 * while wardend reads the /proc of its own namespace (a container's). Every pid written here is
 * translated into wardend's namespace (ns_pid below). get_ns_current_pid_tgid loads in every
 * type used here (sock_ops, cgroup sock_addr, cgroup_sock, tracepoint, raw_tp, socket: checked
 * by loading one program of each on 6.18), but it answers only for a task whose own namespace
 * IS the one named, and fails for one nested below it (a sandbox's, a container's inside the
 * container) that wardend's /proc does show; and it knows nothing of parents or forked
 * children. So the programs read the task's struct pid instead: it holds one number per level,
 * each with the namespace it belongs to.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "attribution.h"

#define AF_INET	    2
#define AF_INET6    10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile bool capture_args = true;
const volatile __u32 flow_slot_mask = WARDEN_DEFAULT_FLOW_SLOTS - 1;
const volatile __u32 listener_slot_mask = WARDEN_DEFAULT_LISTENER_SLOTS - 1;
/* The nsfs inode number of wardend's pid namespace (the one its /proc numbers): stat(2) of
 * /proc/self/ns/pid. Every namespace's inode is on the one nsfs, so the number alone names it
 * (what the kernel's ns_match compares besides is that filesystem's device). */
const volatile __u32 pidns_inum = 0;
/* The cookie of wardend's network namespace, whose table runs the socket filter programs: on
 * the input hook a packet has no socket yet, and bpf_get_netns_cookie of a socket-less skb
 * names the initial namespace, not the packet's (found by test; 6.18). */
const volatile __u64 table_netns_cookie = 0;
/* wardend runs in the initial pid namespace (as on most machines): the task's own numbers are
 * that namespace's, every task has one there, and nothing needs translating. */
const volatile bool pidns_initial = false;

/* Sizes are the defaults; the loader resizes flows, listeners and events before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_DEFAULT_FLOW_ENTRIES);
	__type(key, struct warden_flow_key);
	__type(value, struct warden_owner);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_DEFAULT_LISTENER_ENTRIES);
	__type(key, struct warden_listener_key);
	__type(value, struct warden_owner);
} listeners SEC(".maps");

/* The mirrors of flows and listeners that wardend reads without a syscall (attribution.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, WARDEN_DEFAULT_FLOW_SLOTS);
	__type(key, __u32);
	__type(value, struct warden_flow_slot);
} flow_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, WARDEN_DEFAULT_LISTENER_SLOTS);
	__type(key, __u32);
	__type(value, struct warden_listener_slot);
} listener_slots SEC(".maps");

/* A connected UDP socket: who connected it, and where to, until its first datagram keys the
 * flow for its sender (see udp_connect). */
struct udp_pending {
	struct warden_owner owner;
	__u8 remote_addr[16]; /* v4-mapped for IPv4; all zero: any (the kernel picks one) */
	__u16 remote_port;
	__u8 pad[6];
};

/* Socket cookie -> its pending connect. LRU so that the entry of a socket that never sends
 * cannot pin a slot; an entry evicted before its datagram costs a sock_diag lookup (a bound
 * socket's provisional record sends wardend there too). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct udp_pending);
} udp_connects SEC(".maps");

/* Socket cookie -> the last process that sent on that UDP socket through a hook (the sendmsg
 * hook for a send naming its destination, rule 1u for a connected socket's first datagram),
 * in its own task. A datagram leaves from the task of whoever pushes it out, who need not be
 * its author (a corked datagram is pushed by whoever sends next on the socket, without a
 * hook), and a flow's record may be another socket's (keys have no local address, and any
 * socket on the port writes them): this tells who sent on the packet's own socket. LRU; an
 * entry goes when its socket is released (warden_sock_release), so that only sockets held open
 * count towards the bound. An entry evicted all the same (a sender holding 8,192 other sockets
 * it sent on) leaves the flow provisional with WARDEN_OWNER_SENDER_UNKNOWN: its first datagram
 * (which may be corked by a process that then passed the socket) is decided `unknown`, the
 * next ones for the holder sock_diag names. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct warden_owner);
} udp_senders SEC(".maps");

/* Socket cookie -> the record of the socket's bind (as `listeners` holds it by port): whose a
 * socket is that the kernel delivered an inbound flow to (warden_inbound_check). LRU, sized
 * like `listeners` by the loader; a socket bound before the programs were attached, or evicted,
 * has none. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_DEFAULT_LISTENER_ENTRIES);
	__type(key, __u64);
	__type(value, struct warden_owner);
} bound_sockets SEC(".maps");

/* Inbound flow -> the socket wardend decided it for (attribution.h). LRU: a UDP flow whose
 * entry is lost is decided again at its next datagram (rule 0i); a TCP one is not checked
 * again (its SYN was, as the entry is written just before it is let through; the ACK that
 * completes a handshake with SYN cookies is checked only while the entry lasts). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_INBOUND_ENTRIES);
	__type(key, struct warden_inbound_key);
	__type(value, struct warden_inbound_receiver);
} inbound_receivers SEC(".maps");

/* Bitmaps of local ports (attribution.h, WARDEN_PORT_WORDS), mapped by wardend. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, (WARDEN_PORT_WORDS * WARDEN_PORT_BITMAPS));
	__type(key, __u32);
	__type(value, __u64);
} port_bits SEC(".maps");

static __always_inline __u64 *port_word(enum warden_port_bitmap bitmap, __u32 port)
{
	__u32 word = bitmap * WARDEN_PORT_WORDS + ((port >> 6) & (WARDEN_PORT_WORDS - 1));

	return bpf_map_lookup_elem(&port_bits, &word);
}

static __always_inline bool inbound_port_noted(__u32 port)
{
	__u64 *bits = port_word(WARDEN_PORTS_NOTED, port);

	return bits && (*bits & (1ULL << (port & 63)));
}

/* Sets `port`'s bit in `bitmap`, taken only while it is clear, by an atomic or whose result is
 * used (by an empty asm): clang then emits BPF_OR | BPF_FETCH, which is fully ordered, where a
 * plain BPF_OR is not; so what the caller writes after it is seen only with the bit. */
static __always_inline void mark_port(enum warden_port_bitmap bitmap, __u32 port)
{
	__u64 *bits = port_word(bitmap, port);
	__u64 bit = 1ULL << (port & 63);
	__u64 before;

	if (!bits || (*bits & bit))
		return;
	before = __sync_fetch_and_or(bits, bit);
	asm volatile("" : : "r"(before));
}

/* The generation the next owner record gets (attribution.h, warden_owner.generation). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} generations SEC(".maps");

/* UDP flow key -> the generation of the owner record wardend allowed the flow for, written by
 * wardend before it accepts the flow's first packet. warden_udp_reused compares it with the
 * key's current owner record. LRU: a lost entry costs one more decision, never a pass. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_DEFAULT_FLOW_ENTRIES);
	__type(key, struct warden_flow_key);
	__type(value, __u64);
} decided SEC(".maps");

/* Kernel-held verdicts (attribution.h). held_verdicts is sized by the loader
 * ([engine] kernel_verdicts_entries); LRU, so that the bound costs a queued decision, never
 * a wrong one. held_sockets: what a TCP connect found, for its SYN (by socket cookie); an entry
 * of a socket long closed is simply never looked up again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_DEFAULT_HELD_ENTRIES);
	__type(key, struct warden_held_key);
	__type(value, struct warden_held_verdict);
} held_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARDEN_HELD_SOCKET_ENTRIES);
	__type(key, __u64); /* bpf_get_socket_cookie: unique for the boot */
	__type(value, struct warden_held_socket);
} held_sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct warden_held_state);
} held_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, WARDEN_HELD_NAME_ENTRIES);
	__type(key, __u8[16]);
	__type(value, __u64);
} held_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WARDEN_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARDEN_DEFAULT_EVENTS_BYTES);
} events SEC(".maps");

/*
 * The commit flags of a record that need not be read at once: no wake-up of the ring's reader
 * unless the ring is a quarter full. A wake-up is irq_work, whose self-interrupt costs a
 * virtual machine an exit: on the build machine each fork and exit event cost 13 to 17 us when
 * it woke the process tracker, 0.8 us when it did not (BENCHMARKS.md, "Process storm"). The
 * tracker reads fork and exit events with the next exec event (whose wake-up is forced), on a
 * queue worker's request, or within its poll's timeout; the ring keeps the events' order, so a
 * fork is still read before the child's exec and exit.
 */
static __always_inline __u64 quiet_wakeup(void *ring)
{
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >
		       bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 4
		   ? BPF_RB_FORCE_WAKEUP
		   : BPF_RB_NO_WAKEUP;
}

/* The flows held verdicts decided, for their log rows: a ring of their own, so that a process
 * making held flows as fast as it can never crowds the exec events out of `events`. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARDEN_HELD_EVENTS_BYTES);
} held_events SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &index);

	if (value)
		*value += 1;
}

/* Never 0, so that 0 can mean "none". */
static __always_inline __u64 next_generation(void)
{
	__u32 zero = 0;
	__u64 *next = bpf_map_lookup_elem(&generations, &zero);

	return next ? __sync_fetch_and_add(next, 1) + 1 : 0;
}

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* MAX_PID_NS_LEVEL: a struct pid holds at most this many numbers + 1. */
#define WARDEN_MAX_PID_NS_LEVEL 32

/*
 * The number `pid` has in wardend's pid namespace, or 0 when it has none there (a task of an
 * ancestor namespace, or of a sibling's: wardend's /proc does not show it). numbers[i] is the
 * number in the namespace of level i, from the initial (0) to the task's own (pid->level);
 * searched from the task's own level down, since most tasks live in wardend's namespace itself.
 */
static __always_inline __u32 ns_pid(struct pid *pid)
{
	unsigned int level = BPF_CORE_READ(pid, level);
	__u64 base = (__u64)pid + bpf_core_field_offset(struct pid, numbers);
	__u64 size = bpf_core_type_size(struct upid);

	for (int i = 0; i <= WARDEN_MAX_PID_NS_LEVEL; i++) {
		struct upid *number;

		if (i > level)
			break;
		number = (struct upid *)(base + (level - i) * size);
		if (BPF_CORE_READ(number, ns, ns.inum) == pidns_inum)
			return BPF_CORE_READ(number, nr);
	}
	return 0;
}

/* A process's id (its thread group's) in wardend's pid namespace; 0: none there. */
static __always_inline __u32 ns_tgid(struct task_struct *task)
{
	if (pidns_initial)
		return BPF_CORE_READ(task, tgid);
	return ns_pid(BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]));
}

/* A thread's id there, given its process's (`tgid`, from ns_tgid). */
static __always_inline __u32 ns_thread_id(struct task_struct *task, __u32 tgid)
{
	if (pidns_initial)
		return BPF_CORE_READ(task, pid);
	if (!tgid || BPF_CORE_READ(task, pid) == BPF_CORE_READ(task, tgid))
		return tgid; /* none there, or the leader, whose number is the process's */
	return ns_pid(BPF_CORE_READ(task, thread_pid));
}

/* The calling process as wardend's pid namespace numbers it, its start time and the exec
 * generation of the image it runs: what names it in an owner record and in a held verdict's
 * key. Plain loads through the task's BTF pointer, as in fill_owner below. */
struct current_process {
	__u32 tgid;
	__u64 start_time_ns;
	__u64 exec_id;
};

static __always_inline void current_process(struct current_process *out)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct task_struct *leader = current->group_leader;

	out->tgid =
	    pidns_initial ? current->tgid : ns_tgid((struct task_struct *)bpf_get_current_task());
	out->start_time_ns = leader->start_boottime;
	out->exec_id = leader->self_exec_id;
}

/* Whether the calling task is of the process (tgid, start time) and exec generation named,
 * under that uid: what a connected socket's first datagram (udp_connected_first) and a held
 * word's packet (held_match, held_decides) ask of their sender. */
static __always_inline bool current_is(__u32 tgid, __u64 start_time_ns, __u64 exec_id, __u32 uid)
{
	struct current_process now;

	current_process(&now);
	return now.tgid == tgid && now.start_time_ns == start_time_ns && now.exec_id == exec_id &&
	       (__u32)bpf_get_current_uid_gid() == uid;
}

#define WARDEN_SIGNAL_UNKILLABLE 0x00000040 /* a pid namespace's init (linux/sched/signal.h) */

/* Whether `parent` may have adopted its child rather than forked it: an orphan goes to the
 * nearest subreaper among its ancestors, else to its pid namespace's init. */
static __always_inline bool adoptive(struct task_struct *parent)
{
	struct signal_struct *signal = parent->signal;

	if (signal->flags & WARDEN_SIGNAL_UNKILLABLE)
		return true;
	return BPF_CORE_READ_BITFIELD_PROBED(signal, is_child_subreaper);
}

/*
 * Everything about the current task that the owner record holds. Read through the task's BTF
 * pointer: each field is a plain load (the verifier makes a fault read 0), where
 * BPF_CORE_READ calls bpf_probe_read_kernel once per step, about 20 of them, on the path of
 * every connect(). Only the search of a pid namespace other than the initial one reads through
 * the helper (ns_tgid, ns_thread_id: numbers[] is indexed by a level known at run time), and
 * so does adoptive() (a bitfield).
 * bpf_get_current_task_btf is among the base helpers of every program type that calls this
 * or current_process (sock_ops, cgroup sock_addr, cgroup sock, tracepoint, socket filter):
 * verified by loading on 6.18.
 */
static __always_inline void fill_owner(struct warden_owner *owner)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct task_struct *leader = current->group_leader;
	struct task_struct *parent = leader->real_parent;
	struct inode *exe = current->mm->exe_file->f_inode;
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct current_process process;

	current_process(&process);
	owner->tgid = process.tgid;
	owner->start_time_ns = process.start_time_ns;
	owner->exec_id = process.exec_id;
	owner->fork_exec_id = adoptive(parent) ? 0 : leader->parent_exec_id;
	if (pidns_initial) {
		owner->pid = current->pid;
		owner->ppid = parent->tgid;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		owner->pid = ns_thread_id(task, owner->tgid);
		owner->ppid = ns_tgid(BPF_CORE_READ(task, group_leader, real_parent));
	}
	if (!owner->tgid)
		count(WARDEN_CTR_OUTSIDE_PIDNS);
	/* The initial user namespace's ids: wardend runs there (loading needs CAP_BPF in it). */
	owner->uid = (__u32)uid_gid;
	owner->gid = uid_gid >> 32;
	bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	owner->cgroup_id = bpf_get_current_cgroup_id();
	owner->parent_start_time_ns = parent->group_leader->start_boottime;
	owner->exe_ino = exe->i_ino;
	owner->exe_dev = exe->i_sb->s_dev;
	/* The top bit of i_ctime_nsec is the kernel's "ctime was queried" flag (multigrain
	 * timestamps), not part of the time: inode_get_ctime_nsec() masks it, and so do we. */
	owner->exe_ctime_ns = exe->i_ctime_sec * 1000000000ULL + (exe->i_ctime_nsec & 0x3fffffff);
	owner->recorded_ns = bpf_ktime_get_boot_ns();
	owner->generation = next_generation();
}

/* Takes a mirror slot for writing: seq becomes odd (*claimed); false when another writer has
 * it. Never waits: the reader falls back to the hash map for a key the slot does not hold. */
static __always_inline bool slot_claim(__u32 *seq, __u32 *claimed)
{
	__u32 seen = *(volatile __u32 *)seq;

	if (seen & 1)
		return false;
	*claimed = seen + 1;
	return __sync_val_compare_and_swap(seq, seen, seen + 1) == seen;
}

/* Ends the write: seq even again. An exchange, fully ordered on every architecture (a plain
 * atomic add is relaxed on arm64, where readers could see the new seq before the data). */
static __always_inline void slot_release(__u32 *seq, __u32 claimed)
{
	__atomic_exchange_n(seq, claimed + 1, __ATOMIC_SEQ_CST);
}

/* Copies *key and *owner into slot `index` of mirror `map` (whose values are `slot_type`),
 * unless another writer holds the slot. A macro: the two mirrors differ only in types. */
#define write_slot(map, slot_type, index, key, owner)                                              \
	do {                                                                                       \
		__u32 slot_index = (index), claimed;                                               \
		slot_type *slot = bpf_map_lookup_elem(&(map), &slot_index);                        \
                                                                                                   \
		if (!slot)                                                                         \
			break;                                                                     \
		if (!slot_claim(&slot->seq, &claimed)) {                                           \
			count(WARDEN_CTR_SLOT_BUSY);                                               \
			break;                                                                     \
		}                                                                                  \
		slot->key = *(key);                                                                \
		slot->owner = *(owner);                                                            \
		slot_release(&slot->seq, claimed);                                                 \
	} while (0)

static __always_inline void mirror_flow(const struct warden_flow_key *key,
					const struct warden_owner *owner)
{
	write_slot(flow_slots, struct warden_flow_slot, warden_flow_slot_index(key, flow_slot_mask),
		   key, owner);
}

static __always_inline void mirror_listener(const struct warden_listener_key *key,
					    const struct warden_owner *owner)
{
	write_slot(listener_slots, struct warden_listener_slot,
		   warden_listener_slot_index(key, listener_slot_mask), key, owner);
}

static __always_inline bool same_flow_key(const struct warden_flow_key *a,
					  const struct warden_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline bool same_addr(const __u8 *a, const __u8 *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

/* An owner record's local address that was not known when it was written (all zero). */
static __always_inline bool addr_unknown(const __u8 *a)
{
	const __u64 *x = (const __u64 *)a;

	return !(x[0] | x[1]);
}

/* Writes key -> owner (what the map holds) into the flow mirror unless its slot already says
 * so. The slot may say otherwise after two processes sent on one key at once (map updates and
 * slot writes can land in different orders, and a busy slot is skipped), or after another key
 * took the slot: without this, the map's later unchanged sends would never correct it. */
static __always_inline void mirror_flow_if_stale(const struct warden_flow_key *key,
						 const struct warden_owner *owner)
{
	__u32 index = warden_flow_slot_index(key, flow_slot_mask);
	struct warden_flow_slot *slot = bpf_map_lookup_elem(&flow_slots, &index);

	if (!slot)
		return;
	if (same_flow_key(&slot->key, key) && slot->owner.generation == owner->generation)
		return;
	mirror_flow(key, owner);
}

/* Before key's record is written for a process: true when the record there already names it,
 * running the same image (a process that exec'd, another program or the same one anew, keeps
 * its pid and start time, but is not the owner the flow was decided for), from the same local
 * address or with this write's not known (a socket bound to the wildcard address does not
 * undo what its datagram's own filter wrote). Then nothing is written (counted) and only the
 * mirror is corrected. Counts the write to come otherwise. */
static __always_inline bool flow_recorded_for(const struct warden_flow_key *key, __u32 tgid,
					      __u64 start_time_ns, __u64 exec_id, __u32 uid,
					      __u64 exe_ino, __u32 exe_dev, const __u8 *local,
					      __u64 cookie)
{
	struct warden_owner *old = bpf_map_lookup_elem(&flows, key);

	if (!old) {
		count(WARDEN_CTR_FLOW_INSERTS);
		return false;
	}
	if (old->tgid == tgid && old->start_time_ns == start_time_ns && old->exec_id == exec_id &&
	    old->uid == uid && old->exe_ino == exe_ino && old->exe_dev == exe_dev &&
	    (addr_unknown(local) || same_addr(old->local_addr, local)) &&
	    !(old->flags & WARDEN_OWNER_PROVISIONAL)) {
		/* The same owner on another socket of its (two wildcard-bound multicast sockets of
		 * one daemon on one port, say): the record now names that socket, and keeps its
		 * generation, so that the flow is not decided again at each alternation. */
		if (old->sock_cookie != cookie)
			old->sock_cookie = cookie;
		count(WARDEN_CTR_FLOW_UNCHANGED);
		mirror_flow_if_stale(key, old);
		return true;
	}
	count(WARDEN_CTR_FLOW_UPDATES);
	return false;
}

/* Writes key -> the current task, for the socket `cookie` of local address `local` (all zero:
 * not known), skipping the write when the same process already owns the key from that socket
 * and address (a UDP socket sending many datagrams to one peer). */
static __always_inline void record_flow(const struct warden_flow_key *key, const __u8 *local,
					__u64 cookie)
{
	struct inode *exe = bpf_get_current_task_btf()->mm->exe_file->f_inode;
	struct warden_owner owner = {};
	struct current_process now;

	current_process(&now);
	if (flow_recorded_for(key, now.tgid, now.start_time_ns, now.exec_id,
			      (__u32)bpf_get_current_uid_gid(), exe->i_ino, exe->i_sb->s_dev, local,
			      cookie))
		return;
	fill_owner(&owner);
	__builtin_memcpy(owner.local_addr, local, 16);
	owner.sock_cookie = cookie;
	if (bpf_map_update_elem(&flows, key, &owner, BPF_ANY))
		count(WARDEN_CTR_FLOW_ERRORS);
	mirror_flow(key, &owner);
}

/* record_flow for a key that is nearly always new (a TCP connect's 4-tuple): the owner is
 * written with BPF_NOEXIST straight away, one walk of the hash bucket where record_flow's
 * lookup and update take two, on the connecting task's own path. A key already there (a reused
 * 4-tuple, or a failed insert) takes record_flow's path, which compares and writes it. That
 * path is rare and pays one owner record more; on a full LRU map the refused insert may also
 * have evicted another key, which costs a miss, never a wrong owner. */
static __always_inline void record_new_flow(const struct warden_flow_key *key, const __u8 *local,
					    __u64 cookie)
{
	struct warden_owner owner = {};

	fill_owner(&owner);
	__builtin_memcpy(owner.local_addr, local, 16);
	owner.sock_cookie = cookie;
	if (bpf_map_update_elem(&flows, key, &owner, BPF_NOEXIST) == 0) {
		count(WARDEN_CTR_FLOW_INSERTS);
		mirror_flow(key, &owner);
		return;
	}
	record_flow(key, local, cookie);
}

/* record_flow for an owner read earlier (a UDP connect's, kept until its first datagram) and
 * written now from another context: the same comparison with the key's record, against the
 * kept owner instead of the current task. `kept` gets this write's time and generation. */
static __always_inline void record_kept_flow(const struct warden_flow_key *key,
					     struct warden_owner *kept)
{
	/* (A provisional record is written whatever is there: its new generation is what makes
	 * the reuse check decide the flow again.) */
	if (flow_recorded_for(key, kept->tgid, kept->start_time_ns, kept->exec_id, kept->uid,
			      kept->exe_ino, kept->exe_dev, kept->local_addr, kept->sock_cookie) &&
	    !(kept->flags & WARDEN_OWNER_PROVISIONAL))
		return;
	kept->recorded_ns = bpf_ktime_get_boot_ns();
	kept->generation = next_generation();
	if (bpf_map_update_elem(&flows, key, kept, BPF_ANY))
		count(WARDEN_CTR_FLOW_ERRORS);
	mirror_flow(key, kept);
}

/* Keys a packet's flow for its socket `cookie` when the record there is another socket's and
 * nothing says who sends on this one (the current task may not: a packet another NFQUEUE
 * consumer handed back, a datagram another process corked): provisional, so that wardend asks
 * sock_diag who holds the socket. */
static __always_inline void record_provisional(const struct warden_flow_key *key, const __u8 *local,
					       __u64 cookie, __u32 flags)
{
	struct warden_owner fresh = {};

	fill_owner(&fresh);
	fresh.flags = WARDEN_OWNER_PROVISIONAL | flags;
	fresh.sock_cookie = cookie;
	__builtin_memcpy(fresh.local_addr, local, 16);
	record_kept_flow(key, &fresh);
}

/* Notes the current task as the last to send on the UDP socket `cookie` through a hook (see
 * udp_senders), unless it is noted already: one lookup for every datagram after the first. */
static __always_inline void note_sender(__u64 cookie)
{
	struct warden_owner *last = bpf_map_lookup_elem(&udp_senders, &cookie);
	struct warden_owner sender = {};

	if (last && current_is(last->tgid, last->start_time_ns, last->exec_id, last->uid))
		return;
	fill_owner(&sender);
	sender.sock_cookie = cookie;
	bpf_map_update_elem(&udp_senders, &cookie, &sender, BPF_ANY);
}

/* Whether the packet's socket is a connected one (UDP: TCP_ESTABLISHED). A socket filter may
 * read the state off skb->sk (verified on 6.18 by loading). */
static __always_inline bool socket_connected(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	return sk && sk->state == BPF_TCP_ESTABLISHED;
}

/* Keys a UDP packet's flow for its socket `cookie` when the key's record is another socket's:
 * for the last process that sent on this socket through a hook, else provisionally. Of an
 * unconnected socket with no sender noted, flagged WARDEN_OWNER_SENDER_UNKNOWN: every send
 * that names a destination notes its task first (the sendmsg hook, in the same call), so such
 * a datagram is one corked earlier and pushed by a send naming none, whose stager's note is
 * gone (pushed out of the map by 8,192 sockets held open). A connected socket's send passes no
 * hook at all, and its datagrams go to sock_diag as before (a stager on it is not told from
 * the pusher: README). */
static __always_inline void record_socket_sender(const struct warden_flow_key *key,
						 const __u8 *local, __u64 cookie, bool connected)
{
	struct warden_owner *last = bpf_map_lookup_elem(&udp_senders, &cookie);
	struct warden_owner sender;

	if (!last) {
		count(WARDEN_CTR_UDP_SENDER_UNKNOWN);
		record_provisional(key, local, cookie, connected ? 0 : WARDEN_OWNER_SENDER_UNKNOWN);
		return;
	}
	/* A copy: another send on the socket may rewrite the entry meanwhile. */
	sender = *last;
	sender.flags = 0;
	sender.sock_cookie = cookie;
	__builtin_memcpy(sender.local_addr, local, 16);
	count(WARDEN_CTR_UDP_LAST_SENDER);
	record_kept_flow(key, &sender);
}

static __always_inline void set_v4_mapped(__u8 *addr, __u32 ip4_network_order)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &ip4_network_order, 4);
}

/* ---- Kernel-held verdicts: the hooks ----------------------------------------------------- */

/* What held_names says of the address now (0: nothing). */
static __always_inline __u64 name_gen(const __u8 *addr)
{
	__u64 *gen = bpf_map_lookup_elem(&held_names, addr);

	return gen ? *gen : 0;
}

static __always_inline struct warden_held_state *held_state_now(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&held_state, &zero);
}

/* The process part of a held key, for the calling task (tgid 0: a task outside wardend's pid
 * namespace, for which nothing is held), and the direction. */
static __always_inline void held_key_of_caller(struct warden_held_key *key)
{
	struct current_process caller;

	current_process(&caller);
	key->tgid = caller.tgid;
	key->start_time_ns = caller.start_time_ns;
	key->exec_id = caller.exec_id;
	key->uid = (__u32)bpf_get_current_uid_gid();
	key->direction = WARDEN_HELD_OUT;
}

/* Whether the entry found for `key` may decide now: decided under the policy in force
 * (`epoch`), its address not named anew since, not expired. What stops it is counted. */
static __always_inline bool held_entry_valid(const struct warden_held_verdict *verdict,
					     const struct warden_held_key *key, __u64 epoch,
					     __u64 now)
{
	if (verdict->epoch != epoch || name_gen(key->remote_addr) > verdict->name_gen) {
		count(WARDEN_CTR_HELD_STALE);
		return false;
	}
	if (now >= verdict->expires_ns) {
		count(WARDEN_CTR_HELD_EXPIRED);
		return false;
	}
	return true;
}

/*
 * Called by the connect hooks for a TCP connect (the destination in user_ip4/6 and user_port):
 * finds the held verdict of the calling process for that destination, and leaves it in
 * held_sockets for the connection's SYN, which may leave later and from another task (a
 * retransmission timer; TCP Fast Open's deferred connect: see held_decides). When there is
 * none (or none that may be used), any word an earlier connect left on the socket is taken
 * back. UDP needs no word: a datagram leaves inside the call that sends it, in the sending
 * thread, so the table's match looks the entry up for the sender itself (held_match_udp).
 */
static __always_inline void held_arm(struct bpf_sock_addr *ctx, bool v6)
{
	__u64 socket_key;
	struct warden_held_socket armed;
	struct warden_held_state *state = held_state_now();
	struct warden_held_key *key = &armed.key;
	struct warden_held_verdict *verdict;

	/* Epoch 0: nothing is held (kernel_verdicts off, or wardend has no policy yet); word left
	 * on sockets before names an epoch the matches no longer accept. */
	if (!state || !state->epoch)
		return;
	if (ctx->protocol != IPPROTO_TCP)
		return;
	socket_key = bpf_get_socket_cookie(ctx);
	__builtin_memset(&armed, 0, sizeof(armed));
	held_key_of_caller(key);
	key->netns_cookie = bpf_get_netns_cookie(ctx);
	key->remote_port = bpf_ntohs((__u16)ctx->user_port);
	key->protocol = ctx->protocol;
	if (v6) {
		__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				ctx->user_ip6[3]};

		__builtin_memcpy(key->remote_addr, ip6, 16);
	} else {
		set_v4_mapped(key->remote_addr, ctx->user_ip4);
	}

	verdict = key->tgid ? bpf_map_lookup_elem(&held_verdicts, key) : NULL;
	if (verdict && held_entry_valid(verdict, key, state->epoch, bpf_ktime_get_boot_ns())) {
		armed.epoch = verdict->epoch;
		armed.action = verdict->action;
		bpf_map_update_elem(&held_sockets, &socket_key, &armed, BPF_ANY);
		return;
	}
	if (bpf_map_lookup_elem(&held_sockets, &socket_key))
		bpf_map_delete_elem(&held_sockets, &socket_key);
}

/* The entry a word was armed with, if it still holds what the hook found (else NULL): the
 * word of a deferred TCP connect (Fast Open) may be used long after it was armed, and the
 * entry may have expired since (its DNS answer, its TTL), its address may have another name
 * now, or the table's bound may have dropped it. */
static __always_inline struct warden_held_verdict *
held_entry_holding(const struct warden_held_socket *armed, __u64 now)
{
	struct warden_held_verdict *verdict = bpf_map_lookup_elem(&held_verdicts, &armed->key);

	if (verdict && verdict->epoch == armed->epoch && verdict->action == armed->action &&
	    now < verdict->expires_ns && name_gen(armed->key.remote_addr) <= verdict->name_gen)
		return verdict;
	return NULL;
}

/* ---- TCP outbound ---------------------------------------------------------------------- */

/*
 * Whether the connect hook just armed this socket with a held verdict of the epoch in force:
 * then its SYN is decided by the table's held rules, and no owner record is needed (writing
 * one was half the kernel's cost of a repeat connection: an LRU insert and its mirror). The
 * SYN may still reach the queue: the word gone stale before it left (a reload in between), the
 * SYN dropped further on and sent again, a conntrack entry of the 4-tuple's earlier flow (rule
 * 0b). There it must find no record rather than the one an earlier connection from the same
 * 4-tuple left, maybe another process's: forget_flow removes that, and sock_diag names the
 * owner, as for any flow the maps missed.
 */
static __always_inline bool held_decides(struct bpf_sock_ops *ctx)
{
	struct warden_held_state *state = held_state_now();
	struct warden_held_socket *armed;
	__u64 socket_key;

	/* The array first: with nothing held (kernel_verdicts off) no connect pays the hash. */
	if (!state || !state->epoch)
		return false;
	socket_key = bpf_get_socket_cookie(ctx);
	armed = bpf_map_lookup_elem(&held_sockets, &socket_key);
	if (!armed || state->epoch != armed->epoch)
		return false;
	/* This runs in the task that sends the SYN: the connecting one, but with TCP Fast Open's
	 * deferred connect (TCP_FASTOPEN_CONNECT) whoever writes first, maybe after an exec, a
	 * setuid or in another process the socket was passed to, and maybe long after the
	 * connect. The word was looked up for the connecting process: for another sender, or an
	 * entry gone meanwhile, it is taken back and the flow recorded as usual, so that the queue
	 * decides the SYN for its sender. (The table's match asks again: this program is detached
	 * when wardend dies, the connect hooks and the table stay.) */
	if (!current_is(armed->key.tgid, armed->key.start_time_ns, armed->key.exec_id,
			armed->key.uid))
		count(WARDEN_CTR_HELD_OTHER_SENDER);
	else if (held_entry_holding(armed, bpf_ktime_get_boot_ns()))
		return true;
	bpf_map_delete_elem(&held_sockets, &socket_key);
	return false;
}

/* Removes key's owner record from the map and from its mirror slot. The key is nearly always
 * absent (a new connection's 4-tuple): a lookup, which takes no lock, comes first, since a
 * delete takes the bucket's lock even for a key that is not there (0.3 us a connect). */
static __always_inline void forget_flow(const struct warden_flow_key *key)
{
	__u32 index = warden_flow_slot_index(key, flow_slot_mask), claimed;
	struct warden_flow_slot *slot = bpf_map_lookup_elem(&flow_slots, &index);

	if (bpf_map_lookup_elem(&flows, key))
		bpf_map_delete_elem(&flows, key);
	if (slot && same_flow_key(&slot->key, key) && slot_claim(&slot->seq, &claimed)) {
		__builtin_memset(&slot->key, 0, sizeof(slot->key));
		slot_release(&slot->seq, claimed);
	}
}

/* A connection is established: the word its connect left (held_arm) has served, its SYNs
 * sent again included, and goes, so that later connects' words take its place in the map
 * rather than evict others. (Left to the LRU while wardend is away: this program goes with it,
 * the connect hooks stay.) */
static __always_inline void held_established(struct bpf_sock_ops *ctx)
{
	struct warden_held_state *state = held_state_now();
	__u64 socket_key;

	/* The array first: with nothing held (kernel_verdicts off) no connection pays the hash. */
	if (!state || !state->epoch)
		return;
	socket_key = bpf_get_socket_cookie(ctx);
	if (bpf_map_lookup_elem(&held_sockets, &socket_key))
		bpf_map_delete_elem(&held_sockets, &socket_key);
}

/* An inbound connection is established: its handshake was checked at the listener, and its
 * entry in inbound_receivers goes, leaving room in the map. */
static __always_inline void inbound_established(struct bpf_sock_ops *ctx)
{
	struct warden_inbound_key key;

	if (!inbound_port_noted(ctx->local_port))
		return;
	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = bpf_get_netns_cookie(ctx);
	key.protocol = IPPROTO_TCP;
	key.local_port = ctx->local_port; /* host order */
	key.remote_port = bpf_ntohl(ctx->remote_port);
	if (ctx->family == AF_INET) {
		set_v4_mapped(key.remote_addr, ctx->remote_ip4);
		set_v4_mapped(key.local_addr, ctx->local_ip4);
	} else if (ctx->family == AF_INET6) {
		__u32 remote6[4] = {ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
				    ctx->remote_ip6[3]};
		__u32 local6[4] = {ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2],
				   ctx->local_ip6[3]};

		__builtin_memcpy(key.remote_addr, remote6, 16);
		__builtin_memcpy(key.local_addr, local6, 16);
	} else {
		return;
	}
	bpf_map_delete_elem(&inbound_receivers, &key);
}

SEC("sockops")
int warden_sockops(struct bpf_sock_ops *ctx)
{
	struct warden_flow_key key;
	__u8 local[16] __attribute__((aligned(8)));

	if (ctx->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) {
		held_established(ctx);
		return 1;
	}
	if (ctx->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
		inbound_established(ctx);
		return 1;
	}
	if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = bpf_get_netns_cookie(ctx);
	key.protocol = IPPROTO_TCP;
	key.local_port = ctx->local_port; /* host order */
	/* remote_port holds the network-order port in its upper 16 bits (little endian) */
	key.remote_port = bpf_ntohl(ctx->remote_port);
	__builtin_memset(local, 0, sizeof(local));
	if (ctx->family == AF_INET) {
		set_v4_mapped(key.remote_addr, ctx->remote_ip4);
		set_v4_mapped(local, ctx->local_ip4);
	} else if (ctx->family == AF_INET6) {
		__u32 ip6[4] = {ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
				ctx->remote_ip6[3]};
		__u32 local6[4] = {ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2],
				   ctx->local_ip6[3]};

		__builtin_memcpy(key.remote_addr, ip6, 16);
		__builtin_memcpy(local, local6, 16);
	} else {
		return 1;
	}
	if (held_decides(ctx)) {
		forget_flow(&key);
		count(WARDEN_CTR_HELD_UNRECORDED);
		return 1;
	}
	record_new_flow(&key, local, bpf_get_socket_cookie(ctx));
	return 1;
}

/* ---- UDP unconnected ------------------------------------------------------------------- */

/* The flow key of a UDP socket sending to (or connecting to) the address in ctx; the local port
 * must be bound already. */
static __always_inline void udp_key(struct bpf_sock_addr *ctx, struct bpf_sock *sk, bool v6,
				    struct warden_flow_key *out)
{
	struct warden_flow_key key;

	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = bpf_get_netns_cookie(ctx);
	key.protocol = IPPROTO_UDP;
	key.local_port = sk->src_port; /* host order, bound before this hook */
	key.remote_port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				ctx->user_ip6[3]};

		__builtin_memcpy(key.remote_addr, ip6, 16);
	} else {
		set_v4_mapped(key.remote_addr, ctx->user_ip4);
	}
	*out = key;
}

/* The source address of a sendmsg hook's datagram when it is known at the hook (IPv4 mapped;
 * all zero: not known): what its control message names (IP_PKTINFO, IPV6_PKTINFO), else the
 * socket's source (connected, or bound to a unicast address), which the kernel has put there
 * already; a socket bound to the wildcard address leaves it to the route. */
static __always_inline void sendmsg_local(struct bpf_sock_addr *ctx, bool v6, __u8 *out)
{
	__builtin_memset(out, 0, 16);
	if (v6) {
		__u32 ip6[4] = {ctx->msg_src_ip6[0], ctx->msg_src_ip6[1], ctx->msg_src_ip6[2],
				ctx->msg_src_ip6[3]};

		if (ip6[0] | ip6[1] | ip6[2] | ip6[3])
			__builtin_memcpy(out, ip6, 16);
	} else {
		__u32 ip4 = ctx->msg_src_ip4;

		if (ip4)
			set_v4_mapped(out, ip4);
	}
}

/* The unicast address a socket is bound to (all zero: the wildcard, or a multicast group or the
 * limited broadcast address, which name no one socket; a subnet's broadcast address is not told
 * apart here). Each field is read once,
 * unconditionally: the verifier refuses the pointer arithmetic on the socket that the
 * compiler makes of a field read on one branch only. */
static __always_inline void bound_local(struct bpf_sock *sk, bool v6, __u8 *out)
{
	__builtin_memset(out, 0, 16);
	if (v6) {
		__u32 ip6[4] = {sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3]};
		const __u8 *first = (const __u8 *)ip6;

		if ((ip6[0] | ip6[1] | ip6[2] | ip6[3]) && first[0] != 0xff)
			__builtin_memcpy(out, ip6, 16);
	} else {
		__u32 ip4 = sk->src_ip4;

		barrier_var(ip4);
		/* network order: the first byte is the lowest; 224.0.0.0/4 and 255.255.255.255 */
		if (ip4 && (ip4 & 0xf0) != 0xe0 && ip4 != 0xffffffff)
			set_v4_mapped(out, ip4);
	}
}

static __always_inline void udp_sendmsg(struct bpf_sock_addr *ctx, bool v6)
{
	struct bpf_sock *sk = ctx->sk;
	struct warden_flow_key key;
	__u8 local[16] __attribute__((aligned(8)));
	__u64 cookie;

	if (!sk || ctx->protocol != IPPROTO_UDP)
		return;
	/* No destination: a connected socket's send with a control message (IP_PKTINFO, a TOS or
	 * ECN for QUIC) passes this hook too, with none named. Its flow was keyed by its connect
	 * and is by its first datagram (udp_connected_first); 0.0.0.0:0 would be a key of no flow.
	 */
	if (!ctx->user_port)
		return;
	udp_key(ctx, sk, v6, &key);
	sendmsg_local(ctx, v6, local);
	cookie = bpf_get_socket_cookie(ctx);
	record_flow(&key, local, cookie);
	note_sender(cookie);
}

SEC("cgroup/sendmsg4")
int warden_sendmsg4(struct bpf_sock_addr *ctx)
{
	udp_sendmsg(ctx, false);
	return 1;
}

SEC("cgroup/sendmsg6")
int warden_sendmsg6(struct bpf_sock_addr *ctx)
{
	udp_sendmsg(ctx, true);
	return 1;
}

/* ---- UDP connected --------------------------------------------------------------------- */

/*
 * A UDP connect. A socket bound before it (a chosen source port, the way to reuse another
 * flow's 4-tuple; or connected before) is keyed here at once. An unbound one gets its local
 * port only after this hook, inside the connect, so the flow key is not known yet: the owner
 * is read now, while the connecting task is current, and kept by socket cookie until the
 * socket's first datagram, where the table's socket filter reads the key from the packet and
 * writes it (udp_connected_first). That covers every way of connecting (the connect syscall,
 * its 32-bit compat entry, io_uring), which all pass this hook; a syscall tracepoint at the
 * connect's exit, used before, missed the last two, and attaching any syscall tracepoint puts
 * every syscall of every task on the machine on the slow path.
 * Either way the connect's owner is kept until the first datagram, whose sender may not be
 * the connecting process any more (send(2) on a connected socket passes no hook): the socket
 * inherited by a child or passed to another process, or its process exec'd or changed its
 * uid in between. udp_connected_first keys the flow for the sender then.
 */
static __always_inline void udp_connect(struct bpf_sock_addr *ctx, bool v6)
{
	struct bpf_sock *bound = ctx->sk;
	struct udp_pending pending;
	__u64 cookie;

	if (!bound || ctx->protocol != IPPROTO_UDP)
		return;
	count(WARDEN_CTR_UDP_CONNECT_PENDING);
	cookie = bpf_get_socket_cookie(ctx);
	__builtin_memset(&pending, 0, sizeof(pending));
	fill_owner(&pending.owner);
	pending.owner.sock_cookie = cookie;
	if (bound->src_port) {
		/* Keyed now, provisionally: the table's reuse check decides a datagram on another
		 * flow's 4-tuple again even should the entry below be evicted before it. */
		struct warden_flow_key key;

		udp_key(ctx, bound, v6, &key);
		bound_local(bound, v6, pending.owner.local_addr);
		pending.owner.flags = WARDEN_OWNER_PROVISIONAL;
		record_kept_flow(&key, &pending.owner);
		pending.owner.flags = 0;
	}
	/* (Replaces what an earlier connect that sent nothing left, for another destination.) */
	pending.remote_port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				ctx->user_ip6[3]};

		__builtin_memcpy(pending.remote_addr, ip6, 16);
	} else if (ctx->user_ip4) {
		set_v4_mapped(pending.remote_addr, ctx->user_ip4);
	}
	bpf_map_update_elem(&udp_connects, &cookie, &pending, BPF_ANY);
}

SEC("cgroup/connect4")
int warden_connect4(struct bpf_sock_addr *ctx)
{
	udp_connect(ctx, false);
	held_arm(ctx, false);
	return 1;
}

SEC("cgroup/connect6")
int warden_connect6(struct bpf_sock_addr *ctx)
{
	udp_connect(ctx, true);
	held_arm(ctx, true);
	return 1;
}

/* ---- inbound: whoever binds a port owns what arrives on it ------------------------------ */

/* (v6: a post_bind6 program, which may read src_ip6 only; post_bind4, src_ip4 only.) */
static __always_inline void post_bind(struct bpf_sock *sk, bool v6)
{
	struct warden_listener_key key;
	struct warden_owner owner = {};

	if (sk->protocol != IPPROTO_TCP && sk->protocol != IPPROTO_UDP)
		return;
	if (sk->src_port == 0)
		return;
	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = bpf_get_netns_cookie(sk);
	key.local_port = sk->src_port;
	key.protocol = sk->protocol;
	/* The port's bit before its records: wardend asks the maps only about marked ports. */
	mark_port(WARDEN_PORTS_BOUND, sk->src_port);
	fill_owner(&owner);
	owner.sock_cookie = bpf_get_socket_cookie(sk);
	/* The address bound, since the key has none: another socket bound to the same port on
	 * another address is not this one. */
	bound_local(sk, v6, owner.local_addr);
	if (bpf_map_update_elem(&listeners, &key, &owner, BPF_ANY) == 0)
		count(WARDEN_CTR_LISTENER_WRITES);
	mirror_listener(&key, &owner);
	bpf_map_update_elem(&bound_sockets, &owner.sock_cookie, &owner, BPF_ANY);
}

SEC("cgroup/post_bind4")
int warden_post_bind4(struct bpf_sock *sk)
{
	post_bind(sk, false);
	return 1;
}

SEC("cgroup/post_bind6")
int warden_post_bind6(struct bpf_sock *sk)
{
	post_bind(sk, true);
	return 1;
}

/* Deletes `cookie` from `map` if it is there: a lookup takes no lock, a delete of an absent
 * key its bucket's. */
#define forget_by_cookie(map, cookie)                                                              \
	do {                                                                                       \
		if (bpf_map_lookup_elem(map, cookie))                                              \
			bpf_map_delete_elem(map, cookie);                                          \
	} while (0)

/* What is kept by socket cookie goes with the socket, at its last release (its last file
 * reference closed, in whichever process): a UDP socket's, a TCP listener's. A connect's held
 * word goes at its handshake. Attached only while wardend runs. */
SEC("cgroup/sock_release")
int warden_sock_release(struct bpf_sock *sk)
{
	__u64 cookie;

	/* (Of TCP sockets only listeners: a connection's close is the common case, and a bind
	 * record of a socket that connected instead of listening only waits for eviction.) */
	if (sk->protocol != IPPROTO_UDP &&
	    (sk->protocol != IPPROTO_TCP || sk->state != BPF_TCP_LISTEN))
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	forget_by_cookie(&bound_sockets, &cookie);
	if (sk->protocol == IPPROTO_UDP) {
		forget_by_cookie(&udp_senders, &cookie);
		forget_by_cookie(&udp_connects, &cookie);
	}
	return 1;
}

/* ---- process events ---------------------------------------------------------------------- */

/* Exec events are built here and copied into the ring buffer only as long as their argv:
 * most are a few hundred bytes, not the 2.4 KB of the whole struct. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct warden_exec_event);
} exec_scratch SEC(".maps");

/* ---- exec_windows: execs under way (see warden_exec_window) ------------------------------ */

/* Not preallocated: memory is taken only for processes that exec'd, one entry each until
 * wardend has read its exit (or found it gone). wardend sizes it as there can be pids, within
 * 256K; an entry it has no room for is a lost one, and exec_windows_lost_ns says when. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARDEN_EXEC_WINDOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct warden_exec_window_key);
	__type(value, struct warden_exec_window);
} exec_windows SEC(".maps");

/* When an exec_windows insert last failed (boot ns; 0: never): a process with no entry that
 * started before it may have lost one; one that started after it lost none (its loss would
 * have come later). */
__u64 exec_windows_lost_ns = 0;

static __always_inline void exec_window_lost(void)
{
	__u64 now = bpf_ktime_get_boot_ns(), seen = exec_windows_lost_ns;

	/* Only ever later: a loss on another CPU at once may not move it back. */
	for (int i = 0; i < 4 && seen < now; i++) {
		__u64 was = __sync_val_compare_and_swap(&exec_windows_lost_ns, seen, now);

		if (was == seen)
			break;
		seen = was;
	}
	count(WARDEN_CTR_EXEC_WINDOWS_LOST);
}

/* sched_prepare_exec (6.10 on): an exec past its point of no return, before anything of the
 * new image is in place (mm, exe_file and comm are still the old ones: /proc shows the old
 * image until it). No syscall tracepoint: attaching any puts every syscall of every task on
 * the traced slow path. An exec that fails before this point changes nothing. */
SEC("tracepoint/sched/sched_prepare_exec")
int warden_exec_begin(void *ctx)
{
	struct warden_exec_window *window, fresh = {};
	struct warden_exec_window_key key = {};
	struct current_process now;

	current_process(&now);
	if (!now.tgid)
		return 0;
	key.tgid = now.tgid;
	key.start_time_ns = now.start_time_ns;
	window = bpf_map_lookup_elem(&exec_windows, &key);
	if (window) {
		__sync_fetch_and_add(&window->begun, 1);
		return 0;
	}
	fresh.exec_id = now.exec_id;
	fresh.begun = 1;
	if (bpf_map_update_elem(&exec_windows, &key, &fresh, BPF_ANY) != 0)
		exec_window_lost();
	return 0;
}

/* At sched_process_exec, the new image in place: its generation first, then the end (an
 * atomic exchange: ordered after the store before it), so that a reader copying the value
 * between the two sees begun != ended, or a later copy differ. */
static __always_inline void exec_window_ended(void)
{
	struct warden_exec_window *window, fresh = {};
	struct warden_exec_window_key key = {};
	struct current_process now;

	current_process(&now);
	if (!now.tgid)
		return;
	key.tgid = now.tgid;
	key.start_time_ns = now.start_time_ns;
	window = bpf_map_lookup_elem(&exec_windows, &key);
	if (!window) {
		/* Begun before the programs were attached (or lost, counted): it is done now. */
		fresh.exec_id = now.exec_id;
		fresh.begun = fresh.ended = 1;
		if (bpf_map_update_elem(&exec_windows, &key, &fresh, BPF_ANY) != 0)
			exec_window_lost();
		return;
	}
	*(volatile __u64 *)&window->exec_id = now.exec_id;
	__sync_lock_test_and_set(&window->ended, *(volatile __u32 *)&window->begun);
}

SEC("tracepoint/sched/sched_process_exec")
int warden_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	const __u32 zero = 0;
	struct warden_exec_event *event = bpf_map_lookup_elem(&exec_scratch, &zero);
	struct task_struct *task;
	unsigned long arg_start, arg_end;
	__u32 len = 0, size;

	exec_window_ended();
	if (!event)
		return 0;
	event->head.kind = WARDEN_EVENT_EXEC;
	event->head.time_ns = bpf_ktime_get_boot_ns();
	fill_owner(&event->owner);
	if (!event->owner.tgid) /* wardend cannot describe it (counted by fill_owner) */
		return 0;
	bpf_probe_read_kernel_str(event->filename, sizeof(event->filename),
				  (void *)ctx + (ctx->__data_loc_filename & 0xffff));
	event->args_truncated = 0;
	if (capture_args) {
		/* The new image's argv is on its fresh stack: present, so readable here. */
		task = (struct task_struct *)bpf_get_current_task();
		arg_start = BPF_CORE_READ(task, mm, arg_start);
		arg_end = BPF_CORE_READ(task, mm, arg_end);
		len = arg_end > arg_start ? arg_end - arg_start : 0;
		if (len > WARDEN_ARGS_LEN - 1) {
			len = WARDEN_ARGS_LEN - 1;
			event->args_truncated = 1;
		}
		/* the mask on the very register handed to the helper is what the verifier needs */
		barrier_var(len);
		len &= WARDEN_ARGS_LEN - 1;
		/* Unreadable (not seen to happen: the stack is fresh): none of argv is here, which
		 * is what truncated says, so /proc's argv is taken for this image if it can be
		 * read, rather than an empty one for the event's. */
		if (bpf_probe_read_user(event->args, len, (void *)arg_start) != 0) {
			len = 0;
			event->args_truncated = 1;
		}
	}
	event->args_len = len;
	size = sizeof(*event) - WARDEN_ARGS_LEN + len;
	barrier_var(size);
	if (size > sizeof(*event))
		return 0;
	event->head.size = size;
	/* Forced: the description is read from /proc at once, before a short-lived process is
	 * gone; the default wakes the reader only when it has read everything before this event,
	 * which a fork or exit left unread (quiet_wakeup) prevents. */
	if (bpf_ringbuf_output(&events, event, size, BPF_RB_FORCE_WAKEUP) != 0) {
		count(WARDEN_CTR_EVENTS_LOST);
		return 0;
	}
	count(WARDEN_CTR_EVENTS);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int warden_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct warden_fork_event *event;
	__u32 child_tgid;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid)) /* a thread, not a process */
		return 0;
	child_tgid = ns_tgid(child);
	if (!child_tgid) {
		count(WARDEN_CTR_OUTSIDE_PIDNS);
		return 0;
	}
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(WARDEN_CTR_EVENTS_LOST);
		return 0;
	}
	event->head.kind = WARDEN_EVENT_FORK;
	event->head.size = sizeof(*event);
	event->head.time_ns = bpf_ktime_get_boot_ns();
	event->parent_tgid = ns_tgid(parent);
	event->parent_start_time_ns = leader_start(parent);
	event->child_tgid = child_tgid;
	event->child_start_time_ns = BPF_CORE_READ(child, start_boottime);
	event->exec_id = BPF_CORE_READ(child, self_exec_id);
	bpf_ringbuf_submit(event, quiet_wakeup(&events));
	count(WARDEN_CTR_EVENTS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int warden_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct warden_exit_event *event;
	__u32 tgid;

	/* Every thread passes here; signal->live reaches 0 when the last one does. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	tgid = ns_tgid(task);
	if (!tgid) {
		count(WARDEN_CTR_OUTSIDE_PIDNS);
		return 0;
	}
	/* exec_windows keeps the process's entry: wardend deletes it once it has read this. */
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(WARDEN_CTR_EVENTS_LOST);
		return 0;
	}
	event->head.kind = WARDEN_EVENT_EXIT;
	event->head.size = sizeof(*event);
	event->head.time_ns = bpf_ktime_get_boot_ns();
	event->tgid = tgid;
	event->exit_code = BPF_CORE_READ(task, exit_code);
	event->start_time_ns = leader_start(task);
	bpf_ringbuf_submit(event, quiet_wakeup(&events));
	count(WARDEN_CTR_EVENTS);
	return 0;
}

/* ---- Packets in the table: what the socket filter programs read ------------------------ */

#define ETH_P_IPV6_VERSION 6
#define NEXTHDR_HOP	   0
#define NEXTHDR_ROUTING	   43
#define NEXTHDR_FRAGMENT   44
#define NEXTHDR_DEST	   60
#define IPV6_EXT_MAX	   4

/* The end points of a TCP or UDP packet leaving this host (8-aligned: same_addr reads the
 * addresses as two 64-bit words, and the verifier checks the alignment of stack accesses). */
struct packet_ends {
	__u8 remote_addr[16];
	__u8 local_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 protocol;
} __attribute__((aligned(8)));

/* What read_packet() answers besides 0: not TCP or UDP (or not read whole, or a later
 * fragment, which has no ports); or an IPv6 packet that is neither TCP nor UDP after the
 * extension headers walked here (more than IPV6_EXT_MAX of them, or other kinds: its protocol
 * is not known here). */
#define READ_NO_PORTS -1
#define READ_UNWALKED -2

/* Reads an outgoing IPv4 or IPv6 packet's end points (skb->data is the network header). */
static __always_inline int read_packet(struct __sk_buff *skb, struct packet_ends *out)
{
	__u32 offset = 0;
	__u8 first, next;
	__u16 ports[2];

	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		return READ_NO_PORTS;
	if (first >> 4 == 4) {
		__u32 addrs[2];
		__u16 fragment;

		if (bpf_skb_load_bytes(skb, 9, &next, 1) ||
		    bpf_skb_load_bytes(skb, 6, &fragment, 2) ||
		    bpf_skb_load_bytes(skb, 12, addrs, sizeof(addrs)))
			return READ_NO_PORTS;
		if (bpf_ntohs(fragment) & 0x1fff)
			return READ_NO_PORTS;
		set_v4_mapped(out->local_addr, addrs[0]);
		set_v4_mapped(out->remote_addr, addrs[1]);
		offset = (first & 0x0f) * 4;
	} else if (first >> 4 == ETH_P_IPV6_VERSION) {
		if (bpf_skb_load_bytes(skb, 6, &next, 1) ||
		    bpf_skb_load_bytes(skb, 8, out->local_addr, 16) ||
		    bpf_skb_load_bytes(skb, 24, out->remote_addr, 16))
			return READ_NO_PORTS;
		offset = 40;
#pragma unroll
		for (int i = 0; i < IPV6_EXT_MAX; i++) {
			__u8 ext[2];

			if (next != NEXTHDR_HOP && next != NEXTHDR_ROUTING &&
			    next != NEXTHDR_DEST && next != NEXTHDR_FRAGMENT)
				break;
			if (bpf_skb_load_bytes(skb, offset, ext, 2))
				return READ_UNWALKED;
			offset += next == NEXTHDR_FRAGMENT ? 8 : (ext[1] + 1) * 8;
			next = ext[0];
		}
		if (next != IPPROTO_TCP && next != IPPROTO_UDP)
			return READ_UNWALKED;
	} else {
		return READ_NO_PORTS;
	}
	if (next != IPPROTO_TCP && next != IPPROTO_UDP)
		return READ_NO_PORTS;
	if (bpf_skb_load_bytes(skb, offset, ports, sizeof(ports)))
		return READ_NO_PORTS;
	out->protocol = next;
	out->local_port = bpf_ntohs(ports[0]);
	out->remote_port = bpf_ntohs(ports[1]);
	return 0;
}

/* The flow key of a UDP packet's end points, in the packet's network namespace. */
static __always_inline void udp_key_of(struct __sk_buff *skb, const struct packet_ends *p,
				       struct warden_flow_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->netns_cookie = bpf_get_netns_cookie(skb);
	__builtin_memcpy(key->remote_addr, p->remote_addr, 16);
	key->local_port = p->local_port;
	key->remote_port = p->remote_port;
	key->protocol = IPPROTO_UDP;
}

/* Reads the flow key of an outgoing UDP packet and its source address: 0, READ_NO_PORTS for
 * anything else, or READ_UNWALKED (see read_packet). */
static __always_inline int read_udp_key(struct __sk_buff *skb, struct warden_flow_key *key,
					__u8 *local)
{
	struct packet_ends p;
	int read = read_packet(skb, &p);

	if (read)
		return read;
	if (p.protocol != IPPROTO_UDP)
		return READ_NO_PORTS;
	udp_key_of(skb, &p, key);
	__builtin_memcpy(local, p.local_addr, 16);
	return 0;
}

/* ---- Inbound flows at delivery: the socket they were decided for ------------------------ */

/* A multicast or limited-broadcast address (16 bytes, IPv4 mapped). */
static __always_inline bool addr_multicast(const __u8 *addr)
{
	if (addr[0] == 0xff)
		return true;
	return addr[0] == 0 && addr[10] == 0xff && addr[11] == 0xff && addr[12] >= 224;
}

/* The inbound flow of a packet arriving at a socket, or at the input hook (read_packet reads
 * a packet's source as the local end: here it is the remote one). 0; READ_UNWALKED for an IPv6
 * packet whose extension headers read_packet does not walk; 1 for one this check leaves alone: not
 * TCP or UDP, or a datagram to a multicast or the limited broadcast address, which every socket
 * bound to its port receives a copy of (the check would refuse all but one). Told by the address,
 * not the frame (skb->pkt_type): a unicast datagram in a broadcast frame, which a peer on the link
 * may send, is delivered as unicast. */
static __always_inline int read_inbound(struct __sk_buff *skb, struct warden_inbound_key *key,
					__u64 netns_cookie)
{
	struct packet_ends p;
	int read;

	read = read_packet(skb, &p);
	if (read == READ_UNWALKED)
		return read;
	if (read || addr_multicast(p.remote_addr))
		return 1;
	__builtin_memset(key, 0, sizeof(*key));
	key->netns_cookie = netns_cookie;
	__builtin_memcpy(key->remote_addr, p.local_addr, 16);
	__builtin_memcpy(key->local_addr, p.remote_addr, 16);
	key->remote_port = p.local_port;
	key->local_port = p.remote_port;
	key->protocol = p.protocol;
	return 0;
}

/*
 * Run when a packet is delivered to a socket of the cgroup tree (cgroup ingress: for TCP in
 * tcp_filter, with the listener after its lookup and any SO_REUSEPORT steering, both for a SYN
 * and for the ACK that completes a handshake, which with SYN cookies is looked up and steered
 * again; for UDP in the socket's receive path), with skb->data at the network header. A packet
 * of an inbound flow wardend decided for another socket is dropped, unless that socket's
 * process is this one's (see attribution.h). Looked at: UDP sockets, TCP listeners, and TCP
 * sockets connecting (SYN_SENT), which a peer's SYN on the same 4-tuple reaches first (a
 * simultaneous open); a connection's own socket received its flow through one of these.
 * Verified on 6.18 by loading: cgroup_skb programs may call get_netns_cookie and
 * get_socket_cookie on the skb (the receiving socket's, which the cgroup code sets as skb->sk
 * for the run) and sk_fullsock.
 */
SEC("cgroup_skb/ingress")
int warden_inbound_check(struct __sk_buff *skb)
{
	struct warden_inbound_key key;
	struct warden_inbound_receiver *decided;
	struct warden_owner *bound;
	struct bpf_sock *sk = skb->sk;
	__u64 cookie;
	int read;

	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (!sk ||
	    (sk->protocol != IPPROTO_UDP &&
	     (sk->protocol != IPPROTO_TCP ||
	      (sk->state != BPF_TCP_LISTEN && sk->state != BPF_TCP_SYN_SENT))) ||
	    !inbound_port_noted(sk->src_port))
		return 1;
	read = read_inbound(skb, &key, bpf_get_netns_cookie(skb));
	if (read == READ_UNWALKED) {
		/* No ports to look the flow up by (more IPv6 extension headers than are walked
		 * here, which a peer may send on purpose): refused. */
		count(WARDEN_CTR_INBOUND_UNWALKED);
		return 0;
	}
	if (read)
		return 1;
	decided = bpf_map_lookup_elem(&inbound_receivers, &key);
	if (!decided)
		return 1; /* not decided here (another namespace's, inbound off), or evicted */
	cookie = bpf_get_socket_cookie(skb);
	if (decided->sock_cookie == 0 || cookie == decided->sock_cookie)
		return 1; /* (0: accepted for no socket wardend could tell, unchecked) */
	bound = bpf_map_lookup_elem(&bound_sockets, &cookie);
	if (bound && bound->tgid && bound->tgid == decided->tgid &&
	    bound->start_time_ns == decided->start_time_ns)
		return 1;
	/* The port's bit before the note: wardend, which looks for notes on marked ports only,
	 * must not miss one. */
	mark_port(WARDEN_PORTS_MISDELIVERED, key.local_port);
	decided->delivered_cookie = cookie;
	count(WARDEN_CTR_INBOUND_MISDELIVERED);
	return 0;
}

/*
 * Run by the input chain's xt_bpf match on UDP packets of accepted inbound flows (rule 0i):
 * whether the flow is to be decided again: warden_inbound_check found its datagrams delivered
 * to another process's socket than the one it was accepted for (then it is decided for that
 * socket's holder), or its entry is gone (evicted, say by a flood of new inbound flows meant
 * to let a datagram reach another socket unchecked; or wardend started anew). A TCP flow's SYN
 * sent again is queued by rule 0b in any case.
 */
SEC("socket")
int warden_inbound_misdelivered(struct __sk_buff *skb)
{
	struct warden_inbound_key key;
	struct warden_inbound_receiver *decided;

	if (read_inbound(skb, &key, table_netns_cookie))
		return 0; /* (not walked: the ingress check refuses it) */
	decided = bpf_map_lookup_elem(&inbound_receivers, &key);
	return !decided ||
	       (decided->delivered_cookie && decided->delivered_cookie != decided->sock_cookie);
}

/* An outgoing UDP flow from socket `cookie` accepted by a held verdict (wardend does the same
 * for those it accepts): an entry an inbound flow on the same ends left for another socket
 * goes (the flow expired, or another socket answers it now), or the replies to this one would
 * be refused at its socket as delivered to another than the old flow's. This socket's own
 * entry stays: a server answering the flow it was decided for. Only once the flow is accepted:
 * a refused sender must not clear the way for a datagram to its socket. */
static __always_inline void forget_inbound_of(const struct warden_flow_key *flow, const __u8 *local,
					      __u64 cookie)
{
	struct warden_inbound_receiver *decided;
	struct warden_inbound_key key;

	if (!inbound_port_noted(flow->local_port))
		return; /* (a client's port, nearly always: no note to look for) */
	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = table_netns_cookie;
	__builtin_memcpy(key.remote_addr, flow->remote_addr, 16);
	__builtin_memcpy(key.local_addr, local, 16);
	key.remote_port = flow->remote_port;
	key.local_port = flow->local_port;
	key.protocol = IPPROTO_UDP;
	decided = bpf_map_lookup_elem(&inbound_receivers, &key);
	if (decided && decided->sock_cookie != cookie)
		bpf_map_delete_elem(&inbound_receivers, &key);
}

/* ---- UDP in the table: connected sockets' first datagrams, and the reuse check ---------- */

#define WARDEN_PF_KTHREAD 0x00200000 /* PF_KTHREAD, include/linux/sched.h */

/*
 * The first datagram of a socket udp_connect kept an owner for: its flow is keyed now, with
 * that owner, before any rule reads the key's owner record (the reuse check 0c, the held
 * verdicts 3h, the queue 4 and 4b; see NftTable). Matched on the socket cookie and on the
 * destination the connect named, so that a datagram sent elsewhere with sendto() (after a
 * connect that failed) keeps the owner its sendmsg hook recorded.
 */
static __always_inline void
udp_connected_first(struct __sk_buff *skb, const struct warden_flow_key *key, const __u8 *local)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct udp_pending *found;
	struct udp_pending pending;
	const __u64 *any;

	if (!cookie)
		return;
	found = bpf_map_lookup_elem(&udp_connects, &cookie);
	if (!found)
		return;
	/* A copy: a connect again on another CPU may rewrite the entry meanwhile. */
	pending = *found;
	any = (const __u64 *)pending.remote_addr;
	if (pending.remote_port != key->remote_port ||
	    (!same_addr(pending.remote_addr, key->remote_addr) && (any[0] || any[1])))
		return;
	/*
	 * Sent by another process, exec or uid than the connect's (send(2) on a connected socket
	 * passes no hook): a socket inherited or passed, an exec or setuid in between. The
	 * datagram's own send call is nearly always the current task here, and then the flow is
	 * the sender's. Not always: a packet another NFQUEUE consumer hooked before this table
	 * handed back continues in that consumer's thread, and one sent from softirq (a kernel
	 * tunnel over a user's socket) in whatever task it interrupted. So the current task is
	 * taken for the sender only when it is a user task of the connector's cgroup; otherwise
	 * the record stays provisional and wardend asks sock_diag who holds the socket.
	 */
	if (!current_is(pending.owner.tgid, pending.owner.start_time_ns, pending.owner.exec_id,
			pending.owner.uid)) {
		if (!(bpf_get_current_task_btf()->flags & WARDEN_PF_KTHREAD) &&
		    bpf_get_current_cgroup_id() == pending.owner.cgroup_id) {
			__builtin_memset(&pending.owner, 0, sizeof(pending.owner));
			fill_owner(&pending.owner);
			count(WARDEN_CTR_UDP_CONNECT_OTHER_SENDER);
		} else {
			pending.owner.flags = WARDEN_OWNER_PROVISIONAL;
			count(WARDEN_CTR_UDP_CONNECT_UNNAMED);
		}
	}
	__builtin_memcpy(pending.owner.local_addr, local, 16);
	pending.owner.sock_cookie = cookie;
	record_kept_flow(key, &pending.owner);
	if (!(pending.owner.flags & WARDEN_OWNER_PROVISIONAL))
		bpf_map_update_elem(&udp_senders, &cookie, &pending.owner, BPF_ANY);
	bpf_map_delete_elem(&udp_connects, &cookie);
	count(WARDEN_CTR_UDP_CONNECT_DONE);
}

/*
 * Run by the output chain's xt_bpf match (through nft_compat) on each UDP packet of a flow
 * conntrack remembers as accepted (rule 0c): 1 ("decide it again") unless the flow's key is
 * owned by the very owner record wardend allowed it for. A conntrack entry outlives the socket
 * that made it, so another process that binds the same local port and sends to the same peer
 * would otherwise ride the old verdict. Keys no hook ever recorded (raw sockets, processes
 * outside the attached cgroup) answer 0: there is no owner to compare.
 *
 * It first keys the flow of a connected socket's first datagram (udp_connected_first): such a
 * datagram may be on an accepted 4-tuple another socket used, and must be compared as its new
 * owner's. Folded in here rather than a rule of its own before 0c, since this program already
 * runs on every packet of accepted UDP flows (QUIC, media): the fold adds one hash lookup by
 * socket cookie to it, where a separate rule would add a second xt_bpf call (nft_compat's
 * match, the program's run and its packet reads) to each. Measured with the kernel's BPF
 * run-time statistics (kernel.bpf_stats_enabled) over the 20,000 datagrams of one accepted
 * connected flow, on the shared 2-core build machine: 300 to 320 ns a run without the fold, 370
 * to 420 with it. Socket-local storage would be cheaper than the hash lookup and go with the
 * socket, but socket filter programs may not call bpf_sk_storage_get on 6.18 (verified by
 * loading). UDP packets of flows not accepted take warden_udp_connected instead (rule 1u).
 */
SEC("socket")
int warden_udp_reused(struct __sk_buff *skb)
{
	struct warden_flow_key key;
	struct warden_owner *owner;
	__u64 *generation, cookie;
	__u8 local[16] __attribute__((aligned(8)));
	int read = read_udp_key(skb, &key, local);

	if (read == READ_UNWALKED)
		return 1; /* headers we do not walk: decide it rather than guess */
	if (read)
		return 0;
	udp_connected_first(skb, &key, local);
	owner = bpf_map_lookup_elem(&flows, &key);
	if (!owner)
		return 0;
	/* Written for a socket on another local address (same port and peer): not this packet's
	 * owner, whatever was decided for it. */
	if (!addr_unknown(owner->local_addr) && !same_addr(owner->local_addr, local))
		return 1;
	/* Written for another socket: one that took the accepted flow's 4-tuple over without a
	 * hook naming it (a connected socket whose pending connect was evicted from udp_connects
	 * before its first datagram; send(2) passes no hook), or another socket on the port that
	 * sent to the peer since. Keyed for this one's last sender (or provisionally: wardend asks
	 * sock_diag who holds it), and decided. */
	cookie = bpf_get_socket_cookie(skb);
	if (owner->sock_cookie && owner->sock_cookie != cookie) {
		record_socket_sender(&key, local, cookie, socket_connected(skb));
		return 1;
	}
	generation = bpf_map_lookup_elem(&decided, &key);
	return !generation || *generation != owner->generation;
}

/*
 * Run by the output chain's xt_bpf match on UDP packets that rule 1 did not accept (new flows,
 * and flows still to be decided), before the rules that read a flow's owner (3h, 4, 4b): keys
 * a connected socket's first datagram (udp_connected_first), and a flow whose record another
 * socket on the port wrote since this packet's send (two programs on one port, one bound to
 * the wildcard address, sending to one peer; a datagram corked on a socket whose key another
 * socket then wrote) for this socket's last sender. Never matches.
 *
 * Helpers verified on 6.18 by loading this program and warden_udp_reused: socket filter
 * programs may call get_socket_cookie (the skb's socket's), get_netns_cookie, skb_load_bytes,
 * ktime_get_boot_ns, the map lookup, update and delete helpers, and what fill_owner calls
 * (get_current_task_btf, get_current_uid_gid, get_current_comm, get_current_cgroup_id,
 * probe_read_kernel): in softirq these name the interrupted task, hence udp_connected_first's
 * care.
 */
SEC("socket")
int warden_udp_connected(struct __sk_buff *skb)
{
	struct warden_flow_key key;
	struct warden_owner *owner;
	__u8 local[16] __attribute__((aligned(8)));
	__u64 cookie;

	if (read_udp_key(skb, &key, local))
		return 0;
	udp_connected_first(skb, &key, local);
	cookie = bpf_get_socket_cookie(skb);
	owner = bpf_map_lookup_elem(&flows, &key);
	if (cookie && owner && owner->sock_cookie && owner->sock_cookie != cookie)
		record_socket_sender(&key, local, cookie, socket_connected(skb));
	return 0;
}

/* ---- Kernel-held verdicts: the table's matches ------------------------------------------- */

/* Whether the record names the held process (the sender, see held_match_udp), written for a
 * socket of the packet's source address or of one not known then (a socket bound to the
 * wildcard address, whose source the route picks after the sendmsg hook). */
static __always_inline bool held_sender_owns(const struct warden_owner *owner,
					     const struct warden_held_key *held, const __u8 *local)
{
	return owner->tgid == held->tgid && owner->start_time_ns == held->start_time_ns &&
	       owner->exec_id == held->exec_id && owner->uid == held->uid &&
	       !(owner->flags & WARDEN_OWNER_PROVISIONAL) &&
	       (addr_unknown(owner->local_addr) || same_addr(owner->local_addr, local));
}

/* A UDP flow a held verdict allowed is recorded as decided for its sender, as wardend does for
 * the flows it allows (OwnerLookup::noteUdpAccepted): else the table's reuse check
 * (warden_udp_reused) would queue its every later packet. `owner` is the flow's record, which
 * held_match_udp found to name the sender; it is read again after its generation: an LRU
 * element replaced meanwhile may hold another record already, and then nothing is noted (the
 * flow's next packet is decided again). */
static __always_inline void held_udp_decided(const struct warden_flow_key *key,
					     const struct warden_owner *owner,
					     const struct warden_held_key *held, const __u8 *local,
					     __u64 cookie)
{
	__u64 generation = owner->generation;

	if (!held_sender_owns(owner, held, local) ||
	    *(volatile __u64 *)&owner->generation != generation)
		return;
	bpf_map_update_elem(&decided, key, &generation, BPF_ANY);
	forget_inbound_of(key, local, cookie);
}

/* The held flow's report, for its log row (`key`: the entry that decided it). */
static __always_inline void held_report(const struct warden_held_key *key,
					const struct packet_ends *packet, __u32 action, __u64 now)
{
	struct warden_held_event *event = bpf_ringbuf_reserve(&held_events, sizeof(*event), 0);

	if (!event) {
		count(WARDEN_CTR_HELD_EVENTS_LOST);
		return;
	}
	event->head.kind = WARDEN_EVENT_HELD;
	event->head.size = sizeof(*event);
	event->head.time_ns = now;
	event->key = *key;
	__builtin_memcpy(event->local_addr, packet->local_addr, 16);
	event->local_port = packet->local_port;
	event->pad = 0;
	event->action = action;
	/* No wake-up per record: at a held flow's pace that would be a context switch each (the
	 * tracker's poll reads them within 250 ms anyway), costing the flow more than the queue
	 * round trip it saved. */
	bpf_ringbuf_submit(event, quiet_wakeup(&held_events));
}

/* The entry decides a flow: counted on it and in the counters, reported for a log row if its
 * rule logs. */
static __always_inline void held_hit(struct warden_held_verdict *verdict,
				     const struct warden_held_key *key,
				     const struct packet_ends *packet, __u32 action, __u64 now)
{
	__sync_fetch_and_add(&verdict->hits, 1);
	verdict->last_hit_ns = now;
	count(WARDEN_CTR_HELD_ALLOW + action - WARDEN_HELD_ALLOW);
	if (verdict->log)
		held_report(key, packet, action, now);
}

/*
 * A TCP connection's SYN: decided by the word its connect left (held_arm), provided the SYN
 * goes where the entry says, its sender is the process the entry was held for (an allow), the
 * entry still holds and the policy it was decided under is still in force.
 */
static __always_inline int held_match_tcp(struct __sk_buff *skb, __u64 socket_key,
					  struct warden_held_socket *armed, __u32 action)
{
	struct warden_held_verdict *verdict;
	struct warden_held_state *state;
	struct packet_ends packet;
	__u64 now;

	if (armed->action != action || read_packet(skb, &packet) ||
	    packet.protocol != IPPROTO_TCP || armed->key.protocol != IPPROTO_TCP)
		return 0;
	state = held_state_now();
	if (!state || state->epoch != armed->epoch)
		return 0;
	if (packet.remote_port != armed->key.remote_port ||
	    !same_addr(packet.remote_addr, armed->key.remote_addr) ||
	    bpf_get_netns_cookie(skb) != armed->key.netns_cookie)
		return 0;
	/* A SYN retransmitted by the kernel's timer is the flow matched already: decided alike,
	 * counted (hits, log row) once; that is the SYN sent again after the first was dropped
	 * before conntrack kept its flow (a later table on this hook). One lost after that finds
	 * the flow "accepted", and rule 0b's program lets it through (warden_held_syn_again), so
	 * that neither needs wardend. The word stays until the connection is established
	 * (sock_ops takes it back then); a new connect arms the socket anew. */
	if (armed->flags & WARDEN_HELD_SOCKET_SEEN)
		return 1;
	/* The first SYN leaves inside the connect that armed the word, except with TCP Fast
	 * Open's deferred connect (TCP_FASTOPEN_CONNECT), whose SYN leaves with the first write,
	 * from whoever writes (sock_ops takes the word back then, see held_decides; this is the
	 * guard that stays while wardend is down). Asked of an allow only: a SYN may also leave
	 * from a task that is not its sender (a retransmission timer, another NFQUEUE consumer
	 * handing it back), and a refusal applied there refuses what its process was refused.
	 * And the entry must still hold (held_entry_holding). */
	if (action == WARDEN_HELD_ALLOW && !current_is(armed->key.tgid, armed->key.start_time_ns,
						       armed->key.exec_id, armed->key.uid))
		return 0;
	now = bpf_ktime_get_boot_ns();
	verdict = held_entry_holding(armed, now);
	if (!verdict)
		return 0;
	armed->flags |= WARDEN_HELD_SOCKET_SEEN;
	held_hit(verdict, &armed->key, &packet, action, now);
	return 1;
}

/*
 * A UDP datagram: it leaves inside a call on its socket, in the calling thread (send() on a
 * connected socket too, which passes no hook, and from any thread of the process), so the
 * entry is looked up here for the current task and the packet's destination, with nothing left
 * between a hook and the packet for another thread, an exec, a setuid or another process
 * holding the socket to ride on. But the calling task need not be the datagram's sender: a
 * datagram corked (UDP_CORK, MSG_MORE) by one process leaves with the call of whoever appends
 * to it or uncorks the socket, maybe a program with a held allow for that destination; and
 * another NFQUEUE consumer's verdict hands a packet back in that consumer's task. So an
 * allow decides only a datagram whose flow record, written for this very socket, names the
 * current process: the sendmsg hook wrote it for an unconnected send, rule 1u
 * (udp_connected_first, before these rules) for a connected socket's first datagram, both in
 * the sender's task. Else the queue decides, by the record (another socket's record is
 * replaced by one of this socket's last sender, see record_socket_sender). Invalidations (a
 * stale or expired entry) are counted by the rule of the entry's own action only, once.
 */
static __always_inline int held_match_udp(struct __sk_buff *skb, __u32 action)
{
	struct warden_held_state *state = held_state_now();
	struct warden_held_verdict *verdict;
	struct warden_flow_key flow;
	struct warden_owner *owner;
	struct warden_held_key key;
	struct packet_ends packet;
	__u64 now, cookie;

	if (!state || !state->epoch)
		return 0;
	if (read_packet(skb, &packet) || packet.protocol != IPPROTO_UDP)
		return 0;
	__builtin_memset(&key, 0, sizeof(key));
	held_key_of_caller(&key);
	if (!key.tgid)
		return 0;
	key.netns_cookie = bpf_get_netns_cookie(skb);
	__builtin_memcpy(key.remote_addr, packet.remote_addr, 16);
	key.remote_port = packet.remote_port;
	key.protocol = IPPROTO_UDP;
	verdict = bpf_map_lookup_elem(&held_verdicts, &key);
	if (!verdict || verdict->action != action)
		return 0;
	now = bpf_ktime_get_boot_ns();
	if (!held_entry_valid(verdict, &key, state->epoch, now))
		return 0;
	/* A refusal refuses what the current task was refused, whoever authored the datagram
	 * (as for TCP): it holds while wardend is down even for a socket whose record is gone. */
	if (action != WARDEN_HELD_ALLOW) {
		held_hit(verdict, &key, &packet, action, now);
		return 1;
	}
	udp_key_of(skb, &packet, &flow);
	cookie = bpf_get_socket_cookie(skb);
	owner = bpf_map_lookup_elem(&flows, &flow);
	if (owner && owner->sock_cookie != cookie) {
		/* Another socket's record (one on another local address with the same port and
		 * peer writes the same key, the keys having no local address; or the key's earlier
		 * socket), written since rule 1u looked: keyed for this socket's last sender, which
		 * must be the current process for the allow to apply. */
		record_socket_sender(&flow, packet.local_addr, cookie, socket_connected(skb));
		owner = bpf_map_lookup_elem(&flows, &flow);
		if (owner && owner->sock_cookie != cookie)
			owner = NULL;
	}
	if (!owner || !held_sender_owns(owner, &key, packet.local_addr)) {
		count(WARDEN_CTR_HELD_OTHER_SENDER);
		return 0;
	}
	held_hit(verdict, &key, &packet, action, now);
	held_udp_decided(&flow, owner, &key, packet.local_addr, bpf_get_socket_cookie(skb));
	return 1;
}

/* Whether a packet of a socket without a word may be UDP: its protocol byte is not TCP's (an
 * IPv6 extension header is walked by read_packet). Two loads, so that the first SYN of every
 * connection without a held verdict, the most common packet these rules see, pays no more. */
static __always_inline bool maybe_udp(struct __sk_buff *skb)
{
	__u8 first, next;

	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		return false;
	if (bpf_skb_load_bytes(skb, first >> 4 == 4 ? 9 : 6, &next, 1))
		return false;
	return next != IPPROTO_TCP;
}

/* 1 when the packet is the first of a flow that a held verdict of `action` decides. */
static __always_inline int held_match(struct __sk_buff *skb, __u32 action)
{
	struct warden_held_socket *armed;
	__u64 socket_key = bpf_get_socket_cookie(skb);

	if (!socket_key)
		return 0;
	/* A word names a TCP socket's connect; none, and the packet may be a UDP datagram. */
	armed = bpf_map_lookup_elem(&held_sockets, &socket_key);
	if (armed)
		return held_match_tcp(skb, socket_key, armed, action);
	return maybe_udp(skb) ? held_match_udp(skb, action) : 0;
}

/*
 * Rule 0b's program in the output chain, with kernel-held verdicts: run on a TCP SYN of a flow
 * conntrack remembers as accepted, which the rule queues to be decided again (a new connection
 * on an old flow's 4-tuple, maybe another process's) when this returns 1. 0 for the SYN sent
 * again (from the retransmission timer) of a connection whose first SYN a held allow let
 * through: its socket's word was seen by warden_held_allow, so the flow accepted is this
 * socket's own, and no wardend needs to be asked (with `fail = "closed"` and none listening,
 * the connection would fail when its first SYN was lost). Another socket on the 4-tuple has
 * no word of its own seen, so it is still queued.
 */
SEC("socket")
int warden_held_syn_again(struct __sk_buff *skb)
{
	struct warden_held_state *state = held_state_now();
	struct warden_held_socket *armed;
	__u64 socket_key = bpf_get_socket_cookie(skb);

	if (!socket_key || !state || !state->epoch)
		return 1;
	armed = bpf_map_lookup_elem(&held_sockets, &socket_key);
	return !armed || !(armed->flags & WARDEN_HELD_SOCKET_SEEN) ||
	       armed->action != WARDEN_HELD_ALLOW || armed->epoch != state->epoch;
}

/* Run by the output chain's xt_bpf matches (through nft_compat) on packets of new flows; see
 * NftTable. Verified on 6.18 by loading: socket filter programs may call get_socket_cookie,
 * get_current_pid_tgid, get_current_uid_gid, get_current_task and get_current_task_btf (the
 * sender's image through current_process), get_netns_cookie, ktime_get_boot_ns and the ring
 * buffer helpers. The cgroup connect and
 * sendmsg programs may call get_socket_cookie and bpf_setsockopt (SO_MARK among others), and
 * returning 0 from them fails the call with EPERM: a refusal warden does not use, since it
 * would not look like today's (a silent drop, a reset); cgroup/setsockopt programs load too.
 * The connect hook and the packet of a TCP SYN or a UDP datagram run in the calling thread,
 * so the thread and its task are the caller's; a SYN sent again from a timer is not (see
 * held_match_tcp). */
SEC("socket")
int warden_held_allow(struct __sk_buff *skb)
{
	return held_match(skb, WARDEN_HELD_ALLOW);
}

SEC("socket")
int warden_held_deny(struct __sk_buff *skb)
{
	return held_match(skb, WARDEN_HELD_DENY);
}

SEC("socket")
int warden_held_reject(struct __sk_buff *skb)
{
	return held_match(skb, WARDEN_HELD_REJECT);
}
