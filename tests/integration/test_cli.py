"""The `warden` tool against the real wardend, as an administrator uses it: the verdict log shows
every decided flow with the right fields and what decided it (global rules, the engine default,
learn mode), filters and --json work, `log -f` follows new rows, retention deletes old rows, a
SIGKILL mid-burst leaves an intact database with every committed row, `status`, `reload`,
`profiles` and `rules` show what runs, and the exit statuses say when wardend is not running or
the caller is not root."""
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from warden_cli import _cli_built, cli, warden_cli  # noqa: F401 (_cli_built: a fixture)
from warden_expect import DROP_WAIT_MS, dropped, wait_until
from warden_lab import BLACKHOLE4, C4, C6, PYTHON, S4, S6, clients_dir, run

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86400 * NS_PER_S

DENY_7001 = {"action": "deny", "proto": "tcp", "ports": 7001, "comment": "no 7001"}
REJECT_7002 = {"action": "reject", "proto": "tcp", "ports": 7002}
DENY_UDP_7001 = {"action": "deny", "proto": "udp", "ports": 7001}

# Exit statuses of `warden` (cli/exit_code.h).
OK, ERROR, USAGE, DAEMON_DOWN, PERMISSION_DENIED, NO_DATABASE = 0, 1, 2, 3, 4, 5


def log_rows(d, *args):
    limit = () if "--limit" in args else ("--limit", "0")
    res = cli(d, "log", "--json", *limit, *args)
    assert res.returncode == OK, f"warden log exited {res.returncode}: {res.stderr}"
    return [json.loads(line) for line in res.stdout.splitlines()]


def rows_to(d, port, count=1, timeout=5):
    """The log rows of flows to remote port `port`, once at least `count` are committed."""
    def found():
        rows = [r for r in log_rows(d) if r["remote_port"] == port]
        return rows if len(rows) >= count else None
    rows = wait_until(found, timeout=timeout)
    assert rows, f"no log row for port {port} within {timeout} s; rows: {log_rows(d)}"
    return rows


def rule_line(d, snippet):
    """The line of the [[rule]] header of the rule whose body contains `snippet`."""
    with open(d.config_path) as f:
        lines = f.read().splitlines()
    header = None
    for n, line in enumerate(lines, 1):
        if line.strip() == "[[rule]]":
            header = n
        elif snippet in line and header is not None:
            return header
    raise AssertionError(f"{snippet!r} not in {d.config_path}")


def open_for_others(d):
    """Lets other users reach d's warden.toml (as an installed /etc/warden would be)."""
    reloads = d.stderr().count("info: reloaded ")
    for path in (d.lab.tmp, d.dir, os.path.join(d.dir, "profiles.d")):
        os.chmod(path, 0o755)
    os.chmod(d.config_path, 0o644)
    # The watcher sees the mode change and reloads 200 ms later (a new revision): wait for it,
    # so that it cannot land among what the test then counts (slow runs, as under the
    # sanitizers, took longer than 200 ms to get there).
    wait_until(lambda: d.stderr().count("info: reloaded ") > reloads, timeout=5)


def write_profile(d, name, text):
    path = os.path.join(d.dir, "profiles.d", name)
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)


def seed_rows(d, rows):
    """Inserts verdict-log rows directly into d's database (created by an earlier start)."""
    db = sqlite3.connect(os.path.join(d.dir, "warden.db"))
    with db:
        for r in rows:
            db.execute(
                "INSERT INTO verdict_log (time_ns, direction, protocol, local_addr, local_port, "
                "remote_addr, remote_port, host, pid, exe, profile, decided_by, action, mode, "
                "revision, latency_us) VALUES (?, 'out', 'tcp', '192.0.2.1', 40000, "
                "'203.0.113.9', ?, ?, ?, ?, ?, ?, ?, 'enforce', 0, 5.0)",
                (r["time_ns"], r["port"], r.get("host"), r.get("pid"), r.get("exe"),
                 r.get("profile"), r.get("decided_by", "engine-default"), r["action"]))
    db.close()


def created_then_stopped(wardend, **config):
    """A daemon started once (so its database exists with the schema) and stopped cleanly."""
    d = wardend(**config)
    assert d.terminate() == 0
    return d


