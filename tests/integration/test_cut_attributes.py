"""What a process says of itself, read in part or said twice (SPEC sections 4 and 5).

wardend reads a process's /proc/PID/cmdline and environ up to 256 KiB each. A process makes
both as long as it likes (up to a quarter of its stack limit), so an unprivileged user can
place what matters past the end of what wardend reads:

- PYTHONINSPECT=1 past the environment read: python3 runs the trusted script, then reads code
  from stdin and runs it in the same process. Before, the script's `script:<path>` tag was
  given (no PYTHONINSPECT among the variables read), so the inline code had the trusted
  script's profile. Now a cut environment tells nothing of what the interpreter runs: no tag.
- A `cmdline` regex over the cut command line: a pattern that holds at the cut where the whole
  command line does not (`trusted-mode$`), or a deny profile's pattern past the cut, which
  left the process to a profile that allows. Before, the first was allowed by the profile it
  forged its way into and the second by the profile it fell back to. Now which profile is the
  process's cannot be told: the engine `unknown` verdict (SPEC section 4: missing data never
  more permissive than knowing).
- A variable set twice (execve takes any list): a shell takes the last copy, getenv the first.
- An `ancestor_path` key naming an ancestor above the 16 nearest, which are all wardend keeps:
  a chain of shells below a launcher whose children a deny profile names.

Each attack is run as nobody (uid 65534); each has a control that shows the profile it aims at
allows. Nothing listens on the ports the attacks connect to: a connection let through is
refused by the server's kernel at once, a dropped one times out.
"""
import json
import os
import re

from test_attribution import (NOBODY, _reachable_by_everyone, cgroup,  # noqa: F401
                              in_cgroup, logged_rows, profiled)
from warden_cli import cli
from warden_lab import PYTHON, S4, run

PROC_READ = 256 * 1024  # what wardend reads of a /proc file (proc_reader.cpp, kMaxProcFile)
PAD = 100_000           # under MAX_ARG_STRLEN (128 KiB), the kernel's bound on one string

CONNECT = ("import socket, sys\n"
           "def attempt(port):\n"
           "    try:\n"
           "        socket.create_connection((sys.argv[1], port), timeout=1.5)\n"
           "        print('connected', flush=True)\n"
           "    except Exception as e:\n"
           "        print(type(e).__name__, flush=True)\n")


def _outcome(res):
    """What the connection attempt printed last: ConnectionRefusedError (let through, nobody
    listens), TimeoutError (dropped)."""
    lines = res.stdout.split()
    return lines[-1] if lines else f"nothing (rc {res.returncode}, {res.stderr.strip()[-300:]})"


def _as_nobody(lab, cg, argv, env=None, stdin=None):
    """argv as nobody in cg in the client namespace, with exactly `env` as its environment
    (in that order) when given."""
    prefix = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] if env is not None else []
    return run(lab.c.cmd(in_cgroup(cg, NOBODY + prefix + list(argv))), timeout=30, check=False,
               input=stdin)


def _script(lab, name, body):
    path = os.path.join(lab.tmp, "bin", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o644)
    _reachable_by_everyone(lab, path)
    return path


# Runs argv[1:] on a pseudo-terminal with the launcher's own environment (python3 enters its
# prompt after the script for PYTHONINSPECT only when stdin is a terminal), types the code of
# INSPECTED at the prompt, and prints what the program wrote.
ON_A_TERMINAL = r"""
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execve(sys.argv[1], sys.argv[1:], os.environ)
os.write(fd, sys.stdin.read().encode())
out, deadline = b"", time.monotonic() + 20
while time.monotonic() < deadline:
    if not select.select([fd], [], [], 0.5)[0]:
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.write(out.decode(errors="replace"))
"""

INSPECTED = ("import socket, sys\n"
             "try:\n"
             "    socket.create_connection((sys.argv[1], 7102), timeout=1.5); print('RESULT', 'connected')\n"
             "except Exception as e:\n"
             "    print('RESULT', type(e).__name__)\n"
             "\n"
             "exit()\n")


