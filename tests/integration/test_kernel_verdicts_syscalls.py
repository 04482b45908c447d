"""Kernel-held verdicts (SPEC section 12) against the less common ways of sending: one
sendmmsg() call to two destinations, a UDP socket disconnected with AF_UNSPEC, an IPv4-mapped
destination on a dual-stack socket, io_uring (inline and from an io-wq worker) across a
setuid, a pid reused by a denied program, TCP Fast Open after an exec. Each datagram and
connection gets the verdict of its own sender and destination; each test has a control
showing the held verdict was in use. From an attack review that found them all refused: kept
so that they stay so. The client is clients/syscall_probe.c."""
import os
import time

import pytest

from test_attribution import cgroup, install  # noqa: F401 (cgroup: a fixture)
from test_kernel_verdicts_attacks import Holder, hits, kv, refused, start, wait_held
from test_kernel_verdicts_expiry import write_profile
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import S4, clients_dir


@pytest.fixture
def probe_bin(lab):
    """A function making a copy of syscall_probe at bin/NAME (one path per profile)."""
    def copy(name):
        return install(os.path.join(clients_dir(), "syscall_probe"),
                       os.path.join(lab.tmp, "bin", name, "syscall_probe"))
    return copy


class Probe(Holder):
    """A syscall_probe in the test's cgroup; it answers "ready PID UID" first."""

    def __init__(self, lab, cg, tag, binary, prefix=()):
        super().__init__(lab, cg, tag, prefix=prefix, binary=binary)
        deadline = time.monotonic() + 10
        while not self.proc.lines and time.monotonic() < deadline:
            time.sleep(0.01)
        words = self.proc.lines[0][1].split()
        assert words[0] == "ready", words
        self.pid, self.uid = int(words[1]), int(words[2])

    def say(self, line, timeout=15):
        return self.ask(line, timeout)

    def exec(self, binary):
        """This process execs `binary` (same pid); waits for its "ready" line."""
        seen = len(self.proc.lines)
        self.proc.popen.stdin.write(f"exec {binary}\n".encode())
        self.proc.popen.stdin.flush()
        assert wait_until(lambda: len(self.proc.lines) > seen, timeout=10), "no ready after exec"
        words = self.proc.lines[seen][1].split()
        assert words[0] == "ready" and int(words[1]) == self.pid, words

    def udp(self, host, port, timeout_ms=1500):
        return self.say(f"udp {host} {port} {timeout_ms}").split()[0]


def udp_profile(lab, app, allow=(7000, 7002), deny=(7001,)):
    rules = []
    for port in allow:
        rules += ["[[rule]]", 'action = "allow"', 'proto = "udp"', f"ports = {port}", ""]
    for port in deny:
        rules += ["[[rule]]", 'action = "deny"', 'proto = "udp"', f"ports = {port}", ""]
    write_profile(lab, "app", "\n".join(['name = "app"', 'default = "deny"', "", "[[match]]",
                                          f'path = "{app}"', ""] + rules))


def held_udp(d, p, allowed=(7000,), denied=(7001,)):
    """The probe's UDP flows to S4 at these ports, decided by the queue and then held."""
    for _ in range(2):
        for port in allowed:
            assert p.udp(S4, port) == "reply", port
        for port in denied:
            assert refused(p.udp(S4, port, DROP_WAIT_MS)), port
    wait_held(d, len(allowed) + len(denied))
    before = hits(d)
    for port in allowed:
        assert p.udp(S4, port) == "reply", port
    for port in denied:
        assert refused(p.udp(S4, port, DROP_WAIT_MS)), port
    assert wait_until(lambda: hits(d) >= before + len(allowed) + len(denied), timeout=3), \
        f"not decided by held verdicts: {kv(d)}"


# ---- 2. sendmmsg: two destinations in one call ----------------------------------------------

def test_sendmmsg_to_a_held_allow_and_a_held_deny_decides_each_datagram(
        lab, cgroup, wardend, probe_bin):
    """One sendmmsg() call: a datagram to S4:7000 (held allow) and one to S4:7001 (held deny),
    in either order; then one to 7000 and one to 7002 (allowed, never sent to: the queue
    decides it) and one to 7000 with one to 7003 (denied by default, never decided). Each
    datagram gets its own destination's verdict."""
    app = probe_bin("app")
    udp_profile(lab, app)
    d = start(lab, wardend, cgroup)
    p = Probe(lab, cgroup, "app", app)
    held_udp(d, p)
    before = hits(d)
    assert p.say(f"mmsg {S4} 7000 7001 1000").split()[2:] == ["p1=reply", "p2=timeout"]
    assert p.say(f"mmsg {S4} 7001 7000 1000").split()[2:] == ["p1=timeout", "p2=reply"]
    assert wait_until(lambda: hits(d) >= before + 4, timeout=3), kv(d)
    # Control: a datagram of the same call to an allowed destination not held yet passes.
    assert p.say(f"mmsg {S4} 7000 7002 1500").split()[2:] == ["p1=reply", "p2=reply"]
    assert p.say(f"mmsg {S4} 7000 7003 1000").split()[2:] == ["p1=reply", "p2=timeout"]
    assert p.say(f"mmsg {S4} 7003 7000 1000").split()[2:] == ["p1=timeout", "p2=reply"]


