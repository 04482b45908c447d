"""Kernel-held verdicts (SPEC section 12, issue 16) as a user sees them. Once wardend decided a
flow of a known process, the next flow of that same process to the same destination is decided
in the kernel: it gets the same outcome (an allowed one connects, a denied one times out, a
rejected one is refused at once) without reaching wardend's queue, and `warden status` counts it
as a kernel-held hit. Every change that could make the held verdict wrong drops it or makes it
miss: a reload, an exec, a setuid, the entry's lifetime, the DNS answer a host rule relied on, a
new name for the address; and a table too small for every destination only sends flows back to
the queue. A property test compares held verdicts with what the policy says over random
policies, flows and reloads.

The flows come from flow_repeat, one long-lived client process per program that makes flows on
command (stdin) in the test's own cgroup, where the eBPF hooks attach."""
import json
import os
import random
import shutil
import threading
import time

import pytest

from test_attribution import cgroup, in_cgroup, install  # noqa: F401 (cgroup: a fixture)
from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_daemon import toml_value
from warden_expect import AT_ONCE_MS, DROP_WAIT_MS, wait_until
from warden_lab import S4, S4B, S6, S6B, clients_dir

PORTS = (7000, 7001, 7002)
ADDRESSES = (S4, S4B, S6, S6B)
FAMILIES = [pytest.param(S4, id="ipv4"), pytest.param(S6, id="ipv6")]
MODES = ("tcp", "udp", "udpc")  # TCP, unconnected UDP (sendto), connected UDP
# How long a denied flow is waited for: well past a queue round trip, short of a retransmission.
DENY_WAIT_MS = 400
ANSWER_WAIT_MS = 2000  # an allowed or rejected flow answers at once; a slow machine is allowed
OUTCOME = {  # what the client sees for each verdict
    "tcp": {"allow": "connected", "deny": "timeout", "reject": "refused"},
    "udp": {"allow": "reply", "deny": "timeout", "reject": "prohibited"},
    "udpc": {"allow": "reply", "deny": "timeout", "reject": "prohibited"},
    "udpo": {"allow": "reply", "deny": "timeout", "reject": "prohibited"},  # IPv6 options
}
# A denied flow is silent whoever decides it: a UDP send() succeeds and no answer comes (a held
# deny that failed the send() with EPERM would show "blocked"), a TCP connect() times out.
# A UDP datagram a held verdict rejects fails its send() with EPERM, its ICMP error read from
# the error queue ("prohibited"), where the queue's reject lets send() succeed first.


def seen_as(mode, verdict, outcome):
    """Whether `outcome` is what a flow of `mode` shows for `verdict`."""
    return outcome == OUTCOME[mode][verdict]


# ---- the client ------------------------------------------------------------------------------

class Repeater:
    """One flow_repeat process in the test's cgroup and the client namespace. Every UDP flow
    gets a local port of its own, so that no flow is taken for an earlier one by conntrack."""

    next_port = 20000  # below the ephemeral range; each lab is a fresh namespace

    def __init__(self, lab, cg, program, tag):
        self.proc = lab.c.spawn(in_cgroup(cg, [program]), tag, lines=True, stdin=True)
        self.seen = 0
        self.pid, self.uid = self.ready()

    def _next_line(self, timeout):
        p = self.proc
        deadline = time.monotonic() + timeout
        with p._cond:
            while len(p.lines) <= self.seen:
                left = deadline - time.monotonic()
                if left <= 0 or not p.alive():
                    raise AssertionError(f"{p.tag} said nothing in {timeout} s (alive "
                                         f"{p.alive()}): {p.stdout_text()!r} "
                                         f"{p.stderr_text()!r}")
                p._cond.wait(min(left, 0.1))
            line = p.lines[self.seen][1]
        self.seen += 1
        return line

    def ready(self):
        line = self._next_line(10)
        words = line.split()
        assert words[0] == "ready", line
        return int(words[1]), int(words[2])

    def say(self, command, timeout=10):
        self.proc.popen.stdin.write((command + "\n").encode())
        self.proc.popen.stdin.flush()
        return self._next_line(timeout)

    def flow(self, mode, host, port, timeout_ms=ANSWER_WAIT_MS, source_port=None):
        """One new flow (TCP: from source_port when given); returns (outcome, elapsed ms)."""
        command = f"{mode} {host} {port} {timeout_ms}"
        if mode in ("udp", "udpc", "udpo"):
            Repeater.next_port += 1
            command += f" {Repeater.next_port}"
        elif source_port:
            command += f" {source_port}"
        words = self.say(command, timeout=timeout_ms / 1000 + 5).split()
        return words[0], float(words[1])

    def outcome(self, mode, host, port, timeout_ms=ANSWER_WAIT_MS):
        return self.flow(mode, host, port, timeout_ms)[0]

    def expect(self, mode, host, port, verdict):
        """One flow with the wait its expected verdict needs; returns its outcome."""
        wait = DENY_WAIT_MS if verdict == "deny" else ANSWER_WAIT_MS
        return self.outcome(mode, host, port, wait)

    def setuid(self, uid):
        answer = self.say(f"setuid {uid}")
        assert answer == f"ok {uid}", answer

    def exec(self, program):
        """Replaces the process's image with program (a copy of flow_repeat): same pid."""
        self.proc.popen.stdin.write(f"exec {program}\n".encode())
        self.proc.popen.stdin.flush()
        pid, _ = self.ready()
        assert pid == self.pid, (pid, self.pid)


