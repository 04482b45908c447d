/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- ICMP echo requests: ping sockets and raw sockets ---------------------------------- */

/*
 * Any user may send ICMP echo requests, with whatever payload, through a ping socket
 * (SOCK_DGRAM, IPPROTO_ICMP or IPPROTO_ICMPV6) where net.ipv4.ping_group_range lets them
 * (systemd opens it to every group), and a process with CAP_NET_RAW through a raw socket. No
 * connect or sendmsg hook runs for either, and sock_diag does not know them, so without these
 * programs such a flow had no process and a program the policy refuses could reach any host by
 * ping. The socket is marked when a task of the attached cgroup tree creates it
 * (warden_echo_socket), and the table's rule 1i runs warden_icmp_echo on the first echo
 * request of each flow, in the sending task (the send is synchronous): it keys the flow as
 * {protocol, identifier as the local port, remote port 0, destination} for that task.
 */

#define ICMP_ECHO_REQUEST   8
#define ICMPV6_ECHO_REQUEST 128

SEC("cgroup/sock_create")
int warden_echo_socket(struct bpf_sock *sk)
{
	__u64 cookie, cgroup;

	if (sk->type != WARDEN_SOCK_RAW &&
	    (sk->type != WARDEN_SOCK_DGRAM ||
	     (sk->protocol != IPPROTO_ICMP && sk->protocol != IPPROTO_ICMPV6)))
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	cgroup = bpf_get_current_cgroup_id();
	bpf_map_update_elem(&echo_sockets, &cookie, &cgroup, BPF_ANY);
	return 1;
}

/* Reads an outgoing ICMP or ICMPv6 echo request's flow key and source address: 0, or -1 for
 * anything else (another type, a fragment, IPv6 extension headers: not walked, the flow is
 * then nobody's). */
static __always_inline int read_echo_key(struct __sk_buff *skb, struct warden_flow_key *key,
					 __u8 *local)
{
	__u8 next = 0, type;
	__u16 id;
	__u32 offset = 0;
	int version;

	__builtin_memset(key, 0, sizeof(*key));
	version = read_ip_header(skb, local, key->remote_addr, &next, &offset);
	if (!(version == 4 && next == IPPROTO_ICMP) && !(version == 6 && next == IPPROTO_ICMPV6))
		return -1;
	if (bpf_skb_load_bytes(skb, offset, &type, 1) ||
	    bpf_skb_load_bytes(skb, offset + 4, &id, 2) ||
	    type != (version == 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST))
		return -1;
	key->netns_cookie = bpf_get_netns_cookie(skb);
	key->protocol = next;
	key->local_port = bpf_ntohs(id);
	return 0;
}

/*
 * Run by the output chain's xt_bpf match on ICMP and ICMPv6 packets that rule 1 did not accept
 * (rule 1i): keys an echo request of a socket warden_echo_socket marked for the sending task.
 * Never matches. The task is taken for the sender only when it is a user task of the cgroup
 * that created the socket, as udp_connected_first does (a packet another NFQUEUE consumer
 * handed back goes on in that consumer's thread); otherwise the flow stays nobody's, and the
 * `unknown` verdict decides it.
 */
SEC("socket")
int warden_icmp_echo(struct __sk_buff *skb)
{
	struct warden_flow_key key;
	__u8 local[16] __attribute__((aligned(8)));
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *cgroup;

	if (!cookie)
		return 0;
	cgroup = bpf_map_lookup_elem(&echo_sockets, &cookie);
	if (!cgroup || *cgroup != bpf_get_current_cgroup_id() ||
	    (bpf_get_current_task_btf()->flags & WARDEN_PF_KTHREAD))
		return 0;
	if (read_echo_key(skb, &key, local))
		return 0;
	record_flow(&key, local, cookie);
	count(WARDEN_CTR_ECHO_RECORDED);
	return 0;
}

/*
 * Run by the output chain's xt_bpf match on each ICMP and ICMPv6 packet of a flow conntrack
 * remembers as accepted (rule 0e): 1 ("decide it again") for an echo request unless its flow
 * is keyed for its own socket and wardend accepted it for that very record (`decided`, which
 * wardend writes for an echo flow as for a UDP one). A ping's flow is {identifier,
 * destination}, and the identifier of a ping socket is its bound "port": any user who reads
 * another program's from /proc/net/icmp can bind its own ping socket to it once that program
 * closed its socket, and send echo requests on the flow conntrack still holds accepted (30 s
 * from the last packet, kept alive by sending), carrying what it likes. Such a request is
 * keyed for its sender first (as warden_icmp_echo keys a new flow's), so that it is decided for
 * it, and its next ones are decided again until one is accepted; one whose sender cannot be
 * told (a socket of another cgroup than the sender's, a kernel thread, a socket no task of the
 * attached tree created) leaves the flow without a record: nobody's, `unknown`. A flow with no
 * record, sent on a socket that was never marked, answers 0: a ping running since before
 * wardend's programs were attached keeps its accepted flow.
 */
SEC("socket")
int warden_icmp_reused(struct __sk_buff *skb)
{
	struct warden_flow_key key;
	struct warden_owner *owner;
	__u8 local[16] __attribute__((aligned(8)));
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *cgroup, *generation;

	if (!cookie || read_echo_key(skb, &key, local))
		return 0;
	owner = bpf_map_lookup_elem(&flows, &key);
	if (owner && owner->sock_cookie == cookie) {
		generation = bpf_map_lookup_elem(&decided, &key);
		return !generation || *generation != owner->generation;
	}
	cgroup = bpf_map_lookup_elem(&echo_sockets, &cookie);
	if (!owner && !cgroup)
		return 0;
	if (cgroup && *cgroup == bpf_get_current_cgroup_id() &&
	    !(bpf_get_current_task_btf()->flags & WARDEN_PF_KTHREAD))
		record_flow(&key, local, cookie);
	else
		forget_flow(&key);
	count(WARDEN_CTR_ECHO_REUSED);
	return 1;
}
