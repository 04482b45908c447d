/* SPDX-License-Identifier: GPL-2.0 */
/* Part of attribution.bpf.c, which includes the parts in order: each may use what the
 * parts before it define. */
#pragma once

/* ---- process events ---------------------------------------------------------------------- */

/* Exec events are built here and copied into the ring buffer only as long as their argv:
 * most are a few hundred bytes, not the 2.4 KB of the whole struct. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct warden_exec_event);
} exec_scratch SEC(".maps");

/* ---- exec_windows: execs under way (see warden_exec_window) ------------------------------ */

/* Not preallocated: memory is taken only for processes forked or exec'd since the attach, one
 * entry each until wardend has read its exit (or found it gone; or at once, when the exit
 * record could not be written). wardend sizes it as there can be pids, within
 * 256K; an entry it has no room for is a lost one, and exec_windows_lost_ns says when. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARDEN_EXEC_WINDOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct warden_exec_window_key);
	__type(value, struct warden_exec_window);
} exec_windows SEC(".maps");

/* When an exec_windows insert last failed (boot ns; 0: never): a process with no entry that
 * started before it may have lost one; one that started after it lost none (its loss would
 * have come later). */
__u64 exec_windows_lost_ns = 0;

static __always_inline void exec_window_lost(void)
{
	__u64 now = bpf_ktime_get_boot_ns(), seen = exec_windows_lost_ns;

	/* Only ever later: a loss on another CPU at once may not move it back. */
	for (int i = 0; i < 4 && seen < now; i++) {
		__u64 was = __sync_val_compare_and_swap(&exec_windows_lost_ns, seen, now);

		if (was == seen)
			break;
		seen = was;
	}
	count(WARDEN_CTR_EXEC_WINDOWS_LOST);
}

/* sched_prepare_exec (6.10 on): an exec past its point of no return, before anything of the
 * new image is in place (mm, exe_file and comm are still the old ones: /proc shows the old
 * image until it). No syscall tracepoint: attaching any puts every syscall of every task on
 * the traced slow path. An exec that fails before this point changes nothing. */
SEC("tracepoint/sched/sched_prepare_exec")
int warden_exec_begin(void *ctx)
{
	struct warden_exec_window *window, fresh = {};
	struct warden_exec_window_key key = {};
	struct current_process now;

	current_process(&now);
	if (!now.tgid)
		return 0;
	key.tgid = now.tgid;
	key.start_time_ns = now.start_time_ns;
	window = bpf_map_lookup_elem(&exec_windows, &key);
	if (window) {
		__sync_fetch_and_add(&window->begun, 1);
		return 0;
	}
	fresh.exec_id = now.exec_id;
	fresh.begun = 1;
	if (bpf_map_update_elem(&exec_windows, &key, &fresh, BPF_ANY) != 0)
		exec_window_lost();
	return 0;
}

/* The calling task's working directory, for an exec window (see warden_exec_window). Read
 * without fs->seq: only a process sharing the fs_struct moves it meanwhile, and such a one is
 * marked shared anyway. struct mount is the kernel's own (fs/mount.h): the vfsmount a path
 * holds is its member `mnt`. */
static __always_inline void exec_window_cwd(struct warden_exec_window *window)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct vfsmount *mnt = BPF_CORE_READ(fs, pwd.mnt);
	struct mount *mount = (void *)mnt - bpf_core_field_offset(struct mount, mnt);

	if (!fs || !mnt)
		return;
	window->cwd_ino = BPF_CORE_READ(fs, pwd.dentry, d_inode, i_ino);
	window->cwd_mnt_id = BPF_CORE_READ(mount, mnt_id);
	window->cwd_shared = BPF_CORE_READ(fs, users) > 1;
}

/* At sched_process_exec, the new image in place: its generation and image first, then the end
 * (an atomic exchange: ordered after the stores before it), so that a reader copying the value
 * between the two sees begun != ended, or a later copy differ. */