# ---- the verdict log ---------------------------------------------------------------------------

def test_log_rows_name_what_decided_each_flow(lab, wardend):
    d = wardend(rules=[DENY_7001, REJECT_7002, DENY_UDP_7001])
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    assert lab.tcp_probe(S6, 7001, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert lab.tcp_probe(S4, 7002).outcome == "refused"
    assert lab.udp_probe(S6, 7000).outcome == "reply"
    assert lab.ping(S4).outcome == "reply"
    revision = d.status()["policy"]["revision"]

    allowed = rows_to(d, 7000, count=2)
    tcp_allowed = next(r for r in allowed if r["protocol"] == "tcp")
    assert tcp_allowed["action"] == "allow"
    assert tcp_allowed["decided_by"] == "engine-default" and tcp_allowed["source"] is None
    assert (tcp_allowed["remote_addr"], tcp_allowed["local_addr"]) == (S4, C4)
    udp_allowed = next(r for r in allowed if r["protocol"] == "udp")
    assert (udp_allowed["action"], udp_allowed["remote_addr"]) == ("allow", S6)
    assert udp_allowed["local_addr"] == C6

    denied = rows_to(d, 7001)[0]
    assert (denied["action"], denied["protocol"], denied["remote_addr"]) == ("deny", "tcp", S6)
    assert denied["decided_by"] == "global-rule" and denied["rule_index"] == 0
    assert denied["source"] == {"file": d.config_path, "line": rule_line(d, "no 7001"),
                                "rule": "deny out tcp ports=7001"}

    rejected = rows_to(d, 7002)[0]
    assert (rejected["action"], rejected["decided_by"], rejected["rule_index"]) == \
        ("reject", "global-rule", 1)

    # ICMP is not attributed to a process: [engine] unknown decides it (allow in the fixture).
    def ping_row():
        return next((r for r in log_rows(d) if r["protocol"] == "icmp"), None)
    unknown = wait_until(ping_row, timeout=5)
    assert unknown, log_rows(d)
    assert (unknown["action"], unknown["decided_by"], unknown["remote_addr"]) == \
        ("allow", "unknown", S4)
    assert unknown["pid"] is None and unknown["exe"] is None and unknown["source"] is None

    # Attributed to the client programs that opened the sockets.
    for row in (tcp_allowed, denied, rejected):
        assert row["exe"] == os.path.join(os.path.realpath(clients_dir()), "tcp_probe"), row
    assert udp_allowed["exe"] == os.path.join(os.path.realpath(clients_dir()), "udp_probe")
    for row in allowed + [denied, rejected]:
        assert row["direction"] == "out" and row["mode"] == "enforce", row
        assert row["revision"] == revision, row
        assert row["local_port"] > 0 and row["latency_us"] >= 0, row
        assert isinstance(row["pid"], int) and row["uid"] == 0, row
        assert row["profile"] is None, "no profile matches the test clients"
        assert abs(row["time_ns"] - time.time_ns()) < 60 * NS_PER_S, row

    # The table a person reads: one line per flow with what decided it.
    table = cli(d, "log")
    assert table.returncode == OK, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:6] == ["TIME", "ACTION", "DIR", "PROTO", "REMOTE", "HOST"], header
    line = next(l for l in lines if f"[{S6}]:7001" in l)
    assert " deny " in line and " out " in line and " enforce " in line, line
    assert f" {denied['pid']} " in line and "/tcp_probe " in line, line
    assert line.endswith(f"global rule warden.toml:{rule_line(d, 'no 7001')} "
                         "deny out tcp ports=7001"), line
    assert any(f"{S4}:7000" in l and l.endswith("engine default") for l in lines), lines


def probe_profile():
    return f'''name = "probe"
description = "the test clients"
default = "reject"
[[match]]
path = "{os.path.join(os.path.realpath(clients_dir()), "tcp_probe")}"
[[rule]]
action = "allow"
proto = "tcp"
ports = [7000]
[[rule]]
action = "deny"
proto = "tcp"
ports = [7001]
'''


def with_probe_profile(d):
    write_profile(d, "10-probe.toml", probe_profile())
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()


