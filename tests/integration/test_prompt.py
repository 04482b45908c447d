"""`warden prompt` end to end: the real wardend in a lab namespace, the real `warden prompt` on a
pseudo-terminal (keys typed into it, its screen read back), and real TCP clients of a program no
profile matches (tcp_probe) connecting to a server that reports every connection it accepts."""
import os
import pty
import select
import signal
import time

import pytest

from warden_cli import cli, warden_cli
from warden_lab import PYTHON, S4

PORT = 7100
# Prints "accepted" for each TCP connection it accepts on PORT, and "ready" once listening.
SERVER = f"""
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", {PORT}))
s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    print("accepted", peer[0], flush=True)
    c.close()
"""


class PromptTerminal:
    """`warden prompt` on a pseudo-terminal of its own (it is the session leader, the terminal
    its controlling one, so that Ctrl-C typed into it is a SIGINT as at a real terminal)."""

    def __init__(self, config_path):
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execv(warden_cli(), [warden_cli(), "prompt", "--config", config_path])
            finally:
                os._exit(127)
        self.pid, self.fd, self.screen, self.status = pid, fd, "", None

    def _read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the program ended and the terminal closed
            return False
        self.screen += data.decode(errors="replace")
        return bool(data)

    def wait_for(self, text, timeout=10, after=0):
        """Waits until `text` is on the screen past offset `after`; returns its offset."""
        deadline = time.monotonic() + timeout
        while True:
            at = self.screen.find(text, after)
            if at >= 0:
                return at
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never shown; the screen:\n{self.screen}")
            if not self._read(min(left, 0.2)) and self.exited():
                raise AssertionError(f"warden prompt exited {self.status}:\n{self.screen}")

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(deadline - time.monotonic())

    def type(self, keys):
        os.write(self.fd, keys.encode())

    def exited(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def wait_exit(self, timeout=5):
        deadline = time.monotonic() + timeout
        while not self.exited() and time.monotonic() < deadline:
            self._read(0.1)
        # What it wrote just before it ended may still wait in the terminal: read it too (a
        # test once missed the "leaving" line this way).
        while self._read(0):
            pass
        return self.status

    def close(self):
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def terminals():
    made = []

    def start(daemon):
        t = PromptTerminal(daemon.config_path)
        made.append(t)
        t.wait_for("waiting for questions")
        return t

    yield start
    for t in made:
        t.close()


@pytest.fixture
def server(lab):
    p = lab.s.spawn([PYTHON, "-c", SERVER], "accepting", lines=True)
    if p.wait_line(lambda t: t == "ready", timeout=10) is None:
        raise RuntimeError(f"server did not start: {p.stderr_text()}")
    return p


def accepted(server):
    return [t for t in server.stdout_text().splitlines() if t.startswith("accepted")]


def wait_accepted(server, count, timeout=5):
    """Waits until the server has reported `count` connections (its lines come through a
    reader thread); returns how many it reported."""
    deadline = time.monotonic() + timeout
    while len(accepted(server)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(accepted(server))


def probe(lab, timeout_ms=15000):
    """tcp_probe (no profile matches it) to the server, in the background."""
    return lab.c.spawn([lab._client("tcp_probe"), S4, str(PORT), "--timeout-ms", str(timeout_ms)],
                       f"probe-{len(lab.procs)}", lines=True)


def outcome(p, timeout=20):
    line = p.wait_line(lambda t: bool(t.strip()), timeout=timeout)
    return line.split()[0] if line else None


def start_daemon(wardend, default="deny", timeout=20, hold=64):
    return wardend(engine={"default": default},
                   extra=f"[prompt]\ntimeout = {timeout}\nhold = {hold}\n")


def test_a_held_flow_waits_for_allow_once(lab, wardend, terminals, server):
    d = start_daemon(wardend)
    t = terminals(d)
    p = probe(lab)
    at = t.wait_for("question 1:")
    t.wait_for("a allow once", after=at)
    assert "tcp_probe" in t.screen[at:] and f"{S4}:{PORT}" in t.screen[at:]
    # Held: the probe waits, and nothing reached the server. (While its SYN is held the kernel
    # sends it no more: TCP does not retransmit a packet still queued in the host.)
    time.sleep(2.5)
    assert p.alive() and p.stdout_text() == ""
    assert accepted(server) == []
    t.type("a")
    assert outcome(p) == "connected"
    t.wait_for("question 1: allowed once")
    assert wait_accepted(server, 1) == 1
    status = d.status()["prompt"]
    assert status["questions"] == 1 and status["answers"] == 1 and status["clients"] == 1
    # The writer thread stores rows in batches: wait for the flow's.
    deadline = time.monotonic() + 5
    while True:
        rows = cli(d, "log", "--json", "--no-pager").stdout.splitlines()
        if any('"decided_by":"prompt"' in r.replace(" ", "") and '"allow"' in r for r in rows):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)


def test_deny_once_refuses_and_the_syns_sent_again_are_not_asked_again(lab, wardend, terminals,
                                                                        server):
    d = start_daemon(wardend, default="allow")
    t = terminals(d)
    p = probe(lab, timeout_ms=4000)
    t.wait_for("question 1:")
    t.type("d")
    t.wait_for("question 1: denied once")
    assert outcome(p) == "timeout"
    assert accepted(server) == []
    t.drain(0.5)
    assert "question 2:" not in t.screen
    assert d.status()["prompt"]["questions"] == 1


def test_no_answer_in_time_gives_the_engine_verdict(lab, wardend, terminals, server):
    d = start_daemon(wardend, default="allow", timeout=2)
    t = terminals(d)
    start = time.monotonic()
    p = probe(lab)
    t.wait_for("question 1:")
    assert outcome(p) == "connected"
    assert time.monotonic() - start >= 1.8
    t.wait_for("no answer in time")
    assert d.status()["prompt"]["timeouts"] == 1


def test_without_a_prompt_client_nothing_waits(lab, wardend, server):
    d = start_daemon(wardend, default="allow")
    start = time.monotonic()
    assert outcome(probe(lab)) == "connected"
    assert time.monotonic() - start < 1.5
    assert d.status()["prompt"]["questions"] == 0


def test_two_prompt_clients_the_first_answer_wins(lab, wardend, terminals, server):
    d = start_daemon(wardend)
    first, second = terminals(d), terminals(d)
    p = probe(lab)
    first.wait_for("question 1:")
    second.wait_for("question 1:")
    second.type("a")
    second.wait_for("question 1: allowed once")
    assert outcome(p) == "connected"
    first.wait_for("question 1 (")
    first.wait_for("answered elsewhere")
    # A key pressed late, on the screen that still showed nothing new: nothing to answer.
    first.type("d")
    first.drain(0.5)
    assert d.status()["prompt"]["answers"] == 1


def test_until_restart_applies_to_the_next_flow_without_a_question(lab, wardend, terminals,
                                                                     server):
    d = start_daemon(wardend)
    t = terminals(d)
    p = probe(lab)
    t.wait_for("question 1:")
    t.type("r")
    assert outcome(p) == "connected"
    start = time.monotonic()
    assert outcome(probe(lab)) == "connected"
    assert time.monotonic() - start < 1.5
    t.drain(0.5)
    assert "question 2:" not in t.screen
    status = d.status()["prompt"]
    assert status["questions"] == 1 and status["remembered_decisions"] == 1
    assert wait_accepted(server, 2) == 2


def test_ctrl_c_leaves_and_what_waits_gets_the_engine_verdict_at_once(lab, wardend, terminals,
                                                                       server):
    d = start_daemon(wardend, default="allow", timeout=60)
    t = terminals(d)
    p = probe(lab)
    t.wait_for("question 1:")
    t.type("\x03")
    assert t.wait_exit() == 0
    assert "leaving" in t.screen
    start = time.monotonic()
    assert outcome(p, timeout=5) == "connected"
    assert time.monotonic() - start < 3
    status = d.status()["prompt"]
    assert status["released"] == 1 and status["clients"] == 0


def test_prompt_needs_a_terminal(lab, wardend):
    d = start_daemon(wardend)
    res = cli(d, "prompt")
    assert res.returncode == 1
    assert "needs a terminal" in res.stderr


def test_always_answers_at_once_and_writes_a_profile_for_the_next_flows(lab, wardend, terminals,
                                                                         server):
    d = start_daemon(wardend)
    t = terminals(d)
    p = probe(lab)
    t.wait_for("question 1:")
    t.type("A")
    assert outcome(p) == "connected"
    t.wait_for("writing the rule: warden allow ")
    at = t.wait_for("question 1: allowed always")
    assert "the rule was not written" not in t.screen, t.screen
    profiles = os.path.join(d.dir, "profiles.d")
    written = [open(os.path.join(profiles, f)).read() for f in sorted(os.listdir(profiles))]
    assert any("tcp_probe" in w and "7100" in w and S4 in w for w in written), written
    # Once wardend has reloaded, the program has a profile: its next flow is not asked about.
    deadline = time.monotonic() + 10
    while d.status()["policy"]["profiles"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert outcome(probe(lab)) == "connected"
    t.drain(0.5)
    assert "question 2:" not in t.screen[at:]
    assert d.status()["prompt"]["questions"] == 1


def test_ten_minutes_writes_a_rule_that_expires(lab, wardend, terminals, server):
    d = start_daemon(wardend, default="allow")
    t = terminals(d)
    p = probe(lab, timeout_ms=3000)
    t.wait_for("question 1:")
    t.type("T")
    t.wait_for("question 1: denied for 10 minutes")
    assert outcome(p) == "timeout"
    assert "--for 10m" in t.screen
    profiles = os.path.join(d.dir, "profiles.d")
    written = "".join(open(os.path.join(profiles, f)).read() for f in os.listdir(profiles))
    assert "expires" in written and '"deny"' in written, written
