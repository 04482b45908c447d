"""A flow decided for one process is not inherited by another that reuses its 4-tuple (SPEC
section 6). A conntrack entry outlives the socket that made it: once an allowed program has
sent from a local port to a server, a denied program that binds the same port and sends to the
same server finds that entry, marked "accepted". It must be decided for itself instead.
TCP's form of this attack (a SYN on an old flow's 4-tuple) is in test_packet_path.py."""
import os
import shutil
import time

import pytest

from test_attribution import (FAMILIES, NOBODY, S4, _reachable_by_everyone, batch,  # noqa: F401
                              cgroup, in_cgroup, install, logged_rows, profiled, twin_profiles,
                              twins)
from test_kernel_verdicts_attacks import COUNTED_Y, counter  # noqa: F401 (fixture)
from warden_lab import C4, C4B, C6, C6B, PYTHON, S6

REUSED_PORT = 45000


def send_from(lab, cg, binary, server, port, connect, count=1):
    argv = [binary, server, "7000", "--source-port", str(port), "--timeout-ms", "1000",
            "--count", str(count)]
    if connect:
        argv.append("--connect")
    outcomes = batch(lab, cg, argv, 1, timeout=20)
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


@pytest.mark.parametrize("server", FAMILIES)
@pytest.mark.parametrize("connect", [False, True], ids=["sendto", "connected"])
def test_a_reused_udp_4tuple_is_decided_for_its_new_owner(lab, cgroup, wardend, twins, server,
                                                          connect):
    d = profiled(lab, wardend, cgroup, twin_profiles(twins, ("udp_probe",)), default="deny")
    allowed, denied = twins[("allowed", "udp_probe")], twins[("denied", "udp_probe")]
    port = REUSED_PORT + (1 if connect else 0) + (2 if ":" in server else 0)
    assert send_from(lab, cgroup, allowed, server, port, connect, count=3) == "reply"
    # The same 4-tuple from the denied program (its profile rejects): not a reply riding the
    # allowed program's conntrack entry, but its own verdict.
    for _ in range(3):
        assert send_from(lab, cgroup, denied, server, port, connect) == "prohibited"
    # And back: the allowed program gets the flow decided for it again.
    assert send_from(lab, cgroup, allowed, server, port, connect, count=3) == "reply"
    status = d.status()
    assert status["totals"]["reject"] >= 3, status["totals"]
    assert status["attribution"]["decided_errors"] == 0, status["attribution"]


def test_a_reused_udp_4tuple_connected_through_io_uring_is_decided(lab, cgroup, wardend, twins):
    """io_uring's IORING_OP_CONNECT makes no connect syscall, but passes the connect hook, as
    every way of connecting does: a socket bound beforehand is keyed there. (One the kernel
    binds inside the connect is keyed at its first datagram: the test below.)"""
    profiled(lab, wardend, cgroup, twin_profiles(twins, ("udp_probe",)), default="deny")
    allowed, denied = twins[("allowed", "udp_probe")], twins[("denied", "udp_probe")]
    port = REUSED_PORT + 10
    assert send_from(lab, cgroup, allowed, S4, port, connect=False, count=3) == "reply"
    argv = [denied, S4, "7000", "--source-port", str(port), "--timeout-ms", "1000",
            "--uring-connect"]
    assert batch(lab, cgroup, argv, 1, timeout=20) == ["prohibited"]