def test_log_rows_of_a_profiled_process_name_its_rule_or_default(lab, wardend):
    d = wardend()
    with_probe_profile(d)
    profile_file = os.path.join(d.dir, "profiles.d", "10-probe.toml")
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    assert lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert lab.tcp_probe(S6, 7002).outcome == "refused"
    assert lab.udp_probe(S4, 7002).outcome == "reply"  # udp_probe has no profile

    by_rule = rows_to(d, 7000)[0]
    assert (by_rule["action"], by_rule["profile"], by_rule["decided_by"]) == \
        ("allow", "probe", "rule")
    assert by_rule["source"] == {"file": profile_file, "line": 6,
                                 "rule": "allow out tcp ports=7000"}
    denied = rows_to(d, 7001)[0]
    assert (denied["action"], denied["decided_by"], denied["rule_index"]) == ("deny", "rule", 1)
    by_default = next(r for r in rows_to(d, 7002, count=2) if r["protocol"] == "tcp")
    assert (by_default["action"], by_default["decided_by"]) == ("reject", "profile-default")
    assert by_default["source"] == {"file": profile_file, "line": 1, "rule": "default reject"}
    unprofiled = next(r for r in rows_to(d, 7002, count=2) if r["protocol"] == "udp")
    assert (unprofiled["profile"], unprofiled["decided_by"]) == (None, "engine-default")

    assert {r["remote_port"] for r in log_rows(d, "--profile", "probe")} == {7000, 7001, 7002}
    assert [r["remote_port"] for r in log_rows(d, "--profile", "probe", "--action", "reject")] \
        == [7002]
    table = cli(d, "log", "--profile", "probe").stdout.splitlines()
    assert len(table) >= 4, table  # a dropped SYN may be sent (and decided) again
    assert table[1].endswith("profile default reject (10-probe.toml:1)"), table
    assert table[-1].endswith("rule 10-probe.toml:6 allow out tcp ports=7000"), table
    assert all(" probe " in l and "tcp_probe" in l for l in table[1:]), table


def test_log_in_learn_mode_records_the_verdict_that_was_not_enforced(lab, wardend):
    d = wardend(engine={"mode": "learn", "default": "deny"}, rules=[DENY_7001])
    assert lab.tcp_probe(S4, 7001).outcome == "connected"
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    by_rule = rows_to(d, 7001)[0]
    by_default = rows_to(d, 7000)[0]
    assert (by_rule["action"], by_rule["mode"], by_rule["decided_by"]) == \
        ("deny", "learn", "global-rule")
    assert (by_default["action"], by_default["mode"], by_default["decided_by"]) == \
        ("deny", "learn", "engine-default")
    learned = cli(d, "log", "--action", "deny")
    assert learned.returncode == OK
    assert all(" learn " in l for l in learned.stdout.splitlines()[1:]), learned.stdout
    assert d.status()["totals"]["learn"] >= 2


# Datagrams to HOST PORT from one socket (one flow), DELAY s apart, not waiting for answers.
UDP_DATAGRAMS = r"""
import socket, sys, time
host, port, count, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", int(sys.argv[5])))
for _ in range(count):
    try:
        s.sendto(b"again", (host, port))
    except OSError:
        pass  # a refused datagram of our own may be reported at once (EPERM)
    time.sleep(delay)
"""


