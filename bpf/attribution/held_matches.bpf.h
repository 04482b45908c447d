/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

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
