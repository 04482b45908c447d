"""A launch storm must not open the firewall (SPEC section 4, issue 11). While an unprivileged
user (uid 65534) starts a short-lived process every 2 ms inside the attached cgroup, a program
that a profile refuses connects again and again, each time as a new process whose description
the tracker has to produce in the middle of the storm. A description that comes too late gets
the engine `unknown` verdict, never the engine `default` (here "allow"): no connection of the
refused program may succeed, and no log row may be decided by the engine default.

Outcomes tell the deciding path apart: the profile rejects (the probe sees "refused" at once),
`unknown` drops ("timeout"), and only the engine default lets it connect."""
import json

import pytest

from test_attribution import attributing, cgroup, in_cgroup, install, write_profiles  # noqa: F401
from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_expect import wait_until
from warden_lab import S4
from warden_storm import storm_command

STORM_SECONDS = 4
STORM_INTERVAL_S = 0.002
PORT = 7000



def log_rows(d):
    res = cli(d, "log", "--json", "--limit", "0")
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def storm_while_refused_program_connects(lab, cg, wardend):
    refused = install(lab._client("tcp_probe"), f"{lab.tmp}/bin/refused/tcp_probe")
    write_profiles(lab, {"refused": ("reject", {"path": refused})})
    d = attributing(lab, wardend, cg, default="allow", unknown="deny")
    # The probe is described once before the storm: the profile refuses it.
    warm = lab.c.run(in_cgroup(cg, [refused, S4, str(PORT), "--timeout-ms", "400"]), check=False)
    assert warm.stdout.split()[:1] == ["refused"], f"{warm.stdout} {log_rows(d)}"

    storm = lab.c.spawn(in_cgroup(cg, ["setpriv", "--reuid", "65534", "--regid", "65534",
                                       "--clear-groups"] +
                                  storm_command(STORM_SECONDS, STORM_INTERVAL_S)),
                        "storm", lines=True)
    try:
        assert storm.wait_line(lambda t: t == "storming", timeout=10), storm.stderr_text()
        outcomes = []
        while storm.alive() and len(outcomes) < 200:
            res = lab.c.run(in_cgroup(cg, [refused, S4, str(PORT), "--timeout-ms", "400"]),
                            timeout=10, check=False)
            outcomes.append((res.stdout.split() or ["?"])[0])
        done = storm.wait_line(lambda t: t.startswith("spawned"), timeout=STORM_SECONDS + 20)
        assert done, storm.stderr_text()
    finally:
        storm.kill()
    spawned = int(done.split()[1])
    status = d.status()
    summary = {o: outcomes.count(o) for o in set(outcomes)}
    report = (f"outcomes {summary}; storm spawned {spawned}; totals {status['totals']}; "
              f"processes {status['attribution']['processes']}; "
              f"bpf {status['attribution'].get('bpf')}")
    print(report)
    # The attack was made: a storm of hundreds of processes, the refused program many times.
    assert spawned >= 300, report
    assert len(outcomes) >= 5, report
    assert "connected" not in outcomes, report
    assert set(outcomes) <= {"refused", "timeout"}, report

    expected = 1 + len(outcomes)
    rows = wait_until(lambda: [r for r in log_rows(d) if r["remote_port"] == PORT]
                      if len([r for r in log_rows(d) if r["remote_port"] == PORT]) >= expected
                      else None, timeout=10)
    assert rows, f"fewer than {expected} rows for port {PORT}: {report}"
    by_default = [r for r in rows if r["decided_by"] == "engine-default"]
    assert not by_default, f"decided by the engine default: {by_default[:3]}; {report}"
    for row in rows:
        assert row["decided_by"] in ("profile-default", "unknown"), row
        # A flow whose process is known by pid says so, also when decided `unknown`.
        assert row["pid"] is not None, row
    return d, outcomes, status


def test_a_launch_storm_never_lets_a_refused_program_through(lab, cgroup, wardend):
    """The storm as it comes: the tracker must keep up, and where it cannot, `unknown`."""
    storm_while_refused_program_connects(lab, cgroup, wardend)
