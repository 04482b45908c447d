"""The `warden` habits of issue 14 against the real wardend: `--version` names the running
daemon's version and policy revision, a refused `reload --json` says so as JSON on stdout with
the errors, `log --since/--until` take words and clock times and bound the rows on both sides,
and `log -f --until` stops by itself once that time has passed."""
import json
import os
import pty
import re
import select
import subprocess
import time

from test_cli import DENY_7001, NS_PER_S, created_then_stopped, seed_rows
from warden_cli import _cli_built, cli, warden_cli  # noqa: F401 (_cli_built: a fixture)
from warden_expect import wait_until
from warden_lab import S4

OK, ERROR, USAGE = 0, 1, 2


def project_version():
    top = os.path.join(os.path.dirname(__file__), "..", "..", "CMakeLists.txt")
    with open(top) as f:
        return re.search(r"project\(warden VERSION ([0-9.]+)", f.read()).group(1)


def test_version_names_the_running_daemon_and_its_revision(lab, wardend):
    d = wardend(rules=[DENY_7001])
    revision = d.status()["policy"]["revision"]
    version = project_version()
    res = cli(d, "--version")
    assert res.returncode == OK, res.stderr
    assert res.stdout == (f"warden {version}\n"
                          f"wardend {version} (running, policy revision {revision})\n")
    assert d.status()["version"] == version
    assert d.terminate() == 0
    down = cli(d, "--version")
    assert down.returncode == OK, down.stderr
    assert down.stdout == (f"warden {version}\n"
                           f"wardend is not running (no control socket at {d.socket_path})\n")


def test_a_refused_reload_says_so_as_json_with_the_errors(lab, wardend):
    d = wardend(rules=[DENY_7001])
    before = d.status()["policy"]["revision"]
    ok = cli(d, "reload", "--json")
    assert ok.returncode == OK, ok.stderr
    assert json.loads(ok.stdout) == {"ok": True, "revision": before + 1}

    with open(d.config_path, "a") as f:
        f.write('\n[[rule]]\naction = "permit"\n')
    lines = sum(1 for _ in open(d.config_path))
    time.sleep(0.5)  # let the daemon's own watcher try (and refuse) first
    refused = cli(d, "reload", "--json")
    assert refused.returncode == ERROR, refused
    answer = json.loads(refused.stdout)
    assert answer["ok"] is False and answer["exit_status"] == ERROR
    assert "refused" in answer["error"], answer
    assert {"file": d.config_path, "line": lines, "column": 10, "severity": "error",
            "message": "invalid value 'permit' for 'action' (expected allow, deny or reject)"} \
        in answer["diagnostics"], answer
    assert "refused" in refused.stderr, "the message stays on stderr for people"
    assert d.status()["policy"]["revision"] == before + 1
    assert lab.tcp_probe(S4, 7001, timeout_ms=300).outcome == "timeout", "the old policy runs"


def local_text(ns):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / NS_PER_S))


def test_log_since_and_until_bound_the_rows(lab, wardend):
    d = created_then_stopped(wardend)
    now = time.time_ns()
    hour = 3600 * NS_PER_S
    seed_rows(d, [{"time_ns": now - k * hour, "port": k, "action": "allow"} for k in (1, 3, 5, 7, 20, 30)]
              + [{"time_ns": now - 49 * hour, "port": 49, "action": "deny"}])
    d.start()

    def ports(*args):
        res = cli(d, "log", "--json", "--limit", "0", *args)
        assert res.returncode == OK, (args, res.stderr)
        return [json.loads(line)["remote_port"] for line in res.stdout.splitlines()
                if json.loads(line)["remote_addr"] == "203.0.113.9"]

    assert ports("--since", "6h", "--until", "2h") == [3, 5]
    assert ports("--until", "4h") == [5, 7, 20, 30, 49]
    # A local date and time, and a clock time today (local), as an administrator types them.
    assert ports("--since", local_text(now - 4 * hour)) == [1, 3]
    assert ports("--until", local_text(now - 6 * hour)[:16]) == [7, 20, 30, 49]
    # Midnights: the rows of the last 49 hours are today's, yesterday's or before.
    midnight = time.mktime(time.localtime(now / NS_PER_S)[:3] + (0, 0, 0, 0, 0, -1))
    today = [k for k in (1, 3, 5, 7, 20, 30, 49) if now - k * hour >= midnight * NS_PER_S]
    assert ports("--since", "today") == today
    yesterday_start = time.mktime(time.localtime(now / NS_PER_S)[:2]
                                  + (time.localtime(now / NS_PER_S)[2] - 1, 0, 0, 0, 0, 0, -1))
    assert ports("--since", "yesterday", "--until", "today") == \
        [k for k in (1, 3, 5, 7, 20, 30, 49)
         if yesterday_start * NS_PER_S <= now - k * hour < midnight * NS_PER_S]

    backwards = cli(d, "log", "--since", "1h", "--until", "2h")
    assert backwards.returncode == USAGE
    assert "is not after --since 1h" in backwards.stderr, backwards.stderr
    assert cli(d, "log", "--json", "--since", "2h", "--until", "3h").stdout.startswith(
        '{"error":"--until 3h'), "--json says it on stdout too"


def test_follow_with_until_stops_once_it_has_passed(lab, wardend):
    d = wardend(rules=[DENY_7001])
    lab.tcp_probe(S4, 7000)
    until = time.time() + 1.5
    start = time.monotonic()
    res = subprocess.run([warden_cli(), "log", "-f", "--json", "--until",
                          time.strftime("%H:%M:%S", time.localtime(until + 1)),
                          "--config", d.config_path], capture_output=True, text=True, timeout=20)
    took = time.monotonic() - start
    assert res.returncode == OK, res.stderr
    assert any(json.loads(line)["remote_port"] == 7000 for line in res.stdout.splitlines()), \
        res.stdout
    # --until is a whole second about 2.5 s ahead; rows are waited for 2 s past it.
    assert took < 8, f"log -f --until ran {took:.1f} s"


def on_terminal(argv, env, timeout=15):
    """Runs argv on a new pseudo-terminal; returns (exit status, what it wrote there)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    try:
        return proc.wait(5), screen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_log_is_paged_and_coloured_on_a_terminal_but_never_while_following(lab, wardend):
    d = wardend(rules=[DENY_7001])
    lab.tcp_probe(S4, 7001, timeout_ms=300)
    assert wait_until(lambda: '"remote_port":7001' in cli(d, "log", "--json").stdout, timeout=5)
    paged = os.path.join(d.dir, "paged")
    env = dict(os.environ, TERM="xterm", WARDEN_PAGER=f"cat > {paged}")
    env.pop("NO_COLOR", None)
    status, screen = on_terminal([warden_cli(), "log", "--config", d.config_path], env)
    assert status == OK, screen
    with open(paged, "rb") as f:
        text = f.read()
    assert b"\x1b[31mdeny\x1b[0m" in text, text
    os.unlink(paged)
    until = time.strftime("%H:%M:%S", time.localtime(time.time() + 1))
    status, screen = on_terminal([warden_cli(), "log", "-f", "--until", until,
                                  "--config", d.config_path], env)
    assert status == OK, screen
    assert not os.path.exists(paged), "log -f went through the pager"
    assert b"\x1b[31mdeny" in screen and b"7001" in screen, screen
