"""A flow decided for one process is not inherited by another that reuses its 4-tuple (SPEC
section 6). A conntrack entry outlives the socket that made it: once an allowed program has
sent from a local port to a server, a denied program that binds the same port and sends to the
same server finds that entry, marked "accepted". It must be decided for itself instead.
TCP's form of this attack (a SYN on an old flow's 4-tuple) is in test_packet_path.py."""
import pytest

from test_attribution import (FAMILIES, S4, batch, cgroup, profiled,  # noqa: F401 (fixtures)
                              twin_profiles, twins)

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