def test_a_flow_decided_again_the_same_way_is_logged_once(lab, wardend):
    """A refused SYN leaves no conntrack entry, so each retransmission is queued and decided
    again (as is a SYN sent again on an accepted flow that got no answer, and each datagram of a
    refused UDP flow): every one gets its verdict, but the flow gets one log row, and the
    repeats are counted. Another connection (another source port) is another flow."""
    d = wardend(rules=[DENY_7001, DENY_UDP_7001], log={"allowed": True})
    before = d.status()["totals"]
    # A refused connection attempt of 4 s: the SYN at 0 s, sent again at 1 s and 3 s (or every
    # second, where tcp_syn_linear_timeouts says so).
    assert lab.tcp_probe(S4, 7001, timeout_ms=4000, source_port=41001).outcome == "timeout"
    # Another connection to the same port: its SYN at 0 s and 1 s.
    assert lab.tcp_probe(S4, 7001, timeout_ms=1500, source_port=41002).outcome == "timeout"
    # An accepted SYN that nobody answers: sent again on the accepted flow, decided again.
    assert lab.tcp_probe(BLACKHOLE4, 7000, timeout_ms=4000, source_port=41003).outcome == \
        "timeout"
    # Three datagrams of one refused UDP flow.
    res = lab.c.run([PYTHON, "-c", UDP_DATAGRAMS, S6, "7001", "3", "0.3", "41004"], timeout=10)
    assert res.returncode == OK, res.stderr

    def settled():
        t = d.status()["totals"]
        return t if t["deny"] - before["deny"] >= 3 + 2 + 3 else None
    totals = wait_until(settled, timeout=5)
    assert totals, d.status()["totals"]
    time.sleep(0.5)  # rows are committed in batches
    rows = [r for r in log_rows(d) if r["local_port"] in (41001, 41002, 41003, 41004)]
    by_port = {}
    for r in rows:
        by_port.setdefault(r["local_port"], []).append(r)
    assert {p: len(rs) for p, rs in by_port.items()} == {41001: 1, 41002: 1, 41003: 1, 41004: 1}, \
        [(r["local_port"], r["action"], r["protocol"], r["time_ns"]) for r in rows]
    assert [r["action"] for p in (41001, 41002, 41003) for r in by_port[p]] == \
        ["deny", "deny", "allow"]
    assert (by_port[41004][0]["protocol"], by_port[41004][0]["action"]) == ("udp", "deny")
    # Every packet was decided; all but the first of each flow counted as repeats: every
    # refusal but the three logged ones, and the accepted SYN's two to four retransmissions.
    denied = totals["deny"] - before["deny"]
    repeats = totals["repeats"] - before["repeats"]
    assert denied - 3 + 2 <= repeats <= denied - 3 + 4, (before, totals)
    status = cli(d, "status")
    assert status.returncode == OK, status.stderr
    assert f"{totals['repeats']} repeated decisions not written again" in status.stdout, \
        status.stdout


def test_log_filters_and_json(lab, wardend):
    d = created_then_stopped(wardend)
    now = time.time_ns()
    seed_rows(d, [
        {"time_ns": now - 3 * 3600 * NS_PER_S, "port": 1, "action": "allow", "profile": "curl"},
        {"time_ns": now - 2 * 3600 * NS_PER_S, "port": 2, "action": "deny", "profile": "curl",
         "decided_by": "profile-default"},
        {"time_ns": now - 50 * 60 * NS_PER_S, "port": 3, "action": "deny", "profile": "firefox"},
        {"time_ns": now - 20 * 60 * NS_PER_S, "port": 4, "action": "reject",
         "profile": "firefox", "host": "ads.example", "pid": 4242, "exe": "/usr/bin/firefox"},
        {"time_ns": now - 5 * 60 * NS_PER_S, "port": 5, "action": "allow"},
    ])
    d.start()

    def ports(*args):
        return [r["remote_port"] for r in log_rows(d, *args) if r["remote_addr"] == "203.0.113.9"]

    assert ports() == [5, 4, 3, 2, 1], "newest first"
    assert ports("--profile", "curl") == [2, 1]
    assert ports("--action", "deny") == [3, 2]
    assert ports("--action", "deny", "--profile", "firefox") == [3]
    assert ports("--since", "1h") == [5, 4, 3]
    assert ports("--since", "30m", "--action", "reject") == [4]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now - 150 * 60 * NS_PER_S) / NS_PER_S))
    assert ports("--since", iso) == [5, 4, 3, 2]
    limited = log_rows(d, "--profile", "firefox", "--limit", "1")
    assert [r["remote_port"] for r in limited] == [4]
    assert limited[0]["host"] == "ads.example" and limited[0]["pid"] == 4242
    assert limited[0]["exe"] == "/usr/bin/firefox" and limited[0]["profile"] == "firefox"
    assert ports("--profile", "thunderbird") == []
    empty = cli(d, "log", "--profile", "thunderbird")
    assert (empty.returncode, empty.stdout) == (OK, "(no matching rows)\n")

    table = cli(d, "log", "--profile", "firefox").stdout.splitlines()
    assert len(table) == 3, table
    assert "ads.example" in table[1] and "4242" in table[1] and "/usr/bin/firefox" in table[1]

    for bad in (["--since", "yesterday-ish"], ["--action", "maybe"], ["--limit", "x"]):
        res = cli(d, "log", *bad)
        assert res.returncode == USAGE, (bad, res.returncode, res.stderr)
        assert "--help" in res.stderr, res.stderr