def flow_repeat_copy(lab, name):
    """A copy of flow_repeat at a path of its own, so that a profile matches it alone."""
    return install(os.path.join(clients_dir(), "flow_repeat"),
                   os.path.join(lab.tmp, "bin", name, "flow_repeat"))


# ---- policy ----------------------------------------------------------------------------------

def profile_text(name, match, default=None, rules=()):
    lines = [f"name = {toml_value(name)}"]
    if default:
        lines.append(f"default = {toml_value(default)}")
    lines += ["", "[[match]]"] + [f"{k} = {toml_value(v)}" for k, v in match.items()]
    for rule in rules:
        lines += ["", "[[rule]]"] + [f"{k} = {toml_value(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"


def write_profile(d, name, text):
    path = os.path.join(d.dir, "profiles.d", f"{name}.toml")
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)


def remove_profile(d, name):
    try:
        os.unlink(os.path.join(d.dir, "profiles.d", f"{name}.toml"))
    except FileNotFoundError:
        pass


def reload(d):
    """`warden reload`, as a user would after editing the policy; returns the new revision."""
    res = cli(d, "reload", "--json")
    assert res.returncode == 0, f"{res.stdout} {res.stderr}\n{d.stderr()}"
    return json.loads(res.stdout)["revision"]


class Warden:
    """wardend with eBPF attribution on the test's cgroup, its config kept so that a test can
    change one part of it and reload."""

    def __init__(self, lab, wardend, cg, profiles=None, rules=(), **engine):
        # Neighbour discovery first, so that no first flow waits on it; and no ICMP error of a
        # rejected UDP flow is held back by the kernel's rate limit.
        for server in ADDRESSES:
            lab.ping(server)
        lab.c.run(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"],
                  check=False)
        self.engine = {"unknown": "deny", "default": "allow", "kernel": "allow"}
        self.engine.update(engine)
        self.attribution = {"ebpf": True, "cgroup": cg}
        self.rules = list(rules)
        profiles_dir = os.path.join(lab.tmp, "wardend", "profiles.d")
        os.makedirs(profiles_dir, exist_ok=True)
        for name, text in (profiles or {}).items():
            path = os.path.join(profiles_dir, f"{name}.toml")
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
        self.d = wardend(engine=self.engine, attribution=self.attribution, rules=self.rules)
        assert self.d.status()["method"] == "ebpf", self.d.status()

    def rewrite(self, rules=None, **engine):
        if rules is not None:
            self.rules = list(rules)
        self.engine.update(engine)
        self.d.write_config(engine=self.engine, attribution=self.attribution, rules=self.rules)

    def status(self):
        return self.d.status()

    def kv(self):
        return self.d.status()["kernel_verdicts"]

    def queued(self):
        """Flows wardend's queue decided so far."""
        return self.d.packets()

    def held_for(self, pid):
        """(protocol, remote, port) of what the kernel holds for process pid (explain)."""
        answer = self.d.request("explain", pid=pid)
        assert answer.get("ok"), answer
        return {(e["protocol"], e["remote"], e["port"])
                for e in answer["process"].get("kernel_verdicts", [])}

    def wait_held(self, entries):
        """Waits until at least `entries` verdicts are held (they are written right after the
        queue's decision)."""
        kv = wait_until(lambda: (k := self.kv())["entries"] >= entries and k, timeout=3)
        assert kv, f"fewer than {entries} kernel-held verdicts: {self.kv()}"
        return kv


def repeat_held(w, rep, flows, rounds):
    """`rounds` rounds of `flows`, (mode, host, port, outcome) each, made by one process: each
    must have its outcome; after the first round (the queue's decisions), every one is held."""
    for i in range(rounds):
        for mode, host, port, want in flows:
            assert rep.outcome(mode, host, port) == want, (mode, host, port, w.kv())
        if i == 0:
            w.wait_held(len(flows))


def hits(kv):
    return dict(kv["hits"])


def grew(after, before):
    return {k: after[k] - before[k] for k in before}


