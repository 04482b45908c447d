"""Issue 15, items 1 and 2, against the real wardend with real clients: a profile in learn mode
has its flows decided and logged (with the verdict they would have had) but accepted while
another profile stays enforced; every rule and profile default counts the flows it decided,
`warden rules` shows the counts, and they survive a reload that leaves the rule alone and a
restart of wardend, while an edited rule starts again from zero."""
import json
import os
import shutil

from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import S4

OK = 0


def copy_probe(lab, name):
    """A copy of the tcp_probe client at a path of its own, so that a profile matches it alone."""
    path = os.path.join(lab.tmp, name)
    shutil.copy(os.path.realpath(lab._client("tcp_probe")), path)
    os.chmod(path, 0o755)
    return path


def write_profile(d, file_name, text):
    path = os.path.join(d.dir, "profiles.d", file_name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)
    return path


def reloaded_to(d, revision_before, profiles):
    """Waits for the file-change reload after an edit; returns the new revision."""
    def done():
        policy = d.status()["policy"]
        return policy["revision"] > revision_before and policy["profiles"] == profiles and policy
    policy = wait_until(done, timeout=5)
    assert policy, f"no reload to {profiles} profiles: {d.stderr()}"
    return policy["revision"]


def probe(lab, exe, port, timeout_ms=1500):
    res = lab.c.run([exe, S4, str(port), "--timeout-ms", str(timeout_ms)], check=False,
                    timeout=timeout_ms / 1000 + 5)
    return res.stdout.split()[0] if res.stdout.split() else "no-output"


def log_rows(d, *args):
    res = cli(d, "log", "--json", "--limit", "0", *args)
    assert res.returncode == OK, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def rules_json(d, *args):
    res = cli(d, "rules", "--json", *args)
    assert res.returncode == OK, res.stderr
    return json.loads(res.stdout), res.stderr


def profile_hits(d, name):
    """[(rule text, hits)] of one profile's rules, then ("default", hits)."""
    document, _ = rules_json(d, name)
    profile = document["profiles"][0]
    return [(r["rule"], r["hits"]) for r in profile["rules"]] + \
        [("default", profile["default_hits"])]


def test_a_learn_profile_is_accepted_and_logged_while_another_is_enforced(lab, wardend):
    learner = copy_probe(lab, "probe_learner")
    strict = copy_probe(lab, "probe_strict")
    d = wardend(engine={"default": "allow"})
    revision = d.status()["policy"]["revision"]
    write_profile(d, "10-two.toml", f"""
[[profile]]
name = "learner"
mode = "learn"
default = "deny"
[[profile.match]]
path = "{learner}"

[[profile]]
name = "strict"
default = "deny"
[[profile.match]]
path = "{strict}"
""")
    reloaded_to(d, revision, 2)

    assert probe(lab, learner, 7000) == "connected"
    assert probe(lab, strict, 7000, timeout_ms=DROP_WAIT_MS) == "timeout"

    learned = wait_until(lambda: log_rows(d, "--profile", "learner"), timeout=5)
    assert learned, "no log row for the learn profile"
    assert {(r["action"], r["mode"], r["decided_by"]) for r in learned} == \
        {("deny", "learn", "profile-default")}, learned
    enforced = wait_until(lambda: log_rows(d, "--profile", "strict"), timeout=5)
    assert enforced, "no log row for the enforced profile"
    assert {(r["action"], r["mode"]) for r in enforced} == {("deny", "enforce")}, enforced
    assert d.status()["totals"]["learn"] >= 1

    profiles = json.loads(cli(d, "profiles", "--json").stdout)["profiles"]
    assert {p["name"]: p["mode"] for p in profiles} == {"learner": "learn", "strict": None}
    table = cli(d, "profiles").stdout
    assert any(line.split()[:2] == ["learner", "learn"] for line in table.splitlines()), table
    assert any(line.split()[:3] == ["strict", "engine", "(enforce)"]
               for line in table.splitlines()), table


def test_rule_hits_survive_reload_and_restart_and_an_edited_rule_starts_at_zero(lab, wardend):
    exe = copy_probe(lab, "probe_counted")
    d = wardend(engine={"default": "allow"})
    revision = d.status()["policy"]["revision"]
    counted = f"""name = "counted"
default = "deny"
[[match]]
path = "{exe}"

[[rule]]
action = "allow"
proto = "tcp"
ports = 7000

[[rule]]
action = "allow"
proto = "tcp"
ports = 7001
"""
    counted_file = write_profile(d, "10-counted.toml", counted)
    revision = reloaded_to(d, revision, 1)

    assert probe(lab, exe, 7000) == "connected"
    assert probe(lab, exe, 7000) == "connected"
    assert probe(lab, exe, 7001) == "connected"
    expected = [("allow out tcp ports=7000", 2), ("allow out tcp ports=7001", 1), ("default", 0)]
    assert wait_until(lambda: profile_hits(d, "counted") == expected, timeout=5), \
        profile_hits(d, "counted")
    document, _ = rules_json(d, "counted")
    assert document["profiles"][0]["rules"][0]["last_ns"] > 0
    assert document["profiles"][0]["default_last_ns"] is None
    table = cli(d, "rules", "counted").stdout.splitlines()
    header = next(line for line in table if "RULE" in line)
    assert header.split() == ["#", "RULE", "HITS", "LAST", "SOURCE"], table
    row = next(line for line in table if "ports=7000" in line)
    assert row.split()[5] == "2" and row.split()[7] == "ago", table
    assert "  otherwise: deny (profile default), 0 hits, last never" in table, table
    unused = cli(d, "rules", "counted", "--unused").stdout
    assert "ports=7000" not in unused and "otherwise: deny" in unused, unused

    # Another file edited: a reload that leaves these rules alone keeps their counts.
    write_profile(d, "20-other.toml", 'name = "other"\n[[match]]\npath = "/usr/bin/other"\n')
    revision = reloaded_to(d, revision, 2)
    assert profile_hits(d, "counted") == expected

    # Stopped: `warden rules` reads what wardend stored at its stop, and says so.
    assert d.terminate() == 0
    stored, notes = rules_json(d, "counted")
    assert [(r["rule"], r["hits"]) for r in stored["profiles"][0]["rules"]] == \
        [e for e in expected if e[0] != "default"]
    assert "as wardend last stored them" in notes, notes

    # Started again: the counts are where they were, and go on from there.
    d.start()
    assert profile_hits(d, "counted") == expected
    assert probe(lab, exe, 7000) == "connected"
    expected[0] = ("allow out tcp ports=7000", 3)
    assert wait_until(lambda: profile_hits(d, "counted") == expected, timeout=5), \
        profile_hits(d, "counted")

    # The first rule edited (another port), a comment above the second (its line moves): the
    # edited rule starts at zero, the moved one keeps its count.
    revision = d.status()["policy"]["revision"]
    edited = counted.replace("ports = 7000", "ports = [7000, 7002]").replace(
        "[[rule]]\naction = \"allow\"\nproto = \"tcp\"\nports = 7001",
        "# kept\n[[rule]]\naction = \"allow\"\nproto = \"tcp\"\nports = 7001")
    assert edited != counted
    write_profile(d, "10-counted.toml", edited)
    reloaded_to(d, revision, 2)
    assert profile_hits(d, "counted") == [("allow out tcp ports=7000,7002", 0),
                                          ("allow out tcp ports=7001", 1), ("default", 0)]
    assert os.path.exists(counted_file)
