"""`warden suggest` (issue 15, item 3): from an empty policy in learn mode to an enforced policy
drafted from what the real clients did. dnsmasq in the server namespace gives the addresses
names; wardend learns them from the replies, and the drafts name hosts rather than addresses.
Names are under .example, addresses documentation prefixes; nothing leaves the lab."""
import json
import os
import shutil

import pytest

from warden_cli import _cli_built, cli, warden_cli  # noqa: F401 (_cli_built: a fixture)
from warden_daemon import render_config
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import PYTHON, S4, S4B, S6, S6B, clients_dir, run

FILES = "files.suggest.example"  # -> S4B: TCP to two ports
ONE = "one.cdn.example"          # -> S6B: UDP
TWO = "two.cdn.example"          # -> S6:  UDP; with ONE, "several subdomains of cdn.example"


@pytest.fixture
def dns(lab):
    """dnsmasq on S4 only, so that the server's own address never gets a name."""
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(dnsmasq, os.X_OK):
        pytest.skip("dnsmasq is not installed (scripts/install-deps installs it)")
    p = lab.s.spawn([dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                     "--no-hosts", "--bind-interfaces", f"--listen-address={S4}", "--port=53",
                     "--pid-file=", "--user=root", f"--host-record={FILES},{S4B}",
                     f"--host-record={ONE},{S6B}", f"--host-record={TWO},{S6}",
                     "--local-ttl=300"], "dnsmasq")
    assert wait_until(lambda: resolve(lab, FILES, ns=lab.s, timeout_ms=300) == [S4B],
                      timeout=10), p.stderr_text()
    return p


def resolve(lab, name, qtype="a", ns=None, timeout_ms=2000):
    res = (ns or lab.c).run([os.path.join(clients_dir(), "dns_query"), S4, name, "--type",
                             qtype, "--timeout-ms", str(timeout_ms)],
                            timeout=timeout_ms / 1000 + 5, check=False)
    words = res.stdout.split()
    return words[3:] if words and words[0] == "reply" else None


def use_the_clients(lab):
    """What the programs do: TCP to two ports of one host by name, UDP to two subdomains."""
    assert resolve(lab, FILES) == [S4B]
    assert lab.tcp_probe(S4B, 7000).outcome == "connected"
    assert lab.tcp_probe(S4B, 7001).outcome == "connected"
    assert resolve(lab, ONE, qtype="aaaa") == [S6B]
    assert resolve(lab, TWO, qtype="aaaa") == [S6]
    assert lab.udp_probe(S6B, 7002).outcome == "reply"
    assert lab.udp_probe(S6, 7002).outcome == "reply"


def log_rows(d):
    res = cli(d, "log", "--json", "--limit", "0")
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def config_with(d, profiles_dir, **engine):
    text = render_config(d.dir, engine=engine)
    old = f'dir = "{os.path.join(d.dir, "profiles.d")}"'
    assert old in text
    return text.replace(old, f"dir = {json.dumps(profiles_dir)}")