def allow_deny_reject(lab, wardend, cgroup):
    """wardend, and a process whose profile allows port 7000, denies 7001 and rejects the rest."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, default="reject", profiles={"app": profile_text(
        "app", {"path": program}, default="reject", rules=[
            {"action": "allow", "ports": 7000},
            {"action": "deny", "ports": 7001}])})
    return w, Repeater(lab, cgroup, program, "app")


# ---- 1. repeat flows are decided in the kernel ---------------------------------------------

@pytest.mark.parametrize("server", FAMILIES)
@pytest.mark.parametrize("mode", MODES)
def test_repeat_flows_of_a_process_are_decided_in_the_kernel(lab, cgroup, wardend, mode,
                                                             server):
    """One process reaches three ports of one server: allowed, denied and rejected by its
    profile. The first flow to each goes through the queue; the next three to each get the
    same outcome while the queue's counters stand still and the kernel-held hits grow."""
    w, rep = allow_deny_reject(lab, wardend, cgroup)
    verdicts = {7000: "allow", 7001: "deny", 7002: "reject"}
    for port, verdict in verdicts.items():
        outcome = rep.expect(mode, server, port, verdict)
        assert seen_as(mode, verdict, outcome), (port, verdict, outcome)
    kv = w.wait_held(3)
    queued, before = w.queued(), hits(kv)
    status_before = w.status()["totals"]
    bpf_before = w.status()["attribution"]["bpf"]
    for _ in range(3):
        for port, verdict in verdicts.items():
            outcome, ms = rep.flow(mode, server, port,
                                   DENY_WAIT_MS if verdict == "deny" else ANSWER_WAIT_MS)
            assert seen_as(mode, verdict, outcome), (port, verdict, outcome, w.kv())
            if verdict == "reject":
                assert ms < AT_ONCE_MS, f"a held reject took {ms} ms"
    if mode == "tcp":
        # Past the SYN's first retransmission (1 s): the kernel's timer sends it, and the held
        # deny decides it too, never the queue. It is the same flow: one hit.
        assert rep.outcome(mode, server, 7001, DROP_WAIT_MS) == "timeout"
    assert w.queued() == queued, "repeat flows reached the queue"
    totals = w.status()["totals"]
    for key in ("allow", "deny", "reject"):
        assert totals[key] == status_before[key], (key, totals, status_before)
    kv = w.kv()
    denied = 4 if mode == "tcp" else 3
    assert grew(hits(kv), before) == {"allow": 3, "deny": denied, "reject": 3}, kv
    assert kv["enabled"] is True and kv["written"] >= 3, kv
    if mode == "tcp":
        # A connect the kernel decides needs no owner record: none was written for the ten.
        bpf = w.status()["attribution"]["bpf"]
        assert bpf["held_unrecorded"] - bpf_before["held_unrecorded"] == 10, (bpf, bpf_before)
        assert bpf["flow_inserts"] == bpf_before["flow_inserts"], (bpf, bpf_before)


def test_ipv6_datagrams_with_an_extension_header_are_decided_in_the_kernel_too(
        lab, cgroup, wardend):
    """Datagrams with a destination options header between the IPv6 and the UDP header (what
    IPV6_DSTOPTS makes): the held matches read past it, so the repeats of an allowed and a
    denied flow are decided in the kernel like any other, and the queue sees none of them."""
    w, rep = allow_deny_reject(lab, wardend, cgroup)
    verdicts = {7000: "allow", 7001: "deny"}
    for port, verdict in verdicts.items():
        assert seen_as("udpo", verdict, rep.expect("udpo", S6, port, verdict)), port
    kv = w.wait_held(2)
    queued, before = w.queued(), hits(kv)
    for _ in range(3):
        for port, verdict in verdicts.items():
            outcome = rep.expect("udpo", S6, port, verdict)
            assert seen_as("udpo", verdict, outcome), (port, verdict, outcome, w.kv())
    assert w.queued() == queued, "datagrams with an extension header reached the queue"
    assert grew(hits(w.kv()), before) == {"allow": 3, "deny": 3, "reject": 0}, w.kv()


def test_a_process_older_than_wardend_is_held_after_it_is_described_again(lab, cgroup,
                                                                          wardend):
    """A process already running when wardend starts is described from /proc, which does not
    say its exec generation: its first flow waits in the queue for it to be described again
    (after that socket call, with the generation the call carried), and its flows from then on
    are held like anyone's."""
    program = flow_repeat_copy(lab, "old")
    rep = Repeater(lab, cgroup, program, "old")  # before wardend
    w = Warden(lab, wardend, cgroup, profiles={"old": profile_text(
        "old", {"path": program}, default="deny", rules=[{"action": "allow", "ports": 7000}])})
    queued = w.queued()
    for _ in range(3):  # the queue's, until the description names the generation
        assert rep.flow("tcp", S4, 7000)[0] == "connected"
        if w.kv()["entries"] >= 1:
            break
    kv = w.wait_held(1)
    assert w.queued() > queued
    queued, before = w.queued(), hits(kv)
    for _ in range(3):
        assert rep.flow("tcp", S4, 7000)[0] == "connected"
    assert w.queued() == queued, "flows of the older process still reached the queue"
    assert grew(hits(w.kv()), before)["allow"] == 3, w.kv()


