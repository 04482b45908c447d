"""`warden reload --redecide`: flows accepted before a reload keep their verdict after a plain
reload, and are decided again under the new policy with --redecide: those it denies are cut
(their next packets vanish), those it rejects are reset (TCP) or refused with ICMP (UDP), the
rest keep working. The counts are printed, every revoked flow gets a log row, conntrack mark
bits outside warden's mask survive, learn mode revokes nothing, and a broken policy is refused
with nothing redecided. A flow no socket holds any more (a connection attempt nobody answered,
whose process has exited) is counted gone, not decided for an owner nobody can name; one whose
socket is bound to a device (which conntrack does not keep) is decided, not counted gone."""
import json
import re
import time

import pytest

from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_expect import wait_until
from warden_lab import BLACKHOLE4, BLACKHOLE6, C4, C6, PYTHON, S4, S6, run

OK, ERROR = 0, 1
MARK_MASK = 0x00F00000
FOREIGN_BIT = 0x00000001  # a conntrack mark bit outside warden's mask, set by "someone else"
KEEP, CUT = 7000, 7001
FOREIGN_TABLE = f"""
table inet wt_foreign {{
  chain output {{
    type filter hook output priority -10; policy accept;
    tcp dport {CUT} ct mark set ct mark or {FOREIGN_BIT:#x}
  }}
}}
"""

# A long-lived UDP "session": one connected socket, a datagram every 100 ms, each echo awaited
# 500 ms. Prints "connected", then "ok <seq>" or "fail <seq> timeout" / "fail <seq> <errno name>"
# (with " icmp=<type>/<code>" when an ICMP error about the datagram came back).
UDP_SESSION = r"""
import errno, socket, struct, sys, time
host, port = sys.argv[1], int(sys.argv[2])
v6 = ":" in host
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
# IP(V6)_RECVERR: ICMP errors about our datagrams are queued with their type and code.
s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP, 25 if v6 else 11, 1)
s.connect((host, port))
s.settimeout(0.5)

def icmp():
    s.settimeout(0)
    try:
        return read_icmp()
    finally:
        s.settimeout(0.5)

def read_icmp():
    for _ in range(20):
        try:
            _, anc, _, _ = s.recvmsg(100, 512, socket.MSG_ERRQUEUE)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        for _, _, data in anc:
            _, _, kind, code = struct.unpack_from("=IBBB", data)
            return " icmp=%d/%d" % (kind, code)
    return ""

print("connected", flush=True)
seq = 0
while True:
    msg = b"udp_session %d" % seq
    try:
        s.send(msg)
        while s.recv(100) != msg:
            pass
        print("ok", seq, flush=True)
    except socket.timeout:
        print("fail", seq, "timeout", flush=True)
    except OSError as e:
        print("fail", seq, errno.errorcode.get(e.errno, e.errno) + icmp(), flush=True)
    seq += 1
    time.sleep(0.1)
"""


def udp_session(lab, host, port, ns=None):
    p = (ns or lab.c).spawn([PYTHON, "-c", UDP_SESSION, host, str(port)],
                            f"udp-session-{len(lab.procs)}", lines=True)
    # The first datagram waits for its verdict and for neighbour discovery: may time out.
    assert p.wait_line(lambda t: t.startswith("ok"), timeout=5), p.stdout_text() + p.stderr_text()
    return p


def lines_since(session, since):
    with session._cond:
        return [text for at, text in session.lines if at >= since]


def working_since(session, since, oks=3, timeout=5):
    """At least `oks` good exchanges after `since`, and no failed one."""
    def seen():
        lines = lines_since(session, since)
        if any(t.startswith("fail") for t in lines):
            return "failed"
        return "ok" if sum(t.startswith("ok") for t in lines) >= oks else None
    return wait_until(seen, timeout=timeout) == "ok"


def failed_since(session, since, timeout=5):
    """The first failure after `since`, and that nothing worked after it."""
    line = wait_until(lambda: next((t for t in lines_since(session, since)
                                    if t.startswith("fail")), None), timeout=timeout)
    assert line, (f"the session kept working: {lines_since(session, since)[-5:]} "
                  f"{session.stderr_text()}")
    return line


def deny(proto, port, direction=None, action="deny"):
    rule = {"action": action, "proto": proto, "ports": port}
    if direction:
        rule["direction"] = direction
    return rule


def ct_marks(lab, proto, dport):
    """The conntrack marks of the flows to `dport`, as `conntrack -L` shows them in lab.c."""
    res = lab.c.run(["conntrack", "-L", "-p", proto, "--dport", str(dport)], check=False)
    return [int(m) for m in re.findall(r"\bmark=(\d+)", res.stdout)]


def all_log_rows(d):
    res = cli(d, "log", "--json", "--limit", "0")
    assert res.returncode == OK, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def log_rows(d, port, action):
    return [r for r in all_log_rows(d) if r["remote_port"] == port and r["action"] == action]


