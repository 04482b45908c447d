"""MPTCP join subflows (found by an attack review). The kernel opens a join subflow of a
program's MPTCP connection from its MPTCP worker, to an address the peer announced (ADD_ADDR):
the connect hooks saw a kernel worker connect, and the flow was decided for it (no profile,
the engine default) instead of for the program, so a program whose profile refused an address
reached it by having its peer announce it. The join's record now names no process, and such a
flow is decided `unknown` (never `kernel`, nor the engine default).

Needs MPTCP in the kernel (net.mptcp.enabled) and a client that accepts announced addresses
(`ip mptcp limits set add_addr_accepted N`; 0 by default, raised by the test in its own
namespace)."""
import json
import os
import re
import threading
import time

import pytest

from test_attribution import NOBODY, cgroup, in_cgroup, write_profiles
from test_identity_lending import all_rows
from warden_expect import wait_until
from warden_lab import PYTHON, S4, S4B, S6

assert cgroup  # the fixture

PY_EXE = os.path.realpath(PYTHON)
MPTCP_PORT = 7300

# An MPTCP echo server (run in the server namespace): listens on the wildcard address.
MPTCP_SERVER = r"""
import socket, sys, threading
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(16)
print("ready", flush=True)
def serve(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)
while True:
    c, a = s.accept()
    print("accepted", a[0], flush=True)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# The client (run as nobody): MPTCP to HOST:PORT, echo of a few KB over N seconds.
MPTCP_CLIENT = r"""
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
proto = int(sys.argv[4]) if len(sys.argv) > 4 else 262
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
s.settimeout(3)
try:
    s.connect((host, port))
except OSError as e:
    print("connect-failed", e, flush=True)
    sys.exit(0)
print("connected", flush=True)
end = time.monotonic() + secs
n = 0
try:
    while time.monotonic() < end:
        s.sendall(b"x" * 4096)
        got = 0
        while got < 4096:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
        n += got
        time.sleep(0.05)
except OSError as e:
    print("stalled", e, flush=True)
print("echoed", n, flush=True)
"""


def _summary(rows):
    return [(r.get("action"), r.get("protocol"), r.get("remote_addr"), r.get("remote_port"),
             r.get("pid"), r.get("exe"), r.get("profile"), r.get("decided_by")) for r in rows]


def _confined(lab, wardend, cg, allow_ip, default="deny", kernel="allow", **engine):
    """python run as nobody has a profile that allows allow_ip only (default deny)."""
    write_profiles(lab, {})
    path = os.path.join(lab.tmp, "wardend", "profiles.d", "10-confined.toml")
    with open(path, "w") as f:
        f.write(f'name = "confined"\ndefault = "deny"\n[[match]]\npath = "{PY_EXE}"\n'
                f'[[rule]]\naction = "allow"\nip = ["{allow_ip}"]\n')
    os.chmod(path, 0o644)
    for server in (S4, S4B, S6):
        lab.ping(server)
    eng = {"unknown": "deny", "default": default, "kernel": kernel}
    eng.update(engine)
    d = wardend(engine=eng, attribution={"ebpf": True, "cgroup": cg},
                rules=[{"action": "allow", "scope": "localhost"}])
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()
    assert d.status()["method"] == "ebpf", d.status()
    return d


def _netstat(ns, names):
    out = ns.run(["cat", "/proc/net/netstat"]).stdout.splitlines()
    vals = {}
    for i in range(0, len(out) - 1, 2):
        keys, nums = out[i].split(), out[i + 1].split()
        if keys[0] == "MPTcpExt:":
            vals = dict(zip(keys[1:], (int(x) for x in nums[1:])))
    return {n: vals.get(n, 0) for n in names}


def _mptcp_lab(lab):
    """Server announces S4B (ADD_ADDR, signal endpoint); client accepts announced addresses."""
    lab.s.run(["ip", "mptcp", "limits", "set", "subflows", "4", "add_addr_accepted", "4"])
    lab.s.run(["ip", "mptcp", "endpoint", "add", S4B, "dev", "wts0", "signal"])
    lab.c.run(["ip", "mptcp", "limits", "set", "subflows", "4", "add_addr_accepted", "4"])
    srv = lab.s.spawn([PYTHON, "-c", MPTCP_SERVER, str(MPTCP_PORT)], "mptcp-srv", lines=True)
    assert srv.wait_line(lambda t: t == "ready", timeout=10), srv.stderr_text()
    return srv


def _client(lab, cg, host, secs=2.0, proto=262):
    res = lab.c.run(in_cgroup(cg, NOBODY + [PYTHON, "-c", MPTCP_CLIENT, host, str(MPTCP_PORT),
                                           str(secs), str(proto)]), timeout=30, check=False)
    return res.stdout.strip(), res.stderr.strip()


def _subflow_bytes(lab, local):
    """bytes_received of the server's established subflows whose local address is `local`."""
    out = lab.s.run(["ss", "-tinH", "state", "established", "src", f"{local}:{MPTCP_PORT}"]).stdout
    return sum(int(m) for m in re.findall(r"bytes_received:(\d+)", out))


