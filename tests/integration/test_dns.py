"""Host names learned from DNS answers (SPEC sections 3, 7 and 9): a real DNS server (dnsmasq)
in the server namespace answers the client's questions; wardend in the client namespace reads
the replies, so that a profile allowing only `host = "*.test.example"` lets the client reach
the addresses those names resolved to, and nothing else, and the log row names the host.
Hostile replies (pointer loops, oversize labels, truncations) are counted, accepted, and teach
nothing. Names are under .example, addresses documentation prefixes; nothing leaves the lab."""
import json
import os
import shutil

import pytest

from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import C4, HERE, PYTHON, S4, S4B, S6, S6B, clients_dir, run

ALLOWED = "files.test.example"  # -> S4B and S6B, allowed by "*.test.example"
ALIAS = "alias.test.example"     # CNAME -> origin.example.net -> S4B: named after the alias
OTHER = "elsewhere.example.net"  # -> S4, a name the profile does not allow
PORT = 7000


def tcp_probe_path():
    return os.path.join(os.path.realpath(clients_dir()), "tcp_probe")


@pytest.fixture
def dns_server(lab):
    """dnsmasq in the server namespace on S4 and S6, port 53, answering from its options only
    (no /etc/hosts, no upstream, no configuration file)."""
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(dnsmasq, os.X_OK):
        pytest.skip("dnsmasq is not installed (scripts/install-deps installs it)")
    if not os.access(os.path.join(clients_dir(), "dns_query"), os.X_OK):
        pytest.fail(f"test client dns_query not built in {clients_dir()}")
    p = lab.s.spawn([dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                     "--no-hosts", "--bind-interfaces", f"--listen-address={S4}",
                     f"--listen-address={S6}", "--port=53", "--pid-file=", "--user=root",
                     f"--host-record={ALLOWED},{S4B},{S6B}",
                     f"--host-record=origin.example.net,{S4B}",
                     f"--cname={ALIAS},origin.example.net",
                     f"--host-record={OTHER},{S4}", "--local-ttl=300"], "dnsmasq")
    # Asked from inside the server namespace, so that the client namespace sees no flow yet.
    answered = wait_until(lambda: query(lab, S4, ALLOWED, ns=lab.s, timeout_ms=300)[0] == "reply",
                          timeout=10)
    if not answered:
        raise RuntimeError(f"dnsmasq did not answer: {p.stderr_text()}")
    return p


def query(lab, server, name, qtype="a", ns=None, timeout_ms=2000, port=53):
    """Asks `server` for `name` with the dns_query client: (outcome, [addresses])."""
    res = (ns or lab.c).run([os.path.join(clients_dir(), "dns_query"), server, name, "--type",
                             qtype, "--port", str(port), "--timeout-ms", str(timeout_ms)],
                            timeout=timeout_ms / 1000 + 5, check=False)
    words = res.stdout.split()
    return (words[0] if words else "no-output"), words[3:]


def host_profile(d):
    """The test client tcp_probe may reach *.test.example and nothing else."""
    path = os.path.join(d.dir, "profiles.d", "10-probe.toml")
    with open(path + ".new", "w") as f:
        f.write(f'''name = "probe"
default = "deny"
[[match]]
path = "{tcp_probe_path()}"
[[rule]]
action = "allow"
host = "*.test.example"
comment = "only the test domain"
''')
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 1, timeout=5), d.stderr()


def log_rows(d):
    res = cli(d, "log", "--json", "--limit", "0")
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def row_to(d, address, port=PORT, timeout=5):
    def found():
        return next((r for r in log_rows(d)
                     if r["remote_addr"] == address and r["remote_port"] == port), None)
    row = wait_until(found, timeout=timeout)
    assert row, f"no log row for {address}:{port}; rows: {log_rows(d)}"
    return row


def prepared(lab, wardend, **engine):
    # Neighbour discovery first, so that no probe below waits on it.
    for server in (S4, S4B, S6, S6B):
        lab.ping(server)
    d = wardend(engine=engine)
    host_profile(d)
    return d


