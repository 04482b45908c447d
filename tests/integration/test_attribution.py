"""Process attribution through the real wardend (SPEC sections 4 and 5): with unknown = "deny",
a flow whose process cannot be named is dropped, so every flow that gets through was
attributed. The eBPF hooks attach to a cgroup of the test's own (never the host's root) and the
clients run inside it; the fallback (ebpf = false) uses sock_diag + /proc.

Profiles (allowed/denied by path) arrive with the policy work; until then these tests check
what attribution alone decides: process / unknown / kernel."""
import os
import re
import signal
import subprocess
import time

import pytest

from warden_expect import DROP_WAIT_MS, dropped, wait_until
from warden_lab import C4, C6, HERE, PYTHON, S4, S6

CLIENTS = int(os.environ.get("WARDEN_ATTR_CLIENTS", "500"))
CG_RE = re.compile(r"^wt(\d+)x\d+$")
TMP_MOUNT_RE = re.compile(r"^/tmp/wt(\d+)x\d+-[^/]*/cg2$")
FAMILIES = [pytest.param(S4, id="ipv4"), pytest.param(S6, id="ipv6")]


def _cgroup2_mounts():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                yield left.split()[4]


def _kill_and_remove(path):
    for _ in range(100):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _unmount(mountpoint):
    for entry in os.listdir(mountpoint):
        if CG_RE.match(entry):
            _kill_and_remove(os.path.join(mountpoint, entry))
    subprocess.run(["umount", "-l", mountpoint], check=False)


@pytest.fixture
def cgroup(lab):
    """A cgroup v2 directory for this test's clients; the hooks attach here. The hierarchy is
    mounted again inside the lab's temporary directory: `ip netns exec` (how wardend and the
    clients run) mounts a fresh /sys, so /sys/fs/cgroup is not reachable from there."""
    if next(_cgroup2_mounts(), None) is None:
        pytest.skip("no cgroup2 mount")
    for mountpoint in list(_cgroup2_mounts()):  # what a killed earlier run left behind
        m = TMP_MOUNT_RE.match(mountpoint)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            _unmount(mountpoint)
    mountpoint = os.path.join(lab.tmp, "cg2")
    os.mkdir(mountpoint)
    subprocess.run(["mount", "-t", "cgroup2", "cgroup2", mountpoint], check=True)
    path = os.path.join(mountpoint, lab.id)
    try:
        os.mkdir(path)
        yield path
    finally:
        _kill_and_remove(path)
        subprocess.run(["umount", "-l", mountpoint], check=False)


def in_cgroup(cg, argv):
    """argv run as a child of a shell that first moved itself into cg."""
    return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" || exit 99; exec "$@"', cg] + list(argv)


def batch(lab, cg, argv, n, timeout):
    """Runs argv n times one after the other, each a new short-lived process in cg and in the
    client namespace; returns the first word of every output line (the outcome)."""
    script = ('cg=$1; n=$2; shift 2; echo $$ > "$cg/cgroup.procs" || exit 99; i=0; '
              'while [ $i -lt $n ]; do "$@"; i=$((i+1)); done')
    res = lab.c.run(["sh", "-c", script, "sh", cg, str(n)] + list(argv), timeout=timeout,
                    check=False)
    assert res.returncode != 99, f"could not join {cg}: {res.stderr}"
    return [line.split()[0] for line in res.stdout.splitlines() if line.split()]


def attributing(lab, wardend, cg, ebpf=True, **engine):
    # Neighbour discovery before wardend, so that no first datagram of a test waits on it.
    for server in (S4, S6):
        lab.ping(server)
    eng = {"unknown": "deny", "default": "allow", "kernel": "allow"}
    eng.update(engine)
    return wardend(engine=eng, attribution={"ebpf": ebpf, "cgroup": cg})


def summary(outcomes):
    counts = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    return counts


@pytest.mark.parametrize("server", FAMILIES)
def test_short_lived_tcp_clients_are_all_attributed(lab, cgroup, wardend, server):
    d = attributing(lab, wardend, cgroup)
    status = d.status()
    assert status["method"] == "ebpf", status
    tcp_probe = lab._client("tcp_probe")
    outcomes = batch(lab, cgroup, [tcp_probe, server, "7000", "--timeout-ms", "1000"], CLIENTS,
                     timeout=CLIENTS * 0.5 + 30)
    att = d.status()["attribution"]
    assert len(outcomes) == CLIENTS and set(outcomes) == {"connected"}, \
        f"{summary(outcomes)}; attribution {att}"
    assert att["misses"] == 0, att
    assert att["flow_hits"] >= CLIENTS, att