def _run_bg(fn):
    res = {}
    t = threading.Thread(target=lambda: res.update(out=fn()))
    t.start()
    return t, res


def _needs_mptcp():
    try:
        with open("/proc/sys/net/mptcp/enabled") as f:
            if f.read().strip() != "1":
                pytest.skip("MPTCP is disabled here (net.mptcp.enabled)")
    except OSError:
        pytest.skip("this kernel has no MPTCP")


@pytest.mark.parametrize("default", ["allow", "deny"])
def test_mptcp_subflow_to_an_announced_denied_address_is_not_allowed(
        lab, cgroup, wardend, default):
    """The confined program (python as nobody) may reach S4 only. It opens an MPTCP connection
    to S4:7300 (allowed, decided for it). The peer announces S4B (ADD_ADDR; the client host
    accepts announced addresses: `ip mptcp limits set add_addr_accepted N`), and the client's
    kernel opens an MP_JOIN subflow of the program's connection to S4B:7300 from its MPTCP
    worker. That SYN belongs to the program's socket: it must be decided for the program
    (profile: deny S4B), not for the kernel worker that happened to run the connect. With the
    shipped engine config (default = "allow") the worker's flow is allowed and the program's
    data then flowed to S4B, a destination its profile denies (here: forced onto that subflow
    by making S4 unreachable from the server side once the join is up). The join is decided
    `unknown` now (deny in both configurations)."""
    _needs_mptcp()
    _mptcp_lab(lab)
    d = _confined(lab, wardend, cgroup, allow_ip=S4, default=default)
    # Control: the program itself may not reach S4B (plain TCP and MPTCP).
    assert _client(lab, cgroup, S4B, secs=0.3, proto=6)[0].startswith("connect-failed")
    assert _client(lab, cgroup, S4B, secs=0.3)[0].startswith("connect-failed")
    joins = _netstat(lab.s, ["MPJoinAckRx"])["MPJoinAckRx"]
    t, res = _run_bg(lambda: _client(lab, cgroup, S4, secs=5))
    try:
        wait_until(lambda: _netstat(lab.s, ["MPJoinAckRx"])["MPJoinAckRx"] > joins, timeout=3)
        joined = _netstat(lab.s, ["MPJoinAckRx"])["MPJoinAckRx"] - joins
        # The server can no longer answer on S4's subflow: the echo goes on over S4B's alone.
        lab.s.run(["ip", "route", "add", "blackhole", "192.0.2.1/32"])
        time.sleep(2.5)
        via_denied = _subflow_bytes(lab, S4B)
    finally:
        t.join()
        lab.s.run(["ip", "route", "del", "blackhole", "192.0.2.1/32"], check=False)
    time.sleep(0.5)
    rows = all_rows(d)
    summary = _summary(rows)
    to_b = [r for r in rows if r.get("remote_addr") == S4B and r.get("action") == "allow"]
    print("client", res.get("out"), "joined", joined, "bytes via S4B", via_denied)
    print(json.dumps(summary, indent=1))
    assert res["out"][0].startswith("connected"), res
    assert not to_b and joined == 0 and via_denied == 0, (
        f"BYPASS: MPTCP subflow to denied {S4B} accepted (joins {joined}, {via_denied} bytes "
        f"received on it): {json.dumps(to_b)}")
    # A refused join names no process: `unknown` (the program's own tries, its profile).
    joins = [r for r in rows if r.get("remote_addr") == S4B and r.get("pid") is None]
    assert joins and all(r.get("decided_by") == "unknown" for r in joins), summary
    assert d.status()["attribution"]["mptcp_joins"] >= 1
