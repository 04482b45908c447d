/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- UDP in the table: connected sockets' first datagrams, and the reuse check ---------- */

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
