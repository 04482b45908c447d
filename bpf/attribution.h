/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The contract between bpf/attribution.bpf.c and wardend: every key, value and event that
 * crosses the kernel/user boundary is defined here and nowhere else. Included by the BPF
 * program (after vmlinux.h) and by C++, so only __u8.. types.
 *
 * Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) on both sides, which
 * also carries the family: a mapped address means an IPv4 packet on the wire, including the
 * packets of an AF_INET6 socket talking to a mapped address. Ports are in host byte order.
 */
#ifndef WARDEN_BPF_ATTRIBUTION_H
#define WARDEN_BPF_ATTRIBUTION_H

#ifndef __VMLINUX_H__ /* userspace; the BPF side has these types from vmlinux.h */
#include <linux/types.h>
#endif

#define WARDEN_COMM_LEN	    16
#define WARDEN_FILENAME_LEN 256
#define WARDEN_ARGS_LEN	    2048

/* Map sizes the loader uses unless the configuration says otherwise. */
#define WARDEN_DEFAULT_FLOW_ENTRIES	65536
#define WARDEN_DEFAULT_LISTENER_ENTRIES 8192
/* The ring is mapped (twice) into wardend: its size counts in the daemon's RSS. */
#define WARDEN_DEFAULT_EVENTS_BYTES (1024 * 1024)

/*
 * A flow as the verdict path sees it in the first packet. The local address is left out on
 * purpose: it is not known yet in the sendmsg hook. The network-namespace cookie keeps
 * namespaces apart (several of them may use the same addresses and ports).
 */
struct warden_flow_key {
	__u64 netns_cookie;
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];   /* always zero: keys are compared bytewise */
};

/* A local port something bound: inbound flows to it belong to the binder. */
struct warden_listener_key {
	__u64 netns_cookie;
	__u16 local_port;
	__u8 protocol;
	__u8 pad[5];
};

/*
 * Who did it, read from the task at the syscall. start_time_ns is the thread-group leader's
 * start_boottime (what /proc/PID/stat field 22 shows in clock ticks): with tgid it names the
 * process across pid reuse. exe_dev is the kernel's dev_t encoding (major << 20 | minor).
 */
struct warden_owner {
	__u64 start_time_ns;
	__u64 parent_start_time_ns;
	__u64 cgroup_id;
	__u64 exe_ino;
	__u64 recorded_ns; /* bpf_ktime_get_boot_ns() when written */
	/* Unique to this record among all the programs have written since load: a new owner of a
	 * key gets a new one. The table's UDP reuse check compares it with `decided`. */
	__u64 generation;
	/* The image inode's ctime: with exe_dev and exe_ino it names the file even where inode
	 * numbers repeat (a tmpfs of the process's own counts from 2), and nobody can set it. */
	__u64 exe_ctime_ns;
	/* The thread group leader's self_exec_id: one more at every exec, inherited by fork. With
	 * tgid and start time it names one image a process ran (see warden_held_key). */
	__u64 exec_id;
	/* The leader's parent_exec_id: its parent's self_exec_id when the fork made it, which is
	 * where its own began. Equal to exec_id until the process execs; generations count per
	 * process, so once it has exec'd, a parent that exec'd as often since may have its number
	 * (only a child with exec_id == fork_exec_id runs its parent's image of that generation).
	 * 0: not told, when the parent may have adopted the process rather than forked it (it is
	 * a subreaper or a pid namespace's init): that parent's generations are not the ones the
	 * process began at.
	 */
	__u64 fork_exec_id;
	/* The local address of the socket the record was written for, when known then (IPv4
	 * mapped): a TCP connect's, a UDP socket's bound or connected address or the source its
	 * datagram named (IP_PKTINFO), a packet's own, the address a listener bound. All zero:
	 * not known (a UDP socket bound to the wildcard address, whose source the route picks
	 * after the hook; a listener on the wildcard address). The keys have no local address, so
	 * two sockets on one port of two local addresses (talking to one peer) write the same
	 * key: a record is a packet's only if the addresses agree. */
	__u8 local_addr[16];
	/* The cookie of the socket the record was written for (0: none, a process's exec record):
	 * tells a packet of that very socket from one of another socket on the same key. */
	__u64 sock_cookie;
	__u32 exe_dev;
	/* pids as wardend's pid namespace (the one its /proc shows) numbers them, not the kernel's
	 * initial namespace. tgid 0: the task has no pid there (it runs in an ancestor or sibling
	 * namespace), so nothing wardend reads names it: the flow is unattributable. ppid 0: the
	 * parent has none there (a namespace's first process). */
	__u32 tgid;
	__u32 pid;  /* the thread */
	__u32 ppid; /* the parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 flags; /* WARDEN_OWNER_* */
	char comm[WARDEN_COMM_LEN];
};

