"""Inbound flows checked where the kernel delivers them (bpf/attribution.h, "Inbound flows"):
a SO_REUSEPORT group steered by one of its members, a simultaneous open, broadcasts, a flow a
peer opened answered by the next binder of its port. The helpers and the shared-port tests are
in test_inbound.py; what peers craft in test_inbound_peers.py."""
import time

import pytest

from test_attribution import cgroup, write_profiles  # noqa: F401 (fixture)
from test_inbound import (FAMILIES, SERVE_MS, STEADY_SENDER, WILDCARD, bound_fd,
                          connect_from_ports, lenders)
from test_kernel_verdicts_attacks import Holder, start, twins  # noqa: F401 (fixture)
from warden_expect import DROP_WAIT_MS
from warden_lab import C4, PYTHON, S4, S6

STEERED_PORT = 7115


@pytest.mark.parametrize("fam", FAMILIES)
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_a_reuseport_group_steered_to_a_denied_program_gets_it_nothing(
        lab, cgroup, wardend, twins, fam, proto):
    """The denied program and then the allowed one (same user) join a SO_REUSEPORT group, and
    the denied program attaches a steering program to the group (SO_ATTACH_REUSEPORT_CBPF,
    no privilege needed) that hands it every packet. sock_diag, which wardend asks, picks a
    member by the group's hash (it has no packet to run the program on), so about half the
    flows would be decided for the allowed program. None of them reaches the denied one."""
    addr, _ = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    fds = {kind: bound_fd(p[kind], f"listen {proto} {WILDCARD[addr]} {STEERED_PORT} reuseport")
           for kind in p}
    assert p["denied"].ask(f"steer {fds['denied']} 0") == "steered"
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} {SERVE_MS}") for kind in p}
    if proto == "tcp":
        outcomes = connect_from_ports(lab, addr, STEERED_PORT, 41101)
    else:
        outcomes = [lab.udp_probe(addr, STEERED_PORT, ns=lab.s, timeout_ms=DROP_WAIT_MS).outcome
                    for _ in range(12)]
    counts = {kind: served[kind](SERVE_MS / 1000 + 10) for kind in p}
    assert counts == {"denied": "served 0", "allowed": "served 0"}, \
        f"the steered group received flows: {counts}, outcomes {outcomes}"
    assert not any(o in ("connected", "reply") for o in outcomes), outcomes
    assert d.status()["attribution"]["bpf"]["inbound_misdelivered"] >= 1, outcomes


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_steered_group_of_one_program_keeps_working(lab, cgroup, wardend, twins, fam):
    """An allowed server steering its own SO_REUSEPORT group: one process with two sockets
    (a connection decided for one and delivered to the other passes at once: nothing is
    dropped), then a second
    process of it joined (decided for one process, delivered to the other: dropped, and the
    SYN sent again is decided for the one that receives it). Every connection connects."""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    d = start(lab, wardend, cgroup, inbound=True, default="deny")
    one = Holder(lab, cgroup, "one", binary=twins["allowed"])
    fds = [bound_fd(one, f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseport")
           for _ in range(2)]
    # To the second socket, the one the port's record names: a flow sock_diag finds on the
    # first is decided for its holder as sock_diag names it, and still passes at the second.
    assert one.ask(f"steer {fds[1]} 1") == "steered"
    served = one.ask_later(f"serve {fds[1]} 6000")
    outcomes = connect_from_ports(lab, addr, STEERED_PORT, 41201)
    assert outcomes == ["connected"] * 12 and served(20) == "served 12", outcomes
    assert d.status()["attribution"]["bpf"]["inbound_misdelivered"] == 0
    other = Holder(lab, cgroup, "other", binary=twins["allowed"])
    fd = bound_fd(other, f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseport")
    assert other.ask(f"steer {fd} 2") == "steered"
    served = other.ask_later(f"serve {fd} 8000")
    outcomes = connect_from_ports(lab, addr, STEERED_PORT, 41301, timeout_ms=4000)
    assert outcomes == ["connected"] * 12 and served(20) == "served 12", outcomes
    # sock_diag picks among the three sockets by hash: all 12 on the other's is 1 in 3^12
    status = d.status()["attribution"]
    assert status["bpf"]["inbound_misdelivered"] >= 1, status
    assert status["inbound_redecided_for_receiver"] >= 1, status


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_steered_udp_flow_is_decided_again_for_its_receiver(lab, cgroup, wardend, twins, fam):
    """Two processes of an allowed program share a UDP port with SO_REUSEPORT, the second
    steering every datagram to itself. A flow accepted for the first process (sock_diag's pick)
    loses its first datagram at the second's socket, and the rest of it is decided again for
    the second (rule 0i) and reaches it: no flow is cut off."""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    d = start(lab, wardend, cgroup, inbound=True, default="deny")
    holders = [Holder(lab, cgroup, tag, binary=twins["allowed"]) for tag in ("one", "other")]
    fds = [bound_fd(h, f"listen udp {WILDCARD[addr]} {STEERED_PORT} reuseport") for h in holders]
    assert holders[1].ask(f"steer {fds[1]} 1") == "steered"
    served = [h.ask_later(f"serve {fd} 6000") for h, fd in zip(holders, fds)]
    senders = [lab.s.spawn([PYTHON, "-c", STEADY_SENDER, addr, str(STEERED_PORT),
                            str(41401 + i), "2"], f"steady-{i}", lines=True) for i in range(12)]
    answered = [s.wait_line(lambda t: True, timeout=15).split() for s in senders]
    echoes = [int(echoed) for echoed, _ in answered]
    counts = [s(20) for s in served]
    # Of a flow's datagrams one may be lost: the first, if it was accepted for the first
    # process and delivered to the second.
    lost = [int(sent) - int(echoed) for echoed, sent in answered]
    assert max(lost) <= 1 and min(echoes) >= 15, answered
    assert counts[0] == "served 0" and int(counts[1].split()[1]) >= sum(echoes), (counts, echoes)
    # sock_diag picks one of the two sockets by hash: all 12 flows on the other's is 1 in 2^12
    status = d.status()["attribution"]
    assert status["inbound_redecided_for_receiver"] >= 1, status


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_group_bound_before_wardend_started_is_named_when_steered(
        lab, cgroup, wardend, twins, fam):
    """Two processes of an allowed program share a port (SO_REUSEPORT), the second steering the
    group to itself, both before wardend starts: no record of either bind. A connection
    sock_diag finds on the first is dropped at the second, which sock_diag then finds by its
    cookie: the SYN sent again is decided for it, and every connection connects."""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    holders = [Holder(lab, cgroup, tag, binary=twins["allowed"]) for tag in ("one", "other")]
    fds = [bound_fd(h, f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseport") for h in holders]
    assert holders[1].ask(f"steer {fds[1]} 1") == "steered"
    d = start(lab, wardend, cgroup, inbound=True, default="deny")
    served = holders[1].ask_later(f"serve {fds[1]} 8000")
    outcomes = connect_from_ports(lab, addr, STEERED_PORT, 41501, timeout_ms=4000)
    assert outcomes == ["connected"] * 12 and served(20) == "served 12", outcomes
    # sock_diag picks one of the two sockets by hash: all 12 on the second's is 1 in 2^12
    status = d.status()["attribution"]
    assert status["inbound_redecided_for_receiver"] >= 1, status


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_udp_flow_whose_delivery_note_is_gone_is_decided_again(
        lab, cgroup, wardend, twins, fam):
    """The allowed program and the denied one share a UDP port (SO_REUSEPORT), the allowed one
    steering every datagram to itself; peers' flows are accepted for it. wardend starts anew:
    its map of the sockets flows were decided for is empty, as one whose entries a flood of new
    flows evicted. Then the denied program steers the group to itself: the flows accepted
    before are decided again at their next datagram, and none of it reaches the denied
    program."""
    addr, _ = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    fds = {kind: bound_fd(p[kind], f"listen udp {WILDCARD[addr]} {STEERED_PORT} reuseport")
           for kind in ("allowed", "denied")}
    assert p["allowed"].ask(f"steer {fds['allowed']} 0") == "steered"
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} 9000") for kind in p}
    senders = [lab.s.spawn([PYTHON, "-c", STEADY_SENDER, addr, str(STEERED_PORT),
                            str(41701 + i), "7"], f"steady-{i}", lines=True) for i in range(6)]
    time.sleep(2)
    assert d.terminate() == 0
    start(lab, wardend, cgroup, inbound=True, default="deny")
    # (A member busy serving takes no command: another process of the denied program joins
    # the group and steers it to itself.)
    late = Holder(lab, cgroup, "late", binary=twins["denied"])
    fd = bound_fd(late, f"listen udp {WILDCARD[addr]} {STEERED_PORT} reuseport")
    assert late.ask(f"steer {fd} 2") == "steered"
    served["late"] = late.ask_later(f"serve {fd} 5000")
    echoes = [int(s.wait_line(lambda t: True, timeout=20).split()[0]) for s in senders]
    counts = {kind: served[kind](20) for kind in served}
    assert counts["denied"] == counts["late"] == "served 0", (counts, echoes)
    assert counts["allowed"] != "served 0", (counts, echoes)


SIMULTANEOUS_PORT, PEER_PORT = 7118, 41801
# From PEER_PORT, TCP connects to HOST PORT, each for 800 ms, for SECONDS; prints the outcome of
# the last (a simultaneous open meets a socket connecting from PORT to PEER_PORT).
PEER_CONNECTS = """
import socket, sys, time
host, port, sport, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end, outcome = time.monotonic() + seconds, "timeout"
while time.monotonic() < end and outcome != "connected":
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", sport))
    s.settimeout(0.8)
    try:
        s.connect((host, port))
        outcome = "connected"
    except OSError as e:
        outcome = type(e).__name__
        time.sleep(0.2)
    s.close()
print(outcome, flush=True)
"""


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_simultaneous_open_does_not_hand_a_denied_program_an_allowed_listeners_port(
        lab, cgroup, wardend, twins, fam):
    """The denied program binds a port with SO_REUSEPORT, the allowed one listens on it after
    (the port's record is the allowed program's), and the denied program connects from the
    port to a peer (its SYN is refused; the socket waits in SYN_SENT). The peer connects from
    that very port to the host's: its SYN meets the connecting socket (a simultaneous open),
    which the kernel delivers it to ahead of the listener. It is decided for the denied
    program: the denied program's connect never completes."""
    addr, _ = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    peer = S4 if addr == C4 else S6
    denied = p["denied"].ask_later(f"connectfrom {SIMULTANEOUS_PORT} {peer} {PEER_PORT} 6000")
    time.sleep(0.3)  # (bound before the listener)
    fd = bound_fd(p["allowed"], f"listen tcp {WILDCARD[addr]} {SIMULTANEOUS_PORT} reuseport")
    served = p["allowed"].ask_later(f"serve {fd} 5000")
    res = lab.s.run([PYTHON, "-c", PEER_CONNECTS, addr, str(SIMULTANEOUS_PORT), str(PEER_PORT),
                     "5"], timeout=20, check=False)
    outcome = denied(20).split()[0]
    assert outcome != "connected", f"the denied program connected: {outcome}, peer {res.stdout}"
    served(15)
    assert d.alive()


BROADCAST_PORT = 7116
# Ten datagrams to the limited broadcast address out of the server namespace's veth, 50 ms
# apart, from one source port.
BROADCASTER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"wts0")
s.bind(("", 41501))
for _ in range(10):
    s.sendto(b"to all", ("255.255.255.255", int(sys.argv[1])))
    time.sleep(0.05)
"""


def test_a_broadcast_reaches_every_program_bound_to_its_port(lab, cgroup, wardend, twins):
    """Two processes of an allowed program bound to one UDP port (SO_REUSEADDR, as service
    discovery daemons do) each receive every broadcast datagram: the kernel delivers a copy to
    each, and the delivery check, which holds a flow to one socket, leaves them alone."""
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    start(lab, wardend, cgroup, inbound=True, default="deny")
    holders = [Holder(lab, cgroup, tag, binary=twins["allowed"]) for tag in ("one", "other")]
    fds = [bound_fd(h, f"listen udp 0.0.0.0 {BROADCAST_PORT} reuseaddr") for h in holders]
    served = [h.ask_later(f"serve {fd} 3000") for h, fd in zip(holders, fds)]
    lab.s.run([PYTHON, "-c", BROADCASTER, str(BROADCAST_PORT)], timeout=15)
    assert [s(15) for s in served] == ["served 10", "served 10"]


ANSWERED_PORT = 7117
# From SOURCE_PORT: one datagram to HOST PORT, then for SECONDS echoes whatever arrives but its
# echo.
PEER_THEN_ECHO = """
import socket, sys, time
host, port, sport, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", sport))
s.sendto(b"first", (host, port))
s.settimeout(0.1)
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(100)
        if data != b"first":
            s.sendto(data, peer)
    except OSError:
        pass
"""


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_flow_a_peer_opened_can_be_answered_by_the_next_binder_of_its_port(
        lab, cgroup, wardend, twins, fam):
    """A peer's datagram to a port is accepted for the program that holds it, which then exits.
    Another allowed program binds the port and sends to that peer on the same ends: the peer's
    echo reaches it. (The delivery check held the ends to the first program's socket.)"""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    start(lab, wardend, cgroup, inbound=True, default="deny")
    first = Holder(lab, cgroup, "first", binary=twins["allowed"])
    fd = bound_fd(first, f"listen udp {WILDCARD[addr]} {ANSWERED_PORT} reuseaddr")
    served = first.ask_later(f"serve {fd} 1500")
    peer = S4 if addr == C4 else S6
    lab.s.spawn([PYTHON, "-c", PEER_THEN_ECHO, addr, str(ANSWERED_PORT), "41601", "8"], "peer")
    assert served(10) == "served 1"
    first.ask_later("quit")
    first.proc.popen.wait(timeout=10)
    second = Holder(lab, cgroup, "second", binary=twins["allowed"])
    fd = bound_fd(second, f"listen udp {WILDCARD[addr]} {ANSWERED_PORT} reuseaddr")
    assert second.ask(f"send {fd} {peer} 41601 2000").split()[0] == "reply"
