"""Attacks on the packet path (SPEC section 6) by a process that holds only CAP_NET_RAW and runs
as nobody: marking its own packets with warden's "accepted" value (SO_MARK, the SO_MARK control
message of sendmsg, a raw socket), tagging them as DNS replies, sending TCP segments that
conntrack calls invalid, and sending another protocol behind what looks like a TCP header. None
of it may get a packet past the table without a decision, or on another flow's."""
import os
import socket
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


# Sends COUNT IPv6 packets of protocol PROTO to HOST from a raw socket: an 8-byte header that
# names TCP as the next one, then a TCP SYN from port 50000 to PORT, then MARKER.
DISGUISED_SENDER = """
import socket, struct, sys, time
host, port, proto, count, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    int(sys.argv[4]), sys.argv[5].encode()
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, proto)
header = bytes([socket.IPPROTO_TCP, 0, 0, 0, 0, 0, 0, 0])
syn = struct.pack("!HHIIBBHHH", 50000, port, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
sent = 0
for _ in range(count):
    try:
        s.sendto(header + syn + marker, (host, 0))
        sent += 1
    except PermissionError:
        pass  # dropped on the way out, inside sendto
    time.sleep(0.05)
print("sent", sent, flush=True)
"""
# Prints "ready", then "got PROTO" for each IPv6 packet on DEVICE that carries MARKER (read off
# the link, before the receiving stack looks at it).
LINK_COUNTER = """
import socket, sys
device, marker = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
s.bind((device, 0))
print("ready", flush=True)
while True:
    packet = s.recv(65535)
    if marker in packet:
        print("got", packet[6], flush=True)
"""


@pytest.mark.parametrize("protocol", [135, 139, 140])
def test_a_protocol_disguised_as_a_tcp_flow_the_policy_allows_gets_no_packet_through(
        lab, wardend, protocol):
    """IANA lists the mobility header (135), HIP (139) and shim6 (140) as IPv6 extension
    headers; to this kernel they are the packet's protocol (conntrack keys it by addresses and
    protocol only, and nothing walks past it to a TCP header). nobody, with CAP_NET_RAW, sends
    packets of such a protocol whose first bytes are a header naming TCP, then a SYN to the one
    port the policy allows TCP to. They are not that TCP flow: none may leave. The control: the
    same bytes behind a destination-options header (which the kernel does walk) are the TCP
    flow, and leave."""
    marker = f"warden-disguised-{os.getpid()}"
    wardend(engine={"default": "deny", "unknown": "deny", "kernel": "deny"}, rules=[
        {"action": "allow", "proto": "tcp", "ports": ALLOWED_PORT, "comment": "tcp only"}])
    counter = lab.s.spawn([PYTHON, "-c", LINK_COUNTER, "wts0", marker], "link-counter",
                          lines=True)
    assert counter.wait_line(lambda t: t == "ready", timeout=10), counter.stderr_text()

    def send(proto):
        res = lab.c.run(ATTACKER + [PYTHON, "-c", DISGUISED_SENDER, S6, str(ALLOWED_PORT),
                                    str(proto), "5", marker], timeout=20, check=False)
        assert res.stdout.startswith("sent"), (res.returncode, res.stderr)

    send(socket.IPPROTO_DSTOPTS)
    assert counter.wait_line(lambda t: t == f"got {socket.IPPROTO_DSTOPTS}", timeout=3), \
        ("the control did not arrive", counter.lines, counter.stderr_text())
    send(protocol)
    time.sleep(DROP_WAIT_MS / 1000 + 0.5)
    arrived = [t for _, t in counter.lines if t == f"got {protocol}"]
    assert arrived == [], f"{len(arrived)} packets of protocol {protocol} got through"