def test_python_inspect_past_the_environment_read_gets_no_script_tag(lab, cgroup, wardend):
    trusted = _script(lab, "trusted.py", CONNECT + "attempt(int(sys.argv[2]))\n")
    d = profiled(lab, wardend, cgroup, {"trusted": ("allow", {"tags": [f"script:{trusted}"]})},
                 default="deny")
    # Control: the trusted script has its tag, and its profile lets it through.
    ok = _as_nobody(lab, cgroup, [PYTHON, trusted, S4, "7101"], env={"PATH": "/usr/bin:/bin"})
    assert _outcome(ok) == "ConnectionRefusedError", (ok.stdout, ok.stderr)

    # The attack: the same script, then code typed at python's prompt, which PYTHONINSPECT
    # past the environment read opens once the script is done.
    pads = {f"PAD{i}": "x" * PAD for i in range(3)}
    env = {"PATH": "/usr/bin:/bin", **pads, "PYTHONINSPECT": "1"}
    assert sum(len(k) + len(v) + 2 for k, v in env.items()) > PROC_READ
    res = _as_nobody(lab, cgroup, [PYTHON, "-c", ON_A_TERMINAL, PYTHON, trusted, S4, "7103"],
                     env=env, stdin=INSPECTED)
    typed = re.findall(r"RESULT (\w+)", res.stdout)
    assert typed, ("the prompt did not run the typed code", res.stdout, res.stderr)
    assert typed == ["TimeoutError"], \
        ("BYPASS: code typed at the prompt had the trusted script's profile", res.stdout)
    rows = logged_rows(d, {7101, 7102, 7103})
    assert rows, (res.stdout, cli(d, "log", "--json", "--limit", "0").stdout)
    attack = [r for r in rows if r["remote_port"] in (7102, 7103)]
    assert attack and all(r["profile"] is None and r["action"] == "deny" for r in attack), attack


def test_a_cmdline_regex_over_a_cut_command_line_decides_unknown(lab, cgroup, wardend):
    python = os.path.realpath(PYTHON)
    d = profiled(lab, wardend, cgroup, {
        "trusted": ("allow", {"path": python, "cmdline": "trusted-mode$"}),
        "blocked": ("deny", {"path": python, "cmdline": " --blocked( |$)"}),
        "python": ("allow", {"path": python}),
    }, default="deny", unknown="deny")
    code = CONNECT + "attempt(int(sys.argv[2]))\n"

    # Controls: each profile as meant, with command lines read whole.
    ok = _as_nobody(lab, cgroup, [PYTHON, "-c", code, S4, "7201", "trusted-mode"])
    assert _outcome(ok) == "ConnectionRefusedError", (ok.stdout, ok.stderr)
    blocked = _as_nobody(lab, cgroup, [PYTHON, "-c", code, S4, "7202", "--blocked"])
    assert _outcome(blocked) == "TimeoutError", (blocked.stdout, blocked.stderr)

    # Attack 1: the read stops right after "trusted-mode", inside an argument that goes on.
    head = [PYTHON, "-c", code, S4, "7203", "x" * PAD, "y" * PAD]
    used = sum(len(a) + 1 for a in head)
    forged = "z" * (PROC_READ - used - len("trusted-mode")) + "trusted-mode" + "-but-not-at-the-end"
    res = _as_nobody(lab, cgroup, head + [forged])
    assert _outcome(res) == "TimeoutError", \
        ("BYPASS: a regex held over the cut command line", res.stdout, res.stderr)

    # Attack 2: the deny profile's argument past the cut, to fall back to `python`.
    res = _as_nobody(lab, cgroup, [PYTHON, "-c", code, S4, "7204", "x" * PAD, "y" * PAD,
                                   "z" * PAD, "--blocked"])
    assert _outcome(res) == "TimeoutError", \
        ("BYPASS: a deny profile's pattern past the cut", res.stdout, res.stderr)

    rows = logged_rows(d, {7201, 7202, 7203, 7204})
    assert rows, cli(d, "log", "--json", "--limit", "0").stdout
    by_port = {r["remote_port"]: r for r in rows}
    assert by_port[7201]["profile"] == "trusted", by_port[7201]
    assert by_port[7202]["profile"] == "blocked", by_port[7202]
    for port in (7203, 7204):
        assert by_port[port]["profile"] is None and by_port[port]["action"] == "deny", \
            by_port[port]
        assert by_port[port]["decided_by"] == "unknown", by_port[port]


CHAIN = """#!/bin/sh
# chain.sh N PROGRAM...: N shells, each the child of the one before, then PROGRAM.
n=$1; shift
if [ "$n" -gt 0 ]; then "$0" $((n - 1)) "$@"; exit $?; fi
exec "$@"
"""


