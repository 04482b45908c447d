"""inbound = true: new connections from outside to listeners in the client namespace (where
wardend runs) are decided by rules with direction = "in"; ports there are local ports and ip the
remote address. With inbound = false they are not decided at all."""
import pytest

from warden_expect import AT_ONCE_MS, DROP_WAIT_MS, dropped
from warden_lab import C4, C4B, C6, C6B, S4B, S6B

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
