/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- The current task: its numbers in wardend's pid namespace, its record -------------------- */

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* MAX_PID_NS_LEVEL: a struct pid holds at most this many numbers + 1. */
#define WARDEN_MAX_PID_NS_LEVEL 32

/*
 * The number `pid` has in wardend's pid namespace, or 0 when it has none there (a task of an
 * ancestor namespace, or of a sibling's: wardend's /proc does not show it). numbers[i] is the
 * number in the namespace of level i, from the initial (0) to the task's own (pid->level);
 * searched from the task's own level down, since most tasks live in wardend's namespace itself.
 */
static __always_inline __u32 ns_pid(struct pid *pid)
{
	unsigned int level = BPF_CORE_READ(pid, level);
	__u64 base = (__u64)pid + bpf_core_field_offset(struct pid, numbers);
	__u64 size = bpf_core_type_size(struct upid);

	for (int i = 0; i <= WARDEN_MAX_PID_NS_LEVEL; i++) {
		struct upid *number;

		if (i > level)
			break;
		number = (struct upid *)(base + (level - i) * size);
		if (BPF_CORE_READ(number, ns, ns.inum) == pidns_inum)
			return BPF_CORE_READ(number, nr);
	}
	return 0;
}

/* A process's id (its thread group's) in wardend's pid namespace; 0: none there. */
static __always_inline __u32 ns_tgid(struct task_struct *task)
{
	if (pidns_initial)
		return BPF_CORE_READ(task, tgid);
	return ns_pid(BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]));
}

/* A thread's id there, given its process's (`tgid`, from ns_tgid). */
static __always_inline __u32 ns_thread_id(struct task_struct *task, __u32 tgid)
{
	if (pidns_initial)
		return BPF_CORE_READ(task, pid);
	if (!tgid || BPF_CORE_READ(task, pid) == BPF_CORE_READ(task, tgid))
		return tgid; /* none there, or the leader, whose number is the process's */
	return ns_pid(BPF_CORE_READ(task, thread_pid));
}

/* The calling process as wardend's pid namespace numbers it, its start time and the exec
 * generation of the image it runs: what names it in an owner record and in a held verdict's
 * key. Plain loads through the task's BTF pointer, as in fill_owner below. */
struct current_process {
	__u32 tgid;
	__u64 start_time_ns;
	__u64 exec_id;
};

static __always_inline void current_process(struct current_process *out)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct task_struct *leader = current->group_leader;

	out->tgid =
	    pidns_initial ? current->tgid : ns_tgid((struct task_struct *)bpf_get_current_task());
	out->start_time_ns = leader->start_boottime;
	out->exec_id = leader->self_exec_id;
}

/* Whether the calling task is of the process (tgid, start time) and exec generation named,
 * under that uid: what a connected socket's first datagram (udp_connected_first) and a held
 * word's packet (held_match, held_decides) ask of their sender. */
static __always_inline bool current_is(__u32 tgid, __u64 start_time_ns, __u64 exec_id, __u32 uid)
{
	struct current_process now;

	current_process(&now);
	return now.tgid == tgid && now.start_time_ns == start_time_ns && now.exec_id == exec_id &&
	       (__u32)bpf_get_current_uid_gid() == uid;
}

#define WARDEN_PF_KTHREAD 0x00200000 /* PF_KTHREAD, include/linux/sched.h */

#define WARDEN_SIGNAL_UNKILLABLE 0x00000040 /* a pid namespace's init (linux/sched/signal.h) */

/* Whether `parent` may have adopted its child rather than forked it: an orphan goes to the
 * nearest subreaper among its ancestors, else to its pid namespace's init. */
static __always_inline bool adoptive(struct task_struct *parent)
{
	struct signal_struct *signal = parent->signal;

	if (signal->flags & WARDEN_SIGNAL_UNKILLABLE)
		return true;
	return BPF_CORE_READ_BITFIELD_PROBED(signal, is_child_subreaper);
}

/*
 * Everything about the current task that the owner record holds. Read through the task's BTF
 * pointer: each field is a plain load (the verifier makes a fault read 0), where
 * BPF_CORE_READ calls bpf_probe_read_kernel once per step, about 20 of them, on the path of
 * every connect(). Only the search of a pid namespace other than the initial one reads through
 * the helper (ns_tgid, ns_thread_id: numbers[] is indexed by a level known at run time), and
 * so does adoptive() (a bitfield).
 * bpf_get_current_task_btf is among the base helpers of every program type that calls this
 * or current_process (sock_ops, cgroup sock_addr, cgroup sock, tracepoint, socket filter):
 * verified by loading on 6.18.
 */
static __always_inline void fill_owner(struct warden_owner *owner)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct task_struct *leader = current->group_leader;
	struct task_struct *parent = leader->real_parent;
	struct inode *exe = current->mm->exe_file->f_inode;
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct current_process process;

	current_process(&process);
	owner->tgid = process.tgid;
	owner->start_time_ns = process.start_time_ns;
	owner->exec_id = process.exec_id;
	owner->fork_exec_id = adoptive(parent) ? 0 : leader->parent_exec_id;
	if (pidns_initial) {
		owner->pid = current->pid;
		owner->ppid = parent->tgid;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		owner->pid = ns_thread_id(task, owner->tgid);
		owner->ppid = ns_tgid(BPF_CORE_READ(task, group_leader, real_parent));
	}
	if (!owner->tgid)
		count(WARDEN_CTR_OUTSIDE_PIDNS);
	/* The initial user namespace's ids: wardend runs there (loading needs CAP_BPF in it). */
	owner->uid = (__u32)uid_gid;
	owner->gid = uid_gid >> 32;
	bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	owner->cgroup_id = bpf_get_current_cgroup_id();
	owner->parent_start_time_ns = parent->group_leader->start_boottime;
	owner->exe_ino = exe->i_ino;
	owner->exe_dev = exe->i_sb->s_dev;
	/* The top bit of i_ctime_nsec is the kernel's "ctime was queried" flag (multigrain
	 * timestamps), not part of the time: inode_get_ctime_nsec() masks it, and so do we. */
	owner->exe_ctime_ns = exe->i_ctime_sec * 1000000000ULL + (exe->i_ctime_nsec & 0x3fffffff);
	owner->recorded_ns = bpf_ktime_get_boot_ns();
	owner->generation = next_generation();
}
