#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/ (run it after changing it; the seeds are committed).

Packets are built field by field with their real checksums, DNS messages as a resolver sends
them (names compressed with pointers), the policy seeds are the shipped etc/warden files.
Addresses are the documentation ranges only.
"""
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parent
CORPUS = HERE / "corpus"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def v4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def v6(text: str) -> bytes:
    head, _, tail = text.partition("::")
    groups = lambda s: [int(g, 16) for g in s.split(":")] if s else []
    h, t = groups(head), groups(tail)
    return struct.pack("!8H", *(h + [0] * (8 - len(h) - len(t)) + t))


def ipv4(proto: int, src: str, dst: str, payload: bytes, options: bytes = b"", frag: int = 0,
         ident: int = 0x1C46) -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, frag, 64,
                         proto, 0, v4(src), v4(dst)) + options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6(next_header: int, src: str, dst: str, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, 64, v6(src),
                       v6(dst)) + payload


def pseudo4(src, dst, proto, length):
    return v4(src) + v4(dst) + struct.pack("!BBH", 0, proto, length)


def pseudo6(src, dst, proto, length):
    return v6(src) + v6(dst) + struct.pack("!IxxxB", length, proto)


def tcp_syn(pseudo, sport: int, dport: int) -> bytes:
    options = bytes.fromhex("020405b4 0402 080a 0001e240 00000000 01 030307".replace(" ", ""))
    segment = struct.pack("!HHIIBBHHH", sport, dport, 0x3B9ACA07, 0, (5 + len(options) // 4) << 4,
                          0x02, 64240, 0, 0) + options
    csum = checksum(pseudo(len(segment)) + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def udp(pseudo, sport: int, dport: int, payload: bytes) -> bytes:
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = checksum(pseudo(len(datagram)) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", csum) + datagram[8:]


def icmp_echo(type_: int, pseudo=None) -> bytes:
    message = struct.pack("!BBHHH", type_, 0, 0, 0x4D2, 1) + b"warden-seed-ping"
    data = (pseudo(len(message)) if pseudo else b"") + message
    return message[:2] + struct.pack("!H", checksum(data)) + message[4:]


def name(text: str) -> bytes:
    return b"".join(bytes([len(l)]) + l.encode() for l in text.split(".") if l) + b"\0"


def dns_header(ident, flags, qd, an, ns=0, ar=0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def rr(owner: bytes, type_: int, ttl: int, rdata: bytes, class_: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", type_, class_, ttl, len(rdata)) + rdata


QUESTION_AT = b"\xc0\x0c"  # a pointer to the question's name, right after the header
A, CNAME, SOA, AAAA, OPT = 1, 5, 6, 28, 41


def dns_messages():
    query = dns_header(0x1234, 0x0100, 1, 0) + name("www.example.org") + struct.pack("!HH", A, 1)
    yield "query-a", query
    # One A answer, the owner compressed to the question.
    yield "reply-a", (dns_header(0x1234, 0x8180, 1, 1) + name("www.example.org") +
                      struct.pack("!HH", A, 1) + rr(QUESTION_AT, A, 300, v4("192.0.2.10")))
    # A CNAME chain to a CDN: the target's name is compressed into the question's suffix.
    question = name("www.Example.ORG")  # DNS 0x20: the resolver randomized the case
    message = dns_header(0xBEEF, 0x8180, 1, 3) + question + struct.pack("!HH", AAAA, 1)
    cdn_at = len(message) + 2 + 10  # where the CNAME's data (the target name) starts
    message += rr(QUESTION_AT, CNAME, 3600, b"\x03cdn\x07example\x03net\x00")
    message += rr(struct.pack("!H", 0xC000 | cdn_at), AAAA, 60, v6("2001:db8::10"))
    message += rr(struct.pack("!H", 0xC000 | cdn_at), AAAA, 60, v6("2001:db8::11"))
    yield "reply-cname-aaaa", message
    # Several A answers, and an EDNS OPT record in the additional section.
    message = dns_header(7, 0x8180, 1, 2, 0, 1) + name("example.org") + struct.pack("!HH", A, 1)
    message += rr(QUESTION_AT, A, 60, v4("198.51.100.1"))
    message += rr(QUESTION_AT, A, 60, v4("198.51.100.2"))
    message += b"\x00" + struct.pack("!HHIH", OPT, 1232, 0, 0)
    yield "reply-a-edns", message
    # NXDOMAIN with the zone's SOA in the authority section.
    soa = name("ns.example.org") + name("hostmaster.example.org") + struct.pack(
        "!IIIII", 2026120301, 7200, 3600, 1209600, 300)
    message = dns_header(9, 0x8183, 1, 0, 1, 0) + name("nope.example.org") + struct.pack(
        "!HH", A, 1)
    message += rr(b"\xc0\x11", SOA, 300, soa)  # example.org inside the question's name
    yield "reply-nxdomain", message


def packets():
    a, b = "192.0.2.2", "192.0.2.10"
    yield "ipv4-tcp-syn", ipv4(6, a, b, tcp_syn(lambda n: pseudo4(a, b, 6, n), 40000, 443))
    dns = dict(dns_messages())["query-a"]
    yield "ipv4-udp-dns", ipv4(17, a, "198.51.100.53",
                               udp(lambda n: pseudo4(a, "198.51.100.53", 17, n), 53000, 53, dns))
    yield "ipv4-icmp-echo", ipv4(1, a, b, icmp_echo(8))
    yield "ipv4-options-udp", ipv4(17, a, b, udp(lambda n: pseudo4(a, b, 17, n), 5000, 5001,
                                                 b"hi"), options=b"\x94\x04\x00\x00")  # router alert
    yield "ipv4-fragment", ipv4(17, a, b, b"\0" * 16, frag=0x0003)  # offset 24 bytes: no ports
    c, d = "2001:db8::1", "2001:db8::2"
    yield "ipv6-tcp-syn", ipv6(6, c, d, tcp_syn(lambda n: pseudo6(c, d, 6, n), 40001, 22))
    yield "ipv6-udp", ipv6(17, c, d, udp(lambda n: pseudo6(c, d, 17, n), 5353, 5353, b"x" * 12))
    yield "ipv6-icmp-echo", ipv6(58, c, d, icmp_echo(128, lambda n: pseudo6(c, d, 58, n)))
    # Hop-by-hop (router alert, padded), destination options, a first fragment, then UDP.
    body = udp(lambda n: pseudo6(c, d, 17, n), 4000, 4001, b"chain")
    fragment = struct.pack("!BBHI", 17, 0, 0x0001, 0xCAFE)  # offset 0, more fragments
    dstopts = struct.pack("!BB", 44, 0) + b"\x01\x04\x00\x00\x00\x00"
    hopopts = struct.pack("!BB", 60, 0) + b"\x05\x02\x00\x00\x01\x00"
    yield "ipv6-extensions-udp", ipv6(0, c, d, hopopts + dstopts + fragment + body)
    yield "ipv6-no-next-header", ipv6(59, c, d, b"")


def write(target: str, seeds):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    for stem, data in seeds:
        (directory / stem).write_bytes(data.encode() if isinstance(data, str) else data)


def policy_seeds():
    config = (TOP / "etc/warden/warden.toml").read_text()
    profiles = sorted((TOP / "etc/warden/profiles.d").glob("*.toml"))
    separator = "\n#%%\n"
    yield "shipped-config", config
    yield "shipped-all", separator.join([config] + [p.read_text() for p in profiles])
    for p in profiles:
        yield f"shipped-{p.stem}", config + separator + p.read_text()
    yield "every-key", EVERY_KEY


# Every key of warden.toml and of a profile (SPEC sections 2 and 3), several profiles in one
# file, and a second file.
EVERY_KEY = r"""[engine]
mode = "learn"
default = "reject"
unknown = "allow"
kernel = "deny"
fail = "closed"
queues = [4, 5, 6]
inbound = false
dns = false
invalid = "accept"
mark_mask = 0x0f000000
queue_maxlen = 1024

