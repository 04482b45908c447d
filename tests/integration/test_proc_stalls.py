"""A user's process that makes wardend's reads of its /proc wait (SPEC sections 5 and 9: hostile
input never stalls wardend; a restart must not leave flows to `fail` for long).

Where users may open /dev/fuse (mode 0666, as fuse3 installs it on desktops), a user mounts a
FUSE file system of its own in a user namespace, opens one of its files close-on-exec and
execs: execve, past its point of no return (exec_mmap took signal->exec_update_lock for
writing), closes its close-on-exec files (begin_new_exec -> do_close_on_exec -> fuse_flush)
and waits for the server's answer to FLUSH, which never comes. Every read of its
/proc/PID/stat, exe, cwd, root and environ waits as long. Before the deadlines
(BoundedWaits) the start-up scan of a restarted wardend waited there for good, so it never
served its queues and `fail` decided every new flow; `warden explain PID` held the control
thread for good; the tracker's sweep of exec windows held the tracker, and every new program's
first flow got `unknown`.

The attacker is nobody (uid 65534), in the test's cgroup; the /dev/fuse it opens is a 0666 copy
of the device node in the test's directory. The control of each test: the same process, its
exec answered.
"""
import os
import signal
import subprocess
import time

import pytest

import hashlib

from test_attribution import (NOBODY, _reachable_by_everyone, _userns_allowed, cgroup,  # noqa: F401
                              attributing, in_cgroup, install, logged_rows, profiled,
                              write_profiles)
from warden_expect import wait_until
from warden_lab import PYTHON, S4

needs_userns = pytest.mark.skipif(not _userns_allowed(),
                                  reason="unprivileged user namespaces are not allowed here")

# nobody's FUSE server, mounted in its own user namespace: serves one file, `f`, and once
# armed never answers FLUSH (mode "stall") or answers it (mode "answer"). Its child opens `f`
# close-on-exec and execs /bin/sleep: stuck in that execve in mode "stall".
FUSE_SERVER = r"""
import ctypes, os, signal, struct, sys, threading, time
dev, mnt, mode = sys.argv[1], sys.argv[2], sys.argv[3]
then = sys.argv[4:]  # what the stuck child execs first (it inherits fd 3 then)
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(dev, os.O_RDWR)
opts = b"fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
if libc.mount(b"stallfs", mnt.encode(), b"fuse", 2 | 4, opts) != 0:  # MS_NOSUID|MS_NODEV
    print("mount-failed", os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
armed = threading.Event()
flushes = [0]

def attr(ino):
    if ino == 1:
        mode_, size, nlink = 0o040755, 0, 2
    else:
        mode_, size, nlink = 0o100644, 4096, 1
    return struct.pack("<QQQQQQIIIIIIIIII", ino, size, 8, 0, 0, 0, 0, 0, 0, mode_, nlink,
                       0, 0, 0, 4096, 0)

def reply(unique, error=0, body=b""):
    os.write(fd, struct.pack("<IiQ", 16 + len(body), error, unique) + body)

def serve():
    while True:
        try:
            buf = os.read(fd, 1 << 21)
        except OSError:
            return
        length, op, unique, nodeid = struct.unpack_from("<IIQQ", buf)
        arg = buf[40:length]
        if op == 26:  # INIT
            major, minor, ra, flags = struct.unpack_from("<IIII", arg)
            reply(unique, 0, struct.pack("<IIIIHHIIHHI", 7, 31, ra, 0, 16, 12, 65536, 1, 32,
                                         0, 0) + b"\0" * 28)
        elif op == 1:  # LOOKUP
            if arg.rstrip(b"\0") == b"f":
                reply(unique, 0, struct.pack("<QQQQII", 2, 0, 100, 100, 0, 0) + attr(2))
            else:
                reply(unique, -2)
        elif op == 3:  # GETATTR
            reply(unique, 0, struct.pack("<QII", 100, 0, 0) + attr(nodeid))
        elif op in (14, 27):  # OPEN, OPENDIR
            reply(unique, 0, struct.pack("<QIi", 1, 0, 0))
        elif op == 15:  # READ
            fh, offset, size = struct.unpack_from("<QQI", arg)
            reply(unique, 0, b"\0" * max(0, min(size, 4096 - offset)))
        elif op == 25:  # FLUSH
            flushes[0] += 1
            if armed.is_set() and mode == "stall":
                print("flush-held", flush=True)
                # Not answered while a test runs, but in the end: should the test be killed
                # before it aborts the connection, the stuck process (and every reader of its
                # /proc, ps and `ip netns pids` among them) is let go all the same.
                timer = threading.Timer(150, reply, (unique, 0))
                timer.daemon = True
                timer.start()
                continue
            reply(unique, 0)
        elif op in (18, 29, 38):  # RELEASE, RELEASEDIR, DESTROY
            reply(unique, 0)
        elif op in (2, 36, 42):  # FORGET, INTERRUPT, BATCH_FORGET: no answer
            continue
        else:
            reply(unique, -38)  # ENOSYS

on_signal = mode == "stall-on-signal"  # a stuck child at each SIGUSR1, not one at once
if on_signal:
    mode = "stall"
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # for sigwait, every thread
threading.Thread(target=serve, daemon=True).start()
f = os.open(os.path.join(mnt, "f"), os.O_RDONLY)  # close-on-exec (Python's default)
if then:
    os.dup2(f, 3)  # inheritable: survives the first exec; `then` sets FD_CLOEXEC and execs
    os.close(f)  # answered: not armed yet
armed.set()
while True:
    if on_signal:
        print("waiting", flush=True)
        signal.sigwait({signal.SIGUSR1})
    pid = os.fork()
    if pid == 0:
        if then:
            os.execv(then[0], then)
        os.execv("/bin/sleep", ["sleep", "1000"])
        os._exit(127)
    print("child", pid, flush=True)
    if not on_signal:
        signal.pause()
"""