static __always_inline void exec_window_ended(void)
{
	struct warden_exec_window *window, fresh = {};
	struct warden_exec_window_key key = {};
	struct current_process now;
	struct inode *exe = bpf_get_current_task_btf()->mm->exe_file->f_inode;
	__u64 exe_ino = exe->i_ino;
	__u32 exe_dev = exe->i_sb->s_dev; /* as fill_owner reads them */
	__u64 exe_ctime_ns = exe->i_ctime_sec * 1000000000ULL + (exe->i_ctime_nsec & 0x3fffffff);

	current_process(&now);
	if (!now.tgid)
		return;
	key.tgid = now.tgid;
	key.start_time_ns = now.start_time_ns;
	window = bpf_map_lookup_elem(&exec_windows, &key);
	if (!window) {
		/* Begun before the programs were attached (or lost, counted): it is done now. */
		fresh.exec_id = now.exec_id;
		fresh.begun = fresh.ended = 1;
		fresh.exe_ino = exe_ino;
		fresh.exe_dev = exe_dev;
		fresh.exe_ctime_ns = exe_ctime_ns;
		exec_window_cwd(&fresh);
		if (bpf_map_update_elem(&exec_windows, &key, &fresh, BPF_ANY) != 0)
			exec_window_lost();
		return;
	}
	exec_window_cwd(&fresh);
	*(volatile __u64 *)&window->exec_id = now.exec_id;
	*(volatile __u64 *)&window->exe_ino = exe_ino;
	*(volatile __u32 *)&window->exe_dev = exe_dev;
	*(volatile __u64 *)&window->exe_ctime_ns = exe_ctime_ns;
	*(volatile __u64 *)&window->cwd_ino = fresh.cwd_ino;
	*(volatile __u32 *)&window->cwd_mnt_id = fresh.cwd_mnt_id;
	*(volatile __u32 *)&window->cwd_shared = fresh.cwd_shared;
	__sync_lock_test_and_set(&window->ended, *(volatile __u32 *)&window->begun);
}

SEC("tracepoint/sched/sched_process_exec")
int warden_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	const __u32 zero = 0;
	struct warden_exec_event *event = bpf_map_lookup_elem(&exec_scratch, &zero);
	struct task_struct *task;
	unsigned long arg_start, arg_end;
	__u32 len = 0, size;

	exec_window_ended();
	if (!event)
		return 0;
	event->head.kind = WARDEN_EVENT_EXEC;
	event->head.time_ns = bpf_ktime_get_boot_ns();
	fill_owner(&event->owner);
	if (!event->owner.tgid) /* wardend cannot describe it (counted by fill_owner) */
		return 0;
	bpf_probe_read_kernel_str(event->filename, sizeof(event->filename),
				  (void *)ctx + (ctx->__data_loc_filename & 0xffff));
	event->args_truncated = 0;
	if (capture_args) {
		/* The new image's argv is on its fresh stack: present, so readable here. */
		task = (struct task_struct *)bpf_get_current_task();
		arg_start = BPF_CORE_READ(task, mm, arg_start);
		arg_end = BPF_CORE_READ(task, mm, arg_end);
		len = arg_end > arg_start ? arg_end - arg_start : 0;
		if (len > WARDEN_ARGS_LEN - 1) {
			len = WARDEN_ARGS_LEN - 1;
			event->args_truncated = 1;
		}
		/* the mask on the very register handed to the helper is what the verifier needs */
		barrier_var(len);
		len &= WARDEN_ARGS_LEN - 1;
		/* Unreadable (not seen to happen: the stack is fresh): none of argv is here, which
		 * is what truncated says, so /proc's argv is taken for this image if it can be
		 * read, rather than an empty one for the event's. */
		if (bpf_probe_read_user(event->args, len, (void *)arg_start) != 0) {
			len = 0;
			event->args_truncated = 1;
		}
	}
	event->args_len = len;
	size = sizeof(*event) - WARDEN_ARGS_LEN + len;
	barrier_var(size);
	if (size > sizeof(*event))
		return 0;
	event->head.size = size;
	/* Forced: the description is read from /proc at once, before a short-lived process is
	 * gone; the default wakes the reader only when it has read everything before this event,
	 * which a fork or exit left unread (quiet_wakeup) prevents. */
	if (bpf_ringbuf_output(&events, event, size, BPF_RB_FORCE_WAKEUP) != 0) {
		count(WARDEN_CTR_EVENTS_LOST);
		return 0;
	}
	count(WARDEN_CTR_EVENTS);
	return 0;
}

/* The fork's entry in exec_windows (see warden_exec_window): the image the child inherits.
 * The tracepoint fires before the child first runs. `forker` is the calling task, which
 * raw_tp's first argument names (with CLONE_PARENT it is not the child's parent). */