def test_learned_flows_become_an_enforced_policy(lab, dns, wardend):
    for server in (S4, S4B, S6, S6B):
        lab.ping(server)  # neighbour discovery before wardend: no ping rows
    d = wardend(engine={"mode": "learn", "default": "deny"})
    use_the_clients(lab)
    # Learn mode accepted everything and logged the verdict it would have been: deny.
    clients = ("dns_query", "tcp_probe", "udp_probe")

    def ours():
        return [r for r in log_rows(d) if (r["exe"] or "").rsplit("/", 1)[-1] in clients]
    assert wait_until(lambda: len(ours()) >= 7, timeout=5), log_rows(d)
    rows = ours()
    assert {(r["mode"], r["action"]) for r in rows} == {("learn", "deny")}, rows
    assert {r["host"] for r in rows if r["remote_addr"] == S4B} == {FILES}, rows

    out = os.path.join(d.dir, "suggested")
    res = cli(d, "suggest", "--out", out)
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(out)) == ["dns_query.toml", "tcp_probe.toml", "udp_probe.toml"], \
        res.stdout
    tcp = open(os.path.join(out, "tcp_probe.toml")).read()
    udp = open(os.path.join(out, "udp_probe.toml")).read()
    dns_text = open(os.path.join(out, "dns_query.toml")).read()
    # Names rather than addresses, ports merged, a wildcard for the two subdomains.
    assert f'host = "{FILES}"\n' in tcp and "ports = [7000, 7001]\n" in tcp, tcp
    assert S4B not in tcp, tcp
    assert 'host = "*.cdn.example"\n' in udp and "ports = [7002]\n" in udp, udp
    assert udp.count("[[rule]]") == 1, udp
    assert f'ip = ["{S4}"]\n' in dns_text and "ports = [53]\n" in dns_text, dns_text
    for text in (tcp, udp, dns_text):
        assert text.startswith("# Drafted by `warden suggest`"), text
        assert 'default = "deny"\n' in text and "\nsha256 = [" in text, text
    tcp_probe = os.path.join(os.path.realpath(clients_dir()), "tcp_probe")
    assert f'path = "{tcp_probe}"\n' in tcp, tcp
    hashed = json.loads(cli(d, "hash", "--json", tcp_probe).stdout)["sha256"]
    assert f'sha256 = ["{hashed}"]\n' in tcp, (hashed, tcp)

    # Never overwrites: a second run refuses and leaves the files as they are.
    again = cli(d, "suggest", "--out", out)
    assert again.returncode == 1 and "nothing was written" in again.stderr, again
    assert open(os.path.join(out, "tcp_probe.toml")).read() == tcp

    # The drafts pass `warden check` as a profiles directory.
    enforce = config_with(d, out, mode="enforce", default="deny")
    check_config = os.path.join(d.dir, "check.toml")
    with open(check_config, "w") as f:
        f.write(enforce)
    checked = run([warden_cli(), "check", "--config", check_config], check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # Enforced with the drafts loaded: the same clients get through...
    d.write_config(text=enforce)
    assert cli(d, "reload").returncode == 0
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 3, timeout=5), d.stderr()
    use_the_clients(lab)
    # ...another destination, another port, another protocol and another program do not.
    assert lab.tcp_probe(S4B, 7002, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert lab.tcp_probe(S6B, 7000, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert lab.udp_probe(S4B, 7002, timeout_ms=DROP_WAIT_MS).outcome != "reply"
    assert lab.tcp_exchange(S4B, 7000, 1, timeout_ms=DROP_WAIT_MS).outcome != "done"

    def refused():
        found = {(r["exe"].rsplit("/", 1)[-1], r["remote_addr"], r["remote_port"]):
                 (r["action"], r["mode"], r["profile"], r["decided_by"])
                 for r in log_rows(d) if r["mode"] == "enforce" and r["action"] == "deny"}
        return found if len(found) >= 4 else None
    denied = wait_until(refused, timeout=5)
    assert denied, log_rows(d)
    assert denied[("tcp_probe", S4B, 7002)] == ("deny", "enforce", "tcp_probe",
                                                "profile-default"), denied
    assert denied[("tcp_session", S4B, 7000)] == ("deny", "enforce", None,
                                                  "engine-default"), denied

    # What was refused since: additions to the profiles that refused it, and a new profile for
    # the other program. The rows of the learn phase are put to the profiles loaded since,
    # which allow them: no second profile for the same program.
    def later():
        doc = json.loads(cli(d, "suggest", "--json").stdout)
        drafts = {x["file"]: x for x in doc["drafts"]}
        return drafts if len(drafts) >= 3 else None
    drafts = wait_until(later, timeout=5)
    assert drafts, cli(d, "suggest", "--json").stdout
    assert sorted(drafts) == ["tcp_probe.suggested.toml", "tcp_session.toml",
                              "udp_probe.suggested.toml"], drafts.keys()
    addition = drafts["tcp_probe.suggested.toml"]
    assert addition["kind"] == "addition" and addition["extends"] == "tcp_probe", addition
    # (A dropped SYN retried may be logged twice: flow counts are not compared.)
    assert [{k: v for k, v in r.items() if k != "flows"} for r in addition["rules"]] == [
        {"action": "allow", "direction": "out", "proto": "tcp", "host": FILES, "ports": [7002]},
        {"action": "allow", "direction": "out", "proto": "tcp", "host": ONE, "ports": [7000]},
    ], addition
    assert addition["toml"].count('\nextends = "tcp_probe"\n') == 1, addition["toml"]
    assert "[[match]]" not in addition["toml"], addition["toml"]

    # Written, checked and loaded next to the profiles, the additions let those flows through.
    more = os.path.join(d.dir, "more")
    res = cli(d, "suggest", "--out", more, "--profile", "tcp_probe")
    assert res.returncode == 0, res.stderr
    assert os.listdir(more) == ["tcp_probe.suggested.toml"], res.stdout
    shutil.copy(os.path.join(more, "tcp_probe.suggested.toml"), out)
    checked = run([warden_cli(), "check", "--config", check_config], check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert cli(d, "reload").returncode == 0
    assert resolve(lab, FILES) == [S4B]
    assert lab.tcp_probe(S4B, 7002).outcome == "connected"
    assert lab.tcp_probe(S4B, 7003, timeout_ms=DROP_WAIT_MS).outcome == "timeout"


def test_suggest_prints_toml_and_json_and_filters_by_profile(lab, dns, wardend):
    d = wardend(engine={"mode": "learn", "default": "deny"})
    assert resolve(lab, FILES) == [S4B]
    assert lab.tcp_probe(S4B, 7000).outcome == "connected"
    assert wait_until(lambda: len(log_rows(d)) >= 2, timeout=5), log_rows(d)

    text = cli(d, "suggest")
    assert text.returncode == 0, text.stderr
    assert "# ==> tcp_probe.toml <==\n" in text.stdout, text.stdout
    assert "# ==> dns_query.toml <==\n" in text.stdout, text.stdout

    only = cli(d, "suggest", "--profile", "tcp_probe", "--json")
    assert only.returncode == 0, only.stderr
    doc = json.loads(only.stdout)
    assert [x["name"] for x in doc["drafts"]] == ["tcp_probe"], doc
    draft = doc["drafts"][0]
    assert draft["kind"] == "profile" and draft["default"] == "deny", draft
    assert draft["rules"] == [{"action": "allow", "direction": "out", "proto": "tcp",
                               "host": FILES, "ports": [7000], "flows": 1}], draft
    assert len(draft["match"]["sha256"][0]) == 64, draft

    # Tags are logged and drafted: a script run by the interpreter is `script:<path>`.
    script = os.path.join(d.dir, "fetch.py")
    with open(script, "w") as f:
        f.write("import socket\n"
                f"socket.create_connection(('{S4B}', 7001), timeout=2).close()\n")
    ran = lab.c.run([PYTHON, script], check=False)
    assert ran.returncode == 0, ran.stderr
    python = os.path.realpath(PYTHON)

    def python_rows():
        return [r for r in log_rows(d) if r["exe"] == python]
    assert wait_until(python_rows, timeout=5), log_rows(d)
    assert f"script:{script}" in python_rows()[0]["tags"], python_rows()
    doc = json.loads(cli(d, "suggest", "--json").stdout)
    drafted = next(x for x in doc["drafts"] if x["match"]["path"] == python)
    assert drafted["name"] == os.path.basename(python), drafted
    assert drafted["match"]["tags"] == [f"script:{script}"], drafted

    # Nothing since a moment from now.
    none = cli(d, "suggest", "--since", "2099-01-01")
    assert none.returncode == 0 and "Nothing to suggest" in none.stdout, none


def test_drafts_never_take_the_file_of_a_profile_or_of_a_drop_in(lab, wardend, tmp_path):
    """Attack review: a draft's file is named after the program, and a user names programs. A
    program named like a file of the profiles directory ("40-shipped") had its draft named
    "40-shipped.toml", which `mv`, as the drafts' header says, put over that file; one named
    "tcp_probe.suggested" took the file of the draft of additions to profile tcp_probe, and
    `suggest --out` then wrote nothing; one named "curl.local" took curl's drop-in file."""
    probe = os.path.realpath(os.path.join(clients_dir(), "tcp_probe"))
    d = wardend(engine={"mode": "learn", "default": "allow"})
    profiles = os.path.join(d.dir, "profiles.d")
    with open(os.path.join(profiles, "40-shipped.toml"), "w") as f:
        f.write('name = "shipped"\ndefault = "deny"\n[[match]]\npath = "/usr/bin/true"\n')
    with open(os.path.join(profiles, "10-probe.toml"), "w") as f:
        f.write(f'name = "tcp_probe"\ndefault = "deny"\n[[match]]\npath = "{probe}"\n')
    assert cli(d, "reload").returncode == 0
    lab.tcp_probe(S4B, 7000)  # refused by tcp_probe's profile: a draft of additions to it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("40-shipped", "tcp_probe.suggested", "curl.local"):
        exe = bin_dir / name
        shutil.copyfile(probe, exe)
        os.chmod(exe, 0o755)
        lab.c.run([str(exe), S4B, "7001", "--timeout-ms", "1500"], check=False)
    out = tmp_path / "drafts"
    assert wait_until(lambda: cli(d, "suggest", "--json").stdout.count('"path"') >= 3, timeout=10)
    res = cli(d, "suggest", "--out", str(out))
    assert res.returncode == 0, (res.stdout, res.stderr)
    written = sorted(os.listdir(out))
    assert "40-shipped.toml" not in written and "curl.local.toml" not in written, written
    assert written.count("tcp_probe.suggested.toml") == 1, written
    assert {"40-shipped-2.toml", "tcp_probe-suggested.toml", "curl-local.toml"} <= set(written), \
        written
