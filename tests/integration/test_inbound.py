"""inbound = true: new connections from outside to listeners in the client namespace (where
wardend runs) are decided by rules with direction = "in"; ports there are local ports and ip the
remote address. With inbound = false they are not decided at all."""
import time

import pytest

from test_attribution import cgroup, write_profiles  # noqa: F401 (fixture)
from test_kernel_verdicts_attacks import Holder, start, twins  # noqa: F401 (fixture)
from warden_expect import AT_ONCE_MS, DROP_WAIT_MS, dropped
from warden_lab import C4, C4B, C6, C6B, PYTHON, S4, S4B, S6, S6B

LISTEN = (7100, 7101, 7102)
IN_RULES = [
    {"action": "deny", "direction": "in", "proto": "tcp", "ports": 7101},
    {"action": "deny", "direction": "in", "proto": "udp", "ports": 7101},
    {"action": "reject", "direction": "in", "proto": "tcp", "ports": 7102},
    {"action": "deny", "direction": "in", "ip": [S4B, S6B], "comment": "by remote address"},
    # An outbound rule on the same port must not touch inbound flows.
    {"action": "deny", "direction": "out", "proto": "tcp", "ports": 7100},
]
FAMILIES = [pytest.param((C4, C4B), id="ipv4"), pytest.param((C6, C6B), id="ipv6")]


@pytest.fixture
def listeners(lab):
    return lab.start_echo(lab.c, ports=LISTEN, tag="echo-client-ns")


@pytest.mark.parametrize("fam", FAMILIES)
def test_inbound_denied_and_allowed(lab, listeners, wardend, fam):
    addr, addr_b = fam
    wardend(engine={"inbound": True}, rules=IN_RULES)
    s = lab.s
    r = lab.tcp_probe(addr, 7100, ns=s)
    assert r.outcome == "connected", r
    r = lab.udp_probe(addr, 7100, ns=s)
    assert r.outcome == "reply", r
    r = lab.tcp_probe(addr, 7101, ns=s, timeout_ms=DROP_WAIT_MS)
    assert dropped(r), f"inbound TCP to denied port: {r}"
    r = lab.udp_probe(addr, 7101, ns=s, timeout_ms=DROP_WAIT_MS)
    assert dropped(r), f"inbound UDP to denied port: {r}"
    r = lab.tcp_probe(addr, 7102, ns=s, timeout_ms=3000)
    assert r.outcome == "refused" and r.elapsed_ms < AT_ONCE_MS, f"inbound reject: {r}"
    # From the server's other address (it picks it as source for addr_b): denied by ip.
    r = lab.tcp_probe(addr_b, 7100, ns=s, timeout_ms=DROP_WAIT_MS)
    assert dropped(r), f"inbound from a denied remote address: {r}"
    r = lab.tcp_exchange(addr, 7100, count=200, ns=s)
    assert (r.outcome, r.replies) == ("done", 200), r


def test_inbound_false_leaves_inbound_alone(lab, listeners, wardend):
    wardend(engine={"inbound": False}, rules=IN_RULES)
    for addr in (C4, C6):
        assert lab.tcp_probe(addr, 7101, ns=lab.s).outcome == "connected"
        assert lab.udp_probe(addr, 7101, ns=lab.s).outcome == "reply"
        assert lab.tcp_probe(addr, 7102, ns=lab.s).outcome == "connected"


def test_inbound_engine_default_deny(lab, listeners, wardend):
    d = wardend(engine={"inbound": True, "default": "deny", "unknown": "deny", "kernel": "deny"},
                rules=[{"action": "allow", "direction": "in", "ports": 7100},
                       {"action": "allow", "direction": "out"}])
    for addr in (C4, C6):
        assert lab.tcp_probe(addr, 7100, ns=lab.s).outcome == "connected"
        assert dropped(lab.tcp_probe(addr, 7101, ns=lab.s, timeout_ms=DROP_WAIT_MS))
    # Outbound from the client namespace still allowed by the global out rule.
    assert lab.tcp_probe("192.0.2.2", 7000).outcome == "connected"
    assert d.alive()


# Listeners that share a port: the eBPF record of a port names the last socket bound to it,
# while the kernel delivers to the most specific bind (or, in a SO_REUSEPORT group, by a hash
# of the 4-tuple). An inbound flow must be decided for the program whose socket receives it.
SHARED_UDP_PORT, SHARED_TCP_PORT = 7110, 7111
WILDCARD = {C4: "0.0.0.0", C6: "::"}
SERVE_MS = 8000