def test_resolved_names_allow_their_addresses_and_name_the_flow(lab, dns_server, wardend):
    d = prepared(lab, wardend)
    # Before any answer the address has no name: the profile's default denies it.
    assert lab.tcp_probe(S4B, PORT, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert row_to(d, S4B)["host"] is None

    assert query(lab, S4, ALLOWED) == ("reply", [S4B])
    assert lab.tcp_probe(S4B, PORT + 1).outcome == "connected"
    row = row_to(d, S4B, PORT + 1)
    assert (row["action"], row["host"], row["profile"], row["decided_by"]) == \
        ("allow", ALLOWED, "probe", "rule"), row

    # A name the profile does not allow is known, shown, and denied.
    assert query(lab, S4, OTHER) == ("reply", [S4])
    assert lab.tcp_probe(S4, PORT + 2, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    denied = row_to(d, S4, PORT + 2)
    assert (denied["action"], denied["host"], denied["decided_by"]) == \
        ("deny", OTHER, "profile-default"), denied

    # `warden log` shows the host column.
    table = cli(d, "log").stdout.splitlines()
    line = next(l for l in table if f"{S4B}:{PORT + 1}" in l)
    assert f" {ALLOWED} " in line, table

    status = d.status()
    assert status["totals"]["dns_replies"] >= 2, status
    assert status["totals"]["dns_answers"] >= 2, status
    assert status["totals"]["dns_malformed"] == 0, status
    assert status["dns"]["enabled"] is True and status["dns"]["hosts"] >= 2, status
    assert status["totals"]["packets"] == status["totals"]["allow"] + \
        status["totals"]["deny"] + status["totals"]["reject"], "DNS replies are not decided"
    text = cli(d, "status").stdout
    assert "dns " in text and "malformed" in text, text


def test_aaaa_answers_over_ipv6(lab, dns_server, wardend):
    d = prepared(lab, wardend)
    assert query(lab, S6, ALLOWED, qtype="aaaa") == ("reply", [S6B])
    assert lab.tcp_probe(S6B, PORT).outcome == "connected"
    row = row_to(d, S6B)
    assert (row["action"], row["host"]) == ("allow", ALLOWED), row
    # Only the address that was resolved: its IPv4 sibling was not asked for.
    assert lab.tcp_probe(S4B, PORT, timeout_ms=DROP_WAIT_MS).outcome == "timeout"


def test_cname_answers_name_the_address_after_the_question(lab, dns_server, wardend):
    d = prepared(lab, wardend)
    outcome, addresses = query(lab, S4, ALIAS)
    assert outcome == "reply" and S4B in addresses, addresses
    assert lab.tcp_probe(S4B, PORT).outcome == "connected"
    assert row_to(d, S4B)["host"] == ALIAS


def test_answers_through_a_local_stub_resolver_over_loopback(lab, dns_server, wardend):
    """A caching forwarder on 127.0.0.1 in the client namespace (as systemd-resolved or a local
    dnsmasq would be): the application's answer arrives over loopback."""
    stub = lab.c.spawn([shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--no-daemon",
                        "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                        "--bind-interfaces", "--listen-address=127.0.0.1", "--port=53",
                        "--pid-file=", "--user=root", f"--server={S4}"], "stub-dnsmasq")
    d = prepared(lab, wardend)
    assert wait_until(lambda: query(lab, "127.0.0.1", ALLOWED, timeout_ms=300)[0] == "reply",
                      timeout=10), stub.stderr_text()
    assert lab.tcp_probe(S4B, PORT).outcome == "connected"
    assert row_to(d, S4B)["host"] == ALLOWED


def test_hostile_replies_are_counted_accepted_and_teach_nothing(lab, dns_server, wardend):
    hostile = lab.s.spawn([PYTHON, os.path.join(HERE, "servers", "hostile_dns.py"),
                           "--address", S4B], "hostile-dns", lines=True)
    assert hostile.wait_line(lambda t: t == "ready", timeout=10), hostile.stderr_text()
    d = prepared(lab, wardend)
    kinds = ["loop", "pingpong", "forward", "label", "long", "cut", "mixed"]
    for kind in kinds:
        outcome, _ = query(lab, S4B, f"{kind}.test.example")
        assert outcome == "reply", f"the {kind} reply was not passed on"
    assert d.alive(), d.stderr()

    def all_counted():
        status = d.status()
        return status if status["totals"]["dns_malformed"] >= len(kinds) else None
    status = wait_until(all_counted, timeout=5)
    assert status, d.status()
    assert status["totals"]["dns_answers"] == 0, status
    # "mixed" held a good answer for 198.51.100.2 next to a loop: none of it was believed.
    assert lab.tcp_probe(S4B, PORT, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert row_to(d, S4B)["host"] is None
    # And the daemon still learns from the good server.
    assert query(lab, S4, ALLOWED) == ("reply", [S4B])
    assert lab.tcp_probe(S4B, PORT + 1).outcome == "connected"


def test_replies_nobody_asked_for_teach_nothing(lab, dns_server, wardend):
    """Issue 11, bypass 6: the server a program may reach answers its query, then sends more
    replies to the same port from the same address and port: one with another id and another
    question, one with the query's id and another question, and the query's answer once more
    with another address. Only the first answers a query the flow sent; the forged name must
    not reach 198.51.100.2, whose flows the profile's host rule would then allow."""
    hostile = lab.s.spawn([PYTHON, os.path.join(HERE, "servers", "hostile_dns.py"),
                           "--address", S4B], "hostile-dns", lines=True)
    assert hostile.wait_line(lambda t: t == "ready", timeout=10), hostile.stderr_text()
    d = prepared(lab, wardend)
    assert query(lab, S4B, "forge.test.example") == ("reply", [S4])
    # Every reply read (old code: learned) before the probe asks for the forged address.
    status = wait_until(lambda: (lambda s: s if s["totals"]["dns_replies"] >= 4 else None)(
        d.status()), timeout=5)
    assert status, d.status()
    assert lab.tcp_probe(S4B, PORT, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    row = row_to(d, S4B)
    assert (row["action"], row["host"], row["decided_by"]) == \
        ("deny", None, "profile-default"), row
    # The genuine answer was learned, and the others counted.
    assert lab.tcp_probe(S4, PORT).outcome == "connected"
    assert row_to(d, S4)["host"] == "forge.test.example"
    status = d.status()
    assert status["totals"]["dns_unsolicited"] == 3, status
    assert status["totals"]["dns_answers"] == 1, status
    assert status["totals"]["dns_malformed"] == 0, status
    assert "3 unsolicited" in cli(d, "status").stdout


def test_every_query_of_a_flow_is_answered(lab, dns_server, wardend):
    """A stub resolver asks for A and then AAAA on one socket (glibc does): the second query
    travels on a flow already accepted, and its answer teaches its name all the same."""
    d = prepared(lab, wardend)
    script = ("import socket,struct,sys\n"
              "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)\n"
              f"s.connect(('{S4}',53))\n"
              "name=b''.join(bytes([len(l)])+l for l in sys.argv[1].encode().split(b'.'))+b'\\0'\n"
              "for i,t in enumerate((1,28)):\n"
              "  s.send(struct.pack('!HHHHHH',0x3000+i,0x0100,1,0,0,0)+name+struct.pack('!HH',t,1))\n"
              "  r=s.recv(4096); print('reply',t,len(r),flush=True)\n")
    res = lab.c.run([PYTHON, "-c", script, ALLOWED], timeout=10, check=False)
    assert [line.split()[:2] for line in res.stdout.splitlines()] == \
        [["reply", "1"], ["reply", "28"]], res
    assert lab.tcp_probe(S6B, PORT).outcome == "connected"
    assert row_to(d, S6B)["host"] == ALLOWED
    status = d.status()
    assert status["totals"]["dns_queries"] >= 2, status
    assert status["totals"]["dns_unsolicited"] == 0, status


def test_a_new_flow_from_port_53_is_decided_not_waved_through(lab, dns_server, wardend):
    """Only replies of accepted flows are read as DNS: a datagram from port 53 that starts a
    flow is decided like any other (here: denied by an inbound rule)."""
    lab.start_echo(lab.c, ports=(7005,), tag="echo-client-ns")
    d = wardend(engine={"inbound": True},
                rules=[{"action": "deny", "direction": "in", "proto": "udp", "ports": 7005}])
    script = ("import socket,sys\n"
              "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              f"s.bind(('{S4B}',53)); s.settimeout(1.5)\n"
              f"s.sendto(b'not dns',('{C4}',7005))\n"
              "try:\n  s.recv(100); print('echoed')\n"
              "except socket.timeout:\n  print('timeout')\n")
    res = lab.s.run([PYTHON, "-c", script], timeout=10, check=False)
    assert res.stdout.strip() == "timeout", res
    row = row_to(d, S4B, port=53)
    assert (row["direction"], row["action"]) == ("in", "deny"), row
    assert d.status()["totals"]["dns_replies"] == 0


def test_dns_off_learns_no_names(lab, dns_server, wardend):
    d = prepared(lab, wardend, dns=False)
    assert d.status()["dns"]["enabled"] is False
    assert query(lab, S4, ALLOWED) == ("reply", [S4B])
    assert lab.tcp_probe(S4B, PORT, timeout_ms=DROP_WAIT_MS).outcome == "timeout"
    assert row_to(d, S4B)["host"] is None
    assert d.status()["totals"]["dns_replies"] == 0


def test_redecide_keeps_a_flow_its_host_name_allows(lab, dns_server, wardend):
    # Decided again after `reload --redecide`, a flow still carries the name DNS gave its
    # address: the host rule that allowed it allows it again, and it is not cut.
    d = prepared(lab, wardend)
    session_exe = os.path.join(os.path.realpath(clients_dir()), "tcp_session")
    path = os.path.join(d.dir, "profiles.d", "20-session.toml")
    with open(path, "w") as f:
        f.write(f'name = "session"\ndefault = "deny"\n[[match]]\npath = "{session_exe}"\n'
                '[[rule]]\naction = "allow"\nhost = "*.test.example"\n')
    os.chmod(path, 0o644)
    assert wait_until(lambda: d.status()["policy"]["profiles"] == 2, timeout=5), d.stderr()
    assert query(lab, S4, ALLOWED) == ("reply", [S4B])
    session = lab.tcp_session(S4B, PORT)
    assert session.wait_line(lambda l: l.startswith("ok "), timeout=5), session.stdout_text()
    res = cli(d, "reload", "--redecide", "--json")
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout)["redecide"]
    assert counts["revoked"] == 0 and counts["kept"] >= 1, counts
    seen = len(session.lines)
    assert wait_until(lambda: len(session.lines) >= seen + 5, timeout=5), session.stdout_text()
    assert not any(t.startswith("fail") for _, t in session.lines), session.stdout_text()
    session.kill()