# ---- 3. connect(AF_UNSPEC) then sendto ------------------------------------------------------

def test_a_udp_socket_disconnected_with_af_unspec_gets_its_next_destinations_verdict(
        lab, cgroup, wardend, probe_bin):
    """A UDP socket connected to S4:7000 (held allow) sends, is disconnected (connect with
    AF_UNSPEC) and sends to S4:7001 (held deny) / S4:7003 (never decided, denied): refused.
    Control: the same to S4:7002 (allowed) gets its echo."""
    app = probe_bin("app")
    udp_profile(lab, app)
    d = start(lab, wardend, cgroup)
    p = Probe(lab, cgroup, "app", app)
    held_udp(d, p)
    assert p.say(f"unspec {S4} 7000 7001 {DROP_WAIT_MS}") == "a=reply b=timeout"
    assert p.say(f"unspec {S4} 7000 7003 {DROP_WAIT_MS}") == "a=reply b=timeout"
    assert p.say(f"unspec {S4} 7000 7002 1500") == "a=reply b=reply"


# ---- 4. an IPv4-mapped IPv6 destination on a dual-stack socket ------------------------------

def test_an_ipv4_mapped_destination_gets_the_ipv4_addresss_held_verdict(
        lab, cgroup, wardend, probe_bin):
    """Verdicts held for S4:7000 (allow) and S4:7001 (deny) from an AF_INET socket; an AF_INET6
    socket sends to ::ffff:S4 at both ports: the deny holds, the allow too (control)."""
    app = probe_bin("app")
    udp_profile(lab, app)
    d = start(lab, wardend, cgroup)
    p = Probe(lab, cgroup, "app", app)
    held_udp(d, p)
    before = hits(d)
    assert refused(p.say(f"mapped {S4} 7001 {DROP_WAIT_MS}").split()[0])
    assert p.say(f"mapped {S4} 7000 1500").split()[0] == "reply"
    assert wait_until(lambda: hits(d) >= before + 2, timeout=3), kv(d)
    assert refused(p.say(f"mapped {S4} 7003 {DROP_WAIT_MS}").split()[0])


# ---- 5. io_uring after a change of uid (inline, io-wq worker, registered personality) -----

def uid_profiles(lab):
    write_profile(lab, "root", 'name = "root"\ndefault = "allow"\n\n[[match]]\nuid = 0\n')
    write_profile(lab, "nobody", 'name = "nobody"\ndefault = "deny"\n\n[[match]]\nuid = 65534\n')


def test_io_uring_sends_after_setuid_are_decided_for_the_new_uid(lab, cgroup, wardend,
                                                                  probe_bin):
    """A root process (profile uid 0: allow) has UDP to S4:7000 and TCP to S4:7001 held as
    allowed, sent through io_uring (inline and from an io-wq worker, IOSQE_ASYNC), its ring
    made as root. It drops to 65534 (profile: deny) and sends the same through the same ring:
    inline, from a worker (IOSQE_ASYNC), and connects: each is refused (the worker runs with
    the submitter's credentials at submission). Control: before setuid the same sends pass,
    decided by held verdicts."""
    uid_profiles(lab)
    app = probe_bin("app")
    d = start(lab, wardend, cgroup, fail="closed")
    p = Probe(lab, cgroup, "app", app)
    assert p.uid == 0
    for _ in range(2):
        for mode in ("inline", "async"):
            assert p.say(f"uring udp {S4} 7000 1500 {mode} 0").split()[0] == "reply", mode
            assert p.say(f"uring tcp {S4} 7001 1500 {mode} 0").split()[0] == "connected", mode
        wait_held(d, 2)
    before = hits(d)
    for mode in ("inline", "async"):
        assert p.say(f"uring udp {S4} 7000 1500 {mode} 0").split()[0] == "reply", mode
        assert p.say(f"uring tcp {S4} 7001 1500 {mode} 0").split()[0] == "connected", mode
    assert wait_until(lambda: hits(d) >= before + 4, timeout=3), kv(d)
    assert p.say("setuid 65534") == "uid 65534"
    for mode in ("inline", "async"):
        o = p.say(f"uring udp {S4} 7000 {DROP_WAIT_MS} {mode} 0").split()[0]
        assert refused(o), f"io_uring {mode} UDP after setuid: {o}"
        o = p.say(f"uring tcp {S4} 7001 {DROP_WAIT_MS} {mode} 0").split()[0]
        assert refused(o), f"io_uring {mode} connect after setuid: {o}"
    assert refused(p.udp(S4, 7000, DROP_WAIT_MS))


