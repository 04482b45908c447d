/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- Owner records of flows, their mirrors, and senders' notes ------------------------------- */

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
 * address (both not known included). Then nothing is written (counted) and only the mirror is
 * corrected. Counts the write to come otherwise. */
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
	/* A local address is kept only as written: a send whose address the hook does not know
	 * (a wildcard-bound socket, no IP_PKTINFO) over a record naming one rewrites it as not
	 * known (a new generation), since its datagram may leave from another address, which
	 * would send wardend to sock_diag, and so to whichever process holds the socket (one the
	 * owner handed it to) rather than the one that sent on it. Not known, it matches any. */
	if (old->tgid == tgid && old->start_time_ns == start_time_ns && old->exec_id == exec_id &&
	    old->uid == uid && old->exe_ino == exe_ino && old->exe_dev == exe_dev &&
	    same_addr(old->local_addr, local) && !(old->flags & WARDEN_OWNER_PROVISIONAL)) {
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

/* An MPTCP join subflow's record (WARDEN_OWNER_KERNEL_JOIN): no process, only the socket. */
static __always_inline void record_kernel_join(const struct warden_flow_key *key, const __u8 *local,
					       __u64 cookie)
{
	struct warden_owner owner = {};

	owner.flags = WARDEN_OWNER_KERNEL_JOIN;
	__builtin_memcpy(owner.local_addr, local, 16);
	owner.sock_cookie = cookie;
	owner.recorded_ns = bpf_ktime_get_boot_ns();
	owner.generation = next_generation();
	if (bpf_map_update_elem(&flows, key, &owner, BPF_ANY))
		count(WARDEN_CTR_FLOW_ERRORS);
	mirror_flow(key, &owner);
	count(WARDEN_CTR_KERNEL_JOINS);
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