def test_log_follow_shows_new_rows_as_they_are_written(lab, wardend):
    d = wardend(rules=[DENY_7001])
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    rows_to(d, 7000)
    follow_json = lab.spawn([warden_cli(), "log", "-f", "--json", "--config", d.config_path],
                            "follow-json", lines=True)
    follow_table = lab.spawn([warden_cli(), "log", "-f", "--config", d.config_path],
                             "follow-table", lines=True)
    # The last rows first (here the one flow so far), then nothing until traffic flows.
    assert follow_json.wait_line(lambda t: json.loads(t)["remote_port"] == 7000, timeout=5)
    assert follow_table.wait_line(lambda t: t.startswith("TIME"), timeout=5)
    for round_, port in enumerate((7002, 7001, 7000)):
        start = time.monotonic()
        lab.tcp_probe(S6, port, timeout_ms=300)
        seen = follow_json.wait_line(
            lambda t: json.loads(t)["remote_port"] == port and json.loads(t)["remote_addr"] == S6,
            timeout=5)
        assert seen, f"round {round_}: no row for port {port}: {follow_json.stdout_text()}"
        assert time.monotonic() - start < 3, "follow mode should show a row within about a second"
    assert follow_table.wait_line(lambda t: f"[{S6}]:7001" in t and " deny " in t, timeout=5), \
        follow_table.stdout_text()
    ids = [json.loads(t)["id"] for _, t in follow_json.lines]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), f"each row once, in order: {ids}"
    for proc in (follow_json, follow_table):
        proc.signal(signal.SIGINT)
        assert proc.wait(5) == OK, proc.stderr_text()


def test_retention_deletes_old_rows(lab, wardend):
    d = created_then_stopped(wardend, log={"retention_days": 30})
    now = time.time_ns()
    seed_rows(d, [{"time_ns": now - days * NS_PER_DAY, "port": 100 + days, "action": "deny"}
                  for days in (400, 45, 31)])
    seed_rows(d, [{"time_ns": now - days * NS_PER_DAY, "port": 100 + days, "action": "allow"}
                  for days in (29, 1)])
    d.start()  # retention runs when the log writer starts, then periodically

    def remaining():
        return sorted(r["remote_port"] for r in log_rows(d) if r["remote_addr"] == "203.0.113.9")
    assert wait_until(lambda: remaining() == [101, 129], timeout=5), remaining()
    assert d.status()["log"]["expired"] == 3
    db = sqlite3.connect(os.path.join(d.dir, "warden.db"))
    cutoff = now - 30 * NS_PER_DAY
    assert db.execute("SELECT count(*) FROM verdict_log WHERE time_ns < ?", (cutoff,)).fetchone() \
        == (0,)
    db.close()
    shown = cli(d, "status").stdout
    assert "3 expired by retention" in shown, shown


BURST = r"""
import socket, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    # A new socket per datagram: a new source port, so a new flow for wardend to decide.
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", (host, 7000))
    except OSError:
        pass
    s.close()
    n += 1
print(n, flush=True)
"""


def test_sigkill_during_a_burst_keeps_committed_rows_and_an_intact_database(lab, wardend):
    d = wardend(engine={"fail": "open"})
    db_path = os.path.join(d.dir, "warden.db")
    bursts = [lab.c.spawn([PYTHON, "-c", BURST, host, "20"], f"burst-{i}")
              for i, host in enumerate((S4, S6))]

    def committed():
        # A separate read-only connection sees committed transactions only.
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*), coalesce(max(id), 0) FROM verdict_log").fetchone()
        finally:
            db.close()

    assert wait_until(lambda: committed()[0] >= 2000, timeout=15), \
        f"the burst should have logged thousands of rows; {committed()} {d.status()['log']}"
    count, max_id = committed()
    assert count == max_id, "ids are dense before any crash"
    d.kill9()
    for b in bursts:
        b.kill()

    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        kept = db.execute("SELECT count(*) FROM verdict_log WHERE id <= ?", (max_id,)).fetchone()
        assert kept == (count,), "every row committed before the kill is still there"
        total = db.execute("SELECT count(*) FROM verdict_log").fetchone()[0]
    finally:
        db.close()
    assert total >= count
    # The tool reads it, and knows the daemon is gone.
    res = cli(d, "log", "--limit", "3", "--json")
    assert res.returncode == OK and len(res.stdout.splitlines()) == 3, res
    down = cli(d, "status")
    assert down.returncode == DAEMON_DOWN, down
    assert "nothing listens on" in down.stdout, down.stdout


