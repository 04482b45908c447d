/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

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

/* Reads an outgoing packet's IP header (skb->data is the network header): its addresses (IPv4
 * mapped), the protocol the header names and where what it names begins. 4 or 6, the version;
 * 0 for anything else, and for an IPv4 fragment other than the first. */
static __always_inline int read_ip_header(struct __sk_buff *skb, __u8 *local, __u8 *remote,
					  __u8 *next, __u32 *offset)
{
	__u8 first;

	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		return 0;
	if (first >> 4 == 4) {
		__u32 addrs[2];
		__u16 fragment;

		if (bpf_skb_load_bytes(skb, 9, next, 1) ||
		    bpf_skb_load_bytes(skb, 6, &fragment, 2) ||
		    bpf_skb_load_bytes(skb, 12, addrs, sizeof(addrs)))
			return 0;
		if (bpf_ntohs(fragment) & 0x1fff)
			return 0;
		set_v4_mapped(local, addrs[0]);
		set_v4_mapped(remote, addrs[1]);
		*offset = (first & 0x0f) * 4;
		return 4;
	}
	if (first >> 4 == ETH_P_IPV6_VERSION) {
		if (bpf_skb_load_bytes(skb, 6, next, 1) || bpf_skb_load_bytes(skb, 8, local, 16) ||
		    bpf_skb_load_bytes(skb, 24, remote, 16))
			return 0;
		*offset = 40;
		return 6;
	}
	return 0;
}

/* Reads an outgoing IPv4 or IPv6 packet's end points (skb->data is the network header). */
static __always_inline int read_packet(struct __sk_buff *skb, struct packet_ends *out)
{
	__u32 offset = 0;
	__u8 next = 0;
	__u16 ports[2];
	int version = read_ip_header(skb, out->local_addr, out->remote_addr, &next, &offset);

	if (version == 6) {
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
	} else if (version != 4) {
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
