"""An executable replaced without exec (SPEC 5: a `path` key matches only the file the kernel
ran, recorded at exec).

A process may make another file its mm->exe_file (what /proc/PID/exe shows, and what the eBPF
hooks read at every socket call) with prctl(PR_SET_MM, PR_SET_MM_MAP, .exe_fd): that needs
CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE only in the caller's own user namespace, which any user
gets with `unshare -Ur`, once no mapping of its old executable is left. The attacker
(clients/exe_swap.c, run as nobody) does that with the allowed binary and connects: the kernel
never ran that binary for it, so the flow must not get the allowed profile. wardend compares
the image a socket call names with the one the exec (or fork) of its generation put in place,
or, for a process running since before wardend, with what the start's scan found, and decides
such a flow `unknown`.
"""
import hashlib
import os
import time

import pytest

from test_attribution import (NOBODY, _reachable_by_everyone, _userns_allowed, cgroup,  # noqa: F401
                              in_cgroup, install, logged_rows, profiled)
from warden_cli import cli
from warden_lab import S4


def swap_result(text):
    """exe_swap's line as a dict (prctl, connect, write, read, echo)."""
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


def programs(lab):
    """The allowed binary and the attacker's, each a file of its own that nobody can run; and
    echo servers on the ports beyond the lab's (7003, 7004), so that a connect the policy let
    through would always reach one."""
    swapper = lab._client("exe_swap")
    if not os.path.exists(swapper):
        pytest.skip("exe_swap is built for x86-64 only")
    if not _userns_allowed():
        pytest.skip("unprivileged user namespaces are not allowed here")
    allowed = install(lab._client("tcp_probe"), os.path.join(lab.tmp, "bin", "allowed",
                                                              "tcp_probe"))
    planted = install(swapper, os.path.join(lab.tmp, "bin", "planted", "exe_swap"))
    _reachable_by_everyone(lab, allowed, planted)
    lab.start_echo(lab.s, ports=(7003, 7004), tag="echo-more")
    return allowed, planted


def allowed_match(allowed, pin):
    match = {"path": allowed}
    if pin:
        with open(allowed, "rb") as f:
            match["sha256"] = [hashlib.sha256(f.read()).hexdigest()]
    return match


def attacker(cg, planted, exe, port):
    """nobody, in a user namespace of its own, running the attacker's program in cg."""
    return in_cgroup(cg, NOBODY + ["unshare", "-Ur", planted, exe, S4, str(port), "1500"])


def assert_refused(d, got, attack_text, port):
    assert got.get("prctl") == "0", f"the swap itself failed: {attack_text!r}"
    rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged_rows(d, {port}) or []]
    assert got.get("echo") != "exe-swap-secret" and got.get("connect") != "0", (
        f"BYPASS: a program the policy refuses reached the server by making the allowed "
        f"binary its exe file: {attack_text!r}; log rows (port, profile, action): {rows}")
    assert (port, None, "deny") in rows, rows
    assert d.status()["attribution"]["processes"]["image_replaced"] >= 1


@pytest.mark.parametrize("pin", [pytest.param(False, id="path"),
                                 pytest.param(True, id="path+sha256")])
def test_a_process_that_replaces_its_executable_gets_no_allowed_profile(lab, cgroup, wardend,
                                                                        pin):
    """The attacker starts under wardend (its exec and fork are the kernel's events): the
    allowed program connects, the attacker's program without the swap is refused (the
    control), and with the swap it is refused too, `unknown`. With `pin` the profile also pins
    the allowed binary's sha256, which is taken through /proc/PID/exe."""
    allowed, planted = programs(lab)
    d = profiled(lab, wardend, cgroup, {"allowed": ("allow", allowed_match(allowed, pin))},
                 default="deny")
    ok = lab.c.run(in_cgroup(cgroup, NOBODY + [allowed, S4, "7000", "--timeout-ms", "1500"]),
                   timeout=30, check=False)
    assert ok.stdout.split()[:1] == ["connected"], (ok.stdout, ok.stderr)
    control = lab.c.run(attacker(cgroup, planted, "-", 7001), timeout=30, check=False)
    got = swap_result(control.stdout)
    assert got.get("connect") not in (None, "0") and got.get("echo") == "-", \
        (control.stdout, control.stderr)
    attack = lab.c.run(attacker(cgroup, planted, allowed, 7002), timeout=30, check=False)
    assert_refused(d, swap_result(attack.stdout), attack.stdout.strip() + attack.stderr, 7002)