@pytest.mark.parametrize("server", FAMILIES)
@pytest.mark.parametrize("mode", [["--connect"], ["--uring-connect"]], ids=["connect", "uring"])
def test_a_reused_udp_4tuple_connected_from_an_unbound_socket_is_decided(lab, cgroup, wardend,
                                                                         twins, server, mode):
    """A socket connected before it was bound gets its local port inside the connect, after
    the connect hook: its flow is keyed at its first datagram. When that datagram is on a
    4-tuple an accepted flow of another process used, the table's reuse check (rule 0c) keys
    it first and compares it as its new owner's, instead of letting it ride the old verdict.
    The namespace hands out one local port only, so that every connect takes that 4-tuple."""
    profiled(lab, wardend, cgroup, twin_profiles(twins, ("udp_probe",)), default="deny")
    allowed, denied = twins[("allowed", "udp_probe")], twins[("denied", "udp_probe")]
    port = REUSED_PORT + 20 + (1 if "--uring-connect" in mode else 0) + \
        (2 if ":" in server else 0)
    lab.c.run(["sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={port} {port}"])

    def connected(binary, count=1):
        argv = [binary, server, "7000", "--timeout-ms", "1000", "--count", str(count)] + mode
        outcomes = batch(lab, cgroup, argv, 1, timeout=20)
        assert len(outcomes) == 1, outcomes
        return outcomes[0]

    assert connected(allowed, count=3) == "reply"
    for _ in range(3):
        assert connected(denied) == "prohibited"
    assert connected(allowed, count=3) == "reply"


# Connects a UDP socket to SERVER PORT (the namespace's one local port: the 4-tuple of the
# allowed program's accepted flow), then binds and connects OTHERS sockets (each leaving its
# pending connect in the hooks' map, LRU) until the first one's is gone, and sends one datagram
# on it with send(2): prints "<echoes>/1".
EVICTING_SENDER = """
import socket, sys
server, port, others = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in server else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.connect((server, port))
for i in range(others):
    o = socket.socket(family, socket.SOCK_DGRAM)
    o.bind(("", 20000 + i % 20000))
    o.connect((server, port))
    o.close()
s.settimeout(1.0)
s.send(b"x")
try:
    s.recv(100)
    print("1/1", flush=True)
except OSError:
    print("0/1", flush=True)
"""


@pytest.mark.parametrize("server", FAMILIES)
def test_a_connected_udp_socket_whose_connect_was_forgotten_does_not_ride_an_accepted_flow(
        lab, cgroup, wardend, twins, server):
    """A socket connected before it was bound is keyed at its first datagram from what its
    connect left (a map bounded by LRU). A denied program (python, no profile) connects onto
    the 4-tuple of the allowed program's accepted flow, then connects 6,000 other sockets, so
    that its own pending connect is evicted, and sends: the owner record is still the allowed
    program's, decided, but for another socket. The datagram is decided for its own socket's
    holder, and dropped."""
    d = profiled(lab, wardend, cgroup, twin_profiles(twins, ("udp_probe",)), default="deny")
    allowed = twins[("allowed", "udp_probe")]
    port = REUSED_PORT + 30 + (1 if ":" in server else 0)
    lab.c.run(["sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={port} {port}"])
    outcomes = batch(lab, cgroup, [allowed, server, "7000", "--timeout-ms", "1000", "--count",
                                   "3", "--connect"], 1, timeout=20)
    assert outcomes == ["reply"], outcomes
    res = lab.c.run(in_cgroup(cgroup, [PYTHON, "-c", EVICTING_SENDER, server, "7000", "6000"]),
                    timeout=60)
    assert res.stdout.split() == ["0/1"], \
        (res.stdout, res.stderr, d.status()["attribution"]["bpf"])


def test_a_process_that_execs_another_program_does_not_keep_its_udp_flow(lab, cgroup, wardend,
                                                                         twins):
    """Same pid, same start time, another image: the flow is decided for the program it runs
    now. (A socket kept open across the exec keeps its flow: see the README.)"""
    d = profiled(lab, wardend, cgroup, twin_profiles(twins, ("udp_probe",)), default="deny")
    allowed, denied = twins[("allowed", "udp_probe")], twins[("denied", "udp_probe")]
    port = REUSED_PORT + 11
    tail = [S4, "7000", "--source-port", str(port), "--timeout-ms", "1000"]
    outcomes = batch(lab, cgroup, [allowed] + tail + ["--then-exec", denied] + tail, 1,
                     timeout=20)
    assert outcomes == ["reply", "prohibited"], (outcomes, d.status()["attribution"])


