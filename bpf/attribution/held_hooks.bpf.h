/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- Kernel-held verdicts: the hooks ----------------------------------------------------- */

/* What held_names says of the address now (0: nothing). */
static __always_inline __u64 name_gen(const __u8 *addr)
{
	__u64 *gen = bpf_map_lookup_elem(&held_names, addr);

	return gen ? *gen : 0;
}

static __always_inline struct warden_held_state *held_state_now(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&held_state, &zero);
}

/* The process part of a held key, for the calling task (tgid 0: a task outside wardend's pid
 * namespace, for which nothing is held), and the direction. */
static __always_inline void held_key_of_caller(struct warden_held_key *key)
{
	struct current_process caller;

	current_process(&caller);
	key->tgid = caller.tgid;
	key->start_time_ns = caller.start_time_ns;
	key->exec_id = caller.exec_id;
	key->uid = (__u32)bpf_get_current_uid_gid();
	key->direction = WARDEN_HELD_OUT;
}

/* Whether the entry found for `key` may decide now: decided under the policy in force
 * (`epoch`), its address not named anew since, not expired. What stops it is counted. */
static __always_inline bool held_entry_valid(const struct warden_held_verdict *verdict,
					     const struct warden_held_key *key, __u64 epoch,
					     __u64 now)
{
	if (verdict->epoch != epoch || name_gen(key->remote_addr) > verdict->name_gen) {
		count(WARDEN_CTR_HELD_STALE);
		return false;
	}
	if (now >= verdict->expires_ns) {
		count(WARDEN_CTR_HELD_EXPIRED);
		return false;
	}
	return true;
}

/*
 * Called by the connect hooks for a TCP connect (the destination in user_ip4/6 and user_port):
 * finds the held verdict of the calling process for that destination, and leaves it in
 * held_sockets for the connection's SYN, which may leave later and from another task (a
 * retransmission timer; TCP Fast Open's deferred connect: see held_decides). When there is
 * none (or none that may be used), any word an earlier connect left on the socket is taken
 * back. UDP needs no word: a datagram leaves inside the call that sends it, in the sending
 * thread, so the table's match looks the entry up for the sender itself (held_match_udp).
 */
static __always_inline void held_arm(struct bpf_sock_addr *ctx, bool v6)
{
	__u64 socket_key;
	struct warden_held_socket armed;
	struct warden_held_state *state = held_state_now();
	struct warden_held_key *key = &armed.key;
	struct warden_held_verdict *verdict;

	/* Epoch 0: nothing is held (kernel_verdicts off, or wardend has no policy yet); word left
	 * on sockets before names an epoch the matches no longer accept. */
	if (!state || !state->epoch)
		return;
	if (ctx->protocol != IPPROTO_TCP)
		return;
	socket_key = bpf_get_socket_cookie(ctx);
	__builtin_memset(&armed, 0, sizeof(armed));
	held_key_of_caller(key);
	key->netns_cookie = bpf_get_netns_cookie(ctx);
	key->remote_port = bpf_ntohs((__u16)ctx->user_port);
	key->protocol = ctx->protocol;
	if (v6) {
		__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				ctx->user_ip6[3]};

		__builtin_memcpy(key->remote_addr, ip6, 16);
	} else {
		set_v4_mapped(key->remote_addr, ctx->user_ip4);
	}

	verdict = key->tgid ? bpf_map_lookup_elem(&held_verdicts, key) : NULL;
	if (verdict && held_entry_valid(verdict, key, state->epoch, bpf_ktime_get_boot_ns())) {
		armed.epoch = verdict->epoch;
		armed.action = verdict->action;
		bpf_map_update_elem(&held_sockets, &socket_key, &armed, BPF_ANY);
		return;
	}
	if (bpf_map_lookup_elem(&held_sockets, &socket_key))
		bpf_map_delete_elem(&held_sockets, &socket_key);
}

/* The entry a word was armed with, if it still holds what the hook found (else NULL): the
 * word of a deferred TCP connect (Fast Open) may be used long after it was armed, and the
 * entry may have expired since (its DNS answer, its TTL), its address may have another name
 * now, or the table's bound may have dropped it. */
static __always_inline struct warden_held_verdict *
held_entry_holding(const struct warden_held_socket *armed, __u64 now)
{
	struct warden_held_verdict *verdict = bpf_map_lookup_elem(&held_verdicts, &armed->key);

	if (verdict && verdict->epoch == armed->epoch && verdict->action == armed->action &&
	    now < verdict->expires_ns && name_gen(armed->key.remote_addr) <= verdict->name_gen)
		return verdict;
	return NULL;
}
