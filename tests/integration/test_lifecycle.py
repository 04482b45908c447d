"""wardend's life as an administrator sees it: one `inet warden` table however often it starts,
SIGTERM/SIGINT give every pending packet a verdict, remove the table and exit 0; killed with
SIGKILL it leaves the table, and `fail` says what new flows get then; `--cleanup` restores
traffic; the control socket reports its state."""
import signal
import threading
import time

import pytest

from warden_cli import cli
from warden_daemon import warden_tables
from warden_expect import DROP_WAIT_MS, dropped, dropped_or_blocked, wait_until
from warden_lab import S4, S6, S4B, S6B

TABLE = ["table inet warden"]
DENY_7001 = [{"action": "deny", "proto": "tcp", "ports": 7001}]


def assert_policy_enforced(lab):
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    r = lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS)
    assert dropped(r), f"deny rule not enforced: {r}"


def assert_no_filtering(lab):
    for host in (S4, S6):
        assert lab.tcp_probe(host, 7001).outcome == "connected"
        assert lab.udp_probe(host, 7001).outcome == "reply"


def ok_lines_after(session, t):
    return [text for when, text in list(session.lines) if when > t and text.startswith("ok ")]


def assert_session_alive(session, since, min_ok):
    """The held connection answered at least min_ok exchanges after `since`, and none failed."""
    def enough():
        return len(ok_lines_after(session, since)) >= min_ok
    wait_until(enough, timeout=min_ok * 0.1 + 3)
    fails = [text for _, text in list(session.lines) if text.startswith("fail")]
    assert not fails, f"established connection broke: {fails}"
    assert enough(), (f"established connection stalled: {len(ok_lines_after(session, since))} "
                      f"exchanges since; output:\n{session.stdout_text()[-500:]}")


def test_status_reports_state(lab, wardend):
    d = wardend(engine={"queues": [0, 1], "fail": "closed"})
    status = d.status()
    assert status["mode"] == "enforce"
    assert status["fail"] == "closed"
    assert status["method"], status  # the attribution method (SPEC section 5)
    # This kernel has no nft_queue: the probe must pick the compat target and say so.
    assert status["queue_method"] == "nft_compat", status
    assert "nft_compat" in d.stderr(), "the chosen queue method should be logged"
    for key in ("packets", "allow", "deny", "reject", "malformed", "enobufs", "queue_drops"):
        assert isinstance(status["totals"][key], int), (key, status)
    assert sorted(q["queue"] for q in status["queues"]) == [0, 1], status
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    after = d.status()
    assert after["totals"]["packets"] >= 1 and after["totals"]["allow"] >= 1, after
    assert sum(q["packets"] for q in after["queues"]) == after["totals"]["packets"], after


def test_unknown_control_command_is_refused(lab, wardend):
    d = wardend()
    answer = d.request("no-such-command")
    assert answer.get("ok") is False, answer
    assert d.alive()


def test_starts_leave_exactly_one_table(lab, wardend):
    assert warden_tables(lab.c) == []
    d1 = wardend(rules=DENY_7001)
    assert warden_tables(lab.c) == TABLE
    assert d1.terminate() == 0
    assert warden_tables(lab.c) == []
    d2 = wardend(rules=DENY_7001)
    assert warden_tables(lab.c) == TABLE
    d2.kill9()
    assert warden_tables(lab.c) == TABLE, "a crash leaves the table behind"
    d3 = wardend(rules=DENY_7001)
    assert warden_tables(lab.c) == TABLE, "a start after a crash must replace the old table"
    assert_policy_enforced(lab)
    assert d3.terminate() == 0
    assert warden_tables(lab.c) == []


def test_second_start_while_running_does_not_duplicate(lab, wardend):
    d1 = wardend(rules=DENY_7001)
    d2 = wardend(tag="second", wait_ready=False, rules=DENY_7001)
    wait_until(lambda: not d2.alive() or "wardend: info: ready" in d2.stderr(), timeout=10)
    assert warden_tables(lab.c) == TABLE, f"second wardend's stderr:\n{d2.stderr()}"
    assert d1.alive(), "the running daemon must survive a second start"
    assert_policy_enforced(lab)
    for d in (d2, d1):
        if d.alive():
            assert d.terminate() == 0, d.stderr()
    assert warden_tables(lab.c) == []


