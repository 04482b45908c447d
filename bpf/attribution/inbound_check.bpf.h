/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

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