/* The record names who connected a UDP socket, not yet who sent on it: written at a bound
 * socket's connect (so that the table's reuse check decides its flow again), or at its first
 * datagram when the sender could not be told (see udp_connected_first). wardend asks
 * sock_diag for the socket's holder instead. */
#define WARDEN_OWNER_PROVISIONAL 1u
/* With PROVISIONAL: written for an unconnected socket whose last sender is not known
 * (udp_senders has no entry for it: evicted) when the flow's record was another socket's.
 * The datagram is one corked on the socket, perhaps by another process that passed it on,
 * whose pusher sock_diag would name: wardend decides the first one it reads of each such
 * record `unknown`, and asks sock_diag only for the next. */
#define WARDEN_OWNER_SENDER_UNKNOWN 2u
/* The TCP connect of an MPTCP join subflow, which the kernel opens for a connection to an
 * address the peer announced (ADD_ADDR) or of the host's endpoints, in its worker or in the
 * task that adds an endpoint: neither owns the connection. The record names no process, and
 * wardend decides the flow `unknown` (never `kernel`, nor a profile or the engine default). */
#define WARDEN_OWNER_KERNEL_JOIN 4u

/* Slots of the mirrors (powers of two; the loader may change them). */
#define WARDEN_DEFAULT_FLOW_SLOTS     4096
#define WARDEN_DEFAULT_LISTENER_SLOTS 1024

/*
 * The mirrors: what the programs write into `flows` and `listeners`, also written into a
 * direct-mapped array that wardend maps into its memory (BPF_F_MMAPABLE), so that the verdict
 * path finds a flow's owner without a bpf(2) syscall. The slot is chosen by hashing the key
 * (warden_*_slot_index below: the same code on both sides). The hash maps stay the truth: a slot
 * that holds another key, or is being written, sends wardend to the map; and a program that
 * finds the map already right (a send of the key's owner again) rewrites a slot that says
 * otherwise, so a slot that lost a race between two writers of one key is corrected.
 *
 * seq is odd while a program writes the slot. A program claims the slot by compare-and-swap
 * from an even value and never waits: if another writer holds it, the slot is left to that
 * writer (whose key then replaces whatever the slot held). Readers copy the slot and use the
 * copy only if seq was even and unchanged around it.
 */
struct warden_flow_slot {
	__u32 seq;
	__u32 pad;
	struct warden_flow_key key;
	struct warden_owner owner;
};

struct warden_listener_slot {
	__u32 seq;
	__u32 pad;
	struct warden_listener_key key;
	struct warden_owner owner;
};

/* One multiply-xor round per 8 bytes of key; the index comes from the well-mixed high half. */
static inline __u64 warden_mix(__u64 hash, const void *key, __u32 offset)
{
	__u64 word;

	__builtin_memcpy(&word, (const char *)key + offset, sizeof(word));
	return (hash ^ word) * 0x9e3779b97f4a7c15ULL;
}

static inline __u32 warden_flow_slot_index(const struct warden_flow_key *key, __u32 mask)
{
	__u64 hash = 0;

	hash = warden_mix(hash, key, 0);
	hash = warden_mix(hash, key, 8);
	hash = warden_mix(hash, key, 16);
	hash = warden_mix(hash, key, 24);
	return (__u32)(hash >> 32) & mask;
}

static inline __u32 warden_listener_slot_index(const struct warden_listener_key *key, __u32 mask)
{
	__u64 hash = 0;

	hash = warden_mix(hash, key, 0);
	hash = warden_mix(hash, key, 8);
	return (__u32)(hash >> 32) & mask;
}