def test_status_and_explain_show_the_held_verdicts(lab, cgroup, wardend):
    """`warden status` has a kernel-held line and its JSON the counters; `warden explain
    PID` lists what the kernel holds for that process, with each entry's hits."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, kernel_verdicts_ttl=120, kernel_verdicts_entries=512,
               profiles={"app": profile_text("app", {"path": program}, default="allow",
                                             rules=[{"action": "reject", "ports": 7002}])})
    rep = Repeater(lab, cgroup, program, "app")
    repeat_held(w, rep, [("tcp", S4, 7000, "connected"), ("udpc", S6, 7001, "reply"),
                         ("tcp", S4B, 7002, "refused")], rounds=3)
    kv = w.kv()
    assert (kv["enabled"], kv["capacity"], kv["ttl"]) == (True, 512, 120), kv
    assert kv["entries"] >= 3 and kv["written"] >= 3, kv
    assert kv["hits"]["allow"] >= 4 and kv["hits"]["reject"] >= 2, kv
    for key in ("reload", "dns", "expired"):
        assert key in kv["invalidations"], kv
    text = cli(w.d, "status").stdout
    assert "kernel-held" in text and "of 512 verdicts live (ttl 120 s)" in text, text

    doc = json.loads(cli(w.d, "explain", str(rep.pid), "--json").stdout)
    held = {(e["protocol"], e["remote"], e["port"]): e
            for e in doc["process"]["kernel_verdicts"]}
    assert set(held) >= {("tcp", S4, 7000), ("udp", S6, 7001), ("tcp", S4B, 7002)}, doc
    assert held[("tcp", S4, 7000)]["action"] == "allow" and held[("tcp", S4, 7000)]["hits"] == 2
    assert held[("tcp", S4B, 7002)]["action"] == "reject"
    assert 0 < held[("tcp", S4, 7000)]["expires_in_s"] <= 120
    text = cli(w.d, "explain", str(rep.pid)).stdout
    assert f"reject tcp {S4B}:7002" in text and f"allow udp [{S6}]:7001" in text, text


def test_held_flows_are_logged_as_the_profile_says(lab, cgroup, wardend):
    """Every held flow whose decision is logged gets its own row in `warden log` (refusals
    always, allowed flows while [log] allowed is on); a rule with log = false gets none."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, profiles={"app": profile_text(
        "app", {"path": program}, default="reject", rules=[
            {"action": "allow", "ports": 7000},
            {"action": "allow", "ports": 7001, "log": False},
            {"action": "deny", "ports": 7003}])})
    rep = Repeater(lab, cgroup, program, "app")
    for port, want in ((7000, "connected"), (7001, "connected"), (7002, "refused")):
        assert rep.outcome("tcp", S4, port) == want
    assert rep.outcome("tcp", S4, 7003, DENY_WAIT_MS) == "timeout"
    w.wait_held(4)
    queued = w.queued()
    for _ in range(3):
        for port, want in ((7000, "connected"), (7001, "connected"), (7002, "refused")):
            assert rep.outcome("tcp", S4, port) == want
    # Held and denied, waited for past the SYN's retransmission: still one flow, one row.
    assert rep.outcome("tcp", S4, 7003, DROP_WAIT_MS) == "timeout"
    assert w.queued() == queued

    def rows():
        res = cli(w.d, "log", "--json", "--limit", "0")
        found = [json.loads(line) for line in res.stdout.splitlines()]
        mine = [r for r in found if r["pid"] == rep.pid]
        by_port = {p: [r for r in mine if r["remote_port"] == p] for p in PORTS + (7003,)}
        return by_port if len(by_port[7000]) >= 4 and len(by_port[7002]) >= 4 and \
            len(by_port[7003]) >= 2 else None
    by_port = wait_until(rows, timeout=5)
    assert by_port, cli(w.d, "log").stdout
    time.sleep(0.5)  # a row too many would come with the batch after
    by_port = rows()
    assert len(by_port[7000]) == 4 and len(by_port[7002]) == 4, by_port
    assert len(by_port[7003]) == 2 and {r["action"] for r in by_port[7003]} == {"deny"}, \
        by_port[7003]
    assert by_port[7001] == [], by_port[7001]
    assert {r["action"] for r in by_port[7000]} == {"allow"}
    assert {r["action"] for r in by_port[7002]} == {"reject"}
    for port in (7000, 7002):
        # The held ones were decided in the kernel: no queue latency.
        assert sum(1 for r in by_port[port] if r["latency_us"] == 0) >= 3, by_port[port]
        assert {r["profile"] for r in by_port[port]} == {"app"}, by_port[port]
    kv = w.kv()
    assert kv["logged"] == 7 and kv["unlogged"] == 0, kv


