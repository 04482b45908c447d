"""wardend in a pid namespace of its own, as in a container (systemd-nspawn): its /proc shows
that namespace's pids, while the kernel's eBPF context speaks the initial namespace's. Flows
must be attributed under the namespace's pids (SPEC sections 4-5): the right profile, the
right pid in the log and in `warden explain`, and never another process's identity. A process
outside wardend's namespace cannot be described from its /proc: its flows are `unknown`.

The namespace is made with `unshare --pid --fork --mount-proc` inside the lab's client network
namespace; its pid 1 is a small reaper, and wardend and the clients enter it with nsenter."""
import json
import os
import re

import pytest

from test_attribution import (attr_client_path, cgroup, in_cgroup, install,  # noqa: F401
                              logged_rows, sha256_of, write_profiles)
from warden_cli import cli
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import HERE, PYTHON, S4, run

REAPER = ("import os, time\n"
          "while True:\n"
          "    try:\n"
          "        os.wait()\n"
          "    except ChildProcessError:\n"
          "        time.sleep(0.2)\n")


class PidNamespace:
    """A pid namespace (with its own /proc, in its own mount namespace) inside lab.c."""

    def __init__(self, lab):
        self.lab = lab
        self.holder = lab.c.spawn(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                                   PYTHON, "-c", REAPER], "pidns-init")
        children = f"/proc/{self.holder.pid}/task/{self.holder.pid}/children"
        found = wait_until(lambda: open(children).read().split(), timeout=5, interval=0.02)
        assert found, f"no pid 1 in the new namespace: {self.holder.stderr_text()}"
        self.init = int(found[0])  # its pid 1, as the initial namespace numbers it

    def enter(self, argv):
        return ["nsenter", "-t", str(self.init), "-p", "-m", "-n", "--"] + list(argv)

    def run(self, argv, timeout=30):
        return run(self.enter(argv), timeout=timeout, check=False)

    def spawn(self, argv, tag, **kw):
        return self.lab.spawn(self.enter(argv), tag, **kw)

    def host_pid(self, ns_pid):
        """The initial namespace's pid of the namespace's process `ns_pid`."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    nspid = next(l.split()[1:] for l in f if l.startswith("NSpid:"))
                if len(nspid) == 2 and int(nspid[1]) == ns_pid and \
                        os.readlink(f"/proc/{entry}/ns/pid") == \
                        os.readlink(f"/proc/{self.init}/ns/pid"):
                    return int(entry)
            except (OSError, StopIteration):
                continue
        return None


@pytest.fixture
def pidns(lab, cgroup):  # noqa: F811 (cgroup first: its mount must be there when copied)
    return PidNamespace(lab)


def start_inside(lab, pidns, wardend, cg, ebpf=True, **engine):
    """wardend inside the namespace (as a container's would run), attributing the clients of cg."""
    lab.ping(S4)  # neighbour discovery before wardend
    eng = {"unknown": "deny", "default": "allow", "kernel": "allow"}
    eng.update(engine)
    return wardend(engine=eng, attribution={"ebpf": ebpf, "cgroup": cg}, launcher=pidns.enter([]))


def attr_client(pidns, cg, program, args):
    """One attr_client run inside the namespace: (its pid there, its result word)."""
    res = pidns.run(in_cgroup(cg, [program] + list(args)))
    m = re.search(r"pid=(\d+) .*result=(\S+)", res.stdout)
    assert m, f"attr_client said {res.stdout!r} {res.stderr!r}"
    return int(m.group(1)), m.group(2)


@pytest.mark.parametrize("ebpf", [True, False], ids=["ebpf", "sock_diag"])
def test_a_profile_by_path_and_the_logged_pid(lab, cgroup, pidns, wardend, ebpf):  # noqa: F811
    """A short-lived program a profile rejects by path (default allow) is rejected, and the log
    names it by its pid in the namespace, the pid its own getpid() returned."""
    program = install(attr_client_path(), os.path.join(lab.tmp, "bin", "rejected", "client"))
    write_profiles(lab, {"rejected": ("reject", {"path": program})})
    d = start_inside(lab, pidns, wardend, cgroup, ebpf=ebpf)
    assert d.status()["attribution"]["method"] == ("ebpf" if ebpf else "sock_diag")
    pid, result = attr_client(pidns, cgroup, program, ["tcp", S4, "7000"])
    assert result == "ECONNREFUSED", (result, d.status()["attribution"])
    rows = logged_rows(d, {7000})
    assert rows, cli(d, "log").stdout
    mine = [r for r in rows if r["remote_port"] == 7000]
    assert [(r["pid"], r["profile"], r["action"]) for r in mine] == [(pid, "rejected", "reject")], \
        (pid, mine)


def test_a_profile_pinned_by_sha256_for_a_short_lived_program(lab, cgroup, pidns,  # noqa: F811
                                                              wardend):
    """sha256 is read from the program's image through /proc/PID/exe: under the wrong pid it
    cannot be, and the flow fell to the engine default."""
    program = install(attr_client_path(), os.path.join(lab.tmp, "bin", "pinned", "client"))
    write_profiles(lab, {"pinned": ("reject", {"sha256": [sha256_of(program)]})})
    d = start_inside(lab, pidns, wardend, cgroup)
    for port in ("7000", "7001"):
        pid, result = attr_client(pidns, cgroup, program, ["tcp", S4, port])
        assert result == "ECONNREFUSED", (port, result, d.status()["attribution"])
    rows = [r for r in logged_rows(d, {7000, 7001}) or [] if r["remote_port"] in (7000, 7001)]
    assert rows and all(r["profile"] == "pinned" for r in rows), rows


def test_a_long_lived_process_explained_by_its_pid_there(lab, cgroup, pidns,  # noqa: F811
                                                         wardend):
    program = install(attr_client_path(), os.path.join(lab.tmp, "bin", "held", "client"))
    write_profiles(lab, {"held": ("allow", {"path": program, "user": "root"})})
    d = start_inside(lab, pidns, wardend, cgroup, default="reject")
    p = pidns.spawn(in_cgroup(cgroup, [program, "tcp-hold", S4, "7000", "--hold"]), "held",
                    lines=True, stdin=True)
    line = p.wait_line(lambda t: "result=" in t, timeout=10)
    assert line and "result=ok" in line, (line, p.stderr_text())
    pid = int(re.search(r"pid=(\d+)", line).group(1))
    host = pidns.host_pid(pid)
    assert host and host != pid, (pid, host)

    answer = d.request("explain", pid=pid)
    assert answer["ok"], answer
    process = answer["process"]
    assert (process["pid"], process["path"], process["user"]) == (pid, program, "root"), process
    assert process["profile"]["name"] == "held", process
    text = cli(d, "explain", str(pid)).stdout
    assert f"process      {pid} (client)" in text and "user root (uid 0)" in text, text
    assert "profile      held (" in text, text
    rows = [r for r in logged_rows(d, {7000}) or [] if r["remote_port"] == 7000]
    assert rows and {r["pid"] for r in rows} == {pid}, (pid, host, rows)


@pytest.mark.parametrize("ebpf", [True, False], ids=["ebpf", "sock_diag"])
def test_a_process_outside_wardends_namespace_is_unknown(lab, cgroup, pidns,  # noqa: F811
                                                         wardend, ebpf):
    """A process in the attached cgroup but in the initial pid namespace (wardend's /proc does
    not show it): its flows get the engine `unknown` verdict (deny here, default allow), and
    are counted; processes inside still connect. sock_diag finds its socket, but no descriptor
    in wardend's /proc: unknown too."""
    d = start_inside(lab, pidns, wardend, cgroup, ebpf=ebpf)
    res = lab.c.run(in_cgroup(cgroup, [lab._client("tcp_probe"), S4, "7000", "--timeout-ms",
                                       str(DROP_WAIT_MS)]), timeout=30, check=False)
    assert res.stdout.split()[:1] == ["timeout"], (res.stdout, d.status()["attribution"])
    att = d.status()["attribution"]
    assert att["misses"] >= 1, att
    if ebpf:
        assert att["outside_pid_namespace"] >= 1, att
        assert att["bpf"]["outside_pid_namespace"] >= 1, att
    inside = pidns.run(in_cgroup(cgroup, [lab._client("tcp_probe"), S4, "7000"]))
    assert inside.stdout.split()[:1] == ["connected"], (inside.stdout, att)


def test_a_process_numbered_like_another_is_not_taken_for_it(lab, cgroup, pidns,  # noqa: F811
                                                             wardend):
    """The attack: a program whose pid in the initial namespace is the pid, in wardend's
    namespace, of a trusted process running the same interpreter, started in the same clock
    tick (so the start time matches too). Read under the initial namespace's pid, /proc shows
    the trusted process: the program would get its script tag and its profile. It must get its
    own description: no profile, and the default (reject)."""
    bindir = os.path.join(lab.tmp, "bin")
    os.makedirs(bindir, exist_ok=True)
    trusted = os.path.join(bindir, "trusted.py")
    with open(trusted, "w") as f:
        f.write("import sys\nprint('ready', flush=True)\nsys.stdin.read()\n")
    untrusted = os.path.join(bindir, "untrusted.py")
    with open(untrusted, "w") as f:
        f.write("import socket, sys, time\n"
                "try:\n"
                "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\n"
                "    print('connected', flush=True)\n"
                "except OSError as e:\n"
                "    print(type(e).__name__, flush=True)\n")
    write_profiles(lab, {"trusted": ("allow", {"tags": [f"script:{trusted}"]})})
    d = start_inside(lab, pidns, wardend, cgroup, default="reject")
    p = lab.spawn([PYTHON, os.path.join(HERE, "pid_collision.py"), str(pidns.init), cgroup,
                   trusted, untrusted, S4, "7000"], "collision", lines=True, stdin=True)
    line = p.wait_line(lambda t: t.startswith("{"), timeout=60)
    assert line, p.stderr_text()
    result = json.loads(line)
    if not result["collided"]:
        pytest.skip(f"no two processes numbered alike in the same tick: {result}")
    assert result["twin_said"] == "ready", result
    assert result["program_said"] == "ConnectionRefusedError", (result, d.status()["attribution"])
    rows = [r for r in logged_rows(d, {7000}) or [] if r["remote_port"] == 7000]
    assert rows and all(r["pid"] == result["program_ns_pid"] and r["profile"] is None
                        for r in rows), (result, rows)


def test_a_proc_of_an_ancestor_namespace_leaves_attribution_to_sock_diag(lab, cgroup,  # noqa: F811
                                                                         wardend):
    """`unshare --pid --fork` without --mount-proc: wardend's /proc still numbers as the initial
    namespace. The programs cannot be told that namespace, so eBPF is refused with the reason,
    and sock_diag, which reads everything from that one /proc, attributes consistently."""
    program = install(attr_client_path(), os.path.join(lab.tmp, "bin", "rejected", "client"))
    write_profiles(lab, {"rejected": ("reject", {"path": program})})
    lab.ping(S4)
    d = wardend(engine={"unknown": "deny", "default": "allow", "kernel": "allow"},
                attribution={"ebpf": True, "cgroup": cgroup},
                launcher=lab.c.cmd(["unshare", "--pid", "--fork", "--kill-child"]))
    att = d.status()["attribution"]
    assert att["method"] == "sock_diag", att
    assert "ancestor of wardend's pid namespace" in att.get("ebpf_error", ""), att
    res = lab.c.run(in_cgroup(cgroup, [program, "tcp", S4, "7000"]), check=False,
                    timeout=30)
    assert "result=ECONNREFUSED" in res.stdout, (res.stdout, res.stderr, att)
    pid = int(re.search(r"pid=(\d+)", res.stdout).group(1))
    rows = [r for r in logged_rows(d, {7000}) or [] if r["remote_port"] == 7000]
    assert rows and all(r["pid"] == pid and r["profile"] == "rejected" for r in rows), (pid, rows)