/* Indexes of the per-CPU counters array. */
enum warden_counter {
	WARDEN_CTR_FLOW_INSERTS,   /* new keys written into flows */
	WARDEN_CTR_FLOW_UPDATES,   /* keys written again (new owner, or a reused tuple) */
	WARDEN_CTR_FLOW_UNCHANGED, /* sendmsg of the same owner to the same peer: no write */
	WARDEN_CTR_FLOW_ERRORS,	   /* map update failures */
	WARDEN_CTR_LISTENER_WRITES,
	WARDEN_CTR_UDP_CONNECT_PENDING, /* UDP connects seen by the cgroup hook */
	/* ... their first datagrams, keyed by the table's socket filters for their sender */
	WARDEN_CTR_UDP_CONNECT_DONE,
	WARDEN_CTR_EVENTS,	/* events written into the ring buffer */
	WARDEN_CTR_EVENTS_LOST, /* ring buffer full */
	WARDEN_CTR_SLOT_BUSY,	/* a mirror slot held by another writer: not written */
	/* A task wardend's pid namespace does not show: recorded with tgid 0 (socket calls) or
	 * not reported (process events). See warden_owner.tgid. */
	WARDEN_CTR_OUTSIDE_PIDNS,
	/* Kernel-held verdicts (see warden_held_key): flows decided by them, per action ... */
	WARDEN_CTR_HELD_ALLOW,
	WARDEN_CTR_HELD_DENY,
	WARDEN_CTR_HELD_REJECT,
	/* ... entries a hook found but could not use: decided under another policy, or expired */
	WARDEN_CTR_HELD_STALE,
	WARDEN_CTR_HELD_EXPIRED,
	WARDEN_CTR_HELD_EVENTS_LOST,  /* held flows not reported for their log row: ring full */
	WARDEN_CTR_HELD_UNRECORDED,   /* TCP connects a held verdict decides: no owner record */
	WARDEN_CTR_EXEC_WINDOWS_LOST, /* execs exec_windows had no room for */
	/* UDP connects whose first datagram another process, exec or uid sent (an inherited or
	 * passed socket, an exec or setuid in between): keyed for the sender */
	WARDEN_CTR_UDP_CONNECT_OTHER_SENDER,
	/* ... or by a task not known to be the sender: left to sock_diag (provisional record) */
	WARDEN_CTR_UDP_CONNECT_UNNAMED,
	/* TCP connects armed with a held verdict whose SYN another process, exec or uid sent
	 * (TCP Fast Open's deferred connect): the word taken back, the SYN queued; and UDP
	 * datagrams whose flow record names another process than the task sending them (a
	 * corked datagram pushed by another process, a packet another NFQUEUE consumer handed
	 * back): queued */
	WARDEN_CTR_HELD_OTHER_SENDER,
	/* UDP packets whose flow record was another socket's, keyed for the last process that
	 * sent on their own socket through a hook (udp_senders) ... */
	WARDEN_CTR_UDP_LAST_SENDER,
	/* ... or, with none known, provisionally: sock_diag names the socket's holder */
	WARDEN_CTR_UDP_SENDER_UNKNOWN,
	/* Inbound packets the kernel delivered to another process's UDP socket or TCP listener than
	 * the one wardend decided their flow for (warden_inbound_check): dropped */
	WARDEN_CTR_INBOUND_MISDELIVERED,
	/* ... and IPv6 datagrams and SYNs whose extension headers it does not walk (more than 4, or
	 * of kinds it does not know), delivered to a UDP socket or TCP listener: dropped */
	WARDEN_CTR_INBOUND_UNWALKED,
	/* ICMP echo requests of ping and raw sockets keyed for their sender (warden_icmp_echo) */
	WARDEN_CTR_ECHO_RECORDED,
	/* ... and echo requests on an accepted flow keyed for another socket than theirs (a ping
	 * socket bound to the identifier of another's flow; warden_icmp_reused): decided again */
	WARDEN_CTR_ECHO_REUSED,
	/* TCP connects of MPTCP join subflows (WARDEN_OWNER_KERNEL_JOIN) */
	WARDEN_CTR_KERNEL_JOINS,
	WARDEN_CTR_COUNT,
};

enum warden_event_kind {
	WARDEN_EVENT_EXEC = 1,
	WARDEN_EVENT_FORK = 2,
	WARDEN_EVENT_EXIT = 3,
	WARDEN_EVENT_HELD = 4,
};

/* Common head of every ring-buffer record; `kind` says which struct follows. */
struct warden_event_head {
	__u32 kind;
	__u32 size;    /* of the whole record */
	__u64 time_ns; /* bpf_ktime_get_boot_ns() */
};