@pytest.mark.parametrize("server", FAMILIES)
@pytest.mark.parametrize("connect", [False, True], ids=["sendto", "connect"])
def test_short_lived_udp_senders_are_all_attributed(lab, cgroup, wardend, server, connect):
    d = attributing(lab, wardend, cgroup)
    argv = [lab._client("udp_probe"), server, "7001", "--timeout-ms", "1000"]
    if connect:
        argv.append("--connect")
    outcomes = batch(lab, cgroup, argv, CLIENTS, timeout=CLIENTS * 0.5 + 30)
    att = d.status()["attribution"]
    assert len(outcomes) == CLIENTS and set(outcomes) == {"reply"}, \
        f"{summary(outcomes)}; attribution {att}"
    assert att["misses"] == 0, att
    if connect:
        assert att["bpf"]["udp_connects"] >= CLIENTS, att


def test_unattributable_flows_get_the_unknown_verdict(lab, cgroup, wardend):
    """A flow from a socket that belongs to no process any more: unknown = deny drops it.
    The listener-less port on the server side makes no difference; what matters is that the
    engine verdicts apply to what attribution cannot name, and kernel traffic stays kernel."""
    d = attributing(lab, wardend, cgroup, kernel="deny")
    # ICMP from ping: a socket-owned flow the hooks do not record (TCP and UDP only).
    r = lab.ping(S4)
    assert r.outcome in ("timeout", "blocked"), r
    att = d.status()["attribution"]
    assert att["misses"] >= 1, att


def test_inbound_to_listeners(lab, cgroup, wardend):
    """Inbound connections are attributed to the process that bound the port: one listener
    started inside the attached cgroup after wardend (the bind hook records it), one started
    before wardend outside it (sock_diag finds it). A port nobody listens on is kernel's."""
    before = lab.start_echo(lab.c, ports=(7300,), tag="echo-before")
    d = attributing(lab, wardend, cgroup, inbound=True, kernel="deny")
    after = lab.c.spawn(in_cgroup(cgroup, [PYTHON, os.path.join(HERE, "servers",
                                                                 "echo_server.py"),
                                           "--ports", "7301"]), "echo-after", lines=True)
    assert after.wait_line(lambda t: t == "ready", timeout=10), after.stderr_text()
    for addr in (C4, C6):
        r = lab.tcp_probe(addr, 7300, ns=lab.s)
        assert r.outcome == "connected", r
        r = lab.tcp_probe(addr, 7301, ns=lab.s)
        assert r.outcome == "connected", r
        r = lab.udp_probe(addr, 7301, ns=lab.s)
        assert r.outcome == "reply", r
        r = lab.tcp_probe(addr, 7399, ns=lab.s, timeout_ms=DROP_WAIT_MS)
        assert dropped(r), f"closed port with kernel = deny: {r}"
    att = d.status()["attribution"]
    assert att["listener_hits"] >= 4, att
    assert att["fallback_hits"] >= 2, att
    assert before.alive()


def test_fallback_without_ebpf(lab, cgroup, wardend):
    d = attributing(lab, wardend, cgroup, ebpf=False)
    assert d.status()["method"] == "sock_diag"
    session = lab.tcp_session(S4, 7000, interval_ms=50)
    for server in (S4, S6):
        outcomes = batch(lab, cgroup, [lab._client("tcp_probe"), server, "7000",
                                       "--timeout-ms", "2000"], 20, timeout=120)
        assert set(outcomes) == {"connected"}, summary(outcomes)
    assert session.alive()
    att = wait_until(lambda: d.status()["attribution"], 1)
    assert att["method"] == "sock_diag", att
    assert att["fallback_hits"] >= 41, att
    assert att["misses"] == 0, att


def test_status_counts(lab, cgroup, wardend):
    d = attributing(lab, wardend, cgroup)
    lab.c.run(in_cgroup(cgroup, [lab._client("udp_probe"), S4, "7001"]), check=False)
    att = d.status()["attribution"]
    for key in ("method", "hits", "misses", "evictions", "flow_entries", "flow_capacity",
                "processes", "hash_cache"):
        assert key in att, att
    assert att["flow_entries"] >= 1 and att["evictions"] == 0, att
    assert att["processes"]["execs"] >= 1, att


def test_explain_a_running_process(lab, cgroup, wardend):
    d = attributing(lab, wardend, cgroup)
    server = lab.start_echo(lab.c, ports=(7310,), tag="echo-explained")
    answer = d.request("explain", pid=server.pid)
    assert answer["ok"], answer
    p = answer["process"]
    assert p["pid"] == server.pid
    assert os.path.basename(p["path"]).startswith("python3"), p
    assert os.path.realpath(p["path"]) == os.path.realpath(f"/proc/{server.pid}/exe"), p
    script = os.path.join(HERE, "servers", "echo_server.py")
    assert f"script:{script}" in p["tags"], p
    assert re.fullmatch(r"[0-9a-f]{64}", p["sha256"] or ""), p
    assert "PATH" in p["env_names"] and all("=" not in n for n in p["env_names"]), p
    assert not d.request("explain", pid=2**22 + 1)["ok"]
