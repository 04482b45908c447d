/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

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

/* Whether the connecting socket is a join subflow of an MPTCP connection: bpf_skc_to_mptcp_sock
 * names the connection of any of its subflows (NULL for a plain TCP socket; sock_ops may call
 * it on 6.18, verified by loading), whose `first` is the subflow its own connect made. Told by
 * socket cookie: ours is made by asking for it, and so is the same subflow's. */
static __always_inline bool mptcp_join(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct mptcp_sock *msk;

	barrier_var(sk); /* one read, tested and passed */
	if (!sk)
		return false;
	msk = bpf_skc_to_mptcp_sock(sk);
	if (!msk)
		return false;
	return BPF_CORE_READ(msk, first, __sk_common.skc_cookie.counter) !=
	       bpf_get_socket_cookie(ctx);
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
	/* An MPTCP join subflow (any subflow of a connection but its first) is connected by the
	 * kernel for the connection, in whatever task asks for it: the MPTCP worker (addresses the
	 * peer announced), or the process that adds an endpoint over netlink (ip, mptcpd,
	 * NetworkManager). Neither is the connection's owner: the record says so. A connect a
	 * kernel thread makes for any other socket is a kernel socket's (NFS, iSCSI), left without
	 * a record: no process owns its flow (the `kernel` verdict). */
	if (mptcp_join(ctx)) {
		forget_flow(&key);
		record_kernel_join(&key, local, bpf_get_socket_cookie(ctx));
		return 1;
	}
	if (bpf_get_current_task_btf()->flags & WARDEN_PF_KTHREAD) {
		forget_flow(&key);
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
