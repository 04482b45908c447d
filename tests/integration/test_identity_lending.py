"""What an unprivileged user (uid 65534) can make wardend lend a program of its own, found by
an attack review (SPEC 4, 5): a trusted launcher's path as parent_path or ancestor_path (an
orphan the launcher adopts, as a subreaper or as init of a pid namespace of the user's own),
the engine `default` for a program a profile refuses (exec'd by a relative name, gone before
/proc was read: its path cannot be known, so `unknown`), and a trusted script's `script:` tag
for code the user wrote (PS4 run by bash's xtrace, a data: URL given to node's --import), and
an allowed program's identity for a datagram its child sent (a connected UDP socket kept across
the exec, the child moved to another cgroup).

Each test runs a control (the same thing without the trick is refused) and FAILS when the trick
works, with "BYPASS" in its message and the log rows it saw."""
import json
import os
import shutil
import subprocess
import urllib.parse

import pytest

from test_attribution import (NOBODY, _reachable_by_everyone, _userns_allowed, attributing,
                              cgroup, in_cgroup, install, write_profiles)
from test_identity_claims import SUBREAPER, _rmtree_cgroup
from warden_cli import cli
from warden_expect import wait_until
from warden_lab import PYTHON, S4
from warden_storm import storm_command

assert cgroup  # the fixture, imported for pytest


def all_rows(d):
    out = cli(d, "log", "--json", "--limit", "0")
    return [json.loads(line) for line in out.stdout.splitlines()]


def rows_for(d, ports, timeout=6, want=1):
    """Rows for each port in ports (waits until every port has `want` rows or timeout)."""
    def got():
        rows = [r for r in all_rows(d) if r["remote_port"] in ports]
        counts = {p: sum(1 for r in rows if r["remote_port"] == p) for p in ports}
        return rows if all(c >= want for c in counts.values()) else None
    found = wait_until(got, timeout=timeout)
    if found is None:
        found = [r for r in all_rows(d) if r["remote_port"] in ports]
    return found


def brief(rows):
    return [(r["remote_port"], r.get("profile"), r.get("action"), r.get("decided_by"),
             r.get("pid")) for r in rows]


def tool(lab, name="tool"):
    path = install(lab._client("tcp_probe"), os.path.join(lab.tmp, "bin", "user", name))
    _reachable_by_everyone(lab, path)
    return path


def launcher(lab):
    path = install(shutil.which("sleep"), os.path.join(lab.tmp, "bin", "trusted", "launcher"))
    _reachable_by_everyone(lab, path)
    return path


def as_nobody(lab, cg, argv, timeout=30):
    res = lab.c.run(in_cgroup(cg, NOBODY + list(argv)), timeout=timeout, check=False)
    return res.stdout.split()[:1], res