def test_one_unconnected_socket_gets_each_destinations_own_verdict(lab, cgroup, wardend):
    """One UDP socket sends (sendto) in turn to a destination its profile allows and to one it
    rejects, both held in the kernel: each datagram gets its own destination's verdict."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, profiles={"app": profile_text(
        "app", {"path": program}, default="allow", rules=[{"action": "reject", "ports": 7002}])})
    rep = Repeater(lab, cgroup, program, "app")
    assert rep.outcome("udp", S4, 7000) == "reply"
    assert rep.outcome("udp", S4, 7002) == "prohibited"
    w.wait_held(2)
    for _ in range(4):
        assert rep.outcome("keep", S4, 7002) == "prohibited"
        assert rep.outcome("keep", S4, 7000) == "reply"
    kv = w.kv()
    assert kv["hits"]["reject"] >= 1 and kv["hits"]["allow"] >= 1, kv


def test_a_held_syn_sent_again_is_the_held_connections_not_an_earlier_owners(
        lab, cgroup, wardend):
    """A held allow decides a connect's SYN, which another table then drops; the SYN sent again
    is on a flow conntrack remembers as accepted, which rule 0b queues to be decided again
    (a new connection on an old 4-tuple), except that its socket's word says a held allow
    passed its first SYN: it is let through without the queue. No owner record is written for
    a connect the kernel decides, and the 4-tuple's earlier connection left one of a process
    whose profile denies the server: the SYN sent again must get neither that verdict nor
    another decision. It connects, and its row names its own process."""
    app, other = flow_repeat_copy(lab, "app"), flow_repeat_copy(lab, "other")
    w = Warden(lab, wardend, cgroup, profiles={
        "app": profile_text("app", {"path": app}, default="reject",
                            rules=[{"action": "allow", "ports": 7000}]),
        "other": profile_text("other", {"path": other}, default="deny")})
    rep, rival = Repeater(lab, cgroup, app, "app"), Repeater(lab, cgroup, other, "other")
    assert rep.outcome("tcp", S4, 7000) == "connected"
    w.wait_held(1)
    sport = 21999  # below the ephemeral range: taken by nobody else
    assert rival.flow("tcp", S4, 7000, DENY_WAIT_MS, sport)[0] == "timeout"
    queued = w.queued()
    # A later table on the output hook drops the SYN the held verdict accepted, once.
    rules = os.path.join(lab.tmp, "heldtest.nft")
    with open(rules, "w") as f:
        f.write("table inet heldtest {\n chain out {\n  type filter hook output priority 10;\n"
                "  tcp dport 7000 tcp flags syn counter drop\n }\n}\n")
    lab.c.run(["nft", "-f", rules])
    timer = threading.Timer(0.3, lambda: lab.c.run(
        ["nft", "delete", "table", "inet", "heldtest"], check=False))
    timer.start()
    try:
        outcome = rep.flow("tcp", S4, 7000, 3000, sport)[0]
    finally:
        timer.cancel()
        lab.c.run(["nft", "delete", "table", "inet", "heldtest"], check=False)
    assert outcome == "connected", (outcome, w.kv(), w.status()["attribution"])
    assert w.queued() == queued, "the held connection's SYN sent again was queued"
    res = cli(w.d, "log", "--json", "--limit", "0")
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    mine = [r for r in rows if r["local_port"] == sport and r["action"] == "allow"]
    assert mine and {r["pid"] for r in mine} == {rep.pid}, rows


def test_warden_rules_counts_the_flows_decided_in_the_kernel(lab, cgroup, wardend):
    """`warden rules` counts each flow a rule or a profile default decided, whether the queue
    or a held verdict decided it, also across a reload: four flows to each of two ports, a
    reload, two more to each, and both lines show 6."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, profiles={"app": profile_text(
        "app", {"path": program}, default="reject", rules=[{"action": "allow", "ports": 7000}])})
    rep = Repeater(lab, cgroup, program, "app")

    def flows(count):
        for _ in range(count):
            assert rep.outcome("tcp", S4, 7000) == "connected"
            assert rep.outcome("udpc", S4, 7002) == "prohibited"

    flows(1)
    w.wait_held(2)
    before = hits(w.kv())
    flows(3)
    assert reload(w.d) > 1
    flows(1)
    w.wait_held(2)
    flows(1)
    # Two flows of each port went through the queue, four were held.
    assert grew(hits(w.kv()), before) == {"allow": 4, "deny": 0, "reject": 4}, w.kv()
    document = json.loads(cli(w.d, "rules", "--json", "app").stdout)
    profile = document["profiles"][0]
    assert [r["hits"] for r in profile["rules"]] == [6], profile
    assert profile["default_hits"] == 6, profile


