"""inbound = true: new connections from outside to listeners in the client namespace (where
wardend runs) are decided by rules with direction = "in"; ports there are local ports and ip the
remote address. With inbound = false they are not decided at all."""
import time

import pytest

from test_attribution import cgroup, write_profiles  # noqa: F401 (fixture)
from test_kernel_verdicts_attacks import Holder, start, twins  # noqa: F401 (fixture)
from warden_expect import AT_ONCE_MS, DROP_WAIT_MS, dropped
from warden_lab import C4, C4B, C6, C6B, PYTHON, S4B, S6B

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