def lenders(lab, wardend, cgroup, twins):
    """allowed/held_client may receive anything, denied/held_client nothing; one of each."""
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]}),
                         "denied": ("deny", {"path": twins["denied"]})})
    d = start(lab, wardend, cgroup, inbound=True, default="deny")
    return d, {kind: Holder(lab, cgroup, kind, binary=twins[kind])
               for kind in ("denied", "allowed")}


def bound_fd(holder, line):
    answer = holder.ask(line)
    assert answer.startswith("listening fd="), answer
    return answer.split("=")[1]


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_datagram_to_a_denied_programs_address_is_not_decided_for_a_wildcard_binder_of_its_port(
        lab, cgroup, wardend, twins, fam):
    """The denied program binds the port on one address, then the allowed one binds it on the
    wildcard address (both with SO_REUSEADDR, as multicast daemons do): the port's record is
    the allowed program's. A datagram to that address is the denied program's to receive,
    and is dropped; one to the host's other address reaches the allowed program."""
    addr, addr_b = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    fds = {"denied": bound_fd(p["denied"], f"listen udp {addr} {SHARED_UDP_PORT} reuseaddr"),
           "allowed": bound_fd(p["allowed"],
                               f"listen udp {WILDCARD[addr]} {SHARED_UDP_PORT} reuseaddr")}
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} {SERVE_MS}") for kind in p}
    to_denied = lab.udp_probe(addr, SHARED_UDP_PORT, ns=lab.s, timeout_ms=DROP_WAIT_MS)
    to_allowed = lab.udp_probe(addr_b, SHARED_UDP_PORT, ns=lab.s)
    counts = {kind: served[kind](SERVE_MS / 1000 + 10) for kind in p}
    assert counts["denied"] == "served 0" and dropped(to_denied), \
        f"a datagram reached the denied program: {to_denied}, {counts}"
    assert (to_allowed.outcome, counts["allowed"]) == ("reply", "served 1"), (to_allowed, counts)
    assert d.status()["attribution"]["records_of_another_listener"] >= 1


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_connection_hashed_to_a_denied_programs_reuseport_listener_is_not_decided_for_another(
        lab, cgroup, wardend, twins, fam):
    """The denied program and then the allowed one (same user) listen on one port with
    SO_REUSEPORT: the kernel spreads connections between them by a hash of the 4-tuple, and
    the port's record is the allowed program's. Of 12 connections from 12 source ports, the
    denied program accepts none; the allowed one accepts every one that connected."""
    addr, _ = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    fds = {kind: bound_fd(p[kind], f"listen tcp {WILDCARD[addr]} {SHARED_TCP_PORT} reuseport")
           for kind in p}
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} {SERVE_MS}") for kind in p}
    script = ('for port in $(seq 41001 41012); do "$0" "$1" "$2" --timeout-ms 2500 '
              '--source-port $port & done; wait')
    res = lab.s.run(["sh", "-c", script, lab._client("tcp_probe"), addr, str(SHARED_TCP_PORT)],
                    timeout=20, check=False)
    outcomes = [line.split()[0] for line in res.stdout.splitlines() if line.split()]
    counts = {kind: served[kind](SERVE_MS / 1000 + 10) for kind in p}
    assert len(outcomes) == 12, res
    assert counts["denied"] == "served 0", \
        f"the denied program accepted connections: {counts}, outcomes {outcomes}"
    connected = outcomes.count("connected")
    assert connected >= 1 and counts["allowed"] == f"served {connected}", (counts, outcomes)
    assert d.status()["attribution"]["records_of_another_listener"] >= 1, outcomes


