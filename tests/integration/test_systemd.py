"""wardend under systemd, with the real daemon and without systemd: the notify socket the unit's
Type=notify and WatchdogSec= give it (READY=1, STATUS=, WATCHDOG=1 at half the interval,
STOPPING=1), played by a datagram socket the test binds; and its log lines with syslog
priorities when JOURNAL_STREAM says its stderr is the journal."""
import os
import re
import signal
import socket
import threading
import time

import pytest

from warden_daemon import render_config
from warden_expect import wait_until
from warden_sanitizer import SANITIZE

DENY_7001 = {"action": "deny", "proto": "tcp", "ports": 7001}


class NotifySocket:
    """What systemd's end of NOTIFY_SOCKET would receive: (monotonic time, field, value) per
    line of each datagram, collected by a thread."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._lock:
                for line in data.decode(errors="replace").splitlines():
                    field, _, value = line.partition("=")
                    self.messages.append((now, field, value))

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def values(self, field, since=0.0):
        with self._lock:
            return [v for t, f, v in self.messages if f == field and t >= since]

    def times(self, field, since=0.0):
        with self._lock:
            return [t for t, f, _ in self.messages if f == field and t >= since]


@pytest.fixture
def notify(lab):
    n = NotifySocket(lab.tmp)
    try:
        yield n
    finally:
        n.close()


def test_ready_status_watchdog_pings_and_stopping(lab, wardend, notify):
    # A 1 s watchdog interval: WATCHDOG=1 every 0.5 s while every worker runs.
    d = wardend(rules=[DENY_7001],
                env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
    assert wait_until(lambda: notify.values("READY"), timeout=5) == ["1"], notify.messages
    status = notify.values("STATUS")
    assert status and re.fullmatch(r"policy revision \d+, 0 profiles, queues 0-1, mode enforce",
                                   status[-1]), status
    revision = int(re.search(r"revision (\d+)", status[-1]).group(1))

    start = time.monotonic()
    time.sleep(3.2)
    pings = notify.times("WATCHDOG", since=start)
    # 6 expected in 3.2 s; a loaded machine may lose one or two, never double them. A
    # sanitizer's slower control loop gets more slack, but no more pings either.
    slack = 0.4 if SANITIZE else 0.0
    assert (3 if SANITIZE else 4) <= len(pings) <= 7, \
        f"{len(pings)} WATCHDOG=1 in 3.2 s:\n{d.stderr()}"
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert all(0.3 < g < 0.9 + slack for g in gaps), gaps

    # A refused reload says so, with the revision that stays and the first error.
    d.write_config(text=render_config(d.dir, rules=[DENY_7001]) + '\n[[rule]]\naction = "permit"\n')
    d.hup()
    refused = wait_until(lambda: [s for s in notify.values("STATUS") if "refused" in s], timeout=5)
    assert refused, notify.values("STATUS")
    assert refused[-1].startswith(f"policy revision {revision}, 0 profiles, queues 0-1, "
                                  "mode enforce; reload refused: " + d.config_path + ":"), refused
    # A good one afterwards: the new revision, and the refusal no more.
    d.write_config(rules=[DENY_7001], engine={"mode": "learn"})
    d.hup()
    learn = wait_until(lambda: [s for s in notify.values("STATUS") if "mode learn" in s],
                       timeout=5)
    assert learn and learn[-1] == (f"policy revision {revision + 1}, 0 profiles, queues 0-1, "
                                   "mode learn"), notify.values("STATUS")

    # A stopped wardend feeds no watchdog (systemd would restart it); resumed, it does again.
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        time.sleep(1.5)
        assert notify.times("WATCHDOG", since=stopped + 0.05) == []
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    resumed = time.monotonic()
    assert wait_until(lambda: notify.times("WATCHDOG", since=resumed), timeout=3)

    assert notify.values("STOPPING") == []
    assert d.terminate() == 0, d.stderr()
    assert notify.values("STOPPING") == ["1"]


def test_no_watchdog_pings_unless_systemd_asks(lab, wardend, notify):
    wardend(rules=[DENY_7001], env={"NOTIFY_SOCKET": notify.path})
    assert wait_until(lambda: notify.values("READY"), timeout=5) == ["1"]
    time.sleep(1.5)
    assert notify.values("WATCHDOG") == []


def test_priorities_when_stderr_is_the_journal(lab, wardend):
    # The file the harness will give wardend as stderr (it opens it again without a new
    # inode), named in JOURNAL_STREAM as systemd names the journal's stream.
    stderr_path = os.path.join(lab.tmp, "wardend.stderr")
    open(stderr_path, "wb").close()
    st = os.stat(stderr_path)
    d = wardend(wait_ready=False, rules=[DENY_7001],
                env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert d.proc.stderr_path == stderr_path
    assert wait_until(lambda: re.search(r"^<6>ready: queues 0-1, ", d.stderr(), re.M),
                      timeout=10), d.stderr()
    d.write_config(text=render_config(d.dir, rules=[DENY_7001]) + '\n[[rule]]\naction = "permit"\n')
    d.hup()
    assert wait_until(lambda: re.search(r"^<3>reload refused: policy revision \d+ stays in force$",
                                        d.stderr(), re.M), timeout=5), d.stderr()
    assert re.search(r"^<3>" + re.escape(d.config_path) + r":\d+:\d+: error: ", d.stderr(), re.M)
    # Every line carries a priority: none falls back to journald's default.
    lines = d.stderr().splitlines()
    assert lines and all(re.match(r"<[3467]>", line) for line in lines), lines


def test_plain_lines_when_journal_stream_names_another_file(lab, wardend):
    # Inherited from a service whose stderr was the journal, but stderr is now elsewhere.
    other = os.path.join(lab.tmp, "not-stderr")
    open(other, "wb").close()
    st = os.stat(other)
    d = wardend(rules=[DENY_7001], env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert "<6>" not in d.stderr() and "wardend: info: ready" in d.stderr()


PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000


class StoppedThread:
    """One thread of a process stopped alone (ptrace: seized and interrupted), the others
    running on: a hung thread, as a worker stuck in a syscall would be. Released by detaching
    (also by the kernel, should the test die)."""

    def __init__(self, tid):
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                     ctypes.c_void_p]
        self.tid = tid
        self._call(PTRACE_SEIZE)
        self._call(PTRACE_INTERRUPT)
        os.waitpid(tid, WALL)  # the thread is in its ptrace stop

    def _call(self, request):
        import ctypes
        if self.libc.ptrace(request, self.tid, None, None) != 0:
            raise OSError(ctypes.get_errno(), f"ptrace {request:#x} of thread {self.tid}")

    def release(self):
        self._call(PTRACE_DETACH)


def thread_named(pid, name):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError(f"no thread {name} in wardend {pid}")


def test_a_hung_queue_worker_stops_the_watchdog_pings(lab, wardend, notify):
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if f.read().strip() == "3":
                pytest.skip("ptrace is switched off here (kernel.yama.ptrace_scope = 3)")
    except FileNotFoundError:
        pass
    d = wardend(rules=[DENY_7001],
                env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
    assert wait_until(lambda: notify.times("WATCHDOG"), timeout=3), d.stderr()
    worker = StoppedThread(thread_named(d.proc.pid, "wardend-q1"))
    try:
        hung = time.monotonic()
        # Stale 10 s (Watchdog::kStaleAfter) after the worker's last turn: pings go on until
        # then, and then stop. An idle worker turns once a second, so its last turn may be up
        # to a second before it was stopped.
        stale = wait_until(lambda: "has not run for" in d.stderr(), timeout=17)
        assert stale, d.stderr()
        assert 8.5 < time.monotonic() - hung < (16 if SANITIZE else 13)
        assert re.search(r"^wardend: error: watchdog: the worker of NFQUEUE 1 has not run for "
                         r"1\d s; no WATCHDOG=1 any more", d.stderr(), re.M), d.stderr()
        quiet = time.monotonic()
        time.sleep(2)
        assert notify.times("WATCHDOG", since=quiet) == []
        assert any("the worker of NFQUEUE 1 has not run for" in s and s.endswith(
            "watchdog not fed") for s in notify.values("STATUS", since=quiet - 1)), \
            notify.values("STATUS")
        assert d.alive()
    finally:
        worker.release()
    resumed = time.monotonic()
    assert wait_until(lambda: notify.times("WATCHDOG", since=resumed), timeout=3), d.stderr()
    assert "WATCHDOG=1 resumed" in d.stderr()
    assert notify.values("STATUS")[-1] == notify.values("STATUS")[0]  # as at ready


def test_a_refused_start_says_why_in_status(lab, notify):
    from warden_daemon import Daemon
    d = Daemon(lab, tag="refused")
    d.write_config(text=render_config(d.dir, rules=[DENY_7001]) + '\n[[rule]]\naction = "permit"\n')
    d.start(wait_ready=False, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
    assert d.proc.wait(10) == 1, d.stderr()
    status = wait_until(lambda: notify.values("STATUS"), timeout=2)
    assert status and status[-1].startswith("not starting: policy refused: " + d.config_path + ":"), \
        status
    assert notify.values("READY") == [] and notify.values("WATCHDOG") == []