[attribution]
ebpf = false
cgroup = "/sys/fs/cgroup"
flow_entries = 4096

[log]
db = "/var/lib/warden/warden.db"
retention_days = 7
allowed = false

[profiles]
dir = "profiles.d"

[control]
socket = "/run/warden/control.sock"

[[rule]]
action = "deny"
direction = "in"
proto = "icmp"
ip = ["198.51.100.0/24", "2001:db8::/32"]
comment = "global"
#%%
[[profile]]
name = "curl"
description = "every match key"
default = "deny"
[[profile.match]]
path = "/usr/bin/curl"
sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
cmdline = "--proxy\\s"
env = { SNAP_NAME = "firefox", DISPLAY = "*" }
tags = ["flatpak:org.mozilla.firefox", "systemd:cron.service"]
user = "alice"
parent_path = "/usr/bin/bash"
ancestor_path = "/usr/sbin/cron"
[[profile.match]]
path_glob = "/opt/*/bin/[a-c]?url"
uid = 1000
[[profile.rule]]
action = "allow"
direction = "out"
proto = "tcp"
ip = ["192.0.2.10", "2001:db8::/32"]
ports = [443, "8000-8100"]
host = "*.example.org"
scope = "internet"
log = false
comment = "why this rule exists"
[[profile.rule]]
action = "reject"
scope = "lan"

[[profile]]
name = "ssh"
[[profile.match]]
path = "/usr/bin/ssh"
[[profile.rule]]
action = "allow"
proto = "udp"
ports = 53
host = "example.net"
#%%
name = "second-file"
[[match]]
path = "/usr/bin/wget"
[[rule]]
action = "allow"
scope = "localhost"
"""


def control_seeds():
    yield "status", '{"version":1,"command":"status"}\n'
    yield "explain", '{"version":1,"command":"explain","pid":4242}\n'
    yield "reload", '{"version":1,"command":"reload"}\n'
    yield "reload-redecide", '{"command":"reload","redecide":true,"version":1}\n'
    yield "wrong-version", '{"version":2,"command":"status"}\n'
    yield "unknown-command", '{"version":1,"command":"shutdown"}\n{"version":1}\n'
    yield "not-json", "status\n"


def since_seeds():
    for i, text in enumerate(["90s", "30m", "1h", "2d", "1w", "1h30m", "2026-05-01",
                              "2026-05-01T12:00", "2026-05-01 12:00:00.5",
                              "2026-05-01T12:00:00Z", "2026-05-01T12:00+02:00",
                              "2026-03-29T02:30:00,25-05:30"]):
        yield f"since-{i:02d}", text


if __name__ == "__main__":
    write("packet", packets())
    write("dns", dns_messages())
    write("policy", policy_seeds())
    write("control", control_seeds())
    write("since", since_seeds())