def connect_from_ports(lab, addr, port, first_port, count=12, timeout_ms=2500):
    """count TCP connections at once to addr port from source ports first_port on: outcomes."""
    script = (f'for port in $(seq {first_port} {first_port + count - 1}); do '
              f'"$0" "$1" "$2" --timeout-ms {timeout_ms} --source-port $port & done; wait')
    res = lab.s.run(["sh", "-c", script, lab._client("tcp_probe"), addr, str(port)],
                    timeout=timeout_ms / 1000 + 15, check=False)
    outcomes = [line.split()[0] for line in res.stdout.splitlines() if line.split()]
    assert len(outcomes) == count, res
    return outcomes


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


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_datagram_to_a_denied_programs_device_bound_socket_is_not_decided_for_a_wildcard_binder(
        lab, cgroup, wardend, twins, fam):
    """The allowed program binds the port on the wildcard address, the denied one binds it on
    the wildcard address too but to the interface the peer's datagrams come in on
    (SO_BINDTODEVICE, which needs no privilege; both with SO_REUSEADDR), first: the port's
    record is the allowed program's, the kernel delivers to the device-bound socket. The
    datagram is dropped, not decided for the allowed program."""
    addr, _ = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    wildcard = WILDCARD[addr]
    # The denied program first: the port's record is then the allowed program's.
    fds = {"denied": bound_fd(p["denied"], f"listen udp {wildcard} {DEVICE_PORT} reuseaddr wtc0"),
           "allowed": bound_fd(p["allowed"], f"listen udp {wildcard} {DEVICE_PORT} reuseaddr")}
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} 3000") for kind in p}
    probe = lab.udp_probe(addr, DEVICE_PORT, ns=lab.s, timeout_ms=DROP_WAIT_MS)
    counts = {kind: served[kind](15) for kind in p}
    assert counts["denied"] == "served 0" and dropped(probe), \
        f"a datagram reached the denied program's device-bound socket: {probe}, {counts}"
    assert d.status()["attribution"]["records_of_another_listener"] >= 1


DEVICE_PORT = 7114

# From SOURCE_PORT to HOST PORT, one datagram every 100 ms for SECONDS; prints how many echoes
# came back.
STEADY_SENDER = """
import socket, sys, time
host, port, sport, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", sport))
s.setblocking(False)
echoes = sent = 0
end = time.monotonic() + seconds
while True:
    done = time.monotonic() >= end
    if not done:
        try:
            s.sendto(b"steady", (host, port))
            sent += 1
        except OSError:
            pass
    time.sleep(0.5 if done else 0.1)  # at the end, time for the last echo
    while True:
        try:
            s.recv(100)
            echoes += 1
        except OSError:
            break
    if done:
        break
print(echoes, sent, flush=True)
"""
LATE_PORTS = {"denied": 7112, "allowed": 7113}


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_port_bound_after_its_peer_began_sending_is_decided_for_its_binder(
        lab, cgroup, wardend, twins, fam):
    """A peer sends to a port nobody holds, every 100 ms: the `kernel` verdict (allow here; the
    kernel answers port unreachable). A second later a program binds the port: what the peer
    goes on sending on that flow is decided for that program, so the denied program receives
    none of it, and the allowed one (on another port, the same way) receives it."""
    addr, _ = fam
    d, p = lenders(lab, wardend, cgroup, twins)
    senders = {kind: lab.s.spawn([PYTHON, "-c", STEADY_SENDER, addr, str(LATE_PORTS[kind]),
                                  str(41100 + LATE_PORTS[kind] - 7100), "4"], f"steady-{kind}",
                                 lines=True) for kind in p}
    time.sleep(1.0)
    fds = {kind: bound_fd(p[kind], f"listen udp {addr} {LATE_PORTS[kind]} reuseaddr")
           for kind in p}
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} 2000") for kind in p}
    counts = {kind: served[kind](15) for kind in p}
    echoes = {kind: senders[kind].wait_line(lambda t: True, timeout=15) for kind in p}
    assert counts["denied"] == "served 0", \
        f"the denied program received what its port's peer went on sending: {counts}, {echoes}"
    assert counts["allowed"] != "served 0", (counts, echoes)
    assert d.alive()


# Sends, from one source port each, datagrams whose IPv6 header is followed by `headers`
# destination-options headers (8 bytes of padding each) before the UDP header: written whole
# through a raw socket, as a peer that crafts its packets would.
EXTENSION_SENDER = """
import socket, struct, sys
src, dst, port, first_sport, flows, headers = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
saddr, daddr = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
def checksum(data):
    data += b"\\0" * (len(data) & 1)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return (~total & 0xffff) or 0xffff
for sport in range(first_sport, first_sport + flows):
    payload = b"crafted"
    udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
    pseudo = saddr + daddr + struct.pack("!IxxxB", len(udp), socket.IPPROTO_UDP)
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp)) + udp[8:]
    chain = b"".join(struct.pack("!BB", 60 if i + 1 < headers else socket.IPPROTO_UDP, 0)
                     + b"\\x01\\x04\\0\\0\\0\\0" for i in range(headers))
    ip = struct.pack("!IHBB", 6 << 28, len(chain) + len(udp), 60 if headers else 17, 64)
    s.sendto(ip + saddr + daddr + chain + udp, (dst, 0))
print("sent", flush=True)
"""