def fuse_device(lab):
    """A 0666 copy of /dev/fuse (char 10,229), as a desktop has it."""
    d = os.path.join(lab.tmp, "devfuse")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "fuse")
    os.mknod(path, 0o666 | 0o020000, os.makedev(10, 229))
    os.chmod(path, 0o666)
    _reachable_by_everyone(lab, path)
    return path


class StuckExec:
    """nobody's FUSE server and its child, stuck in execve (mode "stall") or not ("answer")."""

    def __init__(self, lab, cg, mode, tag="fuse", pid=None):
        """pid: the stuck child is to have this pid (mode "stall" only)."""
        self.lab = lab
        dev = fuse_device(lab)
        mnt = os.path.join(lab.tmp, f"mnt-{tag}")
        os.makedirs(mnt)
        os.chown(mnt, 65534, 65534)
        _reachable_by_everyone(lab, mnt)
        script = os.path.join(lab.tmp, f"{tag}.py")
        with open(script, "w") as f:
            f.write(FUSE_SERVER)
        os.chmod(script, 0o644)
        _reachable_by_everyone(lab, script)
        server_mode = "stall-on-signal" if pid is not None else mode
        argv = in_cgroup(cg, NOBODY + ["unshare", "-Urm", PYTHON, script, dev, mnt, server_mode])
        self.server = lab.spawn(argv, tag, lines=True)
        if pid is not None:
            self.child = self.fork_as(pid)
            self.comm = comm(self.child)
            return
        line = self.server.wait_line(lambda t: t.startswith(("child", "mount-failed")),
                                     timeout=10)
        if not line or not line.startswith("child"):
            self.close()
            raise AssertionError(f"FUSE server: {line!r} {self.server.stderr_text()!r}")
        self.child = int(line.split()[1])
        # The child's comm changes once its exec is done (after the close-on-exec files).
        time.sleep(0.5)
        self.comm = comm(self.child)
        want = "python3" if mode == "stall" else "sleep"
        if not (self.comm or "").startswith(want[:6]):
            self.close()
            raise AssertionError(f"the child is not where it should be: comm {self.comm!r}")

    def fork_as(self, wanted):
        """Has the server fork stuck children until one gets pid `wanted` (the kernel gives the
        next fork ns_last_pid + 1, unless another process forks in between: tried again)."""
        def nth(prefix, n):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                found = [t for _, t in list(self.server.lines) if t.startswith(prefix)]
                if len(found) > n:
                    return found[n]
                time.sleep(0.01)
            return None
        for attempt in range(50):
            if nth("waiting", attempt) is None:
                self.close()
                raise AssertionError(f"FUSE server: {self.server.stderr_text()!r}")
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(wanted - 1))
            os.kill(self.server.pid, signal.SIGUSR1)
            line = nth("child", attempt)
            if line and int(line.split()[1]) == wanted:
                time.sleep(0.5)
                return wanted
        self.close()
        raise AssertionError(f"no stuck child got pid {wanted}")

    def close(self):
        """Aborts the FUSE connection (fusectl), so that nothing waits on it any more (the stuck
        execve, any reader of its /proc, the server's own exit, which closes `f`), then kills
        the server and its child."""
        minors = set()
        try:
            with open(f"/proc/{self.server.pid}/mountinfo") as f:  # the server's: never waits
                for line in f:
                    if " - fuse stallfs " in line:
                        minors.add(line.split()[2].split(":")[1])
        except OSError:
            pass
        mounted = False
        if minors and not os.listdir("/sys/fs/fuse/connections"):
            mounted = subprocess.run(["mount", "-t", "fusectl", "none",
                                      "/sys/fs/fuse/connections"]).returncode == 0
        try:
            for minor in minors:
                try:
                    with open(f"/sys/fs/fuse/connections/{minor}/abort", "w") as f:
                        f.write("1")
                except OSError:
                    pass
        finally:
            if mounted:
                subprocess.run(["umount", "/sys/fs/fuse/connections"])
        try:
            os.kill(self.child, 9)
        except OSError:
            pass
        self.server.kill()


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def udp_twins(lab):
    bins = {}
    for kind in ("allowed", "denied"):
        bins[kind] = install(lab._client("udp_probe"),
                             os.path.join(lab.tmp, "bin", kind, "udp_probe"))
    _reachable_by_everyone(lab, *bins.values())
    return bins


