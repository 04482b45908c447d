"""Attacks on the packet path (SPEC section 6) by a process that holds only CAP_NET_RAW and runs
as nobody: marking its own packets with warden's "accepted" value (SO_MARK, the SO_MARK control
message of sendmsg, a raw socket), tagging them as DNS replies, and sending TCP segments that
conntrack calls invalid. None of it may get a packet past the table without a decision."""
import os
import time

import pytest

from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import PYTHON, S4, S6, clients_dir

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = 0x00F00000  # the default mark_mask
ACCEPT, REJECT, DNS_TAG = 0x00100000, 0x00200000, 0x00300000
DENIED_PORT, ALLOWED_PORT = 7000, 7001
# The attacker: nobody, with CAP_NET_RAW as its only capability (enough for SO_MARK, the
# SO_MARK control message and raw sockets).
ATTACKER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw",
            "--bounding-set=-all,+net_raw"]


def denying(wardend, tag="wardend", **engine):
    """Everything denied but the allowed port, whatever attribution finds."""
    eng = {"default": "deny", "unknown": "deny", "kernel": "deny"}
    eng.update(engine)
    return wardend(tag=tag, engine=eng, rules=[
        {"action": "allow", "proto": "any", "ports": ALLOWED_PORT, "comment": "control"}])


def forge(lab, host, port, mode, mark=0, flags=None, timeout_ms=DROP_WAIT_MS):
    argv = ATTACKER + [os.path.join(clients_dir(), "forge_probe"), host, str(port), mode,
                       "--mark", hex(mark), "--timeout-ms", str(timeout_ms)]
    if flags:
        argv += ["--flags", flags]
    res = lab.c.run(argv, timeout=timeout_ms / 1000 + 10, check=False)
    words = res.stdout.split()
    assert words, f"forge_probe printed nothing: rc {res.returncode}, {res.stderr!r}"
    return words[0], res


@pytest.fixture(autouse=True)
def _attacker_can_run():
    """The attacker runs the probe as nobody: it must be able to reach the binary."""
    path = os.path.join(clients_dir(), "forge_probe")
    if not os.access(path, os.X_OK):
        pytest.fail(f"forge_probe not built in {clients_dir()}")


SOCKET_MODES = ["tcp-sockopt", "udp-sockopt", "udp-cmsg", "raw-udp"]
OK = {"tcp-sockopt": "connected", "udp-sockopt": "reply", "udp-cmsg": "reply",
      "raw-udp": "reply"}


@pytest.mark.parametrize("mode", SOCKET_MODES)
def test_a_forged_accept_mark_gets_no_flow_through(lab, wardend, mode):
    d = denying(wardend)
    # The probe works and its own mark bits outside warden's mask are left alone: the same
    # attacker reaches the port the policy allows, with a foreign mark bit set.
    outcome, res = forge(lab, S4, ALLOWED_PORT, mode, mark=0x1, timeout_ms=3000)
    assert outcome == OK[mode], res
    for mark in (ACCEPT, DNS_TAG, ACCEPT | 0x1, MASK):
        outcome, res = forge(lab, S4, DENIED_PORT, mode, mark=mark)
        assert outcome in ("timeout", "blocked"), f"mark {mark:#x}: {outcome} {res}"
    totals = d.status()["totals"]
    assert totals["deny"] >= 4, totals  # each was decided (and denied), none waved through


@pytest.mark.parametrize("mode", ["tcp-sockopt", "udp-sockopt", "udp-cmsg"])
def test_a_forged_accept_mark_gets_no_ipv6_flow_through(lab, wardend, mode):
    denying(wardend)
    assert forge(lab, S6, ALLOWED_PORT, mode, mark=0x1, timeout_ms=3000)[0] == OK[mode]
    outcome, res = forge(lab, S6, DENIED_PORT, mode, mark=ACCEPT)
    assert outcome in ("timeout", "blocked"), res


def test_a_forged_reject_mark_only_hurts_the_forger(lab, wardend):
    """The reject bit on one's own packets is no bypass: the flow is still decided, and an
    allowed flow still gets through (the mark is cleared before the table reads it)."""
    denying(wardend)
    assert forge(lab, S4, ALLOWED_PORT, "tcp-sockopt", mark=REJECT, timeout_ms=3000)[0] == \
        "connected"


@pytest.fixture
def raw_listener(lab):
    p = lab.s.spawn([PYTHON, os.path.join(HERE, "servers", "raw_listener.py")], "raw-listener",
                    lines=True)
    if p.wait_line(lambda t: t == "ready", timeout=10) is None:
        raise RuntimeError(f"raw listener did not start: {p.stderr_text()}")
    return p


# TCP segments conntrack calls invalid when they open no known flow.
INVALID_FLAGS = ["none", "SF", "F", "R", "FPU", "SFRPAU"]


def test_invalid_tcp_segments_are_dropped_and_counted(lab, wardend, raw_listener):
    d = denying(wardend)
    # The control: a valid SYN with a payload to the allowed port arrives.
    assert forge(lab, S4, ALLOWED_PORT, "raw-tcp", flags="S")[0] == "sent"
    assert raw_listener.wait_line(lambda t: t == f"got {ALLOWED_PORT} S", timeout=3), \
        raw_listener.lines
    for flags in INVALID_FLAGS:
        for port in (ALLOWED_PORT, DENIED_PORT):
            # "blocked": netfilter dropped the segment inside sendto (EPERM)
            assert forge(lab, S4, port, "raw-tcp", flags=flags)[0] in ("sent", "blocked")
    time.sleep(1)
    arrived = [t for _, t in raw_listener.lines if t.startswith("got") and t != f"got {ALLOWED_PORT} S"]
    assert arrived == [], f"invalid segments got through: {arrived}"
    totals = wait_until(lambda: (lambda t: t if t["invalid"] >= 2 * len(INVALID_FLAGS) else None)(
        d.status()["totals"]), timeout=3)
    assert totals, d.status()["totals"]
    assert d.status()["invalid"] == "drop"


def test_invalid_accept_lets_them_pass_but_counts_them(lab, wardend, raw_listener):
    d = denying(wardend, invalid="accept")
    assert forge(lab, S4, DENIED_PORT, "raw-tcp", flags="none")[0] == "sent"
    assert raw_listener.wait_line(lambda t: t == f"got {DENIED_PORT} none", timeout=3), \
        raw_listener.lines
    assert wait_until(lambda: d.status()["totals"]["invalid"] >= 1, timeout=3)
    assert d.status()["invalid"] == "accept"


def test_a_flow_that_passed_undecided_is_decided_at_its_next_packet(lab, wardend):
    """A flow that no wardend decided (opened while none ran, or passed while the queue was
    full and `fail = "open"`) is decided at its next packet, not kept open for good."""
    # A wardend that crashed left its table: with fail open the queue is bypassed, and the
    # sessions opened now pass undecided (conntrack remembers them, with no verdict).
    denying(wardend, tag="crashed").kill9()
    denied = lab.tcp_session(S4, DENIED_PORT, interval_ms=100, tag="before-denied")
    allowed = lab.tcp_session(S4, ALLOWED_PORT, interval_ms=100, tag="before-allowed")
    d = denying(wardend)
    assert wait_until(lambda: any(t.startswith("fail") for _, t in denied.lines), timeout=5), \
        denied.lines[-3:]
    time.sleep(0.5)
    started = len(allowed.lines)
    time.sleep(1)
    recent = [t for _, t in allowed.lines[started:]]
    assert recent and not any(t.startswith("fail") for t in recent), recent
    totals = d.status()["totals"]
    assert totals["deny"] >= 1 and totals["allow"] >= 1, totals