def send_with_extension_headers(lab, dst, port, first_sport, flows, headers):
    src = {C6: S6, C6B: S6B}[dst]
    res = lab.s.run([PYTHON, "-c", EXTENSION_SENDER, src, dst, str(port), str(first_sport),
                     str(flows), str(headers)], timeout=20)
    assert res.stdout.strip() == "sent", res


def test_a_steered_group_gets_no_datagram_behind_more_extension_headers_than_are_walked(
        lab, cgroup, wardend, twins):
    """The steered group of the test above, IPv6, and datagrams a peer sends with six
    destination-options headers before the UDP header: wardend reads past them, the ingress
    check only past four, so it cannot tell the flow of such a datagram at the socket the
    steering picked. Refused: with 12 flows, about half accepted for the allowed program, none
    reaches the denied one. Datagrams with one such header are walked and checked as any."""
    d, p = lenders(lab, wardend, cgroup, twins)
    fds = {kind: bound_fd(p[kind], f"listen udp :: {STEERED_PORT} reuseport") for kind in p}
    assert p["denied"].ask(f"steer {fds['denied']} 0") == "steered"
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} 6000") for kind in p}
    send_with_extension_headers(lab, C6, STEERED_PORT, 41601, 12, headers=6)
    send_with_extension_headers(lab, C6, STEERED_PORT, 41621, 12, headers=1)
    time.sleep(1)
    send_with_extension_headers(lab, C6, STEERED_PORT, 41601, 12, headers=6)
    counts = {kind: served[kind](20) for kind in p}
    assert counts == {"denied": "served 0", "allowed": "served 0"}, \
        f"crafted datagrams reached the steered group: {counts}"
    bpf = d.status()["attribution"]["bpf"]
    assert bpf["inbound_unwalked"] >= 1 and bpf["inbound_misdelivered"] >= 1, bpf