static __always_inline void exec_window_forked(struct task_struct *child, __u32 child_tgid)
{
	struct warden_exec_window fresh = {}, *forker;
	struct warden_exec_window_key key = {};
	struct current_process now;
	struct inode *exe;

	current_process(&now);
	key.tgid = now.tgid;
	key.start_time_ns = now.start_time_ns;
	forker = now.tgid ? bpf_map_lookup_elem(&exec_windows, &key) : NULL;
	/* What the forker's last exec put in place, when that is the generation the child gets
	 * and no exec is under way: a forker that replaced its own image (PR_SET_MM) passes on
	 * its exec's, not the replacement. */
	if (forker && forker->begun == forker->ended && forker->exe_ino != 0 &&
	    forker->exec_id == now.exec_id) {
		fresh.exe_ino = *(volatile __u64 *)&forker->exe_ino;
		fresh.exe_dev = *(volatile __u32 *)&forker->exe_dev;
		fresh.exe_ctime_ns = *(volatile __u64 *)&forker->exe_ctime_ns;
		fresh.cwd_ino = *(volatile __u64 *)&forker->cwd_ino;
		fresh.cwd_mnt_id = *(volatile __u32 *)&forker->cwd_mnt_id;
		fresh.cwd_shared = *(volatile __u32 *)&forker->cwd_shared;
	} else {
		exe = BPF_CORE_READ(child, mm, exe_file, f_inode);
		if (!exe) /* no mm: a kernel thread */
			return;
		fresh.exe_ino = BPF_CORE_READ(exe, i_ino);
		fresh.exe_dev = BPF_CORE_READ(exe, i_sb, s_dev);
		fresh.exe_ctime_ns = BPF_CORE_READ(exe, i_ctime_sec) * 1000000000ULL +
				     (BPF_CORE_READ(exe, i_ctime_nsec) & 0x3fffffff);
	}
	fresh.exec_id = BPF_CORE_READ(child, self_exec_id);
	fresh.forker_tgid = now.tgid;
	fresh.forker_start_time_ns = now.start_time_ns;
	fresh.fork_exec_id = now.exec_id;
	key.tgid = child_tgid;
	key.start_time_ns = BPF_CORE_READ(child, start_boottime);
	if (bpf_map_update_elem(&exec_windows, &key, &fresh, BPF_ANY) != 0)
		exec_window_lost();
}

SEC("raw_tp/sched_process_fork")
int warden_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct warden_fork_event *event;
	__u32 child_tgid;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid)) /* a thread, not a process */
		return 0;
	child_tgid = ns_tgid(child);
	if (!child_tgid) {
		count(WARDEN_CTR_OUTSIDE_PIDNS);
		return 0;
	}
	exec_window_forked(child, child_tgid);
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(WARDEN_CTR_EVENTS_LOST);
		return 0;
	}
	event->head.kind = WARDEN_EVENT_FORK;
	event->head.size = sizeof(*event);
	event->head.time_ns = bpf_ktime_get_boot_ns();
	event->parent_tgid = ns_tgid(parent);
	event->parent_start_time_ns = leader_start(parent);
	event->child_tgid = child_tgid;
	event->child_start_time_ns = BPF_CORE_READ(child, start_boottime);
	event->exec_id = BPF_CORE_READ(child, self_exec_id);
	bpf_ringbuf_submit(event, quiet_wakeup(&events));
	count(WARDEN_CTR_EVENTS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int warden_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct warden_exit_event *event;
	__u32 tgid;

	/* Every thread passes here; signal->live reaches 0 when the last one does. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	tgid = ns_tgid(task);
	if (!tgid) {
		count(WARDEN_CTR_OUTSIDE_PIDNS);
		return 0;
	}
	/* exec_windows keeps the process's entry: wardend deletes it once it has read this. A
	 * record that cannot be written takes the entry with it: else only wardend's sweep would
	 * find it, and a flood of short-lived processes that fills the ring buffer would fill the
	 * map too (every fork makes an entry), leaving later processes' windows unwritten. */
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		struct warden_exec_window_key key = {
		    .tgid = tgid,
		    .start_time_ns = leader_start(task),
		};

		bpf_map_delete_elem(&exec_windows, &key);
		count(WARDEN_CTR_EVENTS_LOST);
		return 0;
	}
	event->head.kind = WARDEN_EVENT_EXIT;
	event->head.size = sizeof(*event);
	event->head.time_ns = bpf_ktime_get_boot_ns();
	event->tgid = tgid;
	event->exit_code = BPF_CORE_READ(task, exit_code);
	event->start_time_ns = leader_start(task);
	bpf_ringbuf_submit(event, quiet_wakeup(&events));
	count(WARDEN_CTR_EVENTS);
	return 0;
}