def twin_profiles(bins):
    return {"allowed": ("allow", {"path": bins["allowed"]}),
            "denied": ("deny", {"path": bins["denied"]})}


def probe_as_nobody(lab, cg, program, port, timeout_ms=1000):
    res = lab.c.run(in_cgroup(cg, NOBODY + [program, S4, str(port), "--timeout-ms",
                                            str(timeout_ms)]),
                    timeout=timeout_ms / 1000 + 15, check=False)
    words = res.stdout.split()
    return words[0] if words else f"no-output rc={res.returncode} {res.stderr.strip()!r}"


def proc_reads(d):
    return d.status()["attribution"].get("proc_reads", {})


def decides(lab, cg, bins, d):
    """The allowed program gets its reply and the denied one does not."""
    allowed = probe_as_nobody(lab, cg, bins["allowed"], 7000)
    denied = probe_as_nobody(lab, cg, bins["denied"], 7001)
    assert (allowed, denied != "reply") == ("reply", True), (
        f"allowed: {allowed}, denied: {denied}; attribution {d.status()['attribution']}")


MODES = [pytest.param("answer", id="control-exec-completes"),
         pytest.param("stall", id="exec-stuck-in-flush")]


@needs_userns
@pytest.mark.parametrize("mode", MODES)
def test_wardend_starts_and_decides_while_a_users_process_is_stuck_in_execve(lab, cgroup,
                                                                            wardend, mode):
    """A wardend started (or restarted by systemd after a crash or a hung thread) while the
    process is stuck: its scan of /proc reads the process, waits its deadline, and goes on, so
    wardend gets ready and decides."""
    bins = udp_twins(lab)
    stuck = StuckExec(lab, cgroup, mode)
    try:
        t0 = time.monotonic()
        d = profiled(lab, wardend, cgroup, twin_profiles(bins), fail="open")
        print(f"ready in {time.monotonic() - t0:.2f} s; proc_reads {proc_reads(d)}")
        decides(lab, cgroup, bins, d)
        reads = proc_reads(d)
        if mode == "stall":
            assert reads["late"] >= 1 and reads["stuck"] >= 1, reads
        else:
            assert reads["late"] == 0 and reads["stuck"] == 0, reads
    finally:
        stuck.close()