def test_what_an_expired_held_verdict_decided_still_counts_for_its_rule(lab, cgroup, wardend):
    """A held verdict decides three flows and expires (kernel_verdicts_ttl = 2); the next flow
    goes to the queue, whose decision replaces the entry (counting from 0). The three still
    count in `warden rules`: wardend adds held hits to the rules every 2 s."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, kernel_verdicts_ttl=2, profiles={"app": profile_text(
        "app", {"path": program}, default="reject", rules=[{"action": "allow", "ports": 7000}])})
    rep = Repeater(lab, cgroup, program, "app")
    repeat_held(w, rep, [("tcp", S4, 7000, "connected")], rounds=4)
    time.sleep(2.5)  # past the entry's ttl, and past one crediting of held hits
    queued = w.queued()
    repeat_held(w, rep, [("tcp", S4, 7000, "connected")], rounds=2)
    assert w.queued() == queued + 1, "the expired verdict was not decided again by the queue"
    document = json.loads(cli(w.d, "rules", "--json", "app").stdout)
    assert [r["hits"] for r in document["profiles"][0]["rules"]] == [6], document


# ---- 2. invalidations ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["warden-reload", "sighup"])
def test_a_reload_drops_held_verdicts(lab, cgroup, wardend, how):
    """Allowed (TCP and UDP) and rejected flows held for a process; the policy is changed the
    other way round and reloaded: the very next flows of the same process follow the new
    policy."""
    program = flow_repeat_copy(lab, "app")
    before_rules = [{"action": "allow", "ports": [7000, 7001]}]
    after_rules = [{"action": "allow", "ports": 7002}]
    w = Warden(lab, wardend, cgroup, profiles={"app": profile_text(
        "app", {"path": program}, default="reject", rules=before_rules)})
    rep = Repeater(lab, cgroup, program, "app")
    repeat_held(w, rep, [("tcp", S4, 7000, "connected"), ("udpc", S4, 7001, "reply"),
                         ("tcp", S4, 7002, "refused")], rounds=2)
    kv = w.kv()
    assert sum(kv["hits"].values()) >= 3, f"nothing was held: {kv}"
    revision = w.status()["policy"]["revision"]
    write_profile(w.d, "app", profile_text("app", {"path": program}, default="reject",
                                           rules=after_rules))
    if how == "sighup":
        w.d.hup()
        assert wait_until(lambda: w.status()["policy"]["revision"] > revision, timeout=5)
    else:
        assert reload(w.d) > revision
    assert rep.outcome("tcp", S4, 7000) == "refused", w.kv()
    assert rep.outcome("udpc", S4, 7001) == "prohibited", w.kv()
    assert rep.outcome("tcp", S4, 7002) == "connected", w.kv()
    assert w.kv()["invalidations"]["reload"] >= 1, w.kv()


def test_a_process_that_execs_a_denied_program_loses_its_held_verdicts(lab, cgroup, wardend):
    """A process allowed by its program's path execs (same pid) another program, which the
    policy refuses: its next flows to the same destinations are refused."""
    allowed = flow_repeat_copy(lab, "allowed")
    denied = flow_repeat_copy(lab, "denied")
    w = Warden(lab, wardend, cgroup, profiles={
        "allowed": profile_text("allowed", {"path": allowed}, default="allow"),
        "denied": profile_text("denied", {"path": denied}, default="reject")})
    rep = Repeater(lab, cgroup, allowed, "app")
    repeat_held(w, rep, [("tcp", S4, 7000, "connected"), ("udpc", S6, 7001, "reply"),
                         ("udp", S4, 7002, "reply")], rounds=3)
    kv = w.kv()
    assert kv["hits"]["allow"] >= 6, f"nothing was held: {kv}"
    rep.exec(denied)
    assert rep.outcome("tcp", S4, 7000) == "refused", w.kv()
    assert rep.outcome("udpc", S6, 7001) == "prohibited", w.kv()
    assert rep.outcome("udp", S4, 7002) == "prohibited", w.kv()
    # Held for what it is now: refused again, in the kernel this time.
    assert rep.outcome("tcp", S4, 7000) == "refused"


def test_a_process_that_drops_root_loses_its_held_verdicts(lab, cgroup, wardend):
    """A process running as root, allowed by a `uid = 0` profile, calls setuid(65534): its next
    flows to the same destinations are decided for uid 65534, which the policy refuses."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, default="reject", profiles={
        "root": profile_text("root", {"uid": 0}, default="allow")})
    rep = Repeater(lab, cgroup, program, "app")
    assert rep.uid == 0
    repeat_held(w, rep, [("tcp", S4, 7000, "connected"), ("udpc", S4, 7001, "reply")], rounds=3)
    kv = w.kv()
    assert kv["hits"]["allow"] >= 4, f"nothing was held: {kv}"
    rep.setuid(65534)
    assert rep.outcome("tcp", S4, 7000) == "refused", w.kv()
    assert rep.outcome("udpc", S4, 7001) == "prohibited", w.kv()


def test_held_verdicts_expire_after_kernel_verdicts_ttl(lab, cgroup, wardend):
    """With kernel_verdicts_ttl = 2, a repeat flow is held at first and goes to the queue again
    once the entry is 2 s old."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, kernel_verdicts_ttl=2, profiles={
        "app": profile_text("app", {"path": program}, default="allow")})
    rep = Repeater(lab, cgroup, program, "app")
    assert rep.outcome("tcp", S4, 7000) == "connected"
    assert rep.outcome("udpc", S4, 7001) == "reply"
    w.wait_held(2)
    queued = w.queued()
    assert rep.outcome("tcp", S4, 7000) == "connected"
    assert rep.outcome("udpc", S4, 7001) == "reply"
    assert w.queued() == queued, "not held before the ttl"
    time.sleep(2.5)
    assert rep.outcome("tcp", S4, 7000) == "connected"
    assert rep.outcome("udpc", S4, 7001) == "reply"
    assert w.queued() == queued + 2, f"held past the ttl: {w.kv()}"
    assert w.kv()["ttl"] == 2


DNS_NAME = "files.test.example"   # -> S4B
OTHER_NAME = "origin.example.net"  # -> S4B too


def start_dnsmasq(lab, ttl):
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(dnsmasq, os.X_OK):
        pytest.skip("dnsmasq is not installed (scripts/install-deps installs it)")
    p = lab.s.spawn([dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                     "--no-hosts", "--bind-interfaces", f"--listen-address={S4}", "--port=53",
                     "--pid-file=", "--user=root", f"--host-record={DNS_NAME},{S4B}",
                     f"--host-record={OTHER_NAME},{S4B}", f"--local-ttl={ttl}"], "dnsmasq")
    if not wait_until(lambda: dns_query(lab, None, DNS_NAME, ns=lab.s) == [S4B], timeout=10):
        raise RuntimeError(f"dnsmasq did not answer: {p.stderr_text()}")


def dns_query(lab, cg, name, ns=None):
    """The addresses dns_query got for name from the lab's dnsmasq (asked from cg, so that the
    query is attributed like the test's other flows)."""
    argv = [os.path.join(clients_dir(), "dns_query"), S4, name, "--timeout-ms", "2000"]
    res = (ns or lab.c).run(in_cgroup(cg, argv) if cg else argv, timeout=10, check=False)
    words = res.stdout.split()
    return words[3:] if words and words[0] == "reply" else None


def host_profile(program):
    return profile_text("app", {"path": program}, default="reject",
                        rules=[{"action": "allow", "host": "*.test.example"}])


