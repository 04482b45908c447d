"""Self-tests of the lab, without wardend: the namespaces, servers and client programs must
report what really happened, or every other test here proves nothing."""
import os
import subprocess

import pytest

from warden_lab import (BLACKHOLE4, BLACKHOLE6, CLOSED_PORT, HTTP_BODY, PROHIBITED4, PROHIBITED6,
                        S4, S4B, S6, S6B, Lab, run, sweep_leftovers)

ADDRS = [S4, S6]
ALL_ADDRS = [S4, S4B, S6, S6B]


@pytest.mark.parametrize("host", ALL_ADDRS)
def test_tcp_connects_and_exchanges(lab, host):
    assert lab.tcp_probe(host, 7000).outcome == "connected"
    r = lab.tcp_exchange(host, 7001, count=50)
    assert (r.outcome, r.replies) == ("done", 50), r


@pytest.mark.parametrize("host", ADDRS)
def test_tcp_refused_timeout_unreachable(lab, host):
    r = lab.tcp_probe(host, CLOSED_PORT)
    assert r.outcome == "refused" and r.returncode == 1, r
    blackhole = BLACKHOLE4 if ":" not in host else BLACKHOLE6
    r = lab.tcp_probe(blackhole, 7000, timeout_ms=400)
    assert r.outcome == "timeout" and r.returncode == 2 and r.elapsed_ms >= 390, r
    # ICMP "administratively prohibited" from the wire: Linux maps v4 code 13 to EHOSTUNREACH
    # and v6 code 1 to EACCES for TCP. (Over IPv6 the first SYN's error reliably arrives only
    # after the retransmission here, about 1 s; the outcome is what this checks.)
    prohibited = PROHIBITED4 if ":" not in host else PROHIBITED6
    r = lab.tcp_probe(prohibited, 7000, timeout_ms=3000)
    expected = "unreachable" if ":" not in host else "prohibited"
    assert r.outcome == expected and r.elapsed_ms < 2500, r


@pytest.mark.parametrize("connect", [False, True], ids=["sendto", "connected"])
@pytest.mark.parametrize("host", ADDRS)
def test_udp_outcomes(lab, host, connect):
    r = lab.udp_probe(host, 7000, count=3, connect=connect)
    assert (r.outcome, r.replies, r.count) == ("reply", 3, 3), r
    r = lab.udp_probe(host, CLOSED_PORT, connect=connect)
    assert r.outcome == "refused" and r.elapsed_ms < 500, r
    blackhole = BLACKHOLE4 if ":" not in host else BLACKHOLE6
    r = lab.udp_probe(blackhole, 7000, timeout_ms=300, connect=connect)
    assert r.outcome == "timeout" and r.returncode == 2, r
    prohibited = PROHIBITED4 if ":" not in host else PROHIBITED6
    r = lab.udp_probe(prohibited, 7000, connect=connect)
    assert r.outcome == "prohibited" and r.returncode == 4 and r.elapsed_ms < 500, r
    assert r.extra["icmp"] == ("3/13" if ":" not in host else "1/1"), r


@pytest.mark.parametrize("ext", ["hop", "dst"])
def test_udp_with_ipv6_extension_header(lab, ext):
    r = lab.udp_probe(S6, 7000, count=3, ipv6_ext=ext)
    assert (r.outcome, r.replies) == ("reply", 3), r


def test_udp_thousand_datagrams_one_flow(lab):
    r = lab.udp_probe(S4, 7002, count=1000, connect=True)
    assert (r.outcome, r.replies) == ("reply", 1000), r


@pytest.mark.parametrize("host", ADDRS)
def test_ping_outcomes(lab, host):
    assert lab.ping(host).outcome == "reply"
    r = lab.ping(BLACKHOLE4 if ":" not in host else BLACKHOLE6, timeout_s=1)
    assert r.outcome == "timeout", r
    r = lab.ping(PROHIBITED4 if ":" not in host else PROHIBITED6)
    assert r.outcome == "error" and r.elapsed_ms < 1000, r


@pytest.mark.parametrize("host", ADDRS)
def test_curl(lab, http, host):
    r = lab.curl(host)
    assert r.outcome == "ok" and r.stdout == HTTP_BODY.decode(), r
    r = lab.curl(host, port=CLOSED_PORT)
    assert r.outcome == "refused", r


def test_tcp_session_reports_every_exchange(lab):
    p = lab.tcp_session(S6, 7000, interval_ms=50)
    assert p.wait_line(lambda t: t.startswith("ok 9 "), timeout=5), p.stdout_text()
    p.signal(15)
    assert p.wait(5) == 0
    assert p.wait_line(lambda t: t.startswith("done "), timeout=2), p.stdout_text()
    assert not any(t.startswith("fail") for _, t in p.lines), p.stdout_text()


def test_lab_close_removes_everything(root):
    lab = Lab()
    names = [lab.c.name, lab.s.name]
    echo = lab.start_echo(lab.s)
    tmp = lab.tmp
    lab.close()
    listed = run(["ip", "netns", "list"]).stdout
    assert not any(n in listed for n in names)
    assert echo.popen.poll() is not None
    assert not os.path.exists(tmp)


def test_sweep_removes_leftovers_of_dead_runs(root):
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"wt{dead.pid}x1c"
    run(["ip", "netns", "add", name])
    try:
        sweep_leftovers()
        assert name not in run(["ip", "netns", "list"]).stdout
    finally:
        run(["ip", "netns", "del", name], check=False)
