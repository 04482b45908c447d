"""The packet path as a user sees it: global [[rule]]s and the engine default decide new TCP,
UDP and ICMP flows over IPv4 and IPv6; reject is seen at once; learn mode accepts everything;
and only the first packet of a flow ever reaches wardend."""
import os
import shutil

import pytest

from warden_expect import AT_ONCE_MS, DROP_WAIT_MS, dropped, wait_until
from warden_lab import HTTP_BODY, S4, S4B, S6, S6B

# (the server address rules leave alone, the server's other address, that address's prefix)
FAMILIES = [
    pytest.param((S4, S4B, "198.51.100.0/24"), id="ipv4"),
    pytest.param((S6, S6B, "2001:db8:1::/48"), id="ipv6"),
]
ICMP_PROHIBITED = {S4: "3/13", S6: "1/1"}  # type/code of "administratively prohibited"


def same_default(verdict):
    """Until profiles and attribution land every flow ends at the engine default; the unknown
    and kernel defaults are set alike so the test holds whichever of them a flow reaches."""
    return {"default": verdict, "unknown": verdict, "kernel": verdict}


@pytest.mark.parametrize("fam", FAMILIES)
def test_tcp_allowed_and_denied_by_global_rules(lab, wardend, fam):
    host, other, _ = fam
    d = wardend(rules=[
        {"action": "deny", "proto": "tcp", "ports": ["7001-7002"], "comment": "by port range"},
        {"action": "deny", "direction": "out", "proto": "tcp", "ip": other, "log": False},
    ])
    r = lab.tcp_probe(host, 7000)
    assert r.outcome == "connected", r
    for target in ((host, 7001), (host, 7002), (other, 7000)):
        r = lab.tcp_probe(*target, timeout_ms=DROP_WAIT_MS)
        assert dropped(r), f"{target}: {r}"
    # The rules are for TCP only: UDP to the same port and address passes.
    assert lab.udp_probe(host, 7001).outcome == "reply"
    assert lab.udp_probe(other, 7000).outcome == "reply"
    totals = d.status()["totals"]
    assert totals["deny"] >= 3 and totals["allow"] >= 3, totals


@pytest.mark.parametrize("connect", [False, True], ids=["sendto", "connected"])
@pytest.mark.parametrize("fam", FAMILIES)
def test_udp_allowed_and_denied_by_global_rules(lab, wardend, fam, connect):
    host, other, other_net = fam
    wardend(rules=[
        {"action": "deny", "proto": "udp", "ports": [7001, 7002]},
        {"action": "deny", "proto": "udp", "ip": [other_net]},
    ])
    r = lab.udp_probe(host, 7000, count=5, connect=connect)
    assert (r.outcome, r.replies) == ("reply", 5), r
    for target in ((host, 7001), (host, 7002), (other, 7000)):
        r = lab.udp_probe(*target, timeout_ms=DROP_WAIT_MS, connect=connect)
        assert dropped(r), f"{target}: {r}"
    assert lab.tcp_probe(host, 7001).outcome == "connected"


@pytest.mark.parametrize("fam", FAMILIES)
def test_icmp_allowed_and_denied_by_global_rules(lab, wardend, fam):
    host, other, _ = fam
    wardend(rules=[{"action": "deny", "proto": "icmp", "ip": other}])
    r = lab.ping(host)
    assert r.outcome == "reply", r
    r = lab.ping(other, timeout_s=1)
    assert dropped(r), r
    assert lab.tcp_probe(other, 7000).outcome == "connected"


@pytest.mark.parametrize("fam", FAMILIES)
def test_engine_default_deny(lab, wardend, fam):
    host, other, _ = fam
    wardend(engine=same_default("deny"), rules=[
        {"action": "allow", "proto": "tcp", "ports": 7000},
        {"action": "allow", "proto": "udp", "ports": 7001},
        {"action": "allow", "proto": "icmp", "ip": host},
    ])
    assert lab.tcp_probe(host, 7000).outcome == "connected"
    assert dropped(lab.tcp_probe(host, 7001, timeout_ms=DROP_WAIT_MS))
    assert lab.udp_probe(host, 7001).outcome == "reply"
    assert dropped(lab.udp_probe(host, 7000, timeout_ms=DROP_WAIT_MS))
    assert lab.ping(host).outcome == "reply"
    assert dropped(lab.ping(other, timeout_s=1))