# The client's two local addresses on the link to each server (both reach it).
LOCAL_ADDRESSES = {S4: (C4, C4B), S6: (C6, C6B)}


# Binds LOCAL_ADDRESS:PORT, connects to SERVER SERVER_PORT and sends COUNT datagrams with
# send(2), each waiting a second for its echo; prints "<echoes>/<count>".
CONNECTED_SENDER = """
import socket, sys
address, port, server, server_port, count = sys.argv[1:6]
s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((address, int(port)))
s.connect((server, int(server_port)))
s.settimeout(1.0)
echoes = 0
for i in range(int(count)):
    s.send(b"datagram %d" % i)
    try:
        s.recv(100)
        echoes += 1
    except OSError:
        pass
print(f"{echoes}/{count}", flush=True)
"""


def twins_deny(twins, tool):
    """The twin profiles with the denied program's flows dropped (deny), not rejected: a
    dropped first packet is sent again by the program's socket, and decided again."""
    return {"allow": ("allow", {"path": twins[("allowed", tool)]}),
            "deny": ("deny", {"path": twins[("denied", tool)]})}


@pytest.mark.parametrize("server", FAMILIES)
@pytest.mark.parametrize("tool", ["tcp_probe", "udp_probe"])
def test_a_flow_is_decided_for_its_own_socket_not_one_on_another_local_address(
        lab, cgroup, wardend, twins, counter, server, tool):
    """A flow key has no local address: two sockets on one port of two local addresses, to one
    server, write the same key. The denied program binds the port on the second address and
    connects (TCP; or a connected UDP socket): its first packet is dropped. Before it sends
    again (a TCP SYN a second later, from the kernel's timer; the next datagram), the allowed
    program sends from the same port on the first address (a TCP connect; a datagram from an
    unconnected socket), which writes its own record for the key. The denied program's next
    packet is still decided for it, not taken for the allowed program's flow: the TCP
    connection is not made, no datagram of the denied program reaches the server. (Kernel-held
    verdicts off: the refusal held for the denied program after its first datagram would decide
    its next one before the queue, whose attribution this is about.)"""
    d = profiled(lab, wardend, cgroup, twins_deny(twins, tool), default="deny",
                 kernel_verdicts=False)
    first, second = LOCAL_ADDRESSES[server]
    port = REUSED_PORT + 20 + (1 if tool == "udp_probe" else 0) + (2 if ":" in server else 0)
    service = "7000" if tool == "tcp_probe" else str(COUNTED_Y)
    common = [server, service, "--source-port", str(port)]
    if tool == "tcp_probe":
        denied_argv = [twins[("denied", tool)]] + common + ["--source-address", second,
                                                           "--timeout-ms", "4000"]
    else:  # udp_probe stops at its first datagram without an echo: this one goes on
        denied_argv = [PYTHON, "-c", CONNECTED_SENDER, second, str(port), server, service, "3"]
    denied = lab.c.spawn(in_cgroup(cgroup, denied_argv), "denied", lines=True)
    time.sleep(0.4)  # its first packet is dropped; it sends again 1 s after it
    allowed = batch(lab, cgroup, [twins[("allowed", tool)]] + common +
                    ["--source-address", first, "--timeout-ms", "1000"], 1, timeout=20)
    assert allowed == ["connected" if tool == "tcp_probe" else "reply"], allowed
    line = denied.wait_line(lambda t: True, timeout=15)
    assert line is not None, denied.stderr_text()
    if tool == "tcp_probe":
        assert line.split()[0] == "timeout", f"the denied program connected: {line}"
    else:
        assert counter.seen(COUNTED_Y) == 1, \
            f"the denied program's datagrams reached the server ({line}): only the allowed " \
            "program's should have"
    # The other socket's record was noticed: by wardend for TCP (the record's address), by the
    # table for UDP (the record's socket, re-keyed for this socket's last sender).
    attribution = d.status()["attribution"]
    noticed = attribution["records_of_another_address"] if tool == "tcp_probe" else \
        attribution["bpf"]["udp_last_sender"]
    assert noticed >= 1, (attribution, d.status()["totals"])