@needs_userns
@pytest.mark.parametrize("mode", MODES)
def test_explain_of_a_process_stuck_in_execve_answers(lab, cgroup, wardend, mode):
    """`warden explain PID` reads the process's /proc on the control thread: it answers, and
    the control socket and the verdicts go on."""
    bins = udp_twins(lab)
    d = profiled(lab, wardend, cgroup, twin_profiles(bins), fail="open")
    stuck = StuckExec(lab, cgroup, mode)
    try:
        for _ in range(2):  # the second is refused at once: the first read still waits
            t0 = time.monotonic()
            answer = d.request("explain", pid=stuck.child)
            took = time.monotonic() - t0
            print(f"explain answered in {took:.2f} s: {str(answer)[:200]}")
            assert took < 3, f"explain took {took:.1f} s"
        decides(lab, cgroup, bins, d)
        reads = proc_reads(d)
        if mode == "stall":
            assert reads["late"] >= 1 and reads["refused"] >= 1, reads
        else:
            assert reads["late"] == 0, reads
    finally:
        stuck.close()


@needs_userns
@pytest.mark.parametrize("mode", MODES)
def test_tracker_goes_on_past_a_process_stuck_in_execve(lab, cgroup, wardend, mode):
    """The tracker's sweep of exec windows (every 30 s) read /proc/PID/stat of every process
    with a window: the stuck one has one, begun at its execve, and the read waited for good, so
    that every new program's first flow got `unknown`. The sweep now passes over a process whose
    exec is under way (it runs), and would give up its read at the deadline otherwise."""
    bins = udp_twins(lab)
    d = profiled(lab, wardend, cgroup, twin_profiles(bins), fail="open")
    stuck = StuckExec(lab, cgroup, mode)
    try:
        time.sleep(32 if mode == "stall" else 1)  # a sweep has passed
        decides(lab, cgroup, bins, d)
        reads = proc_reads(d)
        assert reads["stuck"] == 0, reads
    finally:
        stuck.close()