# ---- status, reload, profiles, rules ---------------------------------------------------------

def test_status_shows_state_counters_and_policy(lab, wardend):
    d = wardend(engine={"fail": "closed", "queues": [3, 4]}, rules=[DENY_7001])
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    assert lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    rows_to(d, 7001)
    res = cli(d, "status")
    assert res.returncode == OK, res.stderr
    text = res.stdout
    status = d.status()
    assert f"running, pid {d.proc.pid}," in text, text
    assert "mode         enforce, fail closed" in text
    assert "attribution  sock_diag" in text, "the test config turns eBPF off"
    assert "flows attributed" in text and " misses, " in text
    assert "queues       3, 4 through nft_compat" in text
    assert f"policy       revision {status['policy']['revision']}, loaded " in text
    assert "ago), 0 profiles" in text
    flows = next(l for l in text.splitlines() if l.startswith("flows"))
    assert "denied" in flows and int(flows.split()[1]) >= 2, flows
    assert "malformed packets" in text and "queue drops" in text and "ENOBUFS" in text
    assert "rows written" in text and " dropped" in text
    assert "QUEUE  PACKETS  ALLOW  DENY" in text

    js = cli(d, "status", "--json")
    assert js.returncode == OK
    parsed = json.loads(js.stdout)
    assert parsed["running"] is True and parsed["fail"] == "closed"
    assert [q["queue"] for q in parsed["queues"]] == [3, 4]
    assert parsed["totals"]["deny"] >= 1 and parsed["log"]["written"] >= 2


def test_reload_prints_the_new_revision_or_the_refusal(lab, wardend):
    d = wardend(rules=[DENY_7001])
    before = d.status()["policy"]["revision"]
    res = cli(d, "reload")
    assert res.returncode == OK, res.stderr
    assert res.stdout == f"reloaded: policy revision {before + 1} in force\n"
    assert d.status()["policy"]["revision"] == before + 1

    redecide = cli(d, "reload", "--redecide")
    assert redecide.returncode == OK, redecide.stderr
    assert redecide.stdout.startswith(f"reloaded: policy revision {before + 2} in force; "
                                      "redecided "), redecide.stdout
    assert d.status()["policy"]["revision"] == before + 2

    # A broken policy: refused, with the way to the details; the running one stays.
    with open(d.config_path, "a") as f:
        f.write('\n[[rule]]\naction = "permit"\n')
    time.sleep(0.5)  # let the daemon's own watcher try (and refuse) first
    refused = cli(d, "reload")
    assert refused.returncode == ERROR, refused
    assert "refused" in refused.stderr and "warden check" in refused.stderr, refused.stderr
    assert d.status()["policy"]["revision"] == before + 2
    assert lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS).outcome == "timeout"