def test_a_held_allow_ends_with_the_dns_answer_it_relied_on(lab, cgroup, wardend):
    """A host rule allows a name whose answer lives 2 s: the allow is held, but not for the
    600 s of kernel_verdicts_ttl: only as long as wardend keeps the name (answers shorter than a
    minute are kept a minute), which `warden explain` shows. With
    WARDEN_KV_SLOW=1 the test also waits for that end and sees the flow reach the queue."""
    start_dnsmasq(lab, ttl=2)
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, profiles={"app": host_profile(program)})
    rep = Repeater(lab, cgroup, program, "app")
    assert dns_query(lab, cgroup, DNS_NAME) == [S4B]
    assert rep.outcome("tcp", S4B, 7000) == "connected"
    w.wait_held(1)
    queued = w.queued()
    assert rep.outcome("tcp", S4B, 7000) == "connected"
    assert w.queued() == queued, f"the allow by host rule was not held: {w.kv()}"
    assert w.kv()["ttl"] == 600
    doc = json.loads(cli(w.d, "explain", str(rep.pid), "--json").stdout)
    listed = doc["process"]["kernel_verdicts"]
    held = [e for e in listed if (e["remote"], e["port"]) == (S4B, 7000)]
    assert len(held) == 1 and held[0]["action"] == "allow", listed
    assert 0 < held[0]["expires_in_s"] < 60, f"held beyond its host name's life: {held}"
    if os.environ.get("WARDEN_KV_SLOW") != "1":
        return
    time.sleep(held[0]["expires_in_s"] + 1.5)
    rep.outcome("tcp", S4B, 7000)  # whatever the queue decides now
    assert w.queued() == queued + 1, f"held past its DNS answer: {w.kv()}"


def test_a_new_name_for_the_address_drops_its_held_verdicts(lab, cgroup, wardend):
    """A host rule allows *.test.example; the address it resolved to is then answered for
    another name, outside the domain: the held allow goes, and the next flow is refused."""
    start_dnsmasq(lab, ttl=300)
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, profiles={"app": host_profile(program)})
    rep = Repeater(lab, cgroup, program, "app")
    assert dns_query(lab, cgroup, DNS_NAME) == [S4B]
    repeat_held(w, rep, [("tcp", S4B, 7000, "connected"), ("udpc", S4B, 7001, "reply")], rounds=3)
    kv = w.kv()
    assert kv["hits"]["allow"] >= 4, f"the allow by host rule was not held: {kv}"
    assert dns_query(lab, cgroup, OTHER_NAME) == [S4B]
    kv = wait_until(lambda: (k := w.kv())["invalidations"]["dns"] >= 1 and k, timeout=3)
    assert kv, w.kv()
    assert rep.outcome("tcp", S4B, 7000) == "refused", w.kv()
    assert rep.outcome("udpc", S4B, 7001) == "prohibited", w.kv()


def test_a_table_smaller_than_the_destinations_keeps_every_verdict_right(lab, cgroup, wardend):
    """kernel_verdicts_entries = 16 (the smallest allowed) and 48 destinations (4 addresses, 6
    ports, TCP and UDP; allowed, rejected, denied): the table never holds more than 16, every
    flow gets its verdict in every round, and a destination used again and again is held."""
    ports = PORTS + (7003, 7004, 7005)
    lab.start_echo(lab.s, ports=ports[3:], tag="echo-more")
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, kernel_verdicts_entries=16, profiles={
        "app": profile_text("app", {"path": program}, default="allow", rules=[
            {"action": "reject", "ports": [7002, 7005]},
            {"action": "deny", "ip": S6B, "ports": 7001}])})
    rep = Repeater(lab, cgroup, program, "app")

    def verdict(host, port):
        if port in (7002, 7005):
            return "reject"
        return "deny" if (host, port) == (S6B, 7001) else "allow"

    destinations = [(m, h, p) for m in ("tcp", "udpc") for h in ADDRESSES for p in ports]
    rng = random.Random(16)
    for round_ in range(3):
        rng.shuffle(destinations)
        for mode, host, port in destinations:
            want = verdict(host, port)
            outcome = rep.expect(mode, host, port, want)
            assert seen_as(mode, want, outcome), (round_, mode, host, port, outcome, w.kv())
        kv = w.kv()
        assert kv["capacity"] == 16 and kv["entries"] <= 16 and kv["stored"] <= 16, kv
    # One destination again and again: held within the bound.
    assert rep.outcome("tcp", S4, 7000) == "connected"
    assert wait_until(lambda: ("tcp", S4, 7000) in w.held_for(rep.pid), timeout=3), w.kv()
    queued = w.queued()
    for _ in range(3):
        assert rep.outcome("tcp", S4, 7000) == "connected"
    assert w.queued() == queued, w.kv()


def test_kernel_verdicts_off_holds_nothing(lab, cgroup, wardend):
    """kernel_verdicts = false: every repeat flow reaches the queue, as before the feature."""
    program = flow_repeat_copy(lab, "app")
    w = Warden(lab, wardend, cgroup, kernel_verdicts=False, profiles={
        "app": profile_text("app", {"path": program}, default="allow",
                            rules=[{"action": "reject", "ports": 7002}])})
    rep = Repeater(lab, cgroup, program, "app")
    queued = w.queued()
    for _ in range(3):
        assert rep.outcome("tcp", S4, 7000) == "connected"
        assert rep.outcome("udpc", S4, 7001) == "reply"
        assert rep.outcome("udp", S4, 7001) == "reply"
        assert rep.outcome("tcp", S4, 7002) == "refused"
    assert w.queued() == queued + 12
    kv = w.kv()
    assert kv["enabled"] is False, kv
    assert kv.get("entries", 0) == 0 and kv.get("written", 0) == 0, kv
    assert sum(kv.get("hits", {}).values()) == 0, kv
    assert "kernel-held" in cli(w.d, "status").stdout