def test_overlapping_daemons_still_leave_a_firewall(lab, wardend):
    """A second wardend on other queues (another config) while the first runs: the table
    records its owner, so the second refuses to start, naming the first, and touches nothing;
    the first keeps enforcing and removes its table when it stops."""
    d1 = wardend(rules=DENY_7001)
    d2 = wardend(tag="second", wait_ready=False, engine={"queues": [2, 3]}, rules=DENY_7001)
    wait_until(lambda: not d2.alive(), timeout=10)
    assert d2.proc.popen.returncode == 1, d2.stderr()
    assert f"belongs to a running wardend (pid {d1.proc.pid})" in d2.stderr(), d2.stderr()
    # It removed nothing, and must not say it did: the first daemon's table is still there.
    assert "removed" not in d2.stderr(), d2.stderr()
    assert "table inet warden left untouched" in d2.stderr(), d2.stderr()
    assert warden_tables(lab.c) == TABLE
    assert_policy_enforced(lab)
    assert d1.alive()
    assert d1.terminate() == 0, d1.stderr()
    assert warden_tables(lab.c) == []


def test_cleanup_refuses_while_the_owner_runs(lab, wardend):
    d = wardend(rules=DENY_7001)
    res = d.cleanup()
    assert res.returncode == 1, res.stderr
    assert "which is running" in res.stderr, res.stderr
    assert warden_tables(lab.c) == TABLE
    assert_policy_enforced(lab)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_zero_and_removes_table(lab, wardend, sig):
    d = wardend(rules=DENY_7001)
    assert_policy_enforced(lab)
    assert d.terminate(sig) == 0, d.stderr()
    assert warden_tables(lab.c) == []
    assert_no_filtering(lab)


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_sigterm_under_load_loses_no_flow(lab, wardend, fail):
    """Many new UDP flows in flight while SIGTERM arrives: every one gets its echo, so every
    queued packet got a verdict and no packet fell between removing the table and closing the
    queue (with fail = closed such a packet would be dropped)."""
    d = wardend(engine={"fail": fail})
    results = []

    def load(host):
        # 150 flows one after another, each its own socket and source port, 3 s to answer.
        script = ("i=0; while [ $i -lt 150 ]; do "
                  f"{lab._client('udp_probe')} {host} 7000 --timeout-ms 3000 || true; "
                  "i=$((i+1)); done")
        results.append(lab.c.run(["sh", "-c", script], timeout=120, check=False).stdout)

    threads = [threading.Thread(target=load, args=(h,)) for h in (S4, S6, S4, S6)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assert d.terminate() == 0, d.stderr()
    for t in threads:
        t.join(timeout=150)
    lines = [l for out in results for l in out.splitlines()]
    lost = [l for l in lines if not l.startswith("reply")]
    assert len(lines) == 600
    assert not lost, f"{len(lost)} of 600 flows lost around SIGTERM: {lost[:5]}"
    assert warden_tables(lab.c) == []


@pytest.mark.parametrize("fail,inbound", [("open", False), ("closed", False), ("closed", True)],
                         ids=["open", "closed", "closed-inbound"])
def test_sigterm_with_packets_pending(lab, wardend, fail, inbound):
    """Packets wait in the queue (the daemon is stopped with SIGSTOP) when SIGTERM arrives:
    each must still get its verdict. The kernel drops every queued packet whenever any netfilter
    hook of the namespace is unregistered (a base chain deleted, or the last conntrack user
    gone), so nothing like that may happen before the queues are drained."""
    d = wardend(engine={"fail": fail, "inbound": inbound})
    d.proc.signal(signal.SIGSTOP)
    try:
        probes = [lab.c.spawn([lab._client("udp_probe"), host, "7000", "--timeout-ms", "4000"],
                              f"pending-{i}")
                  for i, host in enumerate((S4, S6) * 4)]
        time.sleep(0.5)  # all eight first packets are now queued, waiting for a verdict
        d.proc.signal(signal.SIGTERM)
    finally:
        d.proc.signal(signal.SIGCONT)
    assert d.proc.wait(10) == 0, d.stderr()
    outcomes = []
    for p in probes:
        p.wait(10)
        outcomes.append(p.stdout_text().strip())
    lost = [o for o in outcomes if not o.startswith("reply")]
    assert not lost, f"{len(lost)} of {len(outcomes)} pending flows lost at SIGTERM: {lost}"
    assert warden_tables(lab.c) == []


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_queue_full_follows_fail_mode(lab, wardend, fail):
    """The daemon is alive but not reading (SIGSTOP) and its queues hold 2 packets each: flows
    beyond that pass at once with fail = open and are dropped with fail = closed (SPEC 6). The
    queued ones are answered once the daemon runs again."""
    d = wardend(engine={"fail": fail, "queues": [0], "queue_maxlen": 2})
    d.proc.signal(signal.SIGSTOP)
    try:
        probes = [lab.c.spawn([lab._client("udp_probe"), S4, "7000", "--timeout-ms", "3000"],
                              f"full-{i}") for i in range(8)]
        time.sleep(1.0)
        early = [p for p in probes if not p.alive()]
    finally:
        d.proc.signal(signal.SIGCONT)
    outcomes = []
    for p in probes:
        p.wait(10)
        outcomes.append(p.stdout_text().strip())
    replies = [o for o in outcomes if o.startswith("reply")]
    if fail == "open":
        assert len(early) >= 6, f"with fail=open, flows beyond a full queue pass: {outcomes}"
        assert len(replies) == 8, outcomes
    else:
        assert not early, f"with fail=closed nothing passes while the queue is full: {outcomes}"
        assert len(replies) == 2, f"exactly the 2 queued flows are answered: {outcomes}"
    # What the kernel did without wardend shows in `warden status`: the flows it passed
    # undecided (fail = open: a full queue failing open counts them nowhere of its own) or
    # dropped (fail = closed).
    totals = d.status()["totals"]
    if fail == "open":
        assert totals["passed_undecided"] >= 6 and totals["queue_drops"] == 0, totals
    else:
        assert totals["queue_drops"] >= 6 and totals["passed_undecided"] == 0, totals
    text = cli(d, "status").stdout
    assert (f"{totals['queue_drops']} queue drops, {totals['passed_undecided']} passed undecided"
            in text), text


def test_fail_closed_killed_drops_new_flows_keeps_established(lab, wardend):
    d = wardend(engine={"fail": "closed"})
    sessions = [lab.tcp_session(S4, 7000), lab.tcp_session(S6, 7000)]
    t_kill = time.monotonic()
    d.kill9()
    assert warden_tables(lab.c) == TABLE
    for host in (S4, S6, S4B, S6B):
        r = lab.tcp_probe(host, 7000, timeout_ms=DROP_WAIT_MS)
        assert dropped_or_blocked(r), f"new TCP flow to {host} with fail=closed: {r}"
        r = lab.udp_probe(host, 7000, timeout_ms=DROP_WAIT_MS)
        assert dropped_or_blocked(r), f"new UDP flow to {host} with fail=closed: {r}"
    assert lab.ping(S4, timeout_s=1).outcome in ("timeout", "blocked")
    for s in sessions:
        assert_session_alive(s, t_kill, min_ok=20)

    res = d.cleanup()
    assert res.returncode == 0, res.stderr
    assert warden_tables(lab.c) == []
    assert_no_filtering(lab)
    t_clean = time.monotonic()
    for s in sessions:
        assert_session_alive(s, t_clean, min_ok=3)


def test_fail_open_killed_lets_new_flows_through(lab, wardend):
    d = wardend(engine={"fail": "open"}, rules=DENY_7001)
    sessions = [lab.tcp_session(S4, 7000), lab.tcp_session(S6, 7000)]
    t_kill = time.monotonic()
    d.kill9()
    assert warden_tables(lab.c) == TABLE, "the table stays: this tests the bypass, not its absence"
    for host in (S4, S6, S4B, S6B):
        r = lab.tcp_probe(host, 7000)
        assert r.outcome == "connected", f"new TCP flow to {host} with fail=open: {r}"
        r = lab.udp_probe(host, 7000)
        assert r.outcome == "reply", f"new UDP flow to {host} with fail=open: {r}"
        assert lab.ping(host).outcome == "reply"
    for s in sessions:
        assert_session_alive(s, t_kill, min_ok=10)
    res = d.cleanup()
    assert res.returncode == 0, res.stderr
    assert warden_tables(lab.c) == []


def test_cleanup_without_table_is_fine(lab, wardend):
    d = wardend()
    assert d.terminate() == 0
    assert warden_tables(lab.c) == []
    res = d.cleanup()
    assert res.returncode == 0, res.stderr
    res = d.cleanup()
    assert res.returncode == 0, res.stderr