def test_profiles_and_rules_show_the_revision_that_runs(lab, wardend):
    d = wardend(rules=[DENY_7001])
    write_profile(d, "10-curl.toml", '''name = "curl"
description = "command-line HTTP"
default = "deny"
[[match]]
path = "/usr/bin/curl"
[[rule]]
action = "allow"
proto = "tcp"
ports = [80, 443]
''')
    # wardend reloads by itself when a profile appears.
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()
    revision = d.status()["policy"]["revision"]

    profiles = cli(d, "profiles", "--json")
    assert profiles.returncode == OK, profiles.stderr
    doc = json.loads(profiles.stdout)
    assert (doc["source"], doc["revision"]) == ("revision", revision)
    assert [p["name"] for p in doc["profiles"]] == ["curl"]
    assert doc["profiles"][0]["matches"] == ["path=/usr/bin/curl"]
    assert doc["profiles"][0]["default"] == "deny" and doc["profiles"][0]["rule_count"] == 1
    table = cli(d, "profiles").stdout
    assert f"policy revision {revision} in force" in table
    assert "curl     engine (enforce)  deny         1  10-curl.toml:1  path=/usr/bin/curl  " \
        "command-line HTTP" in table, table

    rules = cli(d, "rules")
    assert rules.returncode == OK and rules.stderr == ""
    # Each rule with its hit count and the age of its last flow (none yet: "never").
    assert f"0  deny out tcp ports=7001     0  never  warden.toml:{rule_line(d, 'no 7001')}" \
        in rules.stdout, rules.stdout
    assert "0  allow out tcp ports=80,443     0  never  10-curl.toml:6" in rules.stdout, \
        rules.stdout
    assert "otherwise: deny (profile default)" in rules.stdout
    assert "a process no profile matches: allow ([engine] default)" in rules.stdout

    # A broken edit is refused by wardend: the rules shown stay those that run, with a note.
    write_profile(d, "10-curl.toml", 'name = "curl"\n[[rule]]\naction = "sometimes"\n')
    time.sleep(1)
    assert d.status()["policy"]["revision"] == revision
    after = cli(d, "rules", "curl", "--json")
    assert after.returncode == OK
    doc = json.loads(after.stdout)
    assert doc["revision"] == revision
    assert [r["rule"] for r in doc["profiles"][0]["rules"]] == ["allow out tcp ports=80,443"]
    assert doc["profiles"][0]["matches"] is None
    assert "changed after revision" in after.stderr, after.stderr

    unknown = cli(d, "rules", "firefox")
    assert unknown.returncode == ERROR and "no profile 'firefox'" in unknown.stderr


def test_explain_shows_how_a_process_is_identified_and_its_profile(lab, wardend):
    d = wardend()
    session_exe = os.path.join(os.path.realpath(clients_dir()), "tcp_session")
    write_profile(d, "10-session.toml", f'''name = "session"
default = "allow"
[[match]]
path = "/usr/bin/nothing-here"
[[match]]
path = "{session_exe}"
user = "root"
[[rule]]
action = "deny"
proto = "udp"
''')
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()
    session = lab.tcp_session(S4, 7000)  # a running client whose socket wardend has seen

    res = cli(d, "explain", str(session.pid))
    assert res.returncode == OK, res.stderr
    text = res.stdout
    assert f"process      {session.pid} (tcp_session), parent " in text, text
    assert "user root (uid 0)" in text
    assert f"executable   {session_exe}\n" in text, text
    assert f"command      {session_exe} {S4} 7000 --count 0" in text, text
    # Its parent is this test's python (`ip netns exec` replaced itself with the client),
    # read from /proc although no event ever described it.
    assert f"parents      {os.path.realpath(sys.executable)}" in text, text
    revision = d.status()["policy"]["revision"]
    assert f"profile      session (10-session.toml:1), policy revision {revision}\n" in text, text
    assert f"through [[match]] 2 (10-session.toml:5): path={session_exe} user=root, " \
           "specificity 5" in text, text
    assert "then its 1 rule (`warden rules session`), otherwise allow (profile default)" in text

    doc = json.loads(cli(d, "explain", str(session.pid), "--json").stdout)
    assert doc["process"]["pid"] == session.pid and doc["process"]["path"] == session_exe
    assert doc["revision"] == revision
    profile = doc["profile"]
    assert (profile["name"], profile["score"], profile["match_index"], profile["match_line"]) \
        == ("session", 5, 1, 5)
    assert profile["match_text"] == f"path={session_exe} user=root"
    assert (profile["default"], profile["rule_count"]) == ("allow", 1)
    # The hash wardend computed is the one `warden hash` prints for the file.
    pinned = cli(d, "hash", session_exe).stdout
    assert pinned.startswith(f'sha256 = ["{doc["process"]["sha256"]}"]'), (pinned, doc)

    # A process no profile matches: this test itself.
    mine = cli(d, "explain", str(os.getpid()))
    assert mine.returncode == OK, mine.stderr
    assert "profile      none: no profile's [[match]] holds" in mine.stdout, mine.stdout
    assert "then allow ([engine] default)" in mine.stdout, mine.stdout

    # A pid no process has (the largest the kernel could give, PID_MAX_LIMIT - 1, and down).
    free = next(p for p in range(4194303, 1, -1) if not os.path.exists(f"/proc/{p}"))
    gone = cli(d, "explain", str(free))
    assert gone.returncode == ERROR and f"no process {free}" in gone.stderr, gone
    beyond = cli(d, "explain", "999999999")
    assert beyond.returncode == USAGE, beyond
    assert "PID: must be a whole number from 1 to 4194304, got '999999999'" in beyond.stderr
    session.kill()


