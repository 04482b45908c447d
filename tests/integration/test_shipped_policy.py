"""Installing warden must not cut the machine off: wardend with the shipped policy (the files of
etc/warden as the package installs them, with the system paths moved into the test's folder)
keeps ssh in both directions, DNS and ping working on its first start, and still enforces the
shipped profiles. The client namespace plays the machine: a real sshd listens on port 22 there; the
server namespace plays the rest of the world (192.0.2.0/24 is "internet" scope, as an
administrator's address is for a rented server): a real sshd, a real DNS server (dnsmasq) and a
web server on port 80. The eBPF hooks attach to the test's cgroup (the shipped `cgroup = "auto"`
would attach them to the host's root cgroup): the machine's own pings are sent from there, the
rest of its programs are attributed through sock_diag."""
import json
import os
import shutil

import pytest

from test_attribution import cgroup, in_cgroup  # noqa: F401 (cgroup: a fixture)
from warden_cli import _cli_built, cli  # noqa: F401 (_cli_built: a fixture)
from warden_daemon import Daemon
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import C4, C6, REPO, S4, S6, clients_dir, run

SHIPPED = os.path.join(REPO, "etc", "warden")
SSHD = "/usr/sbin/sshd"
SSH_SERVER_NAME = "ssh-server.test"
WEB_NAME = "www.test"


def shipped_config(d, cg):
    """The shipped warden.toml with its database, socket and profile paths in d's folder (the
    package points them at /var/lib/warden, /run/warden and /etc/warden/profiles.d), its eBPF
    hooks on the test's cgroup `cg`, and the shipped profiles copied beside it."""
    with open(os.path.join(SHIPPED, "warden.toml")) as f:
        text = f.read()
    for old, new in (('"../../var/warden.db"', f'"{d.dir}/warden.db"'),
                     ('"../../var/control.sock"', f'"{d.socket_path}"'),
                     ('dir = "profiles.d"', f'dir = "{d.dir}/profiles.d"'),
                     ('cgroup = "auto"', f'cgroup = "{cg}"')):
        assert old in text, f"the shipped warden.toml no longer holds {old}"
        text = text.replace(old, new)
    for name in sorted(os.listdir(os.path.join(SHIPPED, "profiles.d"))):
        shutil.copy(os.path.join(SHIPPED, "profiles.d", name), os.path.join(d.dir, "profiles.d"))
    d.write_config(text=text)


