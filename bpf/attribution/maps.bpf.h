/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- Maps the parts share; inbound port bitmaps; counters; generations ----------------------- */

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

/* Socket cookie -> the cgroup of the task that created it, for the ping and raw sockets made in
 * the attached cgroup tree (warden_echo_socket): the sockets whose echo requests
 * warden_icmp_echo keys for their sender. LRU: an entry goes when its socket is released
 * (warden_sock_release); one evicted all the same leaves the flow nobody's (`unknown`). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} echo_sockets SEC(".maps");

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
