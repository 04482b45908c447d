"""ICMP echo requests are attributed to the process that sends them (rule 1i,
bpf/attribution/icmp_out.bpf.h). Any user may ping through a ping socket where
net.ipv4.ping_group_range allows it (systemd opens it to every group), and a process with
CAP_NET_RAW through a raw socket, with whatever payload: before, such a flow belonged to no
process, and the shipped policy let every ICMP flow out by a global rule, so a program the
policy refused could still carry data to any host. Now its profile decides.

The programs are copies of ping(8) at paths of the test's own (a copy has no file
capabilities): with ping_group_range open it uses a ping socket, with it closed and
CAP_NET_RAW given it uses a raw socket."""
import os
import shutil

import pytest

from test_attribution import cgroup, in_cgroup, install, logged_rows, profiled  # noqa: F401
from warden_lab import S4, S6

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
