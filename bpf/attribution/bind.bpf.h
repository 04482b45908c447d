/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

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

	/* Ping and raw sockets (warden_echo_socket marked them). */
	if (sk->type == WARDEN_SOCK_RAW ||
	    (sk->type == WARDEN_SOCK_DGRAM &&
	     (sk->protocol == IPPROTO_ICMP || sk->protocol == IPPROTO_ICMPV6))) {
		cookie = bpf_get_socket_cookie(sk);
		forget_by_cookie(&echo_sockets, &cookie);
		return 1;
	}
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