def test_an_ancestor_path_above_the_ancestors_kept_decides_unknown(lab, cgroup, wardend):
    """wardend keeps a process's 16 nearest ancestors. A deny profile for what a launcher starts
    (`ancestor_path`) was escaped by starting the program below a chain of 17 shells: the
    launcher was not among the ancestors kept, so the key failed and the program fell back to
    its own profile, which allows. Now the key is undetermined there: `unknown`."""
    python = os.path.realpath(PYTHON)
    launcher = os.path.join(lab.tmp, "bin", "launcher")
    os.makedirs(os.path.dirname(launcher), exist_ok=True)
    with open(os.path.realpath("/bin/sh"), "rb") as src, open(launcher, "wb") as dst:
        dst.write(src.read())
    os.chmod(launcher, 0o755)
    chain = _script(lab, "chain.sh", CHAIN)
    os.chmod(chain, 0o755)
    _reachable_by_everyone(lab, launcher)
    d = profiled(lab, wardend, cgroup, {
        "from-launcher": ("deny", {"path": python, "ancestor_path": launcher}),
        "python": ("allow", {"path": python}),
    }, default="deny", unknown="deny")
    code = CONNECT + "attempt(int(sys.argv[2]))\n"

    # Controls: python started by itself is allowed; a few shells below the launcher, denied.
    ok = _as_nobody(lab, cgroup, [PYTHON, "-c", code, S4, "7301"])
    assert _outcome(ok) == "ConnectionRefusedError", (ok.stdout, ok.stderr)
    near = _as_nobody(lab, cgroup, [launcher, chain, "3", PYTHON, "-c", code, S4, "7302"])
    assert _outcome(near) == "TimeoutError", (near.stdout, near.stderr)

    # The attack: 17 shells between the launcher and python.
    far = _as_nobody(lab, cgroup, [launcher, chain, "17", PYTHON, "-c", code, S4, "7303"])
    assert _outcome(far) == "TimeoutError", \
        ("BYPASS: the launcher's deny profile escaped by a chain of shells", far.stdout,
         far.stderr)

    rows = logged_rows(d, {7301, 7302, 7303})
    assert rows, cli(d, "log", "--json", "--limit", "0").stdout
    by_port = {r["remote_port"]: r for r in rows}
    assert by_port[7302]["profile"] == "from-launcher", by_port[7302]
    assert by_port[7303]["profile"] is None and by_port[7303]["decided_by"] == "unknown", \
        by_port[7303]


# execve with exactly the environment given, duplicates and all (Python's own exec functions
# take a dict): RAW_EXEC ENV_JSON PROGRAM ARGS...
RAW_EXEC = r"""
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
def strings(items):
    return (ctypes.c_char_p * (len(items) + 1))(*[s.encode() for s in items], None)
env = json.loads(sys.argv[1])
libc.execve(sys.argv[2].encode(), strings(sys.argv[2:]), strings(env))
print("execve failed", ctypes.get_errno(), flush=True)
"""

TRY_TCP = '{ exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null && echo connected || echo failed\n'


def test_a_variable_set_twice_withholds_the_script_tag_by_either_copy(lab, cgroup, wardend):
    """execve takes any environment list, so BASH_ENV can come twice: empty first, then a file
    of the user's. bash imports the environment in order (the last copy wins) and runs that
    file before the script; wardend looked at the first copy only, saw BASH_ENV empty and gave
    the trusted script its tag. The file's code then connected with the script's profile."""
    bash = os.path.realpath("/bin/bash")
    trusted = _script(lab, "trusted.sh", TRY_TCP)
    evil = _script(lab, "evil.sh", TRY_TCP.replace('$1/$2', '$1/7402'))
    d = profiled(lab, wardend, cgroup, {"trusted": ("allow", {"tags": [f"script:{trusted}"]})},
                 default="deny")
    ok = _as_nobody(lab, cgroup, ["timeout", "5", bash, trusted, S4, "7401"],
                    env={"PATH": "/usr/bin:/bin"})
    assert ok.stdout.strip() == "failed", (ok.stdout, ok.stderr)  # refused: let through

    env = ["PATH=/usr/bin:/bin", "BASH_ENV=", f"BASH_ENV={evil}"]
    res = _as_nobody(lab, cgroup, ["timeout", "5", PYTHON, "-c", RAW_EXEC, json.dumps(env), bash,
                                   trusted, S4, "7403"])
    assert "execve failed" not in res.stdout, res.stdout
    rows = logged_rows(d, {7401, 7402})
    assert rows, (res.stdout, res.stderr, cli(d, "log", "--json", "--limit", "0").stdout)
    by_port = {r["remote_port"]: r for r in rows}
    assert by_port[7401]["profile"] == "trusted", by_port[7401]
    assert by_port[7402]["profile"] is None and by_port[7402]["action"] == "deny", \
        ("BYPASS: BASH_ENV's second copy ran with the trusted script's profile", by_port[7402])