# ---- 3. held verdicts agree with the policy --------------------------------------------------

ACTIONS = ("allow", "deny", "reject")


def random_rule(rng, global_rule):
    rule = {"action": rng.choice(ACTIONS)}
    # A global rule sees kernel traffic too (IPv6 neighbour discovery): always TCP or UDP.
    if global_rule or rng.random() < 0.5:
        rule["proto"] = rng.choice(("tcp", "udp"))
    if rng.random() < 0.6:
        rule["ports"] = sorted(rng.sample(PORTS, rng.randint(1, 2)))
    if rng.random() < 0.5:
        rule["ip"] = rng.choice(ADDRESSES)
    return rule


def random_policy(rng, programs):
    policy = {"default": rng.choice(ACTIONS),
              "rules": [random_rule(rng, True) for _ in range(rng.randint(0, 2))],
              "profiles": {}}
    for name in programs:
        if rng.random() < 0.8:
            policy["profiles"][name] = {
                "default": rng.choice(ACTIONS + (None,)),
                "rules": [random_rule(rng, False) for _ in range(rng.randint(0, 3))]}
    return policy


def rule_matches(rule, proto, host, port):
    return (rule.get("proto", proto) == proto and rule.get("ip", host) == host
            and port in rule.get("ports", [port]))


def expected_verdict(policy, program, proto, host, port):
    """SPEC section 4: global rules, the profile's rules, its default, the engine default."""
    for rule in policy["rules"]:
        if rule_matches(rule, proto, host, port):
            return rule["action"]
    profile = policy["profiles"].get(program)
    if profile:
        for rule in profile["rules"]:
            if rule_matches(rule, proto, host, port):
                return rule["action"]
        if profile["default"]:
            return profile["default"]
    return policy["default"]


def apply_policy(w, policy, programs):
    for name, path in programs.items():
        profile = policy["profiles"].get(name)
        if profile:
            write_profile(w.d, name, profile_text(name, {"path": path}, profile["default"],
                                                  profile["rules"]))
        else:
            remove_profile(w.d, name)
    w.rewrite(rules=policy["rules"], default=policy["default"])
    reload(w.d)


def test_held_verdicts_agree_with_the_policy_over_random_policies_and_flows(lab, cgroup,
                                                                           wardend):
    """5 random policies (global rules, two programs' profiles with rules and defaults, the
    engine default), 20 flows each by one of two long-lived processes over TCP, UDP and
    connected UDP to a few addresses and ports, repeat destinations favoured, a reload now and
    then between flows: every outcome is the one the policy in force says.
    WARDEN_KV_SEED=N replays a run."""
    seed = int(os.environ.get("WARDEN_KV_SEED", random.randrange(1 << 32)))
    print(f"WARDEN_KV_SEED={seed}")
    rng = random.Random(seed)
    programs = {name: flow_repeat_copy(lab, name) for name in ("one", "two")}
    policy = random_policy(rng, programs)
    w = Warden(lab, wardend, cgroup, rules=policy["rules"], default=policy["default"],
               profiles={name: profile_text(name, {"path": programs[name]},
                                            policy["profiles"][name]["default"],
                                            policy["profiles"][name]["rules"])
                         for name in programs if name in policy["profiles"]})
    reps = {name: Repeater(lab, cgroup, path, name) for name, path in programs.items()}
    history = []
    for round_ in range(5):
        if round_:
            policy = random_policy(rng, programs)
            apply_policy(w, policy, programs)
            history.append(("policy", policy))
        flows = []
        for i in range(20):
            if i and rng.random() < 0.1:
                policy = random_policy(rng, programs)
                apply_policy(w, policy, programs)
                history.append(("policy", policy))
            if flows and rng.random() < 0.5:
                name, mode, host, port = rng.choice(flows)
                if mode != "tcp":
                    mode = rng.choice(("udp", "udpc"))
            else:
                name = rng.choice(list(programs))
                mode = rng.choice(MODES)
                host, port = rng.choice(ADDRESSES), rng.choice(PORTS)
            flows.append((name, mode, host, port))
            proto = "tcp" if mode == "tcp" else "udp"
            want = expected_verdict(policy, name, proto, host, port)
            outcome = reps[name].expect(mode, host, port, want)
            history.append((name, mode, host, port, want, outcome))
            if not seen_as(mode, want, outcome):
                trail = "\n".join(str(h) for h in history[-25:])
                pytest.fail(f"seed {seed}, round {round_}, flow {i}: {name} {mode} "
                            f"{host}:{port} should be {want} ({OUTCOME[mode][want]}), got "
                            f"{outcome}\npolicy {policy}\nkernel verdicts {w.kv()}\n"
                            f"last flows:\n{trail}")
    kv = w.kv()
    print(f"kernel-held hits {kv['hits']}, invalidations {kv['invalidations']}")
    assert sum(kv["hits"].values()) > 0, f"nothing was ever held: {kv}"
    assert kv["invalidations"]["reload"] >= 4, kv