def test_io_uring_personality_registered_before_setuid_is_decided_alike_held_or_not(
        lab, cgroup, wardend, probe_bin):
    """Observation (not a held-verdict bypass): a personality registered as root before
    setuid(65534) makes later io_uring requests run with root's credentials, and the kernel,
    the hooks and wardend's queue all take them for uid 0. Asserted: the held verdict (S4:7000,
    held before the setuid) and the queue (S4:7002, never sent to) decide them alike."""
    uid_profiles(lab)
    app = probe_bin("app")
    d = start(lab, wardend, cgroup, fail="closed")
    p = Probe(lab, cgroup, "app", app)
    pers = int(p.say("ringpers").split()[1])
    for _ in range(2):
        assert p.say(f"uring udp {S4} 7000 1500 async 0").split()[0] == "reply"
    wait_held(d, 1)
    assert p.say("setuid 65534") == "uid 65534"
    held = p.say(f"uring udp {S4} 7000 1500 async {pers}").split()[0]
    queued = p.say(f"uring udp {S4} 7002 1500 async {pers}").split()[0]
    plain = p.say(f"uring udp {S4} 7002 {DROP_WAIT_MS} async 0").split()[0]
    print("personality: held", held, "queued", queued, "no personality", plain)
    assert refused(plain)
    assert held == queued, (held, queued)


# ---- 6. pid reuse: a denied program started under the pid of an exited held process -------

def spawn_with_pid(lab, cg, tag, binary, pid, attempts=20):
    """A Probe of `binary` whose pid is `pid` (ns_last_pid of the initial namespace set just
    before the fork: the harness emulates a pid wrap-around, root; the process itself is
    nobody's business); None when another process took the number first every time."""
    for _ in range(attempts):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = Probe(lab, cg, tag, binary)
        if p.pid == pid:
            return p
        if p.proc.alive():
            p.proc.popen.stdin.write(b"quit\n")
            p.proc.popen.stdin.flush()
    return None


def test_a_process_reusing_a_held_processs_pid_gets_no_held_allow(lab, cgroup, wardend,
                                                                 probe_bin):
    """The allowed program's UDP to S4:7000 is held; it exits; a denied program (profile
    default deny) starts under the same pid (and, being a copy of the same probe, the same
    exec generation count): its datagram to S4:7000 is refused (the key has the start time).
    Control: the allowed program under a new pid is still allowed (the held entry lives)."""
    allowed = probe_bin("allowed")
    denied = probe_bin("denied")
    udp_profile(lab, allowed)
    write_profile(lab, "denied", "\n".join(['name = "denied"', 'default = "deny"', "",
                                            "[[match]]", f'path = "{denied}"', ""]))
    d = start(lab, wardend, cgroup, fail="closed")
    p = Probe(lab, cgroup, "allowed", allowed)
    held_udp(d, p)
    old = p.pid
    p.proc.popen.stdin.write(b"quit\n")
    p.proc.popen.stdin.flush()
    p.proc.popen.wait(timeout=5)
    q = spawn_with_pid(lab, cgroup, "denied", denied, old)
    if q is None:
        pytest.skip(f"pid {old} was taken by another process every time")
    before = hits(d)
    o = q.udp(S4, 7000, DROP_WAIT_MS)
    assert refused(o), f"pid {old} reused by a denied program: {o} ({kv(d)})"
    assert hits(d) == before, kv(d)


# ---- 7. TCP Fast Open: sendto(MSG_FASTOPEN) after exec ---------------------------------------

def test_a_fast_open_sendto_after_exec_gets_no_held_allow(lab, cgroup, wardend, probe_bin):
    """The allowed program's TCP Fast Open connections to S4:7000 (sendto with MSG_FASTOPEN and
    the address: the SYN leaves inside that call) are held; it execs the denied program (same
    pid), which does the same: refused. Control: before the exec the held allow decides them."""
    lab.c.run(["sysctl", "-qw", "net.ipv4.tcp_fastopen=1"], check=False)
    allowed = probe_bin("allowed")
    denied = probe_bin("denied")
    write_profile(lab, "app", "\n".join(['name = "app"', 'default = "deny"', "", "[[match]]",
                                         f'path = "{allowed}"', "", "[[rule]]",
                                         'action = "allow"', "ports = 7000", ""]))
    write_profile(lab, "denied", "\n".join(['name = "denied"', 'default = "deny"', "",
                                            "[[match]]", f'path = "{denied}"', ""]))
    d = start(lab, wardend, cgroup, fail="closed")
    p = Probe(lab, cgroup, "app", allowed)
    for _ in range(2):
        assert p.say(f"tfosend {S4} 7000 1500") == "connected"
    wait_held(d, 1)
    before = hits(d)
    assert p.say(f"tfosend {S4} 7000 1500") == "connected"
    assert wait_until(lambda: hits(d) >= before + 1, timeout=3), kv(d)
    p.exec(denied)
    o = p.say(f"tfosend {S4} 7000 {DROP_WAIT_MS}")
    assert refused(o), f"MSG_FASTOPEN after exec: {o}"