# The denied program binds one UDP port twice (SO_REUSEADDR): socket B on the second local
# address, socket A on the wildcard. B sends to the server; A at once too, from the first
# address. A's sendmsg hook found the key's record naming this very process (its own local
# address not known there) and changed only its socket, which left B's address in it: A's
# datagram was then not from the record's address, and wardend asked sock_diag who holds A. With
# `holder`, the program first forked an allowed program (a copy of sleep) that inherited A and
# only sleeps: named by the /proc scan, it had A's datagram decided for it (found by an attack
# review). README: "New flows on such a socket are decided for the process that sends them."
# `pktinfo`: A alone, its first datagram sent from the second address (IP_PKTINFO), the next
# from the first; `bab`: B sends again right after A, rewriting the record for B's address
# before wardend reads it for A's datagram (both found by a review of the fix).
SHARED_SENDER = r"""
import os, select, socket, sys, time
second, port, server, service, holder, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
def udp(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    return s
b = udp(second)
a = udp("0.0.0.0")
child = None
if holder != "-":
    os.set_inheritable(a.fileno(), True)
    child = os.fork()
    if child == 0:
        os.execv(holder, [holder, "6"])
    time.sleep(0.7)  # the holder runs, described
if mode == "pktinfo":  # one socket: its first datagram from the second address, named
    import struct
    info = struct.pack("@I4s4s", 0, socket.inet_aton(second), bytes(4))
    a.sendmsg([b"first"], [(socket.IPPROTO_IP, 8, info)], 0, (server, service))  # IP_PKTINFO
else:
    b.sendto(b"first", (server, service))
a.sendto(b"secret", (server, service))
if mode == "bab":  # B's record again while A's datagram waits for its verdict
    b.sendto(b"again", (server, service))
ready, _, _ = select.select([a], [], [], 2.5)
print("reply" if ready and a.recv(100) == b"secret" else "none", flush=True)
if child:
    os.kill(child, 9)
    os.waitpid(child, 0)
"""


@pytest.mark.parametrize("mode", ["two-sockets", "pktinfo", "bab"])
@pytest.mark.parametrize("holder", [pytest.param(False, id="control"),
                                    pytest.param(True, id="allowed-holder")])
def test_a_datagram_is_not_decided_for_another_holder_of_its_socket(lab, cgroup, wardend,
                                                                    holder, mode):
    sleeper = install(shutil.which("sleep"), os.path.join(lab.tmp, "bin", "allowed", "holder"))
    _reachable_by_everyone(lab, sleeper)
    d = profiled(lab, wardend, cgroup, {"allowed": ("allow", {"path": sleeper})},
                 default="deny")
    port = REUSED_PORT + 40 + int(holder) + 2 * ["two-sockets", "pktinfo", "bab"].index(mode)
    res = lab.c.run(in_cgroup(cgroup, NOBODY + [PYTHON, "-c", SHARED_SENDER, C4B, str(port), S4,
                                                "7000", sleeper if holder else "-", mode]),
                    timeout=30, check=False)
    rows = [(r["local_port"], r["pid"], r["profile"], r["action"])
            for r in logged_rows(d, {7000}) or [] if r["remote_port"] == 7000]
    assert res.stdout.split()[:1] == ["none"], (
        f"BYPASS: the denied program's datagram reached the server; log (local port, pid, "
        f"profile, action): {rows}; stderr {res.stderr!r}")
    assert rows and all(r[2] is None and r[3] == "deny" for r in rows), rows