@pytest.mark.parametrize("fam", FAMILIES)
def test_engine_default_reject(lab, wardend, fam):
    host, _, _ = fam
    wardend(engine=same_default("reject"), rules=[
        {"action": "allow", "proto": "tcp", "ports": 7000}])
    assert lab.tcp_probe(host, 7000).outcome == "connected"
    r = lab.tcp_probe(host, 7001, timeout_ms=3000)
    assert r.outcome == "refused" and r.elapsed_ms < AT_ONCE_MS, r
    r = lab.udp_probe(host, 7000, timeout_ms=3000)
    assert r.outcome == "prohibited" and r.elapsed_ms < AT_ONCE_MS, r


@pytest.mark.parametrize("fam", FAMILIES)
def test_reject_tcp_is_a_reset_seen_at_once(lab, wardend, fam):
    host, _, _ = fam
    d = wardend(rules=[{"action": "reject", "proto": "tcp", "ports": 7001}])
    for _ in range(3):  # every new flow, not just the first
        r = lab.tcp_probe(host, 7001, timeout_ms=3000)
        assert r.outcome == "refused" and r.elapsed_ms < AT_ONCE_MS, r
    assert lab.tcp_probe(host, 7000).outcome == "connected"
    assert d.status()["totals"]["reject"] >= 3


@pytest.mark.parametrize("connect", [False, True], ids=["sendto", "connected"])
@pytest.mark.parametrize("fam", FAMILIES)
def test_reject_udp_is_icmp_prohibited_seen_at_once(lab, wardend, fam, connect):
    host, _, _ = fam
    wardend(rules=[{"action": "reject", "proto": "udp", "ports": 7001}])
    r = lab.udp_probe(host, 7001, timeout_ms=3000, connect=connect)
    assert r.outcome == "prohibited" and r.elapsed_ms < AT_ONCE_MS, r
    assert r.extra.get("icmp") == ICMP_PROHIBITED[host], r
    assert lab.udp_probe(host, 7000, connect=connect).outcome == "reply"


@pytest.mark.parametrize("fam", FAMILIES)
def test_reject_icmp_is_an_error_seen_at_once(lab, wardend, fam):
    host, other, _ = fam
    wardend(rules=[{"action": "reject", "proto": "icmp", "ip": other}])
    r = lab.ping(other, timeout_s=3)
    assert r.outcome == "error" and r.elapsed_ms < 1000, r
    assert lab.ping(host).outcome == "reply"


@pytest.mark.parametrize("fam", FAMILIES)
def test_curl_through_global_rules(lab, http, wardend, fam):
    host, other, _ = fam
    wardend(rules=[{"action": "deny", "proto": "tcp", "ip": other, "ports": 8080}])
    r = lab.curl(host)
    assert r.outcome == "ok" and r.stdout == HTTP_BODY.decode(), r
    r = lab.curl(other, timeout_s=2)
    assert r.outcome == "timeout", r


@pytest.mark.parametrize("fam", FAMILIES)
def test_only_first_packet_of_udp_flow_reaches_userspace(lab, wardend, fam):
    host, _, _ = fam
    d = wardend()
    assert lab.udp_probe(host, 7000).outcome == "reply"  # neighbour discovery done
    before = d.packets()
    r = lab.udp_probe(host, 7002, count=1000, connect=True)
    assert (r.outcome, r.replies) == ("reply", 1000), r
    queued = d.packets() - before
    assert queued == 1, f"{queued} packets of a 1,000-datagram flow reached wardend"


@pytest.mark.parametrize("fam", FAMILIES)
def test_only_first_packet_of_tcp_flow_reaches_userspace(lab, wardend, fam):
    host, _, _ = fam
    d = wardend()
    assert lab.tcp_probe(host, 7000).outcome == "connected"
    before = d.packets()
    r = lab.tcp_exchange(host, 7002, count=1000)
    assert (r.outcome, r.replies) == ("done", 1000), r
    queued = d.packets() - before
    assert queued == 1, f"{queued} packets of a 1,000-exchange TCP flow reached wardend"