/*
 * A new process image. filename is what execve() was given (not yet canonical); args holds
 * argv as NUL-separated strings, cut at WARDEN_ARGS_LEN - 1 bytes (args_truncated then says
 * so, as it does when argv could not be read at all), so a process that is gone before /proc
 * can be read is still described. The record in
 * the ring buffer ends after args_len bytes of args (head.size says so).
 */
struct warden_exec_event {
	struct warden_event_head head;
	struct warden_owner owner;
	__u32 args_len;
	__u32 args_truncated;
	char filename[WARDEN_FILENAME_LEN];
	char args[WARDEN_ARGS_LEN];
};

/* A new process (not a thread): the child starts as a copy of its parent. Pids as in
 * warden_owner; a child outside wardend's pid namespace is not reported, a parent outside it
 * is reported as 0. Events of processes outside it are not reported at all. */
struct warden_fork_event {
	struct warden_event_head head;
	__u32 parent_tgid;
	__u32 child_tgid;
	__u64 parent_start_time_ns;
	__u64 child_start_time_ns;
	/* The child's self_exec_id (its parent's, copied by fork): the generation of the image the
	 * child runs until it execs, which its socket records carry as warden_owner.exec_id. */
	__u64 exec_id;
};

/*
 * Where a process is in its execs, in exec_windows. wardend reads it before and after it reads
 * the process's /proc for a socket call of exec generation N: /proc showed generation N only
 * when both reads are the same, no exec was under way (begun == ended) and the last one left
 * N, or the process has not exec'd since the programs were attached (no entry, none lost).
 * Without it a process that sends and at once execs its own file again under other arguments
 * or environment would have that call described with what /proc shows of the later exec: the
 * exec event only comes after the new image is in place, and /proc shows it from the start.
 * An entry outlives its process until wardend has read the process's exit record (it deletes
 * the entry then, or when it finds the process gone): so that a process that ends while its
 * /proc is read, which the reads around it cannot tell from one that exec'd, does not lose
 * what was read. Keyed by the process, not the pid, so that a reused pid is never confused.
 *
 * The entry also names the image the last exec put in place. The image a socket call's record
 * names is the task's mm->exe_file at the call, which a process may replace without an exec:
 * prctl(PR_SET_MM, PR_SET_MM_MAP or PR_SET_MM_EXE_FILE) needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE only in the caller's own user namespace, which any user can make
 * (unshare -Ur), once the process has unmapped its own file. So a record whose generation is
 * the entry's but whose image is not was made by such a process (or one whose files the
 * checkpoint/restore tools put back), and wardend describes it from neither (`unknown`).
 *
 * A process forked since the attach has an entry from its fork (begun 0): the image it
 * inherits, which is its forker's exec record's while that is the generation it forks at (so
 * a forker that replaced its own image passes on the one its exec put in place), else the
 * forker's mm->exe_file. It says what the child runs until it execs even when nothing else
 * does: a child adopted after its forker exited, whose description wardend no longer holds.
 * It also names that forker and its generation then, which stay through the child's execs: the
 * child's parent until it is adopted, and what a process adopted since (by a subreaper, or a
 * pid namespace's init, whose records name no fork generation) takes its ancestry from when
 * wardend holds no record of the fork (lost, or pushed out by a flood of processes).
 */
struct warden_exec_window_key {
	__u32 tgid; /* as wardend's pid namespace numbers it */
	__u32 pad;
	__u64 start_time_ns; /* the thread group leader's */
};

struct warden_exec_window {
	__u64 exec_id; /* the leader's self_exec_id when the last exec was done */
	__u32 begun;   /* execs past their point of no return (sched_prepare_exec) */
	__u32 ended;   /* set to begun when one is done (sched_process_exec) */
	__u64 exe_ino; /* the image the last exec (or the fork) put in place (warden_owner */
	__u32 exe_dev; /* .exe_ino, exe_dev, exe_ctime_ns); 0: not known yet (an exec began) */
	__u32 pad;
	__u64 exe_ctime_ns;
	/* The working directory the last exec left it in (the one a script it was given by a
	 * relative name is opened in): inode and mount id, as statx(2) tells them (stx_ino,
	 * stx_mnt_id); a fork's entry has its forker's exec's. cwd_mnt_id 0: not known. cwd_shared:
	 * the directory was shared with another process (clone CLONE_FS), which may have moved
	 * it between the exec and the script's open. */
	__u64 cwd_ino;
	__u32 cwd_mnt_id;
	__u32 cwd_shared;
	/* The process that forked it (0: not seen, it began before the attach or its fork's entry
	 * was lost), as the key names a process, and its self_exec_id then. */
	__u32 forker_tgid;
	__u32 pad2;
	__u64 forker_start_time_ns;
	__u64 fork_exec_id;
};

