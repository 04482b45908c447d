// SPDX-License-Identifier: GPL-2.0
/*
 * warden process attribution: record, at the syscall and in the task's own context, which
 * process a flow belongs to, keyed so that wardend finds it from the flow's first packet (in
 * a mirror it reads from memory, else with one map lookup); and report exec/fork/exit so
 * wardend keeps a process table.
 *
 * Hooks (all verified to load and attach on the build machine's 6.18 kernel, where fentry and
 * kprobes are not available):
 *   TCP out          sockops BPF_SOCK_OPS_TCP_CONNECT_CB: full 4-tuple, runs inside connect()
 *                    (no cb flags needed for this callback)
 *   UDP unconnected  cgroup/sendmsg4|6: the local port is already bound there
 *   UDP connected    cgroup/connect4|6: the hook keeps the owner by socket cookie (a socket
 *                    bound already is keyed there too, provisionally; else its local port is
 *                    bound only after the hook) and the table's socket filters
 *                    (warden_udp_connected, warden_udp_reused) key the flow at its first
 *                    datagram, read from the packet, for its sender. Connected sends skip
 *                    the sendmsg hook.
 *   inbound          cgroup/post_bind4|6: {netns, proto, port} -> the binder
 *   ICMP echo        cgroup/sock_create marks ping and raw sockets; the table's socket filter
 *                    (warden_icmp_echo) keys an echo request for its sending task
 *   processes        tracepoints sched_process_exec / sched_process_exit, raw_tp
 *                    sched_process_fork, into one ring buffer; sched_prepare_exec and
 *                    sched_process_exec keep exec_windows (no syscall tracepoint: see there)
 *
 * Helper availability verified by loading one program per (type, helper) on this kernel:
 * cgroup sock_addr, sock_ops and cgroup_sock (post_bind) may all call get_current_pid_tgid,
 * get_current_uid_gid, get_current_comm, get_current_task, get_current_cgroup_id,
 * get_netns_cookie and ktime_get_boot_ns. Tracepoints may not call get_netns_cookie (none of
 * them needs it). Socket filters: see warden_udp_connected and warden_held_allow. (bpftool 7.1 /
 * libbpf 1.1 feature probes report every helper as available for every type on this kernel: do
 * not trust them.)
 *
 * Pid namespaces: get_current_pid_tgid and task->pid/tgid are the initial namespace's numbers,
 * while wardend reads the /proc of its own namespace (a container's). Every pid written here is
 * translated into wardend's namespace (ns_pid below). get_ns_current_pid_tgid loads in every
 * type used here (sock_ops, cgroup sock_addr, cgroup_sock, tracepoint, raw_tp, socket: checked
 * by loading one program of each on 6.18), but it answers only for a task whose own namespace
 * IS the one named, and fails for one nested below it (a sandbox's, a container's inside the
 * container) that wardend's /proc does show; and it knows nothing of parents or forked
 * children. So the programs read the task's struct pid instead: it holds one number per level,
 * each with the namespace it belongs to.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "attribution.h"

#define AF_INET		  2
#define AF_INET6	  10
#define IPPROTO_TCP	  6
#define IPPROTO_UDP	  17
#define IPPROTO_ICMP	  1
#define IPPROTO_ICMPV6	  58
#define WARDEN_SOCK_DGRAM 2 /* enum sock_type, include/linux/net.h */
#define WARDEN_SOCK_RAW	  3

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile bool capture_args = true;
const volatile __u32 flow_slot_mask = WARDEN_DEFAULT_FLOW_SLOTS - 1;
const volatile __u32 listener_slot_mask = WARDEN_DEFAULT_LISTENER_SLOTS - 1;
/* The nsfs inode number of wardend's pid namespace (the one its /proc numbers): stat(2) of
 * /proc/self/ns/pid. Every namespace's inode is on the one nsfs, so the number alone names it
 * (what the kernel's ns_match compares besides is that filesystem's device). */
const volatile __u32 pidns_inum = 0;
/* The cookie of wardend's network namespace, whose table runs the socket filter programs: on
 * the input hook a packet has no socket yet, and bpf_get_netns_cookie of a socket-less skb
 * names the initial namespace, not the packet's (found by test; 6.18). */
const volatile __u64 table_netns_cookie = 0;
/* wardend runs in the initial pid namespace (as on most machines): the task's own numbers are
 * that namespace's, every task has one there, and nothing needs translating. */
const volatile bool pidns_initial = false;

/*
 * One object, so one skeleton and one set of maps, written in parts (as cilium's bpf/lib/):
 *   maps            what the parts share: the record maps, held verdicts, counters, rings
 *   task            who the current task is, in wardend's pid namespace; its owner record
 *   records         writing flow records and their mirrors; senders' notes
 *   held_hooks      the connect and sendmsg hooks' look-up of kernel-held verdicts
 *   tcp_out         sock_ops: TCP connects, and the established callbacks
 *   udp_out         sendmsg4|6 and connect4|6
 *   bind            post_bind4|6 and sock_release: listeners and their records
 *   process_events  exec, fork and exit tracepoints; exec_windows
 *   packets         reading a packet's ends in the table's socket filters
 *   inbound_check   the cgroup ingress check of where an inbound flow is delivered
 *   udp_table       the table's UDP socket filters: connected sockets, the reuse check
 *   held_matches    the table's matches of kernel-held verdicts
 */
#include "attribution/maps.bpf.h"
#include "attribution/task.bpf.h"
#include "attribution/records.bpf.h"
#include "attribution/held_hooks.bpf.h"
#include "attribution/tcp_out.bpf.h"
#include "attribution/udp_out.bpf.h"
#include "attribution/bind.bpf.h"
#include "attribution/process_events.bpf.h"
#include "attribution/packets.bpf.h"
#include "attribution/inbound_check.bpf.h"
#include "attribution/udp_table.bpf.h"
#include "attribution/icmp_out.bpf.h"
#include "attribution/held_matches.bpf.h"