@pytest.mark.parametrize("ext", ["hop", "dst"])
def test_ports_seen_past_ipv6_extension_headers(lab, wardend, ext):
    """A hop-by-hop or destination-options header between IPv6 and UDP: the port rule still
    applies, and the packet is not taken for malformed."""
    d = wardend(rules=[{"action": "deny", "proto": "udp", "ports": 7001}])
    r = lab.udp_probe(S6, 7000, count=3, ipv6_ext=ext)
    assert (r.outcome, r.replies) == ("reply", 3), r
    r = lab.udp_probe(S6, 7001, ipv6_ext=ext, timeout_ms=DROP_WAIT_MS)
    assert dropped(r), r
    totals = d.status()["totals"]
    assert totals["malformed"] == 0 and totals["deny"] == 1, totals


def test_custom_mark_mask(lab, wardend):
    """mark_mask moves the remembered verdict to other conntrack mark bits; flows are decided
    once and remembered there (inspected with the conntrack tool)."""
    mask = 0x0000F000
    d = wardend(engine={"mark_mask": mask}, rules=[{"action": "deny", "proto": "tcp",
                                                    "ports": 7001}])
    assert dropped(lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS))
    session = lab.tcp_session(S4, 7000)
    before = d.packets()
    r = lab.tcp_exchange(S4, 7002, count=300)
    assert (r.outcome, r.replies) == ("done", 300), r
    assert d.packets() - before == 1
    res = lab.c.run(["conntrack", "-L", "-p", "tcp", "--dport", "7000"], check=False)
    marks = [int(w.split("=")[1]) for w in res.stdout.split() if w.startswith("mark=")]
    assert marks, f"no conntrack entry for the held session:\n{res.stdout}{res.stderr}"
    for mark in marks:
        assert mark & mask and not mark & ~mask, f"ct mark {mark:#x} outside mask {mask:#x}"
    session.signal(15)


def test_learn_mode_accepts_what_would_be_denied(lab, wardend):
    d = wardend(engine={"mode": "learn", **same_default("deny")}, rules=[
        {"action": "deny", "proto": "tcp", "ports": 7001},
        {"action": "reject", "proto": "udp"},
        {"action": "deny", "proto": "icmp"},
    ])
    assert d.status()["mode"] == "learn"
    for host in (S4, S6):
        assert lab.tcp_probe(host, 7001).outcome == "connected"
        assert lab.tcp_probe(host, 7000).outcome == "connected"
        assert lab.udp_probe(host, 7000).outcome == "reply"
        assert lab.ping(host).outcome == "reply"


def test_a_new_connection_on_an_old_flows_tuple_is_decided_again(lab, wardend):
    """A connection whose end conntrack never saw (closed with TCP_REPAIR: no FIN, no reset)
    leaves its entry ESTABLISHED with warden's "accepted" mark. Another process that binds the
    same source port and connects to the same server sends a SYN conntrack files under that
    entry: it must be decided for that process, not waved through on the old verdict."""
    allowed = os.path.realpath(lab._client("tcp_probe"))
    denied = os.path.join(lab.tmp, "tcp_probe_denied")
    shutil.copy(allowed, denied)
    os.chmod(denied, 0o755)
    d = wardend(engine=same_default("allow"))
    path = os.path.join(d.dir, "profiles.d", "10-denied.toml")
    with open(path, "w") as f:
        f.write(f'name = "denied"\ndefault = "deny"\n[[match]]\npath = "{denied}"\n')
    os.chmod(path, 0o644)
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()

    port = "47123"
    first = lab.c.run([allowed, S4, "7000", "--source-port", port, "--vanish"], check=False)
    assert first.stdout.startswith("connected"), first
    before = d.packets()
    second = lab.c.run([denied, S4, "7000", "--source-port", port, "--timeout-ms",
                        str(DROP_WAIT_MS)], check=False, timeout=10)
    assert second.stdout.startswith("timeout"), f"the denied process got through: {second}"
    assert d.packets() > before, "its SYN never reached wardend"
    # And the allowed process may still make that connection again.
    again = lab.c.run([allowed, S4, "7000", "--source-port", port], check=False)
    assert again.stdout.startswith("connected"), again