#define WARDEN_EXEC_WINDOWS 32768 /* the least; wardend sets pid_max */

/* The last thread of a process is gone. */
struct warden_exit_event {
	struct warden_event_head head;
	__u32 tgid;
	__u32 exit_code;
	__u64 start_time_ns;
};

/* ---- Inbound flows: the socket each was decided for ---------------------------------------
 *
 * wardend decides an inbound flow for the socket it finds to receive it (the port's record, or
 * the one sock_diag's lookup names), but the kernel picks the receiver only at delivery, after
 * the verdict: a SO_REUSEPORT group's steering program (which any member may attach, without
 * privilege) runs on the packet there, and so does SO_INCOMING_CPU's choice, neither of which a
 * lookup from wardend reproduces. So before it accepts an inbound flow's first packet wardend
 * writes the socket it decided for into `inbound_receivers`, and a cgroup ingress program
 * (warden_inbound_check) drops a packet of the flow that the kernel delivers to another
 * process's TCP listener (a SYN; with SYN cookies, the ACK that completes the handshake) or
 * UDP socket, and notes that socket in the entry: the flow's next packet (a SYN sent again,
 * which the table queues; a datagram, which rule 0i queues) is decided for its holder. Another
 * socket of the same process passes (a server with one socket per thread), since it gets the
 * same verdict.
 */
#define WARDEN_INBOUND_ENTRIES 65536
/* port_bits: bitmaps of local ports, each WARDEN_PORT_WORDS words (port / 64, bit port % 64),
 * one after the other; no bit is cleared while the programs are loaded, so each says "maybe"
 * and its absence "no":
 *  - WARDEN_PORTS_NOTED, set by wardend (in its mapping of the array) before it first notes an
 *    inbound flow to the port: the programs leave every other port's packets alone unread;
 *  - WARDEN_PORTS_BOUND, set by post_bind for every socket bound to the port (of any network
 *    namespace): a port without it has no listener or bind record, which wardend then does
 *    not ask the maps for (a syscall each);
 *  - WARDEN_PORTS_MISDELIVERED, set by the ingress check before it notes a flow to the port as
 *    delivered to another socket: wardend looks for such notes only on those ports. */
#define WARDEN_PORT_WORDS 1024
enum warden_port_bitmap {
	WARDEN_PORTS_NOTED,
	WARDEN_PORTS_BOUND,
	WARDEN_PORTS_MISDELIVERED,
	WARDEN_PORT_BITMAPS,
};

/* An inbound flow as its packets carry it (network namespace, remote and local ends). */
struct warden_inbound_key {
	__u64 netns_cookie;
	__u8 remote_addr[16];
	__u8 local_addr[16];
	__u16 remote_port;
	__u16 local_port;
	__u8 protocol;
	__u8 pad[3]; /* always zero: keys are compared bytewise */
};

struct warden_inbound_receiver {
	__u64 sock_cookie;   /* the socket wardend decided the flow for; 0: none it could tell */
	__u64 start_time_ns; /* with tgid, its process (warden_owner's) */
	/* Written by warden_inbound_check: the socket the kernel delivered a packet of the flow to
	 * instead (0: none), whose record (bound_sockets) wardend decides the flow's next packet
	 * for. */
	__u64 delivered_cookie;
	__u32 tgid;
	__u32 pad;
};

/* ---- Kernel-held verdicts (SPEC section 12) ------------------------------------------------
 *
 * wardend writes a decision it made for a process into `held_verdicts`; the output chain's
 * xt_bpf matches (programs warden_held_allow/deny/reject) accept, drop or reject the first
 * packet of a flow it decides without queueing it. A UDP datagram leaves inside the call that
 * sends it, so the match looks the entry up for the sending task and the packet's destination.
 * A TCP SYN may leave later and from another task (a retransmission timer, a deferred Fast Open
 * connect): the connect hooks look the entry up for the connecting process and leave word for
 * the SYN in `held_sockets`, keyed by the socket's cookie, and the match takes it from there
 * (and for the SYN's retransmissions), provided the packet goes where the entry says. Nothing
 * of it is a mark: no process can set a cookie, a task's identity or a map entry.
 */
