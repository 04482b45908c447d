"""What peers send to servers behind wardend, checked where the kernel delivers it: IPv6
extension headers past what the ingress check walks, a flow from port 53 (rule 0a takes only
replies), the handshake's ACK under SYN cookies, and a reconnect whose SYN meets a TIME_WAIT
socket (also in a SO_REUSEPORT group without eBPF). Helpers in test_inbound.py; the steering
tests in test_inbound_delivery.py."""
import json
import re
import time

import pytest

from test_attribution import cgroup, write_profiles  # noqa: F401 (fixture)
from test_inbound import (FAMILIES, STEADY_SENDER, WILDCARD, bound_fd, connect_from_ports,
                          lenders)
from test_inbound_delivery import STEERED_PORT
from test_kernel_verdicts_attacks import Holder, start, twins  # noqa: F401 (fixture)
from warden_cli import cli
from warden_expect import wait_until
from warden_lab import C6, C6B, PYTHON, S6, S6B

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


# From each SPORT at once, connects to HOST PORT and reads until the server closes (so that
# the server's side of the connection ends in TIME_WAIT); prints "<sport> <outcome>" for each.
FROM_PORTS = """
import socket, sys, threading
host, port, sports = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
def one(sport):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", sport))
    s.settimeout(3)
    try:
        s.connect((host, port))
        while s.recv(100):
            pass
        outcome = "connected"
    except OSError as e:
        outcome = type(e).__name__
    s.close()
    outcomes[sport] = outcome
outcomes = {}
threads = [threading.Thread(target=one, args=(p,)) for p in sports]
for t in threads:
    t.start()
for t in threads:
    t.join()
for sport in sports:
    print(sport, outcomes[sport])
"""


def from_ports(lab, addr, port, sports):
    res = lab.s.run([PYTHON, "-c", FROM_PORTS, addr, str(port)] + [str(p) for p in sports],
                    timeout=30)
    return {int(sport): outcome for sport, outcome in
            (line.split() for line in res.stdout.splitlines())}


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
    connected = {TIME_WAIT_PEER_PORT: "connected"}
    assert from_ports(lab, addr, STEERED_PORT, [TIME_WAIT_PEER_PORT]) == connected
    waiting = lab.c.run(["ss", "-Htan", "state", "time-wait",
                         f"dport = :{TIME_WAIT_PEER_PORT}"]).stdout
    assert str(STEERED_PORT) in waiting, f"no TIME_WAIT socket for the second SYN: {waiting!r}"
    again = from_ports(lab, addr, STEERED_PORT, [TIME_WAIT_PEER_PORT])
    assert again == connected, (again, d.status()["attribution"])
    assert served(20) == "served 2"


@pytest.mark.parametrize("fam", FAMILIES)
def test_without_ebpf_a_reconnect_onto_time_wait_in_a_reuseport_group_is_not_guessed(
        lab, cgroup, wardend, twins, fam):
    """Without eBPF nothing checks where the kernel delivers an inbound flow. A SYN that meets
    a TIME_WAIT socket is decided for the listener behind it only where one listener holds the
    port: in a SO_REUSEPORT group of the allowed and the denied program, the lookup asked
    without the peer's port picks a member by another hash than the kernel's, which may hand
    the SYN to the other. So such a reconnect is decided `unknown` (refused here), never by a
    member's profile, while the first connections were decided for the member the kernel
    gave each (the allowed one took some, and only those connected)."""
    addr, _ = fam
    write_profiles(lab, {"allowed": ("allow", {"path": twins["allowed"]}),
                         "denied": ("deny", {"path": twins["denied"]})})
    p = {kind: Holder(lab, cgroup, kind, binary=twins[kind]) for kind in ("denied", "allowed")}
    fds = {kind: bound_fd(p[kind], f"listen tcp {WILDCARD[addr]} {STEERED_PORT} reuseport")
           for kind in p}
    engine = {"unknown": "deny", "default": "deny", "kernel": "deny", "inbound": True}
    d = wardend(engine=engine, attribution={"ebpf": False})
    for kind in p:
        p[kind].ask_later(f"serve {fds[kind]} 20000")
    sports = list(range(41961, 41973))
    first = from_ports(lab, addr, STEERED_PORT, sports)
    took = [sport for sport, outcome in first.items() if outcome == "connected"]
    assert 0 < len(took) < len(sports), first  # each member got some: a hash, not a rule
    # The reconnects this test is about meet the server's TIME_WAIT socket: those of ports
    # that have one (nearly always all; one whose socket is already gone is a plain new flow,
    # decided for whichever member the lookup names).
    waiting = lab.c.run(["ss", "-Htan", "state", "time-wait", f"sport = :{STEERED_PORT}"]).stdout
    peers = {int(m) for m in re.findall(r":(\d+)\s*$", waiting, re.MULTILINE)}
    reconnecting = [sport for sport in took if sport in peers]
    assert reconnecting, f"no TIME_WAIT socket for the reconnects: {waiting!r}"
    again = from_ports(lab, addr, STEERED_PORT, reconnecting)
    assert set(again.values()) == {"TimeoutError"}, (again, waiting)

    def rows():
        out = cli(d, "log", "--json", "--limit", "0").stdout
        return [json.loads(line) for line in out.splitlines()]
    def reconnect_rows():
        found = [r for r in rows()
                 if r["remote_port"] in reconnecting and r["decided_by"] == "unknown"]
        return found if {r["remote_port"] for r in found} == set(reconnecting) else None
    assert wait_until(reconnect_rows, timeout=5), [
        (r["remote_port"], r["action"], r["decided_by"], r.get("profile")) for r in rows()]
    by_profile = {(r["remote_port"], r["action"]) for r in rows()
                  if r["remote_port"] in sports and r["decided_by"] != "unknown"}
    assert by_profile == {(sport, "allow" if sport in took else "deny") for sport in sports}, \
        by_profile
