"""The control socket under clients that misbehave, as a stuck script or a hostile root process
would: clients that connect and say nothing (more of them than the daemon serves at once), a
request line that never ends, a client that asks and never reads the answer. None of them may
hold up `warden status`, a SIGHUP or file-change reload, or shutdown; each is cut off at its
deadline or bound, and wardend's descriptors and memory do not grow with them."""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_daemon import warden_tables
from warden_expect import wait_until

# wardend's bounds (engine/daemon/control_session.h, ControlLimits).
MAX_CLIENTS = 32
DEADLINE_S = 3
# "Promptly": a status answer takes milliseconds; this leaves room for a loaded machine.
PROMPT_S = 2.0
STATUS_LINE = json.dumps({"version": 1, "command": "status"}).encode() + b"\n"


def connect(d, timeout=1.0):
    """A connected client, as `warden` connects: a blocking connect, which waits for room in a
    full backlog, bounded by SO_SNDTIMEO (Python's settimeout would fail at once there)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    whole = int(timeout)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                 struct.pack("ll", whole, int((timeout - whole) * 1e6)))
    try:
        s.connect(d.socket_path)
    except OSError:
        s.close()
        raise
    return s


def hold_idle(d, count):
    """count connected clients that send nothing. Those the daemon never accepts (its backlog
    full and nothing taken from it) are not returned."""
    held = []
    for _ in range(count):
        try:
            held.append(connect(d, timeout=0.5))
        except OSError:
            pass
    return held


def close_all(socks):
    for s in socks:
        s.close()


def timed_status(d):
    """`warden status --json`, as a user asks, and how long it took."""
    start = time.monotonic()
    res = cli(d, "status", "--json")
    took = time.monotonic() - start
    assert res.returncode == 0, f"warden status failed after {took:.1f} s: {res.stderr}"
    return json.loads(res.stdout), took


def read_until_closed(s, timeout):
    """Everything the daemon sends until it closes the connection; None if it did not close it
    within timeout."""
    s.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None


def lines_after(d, mark, text):
    return [l for l in d.stderr()[mark:].splitlines() if text in l]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_idle_clients_hold_up_no_status_reload_or_shutdown(lab, wardend):
    d = wardend()
    idle = hold_idle(d, MAX_CLIENTS + 8)  # more than the old backlog of 16, and the bound
    try:
        assert len(idle) == MAX_CLIENTS + 8, "every client should be accepted (the oldest closed)"
        status, took = timed_status(d)
        assert took < PROMPT_S, f"status took {took:.1f} s behind idle clients"
        control = status["control"]
        assert control["clients"] <= MAX_CLIENTS, control
        assert control["evicted"] >= 9, control  # 8 idle ones and one more for status itself

        # A reload for changed policy files, and one for SIGHUP, while idle clients wait.
        mark = len(d.stderr())
        d.write_config(engine={"mode": "learn"})
        assert wait_until(lambda: lines_after(d, mark, "policy files changed: reloading"),
                          timeout=PROMPT_S + 0.2), d.stderr()[mark:]
        assert wait_until(lambda: lines_after(d, mark, "reloaded "), timeout=PROMPT_S), \
            d.stderr()[mark:]
        close_all(idle)
        idle = hold_idle(d, MAX_CLIENTS)
        mark = len(d.stderr())
        d.hup()
        assert wait_until(lambda: lines_after(d, mark, "reloaded "), timeout=PROMPT_S), \
            f"no SIGHUP reload within {PROMPT_S} s behind idle clients:\n{d.stderr()[mark:]}"
        assert lines_after(d, mark, "SIGHUP: reloading")
        assert timed_status(d)[0]["mode"] == "learn"

        close_all(idle)
        idle = hold_idle(d, MAX_CLIENTS)
        start = time.monotonic()
        assert d.terminate(timeout=10) == 0, d.stderr()
        took = time.monotonic() - start
        assert took < PROMPT_S, f"SIGTERM took {took:.1f} s behind idle clients"
        assert warden_tables(lab.c) == []
        assert not os.path.exists(d.socket_path)
    finally:
        close_all(idle)


def test_idle_clients_are_closed_at_their_deadline_and_counted(lab, wardend):
    d = wardend()
    idle = hold_idle(d, 3)
    try:
        idle[0].sendall(b'{"version":1,')  # a part of a request, never its end
        for s in idle:
            got = read_until_closed(s, timeout=DEADLINE_S + 2)
            assert got == b"", f"an idle client was not closed at its deadline: {got!r}"
        control = timed_status(d)[0]["control"]
        assert control["request_late"] == 3, control
        assert control["clients"] == 1, control  # the one asking
    finally:
        close_all(idle)


def test_a_request_line_without_end_is_cut_off(lab, wardend):
    d = wardend()
    rss_before = rss_kb(d.proc.pid)
    stop = threading.Event()
    trickler = connect(d)
    trickler.sendall(b'{"version":1,"command":"status",')

    def trickle():  # one byte a tenth of a second, never a newline
        try:
            while not stop.wait(0.1):
                trickler.send(b" ")
        except OSError:
            pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    floods = []
    try:
        # Megabytes without a newline: each is refused at the bound and read no further.
        for _ in range(8):
            flood = connect(d, timeout=5)
            floods.append(flood)
            try:
                flood.sendall(b"x" * (8 << 20))
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):  # cut off, or stuck
                pass
            answer = read_until_closed(flood, timeout=PROMPT_S)
            assert answer is not None and b"request longer than 65536 bytes" in answer, answer
        status, took = timed_status(d)
        assert took < PROMPT_S, f"status took {took:.1f} s behind a client that trickles"
        assert status["control"]["request_too_long"] == 8, status["control"]
        assert read_until_closed(trickler, timeout=DEADLINE_S + 2) is not None, \
            "a trickling client was not cut off at its deadline"
        grew = rss_kb(d.proc.pid) - rss_before
        assert grew < 8 * 1024, f"wardend grew {grew} kB taking 64 MB of unended lines"
        assert d.alive()
    finally:
        stop.set()
        thread.join(2)
        trickler.close()
        close_all(floods)


def test_a_client_that_never_reads_its_answer_holds_up_no_one(lab, wardend):
    d = wardend()
    # A process whose command line (256 kB kept by wardend) makes an answer larger than the
    # socket's buffer: the daemon can write only a part of it to a client that does not read.
    args = [c * 100_000 for c in "abc"]
    big = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"] + args)
    deaf = None
    try:
        # Big only once wardend has read the new process's command line (on a loaded machine
        # the first explain may come before that, and its short answer fits any buffer).
        assert wait_until(lambda: len(cli(d, "explain", str(big.pid), "--json").stdout) > 200_000,
                          timeout=10), "wardend never described the process with the long argv"
        deaf = connect(d)
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf.sendall(json.dumps({"version": 1, "command": "explain", "pid": big.pid}).encode()
                     + b"\n")
        time.sleep(0.2)  # the daemon has made its answer and written what fits
        status, took = timed_status(d)
        assert took < PROMPT_S, f"status took {took:.1f} s behind a client that never reads"
        assert status["control"]["clients"] == 2, status["control"]  # the deaf one, and this
        assert wait_until(lambda: timed_status(d)[0]["control"]["answer_not_taken"] == 1,
                          timeout=DEADLINE_S + 2), "a client that never read was not cut off"
        # Read only now: what the daemon had written before it closed the connection.
        partial = read_until_closed(deaf, timeout=1)
        assert partial is not None, "the connection of a client that never read is still open"
        assert partial.startswith(b'{"ok":true') and not partial.endswith(b"\n"), partial[:200]
        assert 0 < len(partial) < 200_000, len(partial)
    finally:
        big.kill()
        big.wait()
        if deaf:
            deaf.close()


def test_many_clients_leave_no_descriptors_or_memory_behind(lab, wardend):
    d = wardend()
    pid = d.proc.pid
    timed_status(d)[0]  # anything a first answer allocates once
    fds_before, rss_before = fd_count(pid), rss_kb(pid)
    most_fds = 0
    for _ in range(5):
        idle = hold_idle(d, 100)
        try:
            assert len(idle) == 100
            most_fds = max(most_fds, fd_count(pid))
            timed_status(d)[0]
        finally:
            close_all(idle)
    # Room for two transient descriptors: a connection accepted before the oldest is closed for
    # it, and whatever the other threads have open at that moment (a /proc file).
    assert most_fds <= fds_before + MAX_CLIENTS + 2, (fds_before, most_fds)
    assert wait_until(lambda: fd_count(pid) == fds_before, timeout=DEADLINE_S + 2), \
        (fds_before, fd_count(pid))
    grew = rss_kb(pid) - rss_before
    assert grew < 4 * 1024, f"wardend grew {grew} kB serving 500 idle clients"
    assert timed_status(d)[0]["control"]["clients"] == 1