#define WARDEN_DEFAULT_HELD_ENTRIES 16384
#define WARDEN_HELD_SOCKET_ENTRIES  8192
#define WARDEN_HELD_EVENTS_BYTES    (256 * 1024) /* their own ring: see held_events */
/* held_names: remote address (16 bytes) -> a number wardend makes anew (ever increasing) each
 * time DNS gives the address another name. An entry applies only while its address's number is
 * not above the entry's name_gen. Not LRU: a forgotten number would let an entry decided with
 * the old name apply again. When it is full wardend retires every entry instead. */
#define WARDEN_HELD_NAME_ENTRIES 65536

enum warden_held_action {
	WARDEN_HELD_ALLOW = 1,
	WARDEN_HELD_DENY = 2,
	WARDEN_HELD_REJECT = 3,
};

#define WARDEN_HELD_OUT 1 /* direction: the only one held so far */

/*
 * Everything a held decision depended on. The process: tgid (wardend's pid namespace) and its
 * leader's start time name it across pid reuse, exec_id the image it runs now (an exec makes a
 * new one), uid the real uid (a setuid makes another key). The destination: network namespace,
 * remote address (IPv4-mapped for IPv4), port (host order), protocol, direction. What else a
 * decision rests on is bounded by the value: the policy (epoch) and the DNS answer (expires_ns).
 */
struct warden_held_key {
	__u64 start_time_ns;
	__u64 exec_id;
	__u64 netns_cookie;
	__u8 remote_addr[16];
	__u32 tgid;
	__u32 uid;
	__u16 remote_port;
	__u8 protocol;
	__u8 direction;
	__u8 pad[4]; /* always zero: keys are compared bytewise */
};

struct warden_held_verdict {
	__u64 epoch; /* the policy it was decided under: valid while warden_held_state says so */
	__u64 expires_ns; /* bpf_ktime_get_boot_ns() after which it is not used */
	/* the last number held_names was given when it was decided (0: none yet): a new name
	 * for the address later gives it a higher one, and the entry stops applying. (Not the
	 * address's own number: wardend knows this one without asking the map.) */
	__u64 name_gen;
	__u64 hits; /* flows decided by it (added to by the programs) */
	__u64 last_hit_ns;
	__u32 action; /* enum warden_held_action */
	__u32 log;    /* 1: every flow it decides is reported (WARDEN_EVENT_HELD) for a log row */
	/* wardend's number of the hit counter of the rule (or profile default) that decided it,
	 * plus 1 (0: none), so that `warden rules` counts the flows it decides here too */
	__u32 hit_counter;
	__u32 pad;
};

/* The one entry of `held_state`, written by wardend. The hooks that look verdicts up stay
 * attached when wardend dies (so that its decisions keep being applied); the owner names the
 * wardend that loaded them, so that a later one tells a dead instance's hooks from a live one's
 * (pid and /proc start time, as the table's owner). */
struct warden_held_state {
	__u64 epoch; /* the policy in force; 0: none, nothing is used */
	__u64 owner_start_ticks;
	__u32 owner_pid;
	__u32 pad;
};

/* What a TCP connect's hook found for the connection's SYN (held_sockets). */
struct warden_held_socket {
	struct warden_held_key key; /* the entry, whose destination the packet must have */
	__u64 epoch;
	__u32 action;
	__u32 flags; /* WARDEN_HELD_SOCKET_* */
};
/* warden_held_socket.flags: the connect's SYN was matched; its retransmissions (the same
 * flow) are decided alike but not counted or reported again. */
#define WARDEN_HELD_SOCKET_SEEN 2

/* A flow a held verdict decided, for its verdict-log row: the entry's key, and the local end
 * read from the packet. */
struct warden_held_event {
	struct warden_event_head head;
	struct warden_held_key key;
	__u8 local_addr[16];
	__u16 local_port;
	__u16 pad;
	__u32 action;
};

#endif /* WARDEN_BPF_ATTRIBUTION_H */