def redecided_under(d, revision):
    """The revision a redecide answer names is the one wardend loaded and redecided under. Not
    compared with status alone: the write that preceded the command also wakes the file watcher,
    whose own reload (200 ms later) may already have made a newer revision on a slow run."""
    assert "redecided " in d.stderr() and f"under policy revision {revision}:" in d.stderr(), \
        d.stderr()
    return revision <= d.status()["policy"]["revision"]


def redecide(d, *extra):
    res = cli(d, "reload", "--redecide", *extra)
    assert res.returncode == OK, f"reload --redecide exited {res.returncode}: {res.stderr}"
    return res


def test_deny_cuts_accepted_tcp_and_udp_flows_only_with_redecide(lab, wardend):
    # Someone else's bit on the flow's conntrack mark, set by another table of the lab's own
    # namespace before warden's rules run: warden must leave it alone.
    run(lab.c.cmd(["nft", "-f", "-"]), input=FOREIGN_TABLE)
    d = wardend(engine={"mark_mask": MARK_MASK})
    keep = lab.tcp_session(S4, KEEP, interval_ms=100, timeout_ms=2000)
    cut = lab.tcp_session(S4, CUT, interval_ms=100, timeout_ms=2000)
    cut_udp = udp_session(lab, S6, CUT)
    start = time.monotonic()
    for s in (keep, cut, cut_udp):
        assert working_since(s, start), s.stdout_text()
    assert ct_marks(lab, "tcp", CUT) == [0x00100000 | FOREIGN_BIT]

    d.write_config(engine={"mark_mask": MARK_MASK},
                   rules=[deny("tcp", CUT), deny("udp", CUT)])
    plain = cli(d, "reload")
    assert plain.returncode == OK, plain.stderr
    since = time.monotonic()
    for s in (keep, cut, cut_udp):
        assert working_since(s, since), f"a plain reload must keep decided flows: {s.stdout_text()}"

    res = redecide(d)
    since = time.monotonic()
    m = re.fullmatch(r"reloaded: policy revision (\d+) in force; redecided (\d+) flows: "
                     r"(\d+) kept, 2 revoked \(2 denied, 0 rejected\)\n", res.stdout)
    assert m, res.stdout
    revision, examined, kept = (int(g) for g in m.groups())
    assert redecided_under(d, revision)
    assert examined >= 3 and kept == examined - 2, res.stdout
    assert failed_since(cut, since - 0.2).split()[2] == "timeout", cut.stdout_text()
    # A dropped datagram of our own: the kernel may tell the sender at once (EPERM).
    assert failed_since(cut_udp, since - 0.2).split()[2] in ("timeout", "EPERM"), \
        cut_udp.stdout_text()
    assert working_since(keep, since, oks=10), keep.stdout_text()
    # The mark now says "revoked: drop" (3 inside the mask); the foreign bit is still there.
    assert ct_marks(lab, "tcp", CUT) == [0x00300000 | FOREIGN_BIT]
    assert ct_marks(lab, "tcp", KEEP) == [0x00100000]
    # New flows are decided by the policy as before.
    assert lab.tcp_probe(S4, KEEP).outcome == "connected"
    assert lab.tcp_probe(S4, CUT, timeout_ms=1200).outcome == "timeout"
    rows = wait_until(lambda: log_rows(d, CUT, "deny") if len(log_rows(d, CUT, "deny")) >= 2
                      else None, timeout=5)
    assert rows, log_rows(d, CUT, "deny")
    by_proto = {r["protocol"]: r for r in rows}
    assert set(by_proto) == {"tcp", "udp"}, rows
    assert by_proto["tcp"]["local_addr"] == C4 and by_proto["tcp"]["remote_addr"] == S4
    assert by_proto["udp"]["local_addr"] == C6 and by_proto["udp"]["remote_addr"] == S6
    assert all(r["direction"] == "out" and r["mode"] == "enforce" and r["revision"] == revision
               for r in rows), rows
    assert d.alive()