def compile_c(lab, name, source, static=False, where="user"):
    src = os.path.join(lab.tmp, f"{name}.c")
    with open(src, "w") as f:
        f.write(source)
    out = os.path.join(lab.tmp, "bin", where, name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = ["gcc", "-O2", "-o", out, src] + (["-static"] if static else [])
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    os.chmod(out, 0o755)
    _reachable_by_everyone(lab, out)
    return out


def need_userns():
    if not _userns_allowed():
        pytest.skip("unprivileged user namespaces are not allowed here")


# ---- 1. parent_path / ancestor_path lent by an adopter ------------------------------------
# The README: "a shell that starts a program and then execs a trusted one in its own place does
# not lend it to the program, also when it made itself a subreaper". Here the shell (a
# subreaper, or a pid namespace's init) starts a helper, execs the trusted launcher, and the
# helper then starts the tool's process and exits: the orphan is adopted by the launcher, and
# only then execs the tool. The launcher started nothing.

OUTER = 'sh -c "$0" & exec "$1" 4'


def inner(t, port):
    return (f'sleep 0.5; sh -c "sleep 0.5; exec {t} {S4} {port} --timeout-ms 1500" & '
            'exit 0')


@pytest.mark.parametrize("how,key", [
    pytest.param("subreaper", "parent_path", id="subreaper-parent_path"),
    pytest.param("subreaper", "ancestor_path", id="subreaper-ancestor_path"),
    pytest.param("pidns", "parent_path", id="pidns-init-parent_path"),
])
def test_adopted_after_the_launcher_exec(lab, cgroup, wardend, how, key):
    if how == "pidns":
        need_userns()
    t = tool(lab)
    lnch = launcher(lab)
    write_profiles(lab, {"via-launcher": ("allow", {key: lnch})})
    d = attributing(lab, wardend, cgroup, default="deny")

    out, res = as_nobody(lab, cgroup, ["sh", "-c", 'exec "$0" "$@"', t, S4, "7000",
                                       "--timeout-ms", "1500"])
    assert out == ["timeout"], ("control", res.stdout, res.stderr)

    prefix = ([PYTHON, "-c", SUBREAPER] if how == "subreaper"
              else ["unshare", "-Urpf"])
    out, res = as_nobody(lab, cgroup, prefix + ["sh", "-c", OUTER, inner(t, 7001), lnch])
    rows = rows_for(d, {7000, 7001})
    print("rows", brief(rows), "stdout", res.stdout, "stderr", res.stderr)
    assert out != ["connected"] and all(r["profile"] != "via-launcher" for r in rows), (
        f"BYPASS ({how}, {key}): the tool adopted by {lnch} after its exec connected as "
        f"via-launcher; stdout {res.stdout!r}; rows {brief(rows)}")


def test_adopted_by_a_pid_namespace_init_running_the_launcher(lab, cgroup, wardend):
    """No exec after a fork at all: the trusted launcher is started as the init of a pid
    namespace of nobody's own; nobody then enters that namespace (nsenter) and leaves an orphan
    there, which the launcher adopts."""
    need_userns()
    t = tool(lab)
    lnch = launcher(lab)
    write_profiles(lab, {"via-launcher": ("allow", {"parent_path": lnch})})
    d = attributing(lab, wardend, cgroup, default="deny")

    out, res = as_nobody(lab, cgroup, ["sh", "-c", 'exec "$0" "$@"', t, S4, "7000",
                                       "--timeout-ms", "1500"])
    assert out == ["timeout"], ("control", res.stdout, res.stderr)

    holder = lab.c.spawn(in_cgroup(cgroup, NOBODY + ["unshare", "-Urpf", lnch, "10"]),
                         "ns-init")

    def init_pid():
        try:
            with open(f"/proc/{holder.pid}/task/{holder.pid}/children") as f:
                kids = f.read().split()
            pid = int(kids[0])
            return pid if os.readlink(f"/proc/{pid}/exe") == lnch else None
        except (OSError, IndexError, ValueError):
            return None
    pid = wait_until(init_pid, timeout=5)
    assert pid, holder.stderr_text()
    try:
        out, res = as_nobody(lab, cgroup, [
            "nsenter", "-t", str(pid), "-U", "-p", "--preserve-credentials", "sh", "-c",
            f'sh -c "sleep 0.5; exec {t} {S4} 7001 --timeout-ms 1500" & exit 0'])
        rows = rows_for(d, {7000, 7001})
        print("rows", brief(rows), "stdout", res.stdout, "stderr", res.stderr)
        assert out != ["connected"] and all(r["profile"] != "via-launcher" for r in rows), (
            f"BYPASS: an orphan nobody left in its own pid namespace, adopted by the launcher "
            f"(the namespace's init), connected as via-launcher; stdout {res.stdout!r}; "
            f"rows {brief(rows)}")
    finally:
        holder.kill()


# A second attack review: the launcher adopts an orphan that execs a shell, which runs the tool
# as its child. The orphan is lent nothing, but the walk up from the tool went through the
# orphan's parent as it is now, its adopter; it now goes to the process that forked it.
STAGE = """#!/bin/sh
sleep 0.5
exec /bin/sh -c '"$@"; true' sh "$@"
"""


@pytest.mark.parametrize("how", [pytest.param("subreaper", id="subreaper"),
                                 pytest.param("pidns", id="pidns-init")])
def test_grandchild_of_an_orphan_the_launcher_adopted(lab, cgroup, wardend, how):
    if how == "pidns":
        need_userns()
    t = tool(lab)
    lnch = launcher(lab)
    stage = os.path.join(lab.tmp, "bin", "user", "stage.sh")
    with open(stage, "w") as f:
        f.write(STAGE)
    os.chmod(stage, 0o755)
    _reachable_by_everyone(lab, stage)
    write_profiles(lab, {"via-launcher": ("allow", {"ancestor_path": lnch})})
    d = attributing(lab, wardend, cgroup, default="deny")

    out, res = as_nobody(lab, cgroup, ["sh", "-c", '"$@"; true', "sh", t, S4, "7000",
                                       "--timeout-ms", "1500"])
    assert out == ["timeout"], ("control", res.stdout, res.stderr)

    orphan = f"sleep 0.5; {stage} {t} {S4} 7001 --timeout-ms 1500 & exit 0"
    prefix = [PYTHON, "-c", SUBREAPER] if how == "subreaper" else ["unshare", "-Urpf"]
    out, res = as_nobody(lab, cgroup, prefix + ["sh", "-c", OUTER, orphan, lnch])
    rows = rows_for(d, {7000, 7001})
    print("rows", brief(rows), "stdout", res.stdout, "stderr", res.stderr)
    assert out != ["connected"] and all(r["profile"] != "via-launcher" for r in rows), (
        f"BYPASS ({how}): the tool, started by an orphan {lnch} adopted, connected as "
        f"via-launcher (ancestor_path); stdout {res.stdout!r}; rows {brief(rows)}")


def test_a_double_fork_stays_below_the_launcher_that_started_it(lab, cgroup, wardend):
    """from-launcher: deny everything the launcher starts (ancestor_path), engine default
    allow. The launcher's job forks a child and exits; the child, adopted by init, execs the
    tool: its ancestry is its forker's, so the deny profile still holds (it was dropped as
    'adopted', and the tool left the profile)."""
    t = tool(lab)
    lnch = install(os.path.realpath("/bin/sh"), os.path.join(lab.tmp, "bin", "trusted",
                                                             "launcher"))
    _reachable_by_everyone(lab, lnch)
    write_profiles(lab, {"from-launcher": ("deny", {"ancestor_path": lnch})})
    d = attributing(lab, wardend, cgroup, default="allow")

    out, res = as_nobody(lab, cgroup, [lnch, "-c", f'sh -c "{t} {S4} 7101 --timeout-ms 1500;'
                                                   ' true"; true'])
    assert out == ["timeout"], ("control: run by the launcher", res.stdout, res.stderr)
    out, res = as_nobody(lab, cgroup, [lnch, "-c", f"(sleep 0.5; exec {t} {S4} 7102 "
                                                   "--timeout-ms 1500) & exit 0"])
    # The orphan's output goes to the pipe the test reads: run() returns when it closes.
    rows = rows_for(d, {7101, 7102})
    print("rows", brief(rows), "stdout", res.stdout, "stderr", res.stderr)
    assert out == ["timeout"] and all(r["profile"] == "from-launcher" for r in rows
                                      if r["remote_port"] == 7102), (
        f"BYPASS: a double fork took the tool out of reach of from-launcher (ancestor_path "
        f"{lnch}); stdout {res.stdout!r}; rows {brief(rows)}")


# ---- 2. engine `default` for a refused program whose /proc it could not read ---------------
# test_launch_storm: "A description that comes too late gets the engine `unknown` verdict,
# never the engine `default`". A program a profile refuses by path sends one datagram and exits
# at once; exec'd by a relative name, its exec event's file name cannot be verified.

SENDER = r"""
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[2]));
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
  if (argc > 3) usleep(atoi(argv[3]) * 1000);
  _exit(0);
}
"""


@pytest.mark.parametrize("storm", [pytest.param(False, id="plain"),
                                   pytest.param(True, id="storm")])
def test_refused_program_that_exits_at_once_by_relative_name(lab, cgroup, wardend, storm):
    sender = compile_c(lab, "sender", SENDER, static=True, where="refused")
    write_profiles(lab, {"refused": ("reject", {"path": sender})})
    d = attributing(lab, wardend, cgroup, default="allow", unknown="deny")
    # Control: the profile refuses it (lingering, and exiting at once by absolute path).
    as_nobody(lab, cgroup, [sender, S4, "7001", "300"])
    n = 60
    loop = 'i=0; while [ $i -lt "$1" ]; do "$2" "$3" "$4"; i=$((i+1)); done'
    as_nobody(lab, cgroup, ["sh", "-c", loop, "sh", str(n), sender, S4, "7002"], timeout=60)
    st = None
    if storm:
        st = lab.c.spawn(in_cgroup(cgroup, NOBODY + storm_command(6, 0.002)), "storm",
                         lines=True)
        assert st.wait_line(lambda x: x == "storming", timeout=10), st.stderr_text()
    try:
        rel = ('cd "$1" || exit 9; i=0; while [ $i -lt "$2" ]; do ./sender "$3" "$4"; '
               'i=$((i+1)); done')
        res = lab.c.run(in_cgroup(cgroup, NOBODY + ["sh", "-c", rel, "sh",
                                                    os.path.dirname(sender), str(n), S4,
                                                    "7003"]), timeout=120, check=False)
    finally:
        if st:
            st.kill()
    rows = rows_for(d, {7001, 7002, 7003}, timeout=10)
    att = d.status()["attribution"]
    by_port = {}
    for r in rows:
        by_port.setdefault(r["remote_port"], []).append((r.get("profile"), r.get("action"),
                                                         r.get("decided_by")))
    summary = {p: {k: v.count(k) for k in set(v)} for p, v in by_port.items()}
    print("summary", summary, "processes", att["processes"], "stderr", res.stderr[-500:])
    assert by_port.get(7001) and all(a != "allow" for _, a, _ in by_port[7001]), summary
    leaked = [x for p in (7002, 7003) for x in by_port.get(p, []) if x[1] == "allow"]
    print("leaked rows", [r for r in rows if r.get("action") == "allow"][:2])
    assert not leaked, (f"BYPASS: the refused program was decided by the engine default "
                        f"(allow) {len(leaked)} times: {summary}; processes {att['processes']}")


# ---- 3. script: tags given to inline code ---------------------------------------------------

def test_bash_xtrace_runs_ps4_from_the_environment(lab, cgroup, wardend):
    """interpreter_script.cpp refuses SHELLOPTS because "xtrace ... expands PS4 (command
    substitutions included) before every command", but takes -x (and -o xtrace) in argv."""
    bash = os.path.realpath(shutil.which("bash"))
    trusted_dir = os.path.join(lab.tmp, "bin", "trusted")
    os.makedirs(trusted_dir, exist_ok=True)
    job = os.path.join(trusted_dir, "job.sh")
    other = os.path.join(lab.tmp, "bin", "user", "other.sh")
    os.makedirs(os.path.dirname(other), exist_ok=True)
    body = ('if [ -n "$2" ]; then exec 3<>"/dev/tcp/$1/$2" && echo job-connected; fi\n'
            'true\n')
    for p in (job, other):
        with open(p, "w") as f:
            f.write(body)
        os.chmod(p, 0o644)
    _reachable_by_everyone(lab, job, other)
    write_profiles(lab, {"trusted-job": ("allow", {"path": bash, "tags": [f"script:{job}"]})})
    d = attributing(lab, wardend, cgroup, default="deny")

    def ps4(port):
        return f"PS4=+$(exec 3<>/dev/tcp/{S4}/{port} && echo ps4-connected-{port} >&2)"

    ok = lab.c.run(in_cgroup(cgroup, NOBODY + ["timeout", "4", "bash", job, S4, "7000"]),
                   timeout=30, check=False)
    assert "job-connected" in ok.stdout, ("the profile itself", ok.stdout, ok.stderr)
    ctl = lab.c.run(in_cgroup(cgroup, NOBODY + ["env", ps4(7002), "timeout", "4", "bash", "-x",
                                                other, S4]), timeout=30, check=False)
    ctl2 = lab.c.run(in_cgroup(cgroup, NOBODY + ["env", ps4(7003), "SHELLOPTS=xtrace",
                                                 "timeout", "4", "bash", job, S4]),
                     timeout=30, check=False)
    atk = lab.c.run(in_cgroup(cgroup, NOBODY + ["env", ps4(7001), "timeout", "4", "bash", "-x",
                                                job, S4]), timeout=30, check=False)
    rows = rows_for(d, {7000, 7001, 7002, 7003})
    print("rows", brief(rows))
    print("ctl", ctl.stderr[-300:], "ctl2", ctl2.stderr[-300:], "atk", atk.stderr[-300:])
    assert "ps4-connected-7002" not in ctl.stderr, ("control other.sh", ctl.stderr)
    assert "ps4-connected-7001" not in atk.stderr and \
        all(r["profile"] != "trusted-job" for r in rows if r["remote_port"] == 7001), (
            f"BYPASS: PS4 code from nobody's environment, run by bash -x job.sh, connected "
            f"as trusted-job; stderr {atk.stderr[-300:]!r}; rows {brief(rows)}; "
            f"(SHELLOPTS=xtrace control stderr {ctl2.stderr[-200:]!r})")


def test_node_import_of_a_data_url(lab, cgroup, wardend):
    """node --import data:text/javascript,CODE runs inline code before the trusted script."""
    node = shutil.which("node")
    if not node:
        pytest.skip("no node")
    node = os.path.realpath(node)
    app = os.path.join(lab.tmp, "bin", "trusted", "app.js")
    other = os.path.join(lab.tmp, "bin", "user", "other.js")
    body = ('const net = require("net");\n'
            'const [host, port] = process.argv.slice(2);\n'
            'if (port) { const s = net.connect(+port, host, () => { console.log("app-connected");'
            ' s.destroy(); }); s.setTimeout(1500, () => { console.log("app-timeout"); '
            's.destroy(); }); s.on("error", e => console.log("app-error " + e.code)); }\n')
    for p in (app, other):
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(body)
        os.chmod(p, 0o644)
    _reachable_by_everyone(lab, app, other)
    write_profiles(lab, {"trusted-app": ("allow", {"path": node, "tags": [f"script:{app}"]})})
    d = attributing(lab, wardend, cgroup, default="deny")

    def data(port):
        code = (f'import net from "node:net";const s=net.connect({port},"{S4}",()=>'
                f'{{console.log("INLINE-connected-{port}");s.destroy()}});'
                f's.setTimeout(1500,()=>{{console.log("INLINE-timeout");s.destroy()}});'
                f's.on("error",e=>console.log("INLINE-error "+e.code));')
        return "data:text/javascript," + urllib.parse.quote(code)

    env = ["env", "HOME=/tmp"]
    ok = lab.c.run(in_cgroup(cgroup, NOBODY + env + [node, app, S4, "7000"]), timeout=30,
                   check=False)
    assert "app-connected" in ok.stdout, ("the profile itself", ok.stdout, ok.stderr)
    ctl = lab.c.run(in_cgroup(cgroup, NOBODY + env + [node, "--import", data(7002), other]),
                    timeout=30, check=False)
    assert "INLINE-connected" not in ctl.stdout, ("control", ctl.stdout, ctl.stderr)
    atk = lab.c.run(in_cgroup(cgroup, NOBODY + env + [node, "--import", data(7001), app]),
                    timeout=30, check=False)
    rows = rows_for(d, {7000, 7001, 7002})
    print("rows", brief(rows), "atk", atk.stdout, atk.stderr[-300:])
    assert "INLINE-connected-7001" not in atk.stdout and \
        all(r["profile"] != "trusted-app" for r in rows if r["remote_port"] == 7001), (
            f"BYPASS: inline code given as a data: URL to --import connected as trusted-app; "
            f"stdout {atk.stdout!r}; rows {brief(rows)}")


# ---- 4. a connected UDP socket kept across an exec, its datagram sent from another cgroup ---
# send(2) on a connected socket passes no hook: the eBPF socket filter takes the sending task
# for the flow's owner only when it is in the connector's cgroup; else wardend asks sock_diag
# who holds the socket. Here the connector keeps the socket across an exec of an allowed
# program, and its child, moved to another cgroup of the user's delegated subtree, sends the
# first datagram and closes its copy: the holder left is the allowed program.

HANDOFF = r"""
import os, socket, sys, time
allowed, host, port, move, execs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], \
    sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.set_inheritable(True)
if os.fork() == 0:
    time.sleep(0.5)
    if move != "-":
        with open(move, "w") as f:
            f.write(str(os.getpid()))
    s.send(b"handed over")
    s.close()
    os._exit(0)
if execs == "1":
    os.execv(allowed, [allowed, "2"])
time.sleep(2)
"""


@pytest.mark.parametrize("move,execs", [
    pytest.param(False, True, id="control-same-cgroup"),
    pytest.param(True, False, id="control-no-exec"),
    pytest.param(True, True, id="attack"),
])
def test_connected_udp_first_datagram_from_another_cgroup(lab, cgroup, wardend, move, execs):
    allowed = launcher(lab)
    delegated = os.path.join(cgroup, "user@65534.service")
    os.mkdir(delegated)
    try:
        for scope in ("a.scope", "b.scope"):
            os.mkdir(os.path.join(delegated, scope))
        for sub in ("", "a.scope", "b.scope"):
            for f in ("", "cgroup.procs", "cgroup.threads"):
                os.chown(os.path.join(delegated, sub, f), 65534, 65534)
        write_profiles(lab, {"allowed": ("allow", {"path": allowed})})
        d = attributing(lab, wardend, cgroup, default="deny")
        port = 7000 + 2 * int(move) + int(execs) - 1  # 7000, 7001, 7002
        target = os.path.join(delegated, "b.scope", "cgroup.procs") if move else "-"
        res = lab.c.run(in_cgroup(os.path.join(delegated, "a.scope"),
                                  NOBODY + [PYTHON, "-c", HANDOFF, allowed, S4, str(port),
                                            target, str(int(execs))]),
                        timeout=30, check=False)
        assert res.returncode == 0, (res.stdout, res.stderr)
        rows = rows_for(d, {port})
        print("rows", brief(rows))
        assert rows, "the datagram was never decided"
        assert all(r["profile"] != "allowed" and r["action"] != "allow" for r in rows), (
            f"BYPASS: a datagram sent by the child from another cgroup was decided as the "
            f"allowed program its parent exec'd; rows {brief(rows)}")
    finally:
        _rmtree_cgroup(delegated)