# ---- when the daemon is down, and for other users ----------------------------------------------

def test_messages_and_exit_statuses_when_wardend_is_not_running(lab, wardend):
    d = wardend(rules=[DENY_7001])
    assert lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    rows_to(d, 7001)
    assert d.terminate() == 0

    down = cli(d, "status")
    assert down.returncode == DAEMON_DOWN
    assert down.stdout == f"wardend is not running (no control socket at {d.socket_path})\n"
    down_json = cli(d, "status", "--json")
    assert down_json.returncode == DAEMON_DOWN
    assert json.loads(down_json.stdout)["running"] is False
    reload = cli(d, "reload")
    assert reload.returncode == DAEMON_DOWN and "wardend is not running" in reload.stderr
    # What needs only the database or the files still works.
    log = cli(d, "log", "--json")
    assert log.returncode == OK and any(json.loads(l)["remote_port"] == 7001
                                        for l in log.stdout.splitlines())
    profiles = cli(d, "rules")
    assert profiles.returncode == OK
    assert "wardend is not running" in profiles.stderr and "policy files" in profiles.stderr
    assert "policy files of" in profiles.stdout

    # Killed: the socket file stays behind, and nothing listens on it.
    d.start()
    d.kill9()
    stale = cli(d, "status")
    assert stale.returncode == DAEMON_DOWN
    assert f"nothing listens on {d.socket_path}" in stale.stdout

    # A database that was never created.
    os.remove(os.path.join(d.dir, "warden.db"))
    for suffix in ("-wal", "-shm"):
        if os.path.exists(os.path.join(d.dir, "warden.db" + suffix)):
            os.remove(os.path.join(d.dir, "warden.db" + suffix))
    missing = cli(d, "log")
    assert missing.returncode == NO_DATABASE
    assert "no verdict log at" in missing.stderr


def test_non_root_callers_are_refused(lab, wardend):
    d = wardend(rules=[DENY_7001])
    open_for_others(d)
    before = d.status()["policy"]["revision"]

    # The socket's mode (0600, root) already keeps others out.
    res = cli(d, "status", as_nobody=True)
    assert res.returncode == PERMISSION_DENIED, res
    assert "permission denied" in res.stderr and "root" in res.stderr, res.stderr
    # And were the mode opened by mistake, the daemon's peer-credential check refuses.
    os.chmod(d.socket_path, 0o666)
    for command in (["status"], ["reload"], ["profiles"]):
        res = cli(d, *command, as_nobody=True)
        assert res.returncode == PERMISSION_DENIED, (command, res)
        assert "permission denied: the control socket is for root only" in res.stderr, res.stderr
    assert d.status()["policy"]["revision"] == before, "a refused reload changes nothing"
    assert d.alive()


def test_the_verdict_log_is_readable_by_root_alone(lab, wardend):
    # Created owner-only, whatever umask started wardend (scripts/start runs it from a shell).
    d = wardend(rules=[DENY_7001])
    assert dropped(lab.tcp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS))
    db = os.path.join(d.dir, "warden.db")
    rows_to(d, 7001)
    for path in (db, db + "-wal", db + "-shm"):
        if os.path.exists(path):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert d.terminate() == 0
    # A database an older run left readable by everyone is made private again at start.
    os.chmod(db, 0o644)
    d.start()
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert "readable by other users" in d.stderr()
    # Its directory, when wardend has to create it, is root's alone too.
    fresh = os.path.join(d.dir, "state", "warden.db")
    d.terminate()
    d.write_config(log={"db": fresh})
    d.start()
    assert stat.S_IMODE(os.stat(os.path.dirname(fresh)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