def test_a_process_running_before_wardend_that_replaces_its_executable_gets_no_profile(
        lab, cgroup, wardend):
    """The attacker's processes start before wardend (no exec or fork event of them: the
    start's scan describes them), and the one that connects replaces its executable only once
    wardend runs: refused, `unknown`, and `warden explain` says why."""
    allowed, planted = programs(lab)
    go = os.path.join(lab.tmp, "go")
    env_argv = ["env", f"EXE_SWAP_WAIT_FOR={go}"] + attacker(cgroup, planted, allowed, 7003)
    early = lab.c.spawn(env_argv, "exe-swap-early")
    time.sleep(0.5)  # forked, and waiting for the file
    d = profiled(lab, wardend, cgroup, {"allowed": ("allow", {"path": allowed})},
                 default="deny")
    with open(go, "w"):
        pass
    assert early.wait(30) is not None, "the attacker did not finish"
    with open(early.stdout_path) as f:
        text = f.read()
    assert_refused(d, swap_result(text), text, 7003)


def test_explain_says_the_executable_was_replaced(lab, cgroup, wardend):
    """`warden explain PID` of a process that replaced its executable (one kept waiting after
    its swap) says so."""
    allowed, planted = programs(lab)
    d = profiled(lab, wardend, cgroup, {"allowed": ("allow", {"path": allowed})},
                 default="deny")
    # A server that never answers keeps the connect waiting: the child is alive meanwhile.
    p = lab.c.spawn(in_cgroup(cgroup, NOBODY + ["unshare", "-Ur", planted, allowed, S4, "7004",
                                                "4000"]), "exe-swap-explain")
    rows = logged_rows(d, {7004})
    assert rows and rows[0]["action"] == "deny" and rows[0]["profile"] is None, rows
    pid = rows[0]["pid"]
    out = cli(d, "explain", str(pid))
    assert "replaced without an exec" in out.stdout, (out.stdout, out.stderr)
    p.wait(30)


FLOOD = 8400  # more live processes than the process table holds (8,192)


def test_an_adopted_child_pushed_out_of_the_process_table_that_replaces_its_executable(
        lab, cgroup, wardend):
    """The attacker's child never execs: its forker exits (the child is adopted, so no parent
    tells what it forked with), a flood of 8,400 sleeping processes of the same user pushes its
    description out of wardend's process table, and only then does it make the allowed binary
    its executable and connect. /proc shows the allowed binary, the socket call names it, and
    nothing in the table says otherwise: the image its fork passed on (exec_windows) must."""
    allowed, planted = programs(lab)
    flooder = install(lab._client("heavy_exec"), os.path.join(lab.tmp, "bin", "flood",
                                                               "heavy_exec"))
    _reachable_by_everyone(lab, flooder)
    d = profiled(lab, wardend, cgroup, {"allowed": ("allow", {"path": allowed})},
                 default="deny")
    go = os.path.join(lab.tmp, "go-adopted")
    attack = lab.c.spawn(["env", f"EXE_SWAP_WAIT_FOR={go}", "EXE_SWAP_ORPHAN=1"]
                         + attacker(cgroup, planted, allowed, 7004), "exe-swap-adopted",
                         lines=True)
    assert attack.wait_line(lambda t: t == "parent-exits", timeout=20), attack.stderr_text()
    evicted = d.status()["attribution"]["processes"]["evicted"]
    flood = lab.c.spawn(in_cgroup(cgroup, NOBODY + [flooder, "forks", str(FLOOD), "120000"]),
                        "flood", lines=True)
    try:
        assert flood.wait_line(lambda t: t.startswith("started"), timeout=120), \
            flood.stderr_text()
        # wardend has read the flood's forks once it evicted the processes they displaced.
        deadline = time.monotonic() + 60
        while (d.status()["attribution"]["processes"]["evicted"] - evicted < FLOOD - 1000
               and time.monotonic() < deadline):
            time.sleep(0.5)
        with open(go, "w"):
            pass
        line = attack.wait_line(lambda t: t.startswith("prctl="), timeout=60)
        assert line, (attack.stdout_text(), attack.stderr_text())
    finally:
        flood.kill()
    assert_refused(d, swap_result(line), line, 7004)
