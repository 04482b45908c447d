"""What wardend does when something it needs fails, as an administrator sees it: a queue it can
no longer read stops it loudly (exit 1, the table left as after a crash so that `fail` holds
until it is restarted), a verdict log it cannot open is said and shown while it filters on, and
eBPF that cannot load leaves the sock_diag fallback attributing, with the reason in `warden
status`."""
import os
import re
import signal
import time

import pytest

from warden_cli import cli
from warden_daemon import Daemon, warden_tables
from warden_expect import DROP_WAIT_MS, dropped_or_blocked, wait_until
from warden_lab import S4, run, wardend_path
from warden_sanitizer import skip_under_sanitizer

TABLE = ["table inet warden"]


def skip_if_sanitized():
    """A sanitizer's runtime needs descriptors of its own: UBSan checks that memory is readable
    by writing it to a pipe, the symbolizer runs through pipes. Under a limit of one descriptor
    it reports a false `invalid vptr` at the next thread start, so these tests say nothing there."""
    skip_under_sanitizer("the sanitizer runtime cannot work under RLIMIT_NOFILE=1")


def lower_fd_limit(pid, limit):
    """What an administrator's `prlimit` does to a running wardend. poll(2) refuses more file
    descriptors than RLIMIT_NOFILE with EINVAL: the one failure of a queue's wait that a process
    outside wardend can cause (a bound NFQUEUE socket's recv fails for no outside reason but
    ENOBUFS, which wardend counts and reads on)."""
    run(["prlimit", f"--pid={pid}", f"--nofile={limit}:{limit}"], timeout=10)


@pytest.mark.parametrize("fail", ["closed", "open"])
def test_a_queue_that_fails_stops_wardend_loudly_and_leaves_the_table(lab, wardend, fail):
    skip_if_sanitized()
    # Without eBPF the process tracker waits on one descriptor, which the lowered limit still
    # allows: the queue's worker is the one that fails (the tracker has a test of its own).
    d = wardend(engine={"fail": fail, "queues": [0]}, attribution={"ebpf": False})
    assert lab.udp_probe(S4, 7000).outcome == "reply"
    # Both threads wait in poll already; the queue's worker polls again after its next packet
    # (and fails), the control thread is woken by the worker and never polls again.
    lower_fd_limit(d.proc.pid, 1)
    lab.udp_probe(S4, 7000, timeout_ms=500)
    rc = d.proc.wait(15)
    err = d.stderr()
    assert rc == 1, f"wardend must stop with status 1 when its queue fails (rc {rc}):\n{err}"
    assert re.search(r"NFQUEUE 0: waiting for packets \(poll\): Invalid argument: the queue is no "
                     r"longer served; stopping with exit status 1", err), err
    assert f'table inet warden left in place: new flows ' in err, err
    assert f'(fail = "{fail}")' in err, err
    # As after a crash: the table stays and its fail mode decides new flows.
    assert warden_tables(lab.c) == TABLE
    r = lab.udp_probe(S4, 7002, timeout_ms=DROP_WAIT_MS)
    if fail == "closed":
        assert dropped_or_blocked(r), f"fail=closed: a new flow must be dropped: {r}"
        res = d.cleanup()
        assert res.returncode == 0, res.stderr
        assert warden_tables(lab.c) == []
    else:
        assert r.outcome == "reply", f"fail=open: a new flow passes: {r}"
        # The next start (systemd's restart) takes the table over and filters again.
        d.start()
        assert "taking over table inet warden left by wardend pid" in d.stderr()
        assert lab.udp_probe(S4, 7000).outcome == "reply"
        assert d.status()["totals"]["packets"] >= 1
        assert d.terminate() == 0
    assert lab.udp_probe(S4, 7001).outcome == "reply"


def test_a_process_tracker_that_fails_stops_wardend_loudly(lab, wardend):
    """The thread that describes new processes from their exec events: without it every new
    program's flows would get `unknown` until a restart, so losing it stops wardend like a lost
    queue. Its poll (two descriptors with eBPF, every 250 ms) fails first under a limit of one."""
    skip_if_sanitized()
    d = wardend(engine={"fail": "open", "queues": [0]}, attribution={"ebpf": True})
    assert lab.udp_probe(S4, 7000).outcome == "reply"
    lower_fd_limit(d.proc.pid, 1)
    rc = d.proc.wait(15)
    err = d.stderr()
    assert rc == 1, f"wardend must stop with status 1 when its tracker fails (rc {rc}):\n{err}"
    assert re.search(r"process tracker: waiting for process events \(poll\): Invalid argument: no "
                     r"process is described any more; stopping with exit status 1", err), err
    assert warden_tables(lab.c) == TABLE
    assert d.cleanup().returncode == 0
    assert warden_tables(lab.c) == []


def test_a_verdict_log_that_cannot_open_is_said_and_filtering_goes_on(lab, wardend):
    """The database's directory is a regular file: wardend says why it keeps no log, runs and
    decides all the same (a firewall that refused to start over its log would leave the machine
    unfiltered), and `warden status` shows the log as not written, with the error."""
    blocker = os.path.join(lab.tmp, "not-a-directory")
    with open(blocker, "w") as f:
        f.write("")
    db = os.path.join(blocker, "warden.db")
    d = wardend(engine={"queues": [0]}, log={"db": db},
                rules=[{"action": "deny", "proto": "udp", "ports": 7001}])
    assert "running without a verdict log: " in d.stderr(), d.stderr()
    assert lab.udp_probe(S4, 7000).outcome == "reply"
    assert dropped_or_blocked(lab.udp_probe(S4, 7001, timeout_ms=DROP_WAIT_MS))
    log = d.status()["log"]
    assert log["enabled"] is False and db in log["error"], log
    text = cli(d, "status").stdout
    assert f"verdict log  {db} (not written: see error)" in text, text
    assert re.search(r"\n\s+error: .*warden\.db", text), text
    assert d.status()["totals"]["deny"] == 1
    assert d.terminate() == 0


def _ebpf_attributing(wardend, lab, how):
    if how == "missing cgroup":
        return wardend(engine={"queues": [0]},
                       attribution={"ebpf": True, "cgroup": os.path.join(lab.tmp, "no-such-cgroup")})
    # As root, wardend gets no capability outside its bounding set: without CAP_BPF,
    # CAP_PERFMON and CAP_SYS_ADMIN loading the programs is refused.
    d = Daemon(lab, tag="wardend-nocap", engine={"queues": [0]}, attribution={"ebpf": True})
    d.proc = lab.c.spawn(["setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin", "--",
                          wardend_path(), "--config", d.config_path], d.tag)
    d.wait_ready()
    return d


@pytest.mark.parametrize("how", ["missing cgroup", "no BPF capabilities"])
def test_ebpf_that_cannot_load_leaves_the_fallback_attributing_and_status_says_why(lab, wardend,
                                                                                    how):
    d = _ebpf_attributing(wardend, lab, how)
    assert "attribution: eBPF unavailable" in d.stderr(), d.stderr()
    status = d.status()
    assert status["method"] == "sock_diag", status
    reason = status["attribution"].get("ebpf_error", "")
    assert reason, status["attribution"]
    if how == "missing cgroup":
        assert "no-such-cgroup" in reason, reason
    assert lab.tcp_probe(S4, 7000).outcome == "connected"
    wait_until(lambda: d.status()["attribution"]["fallback_hits"] >= 1, timeout=5)
    text = cli(d, "status").stdout
    assert "attribution  sock_diag (+ /proc fallback" in text, text
    assert f"eBPF not used: {reason}" in text, text
    assert d.terminate() == 0