def test_a_large_images_hash_is_not_waited_for_on_the_verdict_path(lab, cgroup, wardend):
    """SPEC 5: the hash is computed off the verdict path when possible; 4: lacking knowledge is
    never more permissive than knowing. nobody's own program with 448 MiB of sparse file
    appended (no disk used; under the 512 MiB wardend hashes) takes a hashing thread a good
    part of a second. Before, a queue worker hashed it before its next verdict, a second a
    fresh copy, while new flows queued behind it and, with fail = "open", passed undecided
    once the queue was full. Now the worker waits 50 ms: its first flow, whose profile cannot
    be told until the hash is known, gets the engine `unknown` verdict, and once the hash is
    done (cached) its flows get the profile that pins it."""
    big = install(lab._client("udp_probe"), os.path.join(lab.tmp, "bin", "big", "udp_probe"))
    with open(big, "r+b") as f:
        f.truncate(os.path.getsize(big) + (448 << 20))
    _reachable_by_everyone(lab, big)
    written = time.monotonic()
    digest = hashlib.sha256()
    with open(big, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    # A hash is cached once its file has not changed for 2 s (FileIdentity::settledAt).
    time.sleep(max(0.0, written + 2.5 - time.monotonic()))
    d = profiled(lab, wardend, cgroup, {"pinned": ("allow", {"sha256": [digest.hexdigest()]})},
                 unknown="deny", default="deny", fail="open")
    first = probe_as_nobody(lab, cgroup, big, 7000)
    waits = d.status()["attribution"].get("hash_waits", {})
    assert first != "reply", (
        f"the first flow waited for the hash on the worker: {first}; hash_waits {waits}")
    def hashed():
        return d.status()["attribution"].get("hash_waits", {}).get("under_way", 0) == 0
    assert wait_until(hashed, timeout=60, interval=0.2), d.status()["attribution"]
    second = probe_as_nobody(lab, cgroup, big, 7001)
    rows = logged_rows(d, [7000, 7001])
    assert rows, "no log rows"
    by_port = {r["remote_port"]: r for r in rows}
    print(f"first {first}, second {second}; hash_waits {waits}; "
          f"{[(p, r.get('decided_by'), r.get('profile')) for p, r in by_port.items()]}")
    assert by_port[7000].get("decided_by") == "unknown", by_port[7000]
    assert second == "reply" and by_port[7001].get("profile") == "pinned", (second, by_port)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def handled_execs(d):
    p = d.status()["attribution"]["processes"]
    return p["completed_at_exec"] + p["gone_before_proc"] + p["described_before_exec"]


@pytest.mark.parametrize("heavy", [pytest.param(False, id="control-small-argv"),
                                   pytest.param(True, id="huge-argv-and-environment")])
def test_processes_of_huge_argv_and_environment_cost_wardend_little(lab, cgroup, wardend, heavy):
    """SPEC 9 and 10: hostile input never makes wardend grow without bound. 12 sleeping
    processes of nobody, each exec'd with 128 Ki one-byte arguments and 32 Ki tiny variables
    (each costs its user about 2 MiB of stack). wardend kept argv three times over as lists
    of strings and the environment as a map of every variable: 150 MB more. It now keeps the
    command line and the log's argv (256 KiB each at most), the first 1,024 arguments and the
    first 1,024 variables: about 1.5 MB a process."""
    program = install(lab._client("heavy_exec"),
                      os.path.join(lab.tmp, "bin", "heavy", "heavy_exec"))
    _reachable_by_everyone(lab, program)
    d = profiled(lab, wardend, cgroup, {})
    time.sleep(0.5)
    before = rss_kb(d.proc.pid)
    execs = handled_execs(d)
    nargs, nvars = (128 * 1024, 32 * 1024) if heavy else (4, 4)
    holder = lab.c.spawn(in_cgroup(cgroup, NOBODY + [program, "hold", "12", "20000", str(nargs),
                                                     str(nvars)]), "hold", lines=True)
    try:
        assert holder.wait_line(lambda t: t.startswith("started"), timeout=20), \
            holder.stderr_text()
        assert wait_until(lambda: handled_execs(d) >= execs + 12, timeout=60, interval=0.05), \
            d.status()["attribution"]["processes"]
        time.sleep(1.0)
        grown = (rss_kb(d.proc.pid) - before) / 1024
        print(f"wardend RSS +{grown:.1f} MB for 12 processes")
        assert grown <= 24, f"12 processes of nobody grew wardend's RSS by {grown:.0f} MB"
    finally:
        holder.kill()


@needs_userns
def test_a_process_stuck_in_execve_under_a_dead_wardends_pid_does_not_hold_the_next(
        lab, cgroup, wardend):
    """wardend is killed (a crash, or the watchdog's SIGKILL), and systemd starts the next. The
    table records its owner by pid and start time, and the next wardend reads that pid's stat
    to tell a running owner from a dead one. nobody's process stuck in execve with the dead
    wardend's pid (pids are reused; here the test hands it the pid through ns_last_pid, which
    a user gets by forking until the pid comes round) made that read wait for good: the next
    wardend never served its queues, and `fail` decided every new flow."""
    bins = udp_twins(lab)
    first = profiled(lab, wardend, cgroup, twin_profiles(bins), fail="open")
    dead = first.proc.pid
    os.kill(dead, signal.SIGKILL)
    first.proc.popen.wait(timeout=10)
    stuck = StuckExec(lab, cgroup, "stall", pid=dead)
    try:
        assert stuck.child == dead and (stuck.comm or "").startswith("python"), stuck.comm
        t0 = time.monotonic()
        write_profiles(lab, twin_profiles(bins), tag="wardend1")  # the next one's directory
        d = attributing(lab, wardend, cgroup, fail="open")
        print(f"the next wardend was ready in {time.monotonic() - t0:.2f} s")
        decides(lab, cgroup, bins, d)
    finally:
        stuck.close()