def test_datagrams_behind_extension_headers_reach_an_allowed_server(lab, cgroup, wardend, twins):
    """Extension headers a peer may legitimately send (up to the four the ingress check walks)
    do not cost an allowed server its datagrams, on a port the check watches."""
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    d = start(lab, wardend, cgroup, inbound=True, default="deny")
    server = Holder(lab, cgroup, "server", binary=twins["allowed"])
    fd = bound_fd(server, f"listen udp :: {STEERED_PORT} reuseaddr")
    served = server.ask_later(f"serve {fd} 4000")
    assert lab.udp_probe(C6, STEERED_PORT, ns=lab.s).outcome == "reply"
    for headers in (0, 1, 4):
        send_with_extension_headers(lab, C6, STEERED_PORT, 41641 + headers * 4, 4, headers)
    assert served(20) == "served 13"
    assert d.status()["attribution"]["bpf"]["inbound_unwalked"] == 0


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_peers_flow_from_port_53_is_decided_again_for_a_new_receiver(
        lab, cgroup, wardend, twins, fam):
    """A peer sends from port 53 (as a DNS server would) to an allowed server, and its flow is
    accepted for that server's socket. Another process of the program joins the port's
    SO_REUSEPORT group and steers it to itself: the flow's next datagram is dropped there, and
    the rest decided again for it (rule 0i), as from any other port. Rule 0a, which hands DNS
    replies to the workers to read and accepts them unchanged, takes only replies to a flow of
    ours: taking this flow's datagrams it would have kept them from being decided again, each
    dropped at the new receiver."""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    d = start(lab, wardend, cgroup, inbound=True, default="deny")
    first = Holder(lab, cgroup, "first", binary=twins["allowed"])
    fd = bound_fd(first, f"listen udp {WILDCARD[addr]} {STEERED_PORT} reuseport")
    served = {"first": first.ask_later(f"serve {fd} 8000")}
    sender = lab.s.spawn([PYTHON, "-c", STEADY_SENDER, addr, str(STEERED_PORT), "53", "5"],
                         "from-53", lines=True)
    time.sleep(1.5)
    later = Holder(lab, cgroup, "later", binary=twins["allowed"])
    fd = bound_fd(later, f"listen udp {WILDCARD[addr]} {STEERED_PORT} reuseport")
    assert later.ask(f"steer {fd} 1") == "steered"
    served["later"] = later.ask_later(f"serve {fd} 5000")
    echoes = int(sender.wait_line(lambda t: True, timeout=20).split()[0])
    counts = {kind: int(served[kind](20).split()[1]) for kind in served}
    # About 15 datagrams before the steering, 30 after it, of which one is lost.
    assert counts["first"] >= 5 and counts["later"] >= 15, (counts, echoes)
    assert echoes == counts["first"] + counts["later"], (counts, echoes)
    assert d.status()["attribution"]["inbound_redecided_for_receiver"] >= 1


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_group_steering_syn_cookie_handshakes_apart_gets_a_denied_program_nothing(
        lab, cgroup, wardend, twins, fam):
    """With SYN cookies (here always sent: tcp_syncookies = 2, as under a SYN flood) a listener
    keeps nothing of a handshake, and the ACK that completes it is looked up, and steered,
    anew. The denied program joins the allowed server's SO_REUSEPORT group and steers SYNs to
    the allowed listener, the rest to itself: SYNs are decided for the allowed program and
    answered, and each completing ACK would make a connection at the denied program's
    listener. They are dropped there: it accepts none."""
    addr, _ = fam
    lab.c.run(["sysctl", "-qw", "net.ipv4.tcp_syncookies=2"])
    d, p = lenders(lab, wardend, cgroup, twins)
    fds = {kind: bound_fd(p[kind], f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseport")
           for kind in ("denied", "allowed")}
    assert p["denied"].ask(f"steer {fds['denied']} 0 1") == "steered"
    served = {kind: p[kind].ask_later(f"serve {fds[kind]} 5000") for kind in p}
    outcomes = connect_from_ports(lab, addr, STEERED_PORT, 41901, count=6)
    counts = {kind: served[kind](20) for kind in p}
    assert counts["denied"] == "served 0", \
        f"the denied program accepted handshakes steered to it: {counts}, outcomes {outcomes}"
    status = d.status()["attribution"]
    assert status["bpf"]["inbound_misdelivered"] >= 1, status


# From SPORT, connects to HOST PORT and reads until the server closes (so that the server's side
# of the connection ends in TIME_WAIT); prints the outcome.
FROM_ONE_PORT = """
import socket, sys
host, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", sport))
s.settimeout(4)
try:
    s.connect((host, port))
    while s.recv(100):
        pass
    print("connected", flush=True)
except OSError as e:
    print(type(e).__name__, flush=True)
s.close()
"""
TIME_WAIT_PEER_PORT = 41951


@pytest.mark.parametrize("fam", FAMILIES)
@pytest.mark.parametrize("bound", ["before", "after", "without-ebpf"])
def test_a_connection_on_the_4_tuple_of_a_time_wait_socket_is_decided_for_the_listener(
        lab, cgroup, wardend, twins, fam, bound):
    """An allowed server accepts and closes at once, so each connection's socket on its side
    ends in TIME_WAIT; a peer connects again from the same port, and the kernel hands that SYN
    on to the listener (its sequence number or timestamp is past the old connection's). What
    sock_diag finds on the 4-tuple first is the TIME_WAIT socket, which has no holder: the
    flow is decided for the listener's program all the same (every engine verdict here
    refuses), whether the server bound its port before wardend started (no bind record:
    sock_diag names it), after, or without eBPF at all. (It was decided `unknown`, and
    refused, while the TIME_WAIT socket lasted.)"""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]})})
    server = None
    if bound != "after":
        server = Holder(lab, cgroup, "server", binary=twins["allowed"])
        fd = bound_fd(server, f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseaddr")
    engine = {"unknown": "deny", "default": "deny", "kernel": "deny", "inbound": True}
    if bound == "without-ebpf":
        d = wardend(engine=engine, attribution={"ebpf": False})
    else:
        d = start(lab, wardend, cgroup, **engine)
    if server is None:
        server = Holder(lab, cgroup, "server", binary=twins["allowed"])
        fd = bound_fd(server, f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseaddr")
    served = server.ask_later(f"serve {fd} 8000")
    connect = [PYTHON, "-c", FROM_ONE_PORT, addr, str(STEERED_PORT), str(TIME_WAIT_PEER_PORT)]
    assert lab.s.run(connect, timeout=20).stdout.split() == ["connected"]
    waiting = lab.c.run(["ss", "-Htan", "state", "time-wait",
                         f"dport = :{TIME_WAIT_PEER_PORT}"]).stdout
    assert str(STEERED_PORT) in waiting, f"no TIME_WAIT socket for the second SYN: {waiting!r}"
    again = lab.s.run(connect, timeout=20).stdout.split()
    assert again == ["connected"], (again, d.status()["attribution"])
    assert served(20) == "served 2"