def start_sshd(lab, ns, tag):
    """A real OpenSSH server in ns on port 22 (IPv4 and IPv6), its own host key and config."""
    home = os.path.join(lab.tmp, tag)
    os.makedirs(home)
    key = os.path.join(home, "host_key")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    config = os.path.join(home, "sshd_config")
    with open(config, "w") as f:
        f.write(f"Port 22\nListenAddress 0.0.0.0\nListenAddress ::\nHostKey {key}\n"
                "PidFile none\nUsePAM no\nPasswordAuthentication no\nUseDNS no\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation directory
    p = ns.spawn([SSHD, "-D", "-e", "-f", config], tag)
    listening = wait_until(lambda: ":22 " in ns.run(["ss", "-Hltn"]).stdout or not p.alive(),
                           timeout=10)
    if not listening or not p.alive():
        raise RuntimeError(f"sshd did not start in {ns.name}: {p.stderr_text()}")
    return p


@pytest.fixture
def world(lab):
    """sshd in both namespaces, dnsmasq and a web server on port 80 in s, and s's resolver
    as the client namespace's /etc/resolv.conf (ip netns exec mounts /etc/netns/NAME/*)."""
    for tool in (SSHD, shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed (scripts/install-deps installs it)")
    netns_etc = os.path.join("/etc/netns", lab.c.name)
    os.makedirs(netns_etc)
    try:
        with open(os.path.join(netns_etc, "resolv.conf"), "w") as f:
            f.write(f"nameserver {S4}\noptions timeout:2 attempts:1\n")
        start_sshd(lab, lab.c, "sshd-c")
        start_sshd(lab, lab.s, "sshd-s")
        lab.s.spawn([shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--no-daemon",
                     "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
                     f"--listen-address={S4}", "--port=53", "--pid-file=", "--user=root",
                     f"--host-record={SSH_SERVER_NAME},{S4}", f"--host-record={WEB_NAME},{S4}"],
                    "dnsmasq")
        lab.start_http(port=80)
        # Asked from inside s, so that the client namespace sees no flow yet.
        query = [os.path.join(clients_dir(), "dns_query"), S4, WEB_NAME, "--timeout-ms", "300"]
        answered = wait_until(
            lambda: lab.s.run(query, check=False).stdout.startswith("reply"), timeout=10)
        if not answered:
            raise RuntimeError("dnsmasq did not answer")
        yield lab
    finally:
        shutil.rmtree(netns_etc, ignore_errors=True)


def logged(d, profile, action, direction):
    """Rows of the verdict log decided by PROFILE with ACTION in DIRECTION."""
    res = cli(d, "log", "--json", *(["--profile", profile] if profile else []), "--limit", "50")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return [r for r in rows if r.get("action") == action and r.get("direction") == direction]


def test_first_start_keeps_ssh_and_dns_and_enforces_the_profiles(world, cgroup, wardend,
                                                                  request):
    lab = world
    d = Daemon(lab, tag="shipped")
    request.node.warden_daemons.append(d)  # checked at teardown like the fixture's own
    shipped_config(d, cgroup)
    checked = d.check()
    assert checked.returncode == 0, checked.stderr
    d.start()

    # Inbound ssh from an internet address, IPv4 and IPv6: the server's key exchange answers.
    for address in (C4, C6):
        scan = lab.s.run(["ssh-keyscan", "-T", "5", "-t", "ed25519", address], timeout=15,
                         check=False)
        assert "ssh-ed25519" in scan.stdout, \
            f"inbound ssh to {address} did not get through: {scan.stderr.strip()}"
    assert wait_until(lambda: logged(d, "sshd", "allow", "in"), timeout=5), \
        "no inbound flow decided by the sshd profile"

    # Outbound ssh by name: DNS from the ssh client, then the connection; authentication is
    # refused (no key), which needs the whole key exchange to have worked.
    res = lab.c.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                     "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                     f"nobody@{SSH_SERVER_NAME}", "true"], timeout=20, check=False)
    assert "Permission denied" in res.stderr, f"outbound ssh failed: {res.stderr.strip()}"
    assert logged(d, "ssh", "allow", "out"), "no outbound flow decided by the ssh profile"

    # DNS for a program no profile names, and for one whose profile denies by default.
    res = lab.c.run(["getent", "ahostsv4", WEB_NAME], timeout=10, check=False)
    assert S4 in res.stdout, f"getent could not resolve {WEB_NAME}: {res.stderr.strip()}"
    web = lab.c.run(["curl", "-sS", "--max-time", "5", f"http://{WEB_NAME}/hello.txt"],
                    timeout=15, check=False)
    assert web.returncode == 0, f"curl http://{WEB_NAME}/ failed: {web.stderr.strip()}"

    # ICMP: a program's pings are its own (ping has no profile: the engine default allows
    # them), and the machine answers pings (the kernel's flow: a global rule allows it).
    for address in (S4, S6):
        res = lab.c.run(in_cgroup(cgroup, ["ping", "-n", "-c", "1", "-W", "2", address]),
                        timeout=10, check=False)
        assert res.returncode == 0, f"ping {address} from the machine: {res.stdout}"
    assert wait_until(lambda: any(r["protocol"].startswith("icmp") and r["pid"]
                                  for r in logged(d, "", "allow", "out")), timeout=5), \
        "no row of ping's own flow"
    for address in (C4, C6):
        assert lab.ping(address, ns=lab.s).outcome == "reply", f"ping of the machine {address}"

    # The shipped profiles are in force: curl may not reach port 7000.
    blocked = lab.curl(S4, port=7000, timeout_s=DROP_WAIT_MS / 1000 + 1)
    assert blocked.outcome != "ok", "curl reached port 7000 against its profile"
    assert wait_until(lambda: logged(d, "curl", "deny", "out"), timeout=5), \
        "curl's denied flow is not in the log"
