/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

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
