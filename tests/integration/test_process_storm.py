"""A storm of short-lived processes must leave wardend's descriptors and tables bounded (SPEC
section 10, issue 13). With a profile that pins sha256 (so the tracker holds images open to
hash them) and one that reads the environment, a few thousand processes start, exec and exit
within seconds inside the attached cgroup, some of them connecting. wardend's open
descriptors may grow by no more than its bound of held images (one per image, here a handful),
and the process table must stay within the bounds `warden status` reports. Memory is measured
by bench/storm, not here."""
import os
import time

from test_attribution import attributing, cgroup, in_cgroup, sha256_of, write_profiles  # noqa: F401
from warden_lab import S4
from warden_storm import storm_command

STORM_SECONDS = 5
STORM_INTERVAL_S = 0.001
PORT = 7000



def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_process_storm_leaves_descriptors_and_tables_bounded(lab, cgroup, wardend):  # noqa: F811
    probe = lab._client("tcp_probe")
    write_profiles(lab, {
        "pinned-true": ("allow", {"sha256": [sha256_of(os.path.realpath("/bin/true"))]}),
    })
    by_env = os.path.join(lab.tmp, "wardend", "profiles.d", "50-by-env.toml")
    with open(by_env, "w") as f:
        f.write('name = "by-env"\ndefault = "allow"\n[[match]]\n'
                'env = { WARDEN_STORM_TEST = "*" }\n')
    os.chmod(by_env, 0o644)
    d = attributing(lab, wardend, cgroup)
    pid = d.proc.pid
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "wardend"
    time.sleep(0.5)
    baseline = open_fds(pid)

    storm = lab.c.spawn(in_cgroup(cgroup, ["env", "WARDEN_STORM_TEST=1"] +
                                  storm_command(STORM_SECONDS, STORM_INTERVAL_S, probe, S4, PORT)),
                        "storm", lines=True)
    peak_fds, peak_entries = baseline, 0
    try:
        assert storm.wait_line(lambda t: t == "storming", timeout=10), storm.stderr_text()
        while storm.alive():
            peak_fds = max(peak_fds, open_fds(pid))
            peak_entries = max(peak_entries, d.status()["attribution"]["processes"]["entries"])
            time.sleep(0.05)
        done = storm.wait_line(lambda t: t.startswith("spawned"), timeout=STORM_SECONDS + 30)
        assert done, storm.stderr_text()
    finally:
        storm.kill()
    spawned = int(done.split()[1])
    att = d.status()["attribution"]
    report = (f"storm spawned {spawned}; fds baseline {baseline}, peak {peak_fds}, now "
              f"{open_fds(pid)}; peak table entries {peak_entries}; processes "
              f"{att['processes']}; held images {att.get('held_images')}; "
              f"hash cache {att['hash_cache']}")
    print(report)
    # The storm was made, and images were hashed for the pinned profile.
    assert spawned >= 1000, report
    assert att["processes"]["execs"] >= spawned, report
    assert att["hash_cache"]["entries"] >= 1, report
    # One descriptor per image (true, tcp_probe, python, env...), never one per process.
    assert peak_fds - baseline <= 32, report
    assert open_fds(pid) - baseline <= 32, report
    held = att["held_images"]
    assert held["held"] <= held["bound"], report
    processes = att["processes"]
    assert processes["entries"] <= processes["bound"], report
    assert processes["exited"] <= processes["exited_bound"], report
    if processes["execs"] > processes["exited_bound"] + 500:
        assert processes["evicted"] > 0, report
    assert alive_and_deciding(lab, cgroup, d), report


def alive_and_deciding(lab, cg, d):
    """After the storm wardend still decides: a probe (no profile, engine default allow)."""
    res = lab.c.run(in_cgroup(cg, [lab._client("tcp_probe"), S4, str(PORT), "--timeout-ms",
                                   "2000"]), timeout=10, check=False)
    return d.alive() and res.stdout.split()[:1] == ["connected"]