def test_reject_resets_tcp_and_refuses_udp(lab, wardend):
    d = wardend()
    keep = lab.tcp_session(S6, KEEP, interval_ms=100, timeout_ms=2000)
    cut = lab.tcp_session(S6, CUT, interval_ms=100, timeout_ms=3000)
    cut_udp = udp_session(lab, S4, CUT)
    start = time.monotonic()
    for s in (keep, cut, cut_udp):
        assert working_since(s, start), s.stdout_text()

    d.write_config(rules=[deny("tcp", CUT, action="reject"), deny("udp", CUT, action="reject")])
    res = redecide(d, "--json")
    since = time.monotonic()
    answer = json.loads(res.stdout)
    counts = answer["redecide"]
    assert (counts["revoked"], counts["denied"], counts["rejected"]) == (2, 0, 2), answer
    assert counts["kept"] == counts["examined"] - 2 and counts["failed"] == 0, answer
    assert redecided_under(d, answer["revision"])

    # TCP: a reset at the next send, long before the session's own 3 s timeout.
    line = failed_since(cut, since - 0.2)
    assert line.split()[2] == "error", line
    assert "Connection reset by peer" in cut.stderr_text()
    # UDP: refused at once (the kernel tells the sender of a datagram netfilter refused on its
    # way out, or the ICMP error does), with ICMP "administratively prohibited".
    line = failed_since(cut_udp, since - 0.2)
    assert line.split()[2] in ("EPERM", "EHOSTUNREACH") and line.split()[3] == "icmp=3/13", line
    assert working_since(keep, since, oks=10), keep.stdout_text()
    assert d.alive()


def test_inbound_flows_are_redecided_as_inbound(lab, wardend):
    lab.start_echo(lab.c, ports=(7100, 7101), tag="echo-client-ns")
    lab.start_echo(lab.s, ports=(7101,), tag="echo-server-7101")
    d = wardend(engine={"inbound": True})
    keep = lab.tcp_session(C4, 7100, ns=lab.s, interval_ms=100, timeout_ms=2000)
    cut = lab.tcp_session(C4, 7101, ns=lab.s, interval_ms=100, timeout_ms=2000)
    out = lab.tcp_session(S4, 7101, interval_ms=100, timeout_ms=2000)  # outbound, same port
    start = time.monotonic()
    for s in (keep, cut, out):
        assert working_since(s, start), s.stdout_text()

    d.write_config(engine={"inbound": True}, rules=[deny("tcp", 7101, direction="in")])
    res = redecide(d)
    since = time.monotonic()
    assert "1 revoked (1 denied, 0 rejected)" in res.stdout, res.stdout
    assert failed_since(cut, since - 0.2).split()[2] == "timeout", cut.stdout_text()
    for s in (keep, out):
        assert working_since(s, since, oks=10), s.stdout_text()
    rows = wait_until(lambda: [r for r in all_log_rows(d)
                               if r["local_port"] == 7101 and r["action"] == "deny"], timeout=5)
    assert rows and all(r["direction"] == "in" and r["remote_addr"] == S4 for r in rows), rows


def test_learn_mode_revokes_nothing_and_a_broken_policy_nothing_at_all(lab, wardend):
    d = wardend(engine={"mode": "learn"})
    cut = lab.tcp_session(S4, CUT, interval_ms=100, timeout_ms=2000)
    start = time.monotonic()
    assert working_since(cut, start), cut.stdout_text()

    d.write_config(engine={"mode": "learn"}, rules=[deny("tcp", CUT)])
    res = redecide(d, "--json")
    counts = json.loads(res.stdout)["redecide"]
    assert counts["revoked"] == 0 and counts["learned"] == 1, counts
    assert counts["kept"] == counts["examined"], counts
    since = time.monotonic()
    assert working_since(cut, since, oks=10), cut.stdout_text()
    assert ct_marks(lab, "tcp", CUT) == [0x00100000], "learn mode must leave the mark alone"
    rows = wait_until(lambda: log_rows(d, CUT, "deny"), timeout=5)
    assert rows and all(r["mode"] == "learn" for r in rows), rows

    # A policy with errors is refused whole: no reload, nothing redecided.
    before = d.status()["policy"]["revision"]
    d.write_config(engine={"mode": "enforce"}, rules=[deny("tcp", CUT)],
                   extra='[[rule]]\naction = "permit"\n')
    time.sleep(0.5)  # let the daemon's own watcher try (and refuse) first
    refused = cli(d, "reload", "--redecide")
    assert refused.returncode == ERROR, refused
    assert "refused" in refused.stderr, refused.stderr
    assert d.status()["policy"]["revision"] == before
    assert working_since(cut, time.monotonic(), oks=10), cut.stdout_text()
    assert ct_marks(lab, "tcp", CUT) == [0x00100000]


def test_attempts_whose_process_has_exited_are_gone_not_revoked(lab, wardend):
    # unknown = "deny": a flow decided for an owner nobody can name would be revoked.
    d = wardend(engine={"unknown": "deny"})
    live = lab.tcp_session(S4, KEEP, interval_ms=100, timeout_ms=2000)
    # Accepted SYNs that nobody answers (the addresses' packets vanish): conntrack keeps the
    # attempts as SYN_SENT, marked accepted, after the clients have given up and exited.
    for host in (BLACKHOLE4, BLACKHOLE6):
        assert lab.tcp_probe(host, CUT, timeout_ms=1200).outcome == "timeout"
    res = lab.c.run(["conntrack", "-L", "-p", "tcp", "--dport", str(CUT)], check=False)
    assert res.stdout.count("SYN_SENT") == 2, res.stdout + res.stderr
    assert ct_marks(lab, "tcp", CUT) == [0x00100000, 0x00100000], res.stdout

    # The policy is unchanged: nothing is revoked, the attempts are gone, the session kept.
    counts = json.loads(redecide(d, "--json").stdout)["redecide"]
    assert counts["revoked"] == 0 and counts["gone"] == 2, counts
    assert counts["kept"] == counts["examined"] - 2 and counts["kept"] >= 1, counts
    assert ct_marks(lab, "tcp", CUT) == [0x00100000, 0x00100000]
    assert working_since(live, time.monotonic(), oks=5), live.stdout_text()
    assert not [r for r in all_log_rows(d) if r["action"] != "allow"]
    text = redecide(d).stdout
    assert "0 revoked" in text and "2 gone meanwhile" in text, text


# A TCP session on a socket bound to DEVICE (SO_BINDTODEVICE: no privilege needed on a socket
# not yet bound to one): connected to HOST PORT, a message every 100 ms, each echo awaited 1 s.
# Prints "connected", then "ok <seq>" or "fail <seq> <why>"; ends at the first failure.
DEVICE_SESSION = r"""
import socket, sys, time
host, port, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
s.settimeout(5.0)  # the SYN waits for its verdict, and for neighbour discovery over IPv6
s.connect((host, port))
s.settimeout(1.0)
print("connected", flush=True)
seq = 0
while True:
    msg = b"device %d\n" % seq
    try:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(100)
            if not chunk:
                raise OSError("closed")
            got += chunk
        print("ok", seq, flush=True)
    except (socket.timeout, OSError) as e:
        print("fail", seq, "timeout" if isinstance(e, socket.timeout) else e, flush=True)
        break
    seq += 1
    time.sleep(0.1)
"""
# A TCP echo server on PORT whose listener is bound to DEVICE; prints "listening".
DEVICE_ECHO = r"""
import socket, sys, threading
port, device = int(sys.argv[1]), sys.argv[2]
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
l.bind(("::", port))
l.listen(8)
print("listening", flush=True)

def serve(c):
    while True:
        data = c.recv(4096)
        if not data:
            return
        c.sendall(data)

while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def device_session(ns, host, port, tag, prefix=()):
    p = ns.spawn(list(prefix) + [PYTHON, "-c", DEVICE_SESSION, host, str(port), ns_device(ns)],
                 tag, lines=True)
    assert p.wait_line(lambda t: t.startswith("ok"), timeout=10), \
        p.stdout_text() + p.stderr_text()
    return p


def ns_device(ns):
    return "wtc0" if ns.name.endswith("c") else "wts0"


@pytest.mark.parametrize("host", [S4, S6])
def test_a_connection_on_a_socket_bound_to_a_device_is_redecided_not_gone(lab, wardend, host):
    """nobody binds its socket to the interface (SO_BINDTODEVICE, no privilege needed) before
    it connects. conntrack keeps no interface, and a socket lookup without one never finds a
    socket bound to a device: counted "gone", the connection kept its verdict through every
    `reload --redecide`. It is cut like any other, and another such session, to the port the
    new policy keeps, goes on."""
    d = wardend()
    cut = device_session(lab.c, host, CUT, "device-session", prefix=NOBODY)
    keep = device_session(lab.c, host, KEEP, "device-session-keep", prefix=NOBODY)
    d.write_config(rules=[deny("tcp", CUT)])
    res = redecide(d)
    since = time.monotonic()
    assert "1 revoked (1 denied, 0 rejected)" in res.stdout, res.stdout
    assert failed_since(cut, since - 0.2).split()[2] == "timeout", cut.stdout_text()
    assert working_since(keep, since, oks=10), keep.stdout_text()


def test_an_inbound_connection_to_a_listener_bound_to_a_device_is_redecided(lab, wardend):
    """The same for a server whose listener is bound to the interface: the connection's own
    socket is bound to it too, and the inbound flow is decided again, not counted gone (nor
    left to the `kernel` verdict for want of a socket)."""
    server = lab.c.spawn([PYTHON, "-c", DEVICE_ECHO, "7102", "wtc0"], "device-echo", lines=True)
    assert server.wait_line(lambda t: t == "listening", timeout=10), server.stderr_text()
    d = wardend(engine={"inbound": True, "kernel": "allow"})
    cut = device_session(lab.s, C4, 7102, "device-peer")
    d.write_config(engine={"inbound": True, "kernel": "allow"},
                   rules=[deny("tcp", 7102, direction="in")])
    res = redecide(d)
    since = time.monotonic()
    assert "1 revoked (1 denied, 0 rejected)" in res.stdout, res.stdout
    assert failed_since(cut, since - 0.2).split()[2] == "timeout", cut.stdout_text()
