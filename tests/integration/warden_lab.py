"""The network lab of the integration tests: two throwaway network namespaces joined by veth,
the processes started in them, and the client programs run against them.

  client namespace "c"  (wardend runs here)          server namespace "s"
     192.0.2.1/24   198.51.100.1/24   <-- veth -->      192.0.2.2/24   198.51.100.2/24
     2001:db8::1/64 2001:db8:1::1/64                    2001:db8::2/64 2001:db8:1::2/64

Only documentation prefixes are used (RFC 5737 / RFC 3849). Everything made here is owned by a
Lab and removed by Lab.close(), which the fixtures call even when a test fails; names carry the
pytest process id (wt<pid>x<n>c / ...s) so a later run can sweep what a killed run left behind.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from warden_sanitizer import check_output

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PYTHON = "/usr/bin/python3"

C4, S4 = "192.0.2.1", "192.0.2.2"
C4B, S4B = "198.51.100.1", "198.51.100.2"
C6, S6 = "2001:db8::1", "2001:db8::2"
C6B, S6B = "2001:db8:1::1", "2001:db8:1::2"

# Reachable by route but owned by nobody: packets to them vanish, so a probe times out.
BLACKHOLE4, BLACKHOLE6 = "192.0.2.99", "2001:db8::99"
# Routed through the server namespace, which answers "administratively prohibited".
PROHIBITED4, PROHIBITED6 = "198.51.100.200", "2001:db8:1::200"

# Echo server ports (TCP and UDP) in the server namespace, and the HTTP server's port.
ECHO_PORTS = (7000, 7001, 7002)
CLOSED_PORT = 7999  # nothing listens here
HTTP_PORT = 8080
HTTP_BODY = b"warden integration test\n"

NS_RE = re.compile(r"^wt(\d+)x\d+[cs]$")
TMP_RE = re.compile(r"^wt(\d+)x\d+-")

_counter = 0
_counter_lock = threading.Lock()


def next_id():
    global _counter
    with _counter_lock:
        _counter += 1
        return f"wt{os.getpid()}x{_counter}"


def build_dir():
    return os.environ.get("WARDEN_BUILD_DIR", os.path.join(REPO, "build"))


def clients_dir():
    # Resolved: tests compare a client's path with what wardend read from /proc, which has no
    # ".." in it.
    return os.path.realpath(os.environ.get(
        "WARDEN_CLIENTS_DIR", os.path.join(build_dir(), "tests", "integration", "clients")))


def wardend_path():
    return os.environ.get("WARDEND", os.path.join(build_dir(), "engine", "wardend"))


def run(cmd, timeout=10, check=True, **kw):
    """Runs a command to completion with a bound on its time; output captured as text."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    check_output(" ".join(cmd), res.stderr, res.returncode)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.strip()}")
    return res


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers():
    """Removes namespaces and temp dirs of earlier runs whose pytest process is gone."""
    res = run(["ip", "netns", "list"], check=False)
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NS_RE.match(name)
        if not m or pid_alive(int(m.group(1))):
            continue
        pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "del", name], check=False)
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        m = TMP_RE.match(entry)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)


class Proc:
    """A background process in its own process group; output goes to files, never a pipe that
    could fill up, except when lines=True, where a reader thread collects stdout lines with the
    monotonic time each arrived."""

    def __init__(self, cmd, workdir, tag, lines=False, stdin=False):
        self.cmd = cmd
        self.tag = tag
        self.stderr_path = os.path.join(workdir, f"{tag}.stderr")
        self.stdout_path = os.path.join(workdir, f"{tag}.stdout")
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = None if lines else open(self.stdout_path, "wb")
        self.lines = []  # (monotonic seconds, text)
        self._cond = threading.Condition()
        self.popen = subprocess.Popen(
            cmd, stdout=subprocess.PIPE if lines else self._stdout, stderr=self._stderr,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, start_new_session=True)
        self._reader = None
        if lines:
            self._reader = threading.Thread(target=self._read_lines, daemon=True)
            self._reader.start()

    def _read_lines(self):
        for raw in self.popen.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def wait_line(self, pred, timeout):
        """Returns the first collected line satisfying pred, or None after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, text in self.lines:
                    if pred(text):
                        return text
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.1))

    def stdout_text(self):
        if self._stdout is None:
            with self._cond:
                return "\n".join(t for _, t in self.lines)
        with open(self.stdout_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout):
        """Exit code, or None if still running after timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """Kills the whole process group and reaps the leader. Idempotent."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self._reader:
            self._reader.join(timeout=2)
        for f in (self._stderr, self._stdout):
            if f:
                f.close()


@dataclass
class ProbeResult:
    outcome: str
    elapsed_ms: float
    returncode: int
    stdout: str
    stderr: str
    replies: int = 0
    count: int = 0
    extra: dict = field(default_factory=dict)

    def __str__(self):
        return (f"{self.outcome} ({self.elapsed_ms:.0f} ms, rc {self.returncode}, "
                f"stdout {self.stdout.strip()!r}, stderr {self.stderr.strip()!r})")


class Netns:
    def __init__(self, name, lab):
        self.name = name
        self.lab = lab

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout=10, check=True):
        return run(self.cmd(argv), timeout=timeout, check=check)

    def spawn(self, argv, tag, **kw):
        return self.lab.spawn(self.cmd(argv), tag, **kw)


class Lab:
    """Two namespaces, c (client, where wardend runs) and s (server), and what runs in them."""

    def __init__(self):
        base = next_id()
        self.id = base
        self.tmp = tempfile.mkdtemp(prefix=f"{base}-")
        self.procs = []
        self.c = Netns(base + "c", self)
        self.s = Netns(base + "s", self)
        self._made = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # ---- construction ------------------------------------------------------------------
    def _build(self):
        for ns in (self.c, self.s):
            run(["ip", "netns", "add", ns.name])
            self._made.append(ns.name)
            ns.run(["ip", "link", "set", "lo", "up"])
        run(["ip", "link", "add", "wtc0", "netns", self.c.name, "type", "veth",
             "peer", "name", "wts0", "netns", self.s.name])
        for ns, dev, addrs in ((self.c, "wtc0", (C4, C4B, C6, C6B)),
                               (self.s, "wts0", (S4, S4B, S6, S6B))):
            for a in addrs:
                if ":" in a:
                    ns.run(["ip", "-6", "addr", "add", f"{a}/64", "dev", dev, "nodad"])
                else:
                    ns.run(["ip", "addr", "add", f"{a}/24", "dev", dev])
            ns.run(["ip", "link", "set", dev, "up"])
        # Blackhole: a neighbour entry with a MAC address nobody has.
        self.c.run(["ip", "neigh", "add", BLACKHOLE4, "lladdr", "02:00:00:00:00:99",
                    "dev", "wtc0", "nud", "permanent"])
        self.c.run(["ip", "-6", "neigh", "add", BLACKHOLE6, "lladdr", "02:00:00:00:00:99",
                    "dev", "wtc0", "nud", "permanent"])
        # Prohibited: routed via s, which forwards and has a "prohibit" route for it.
        self.c.run(["ip", "route", "add", f"{PROHIBITED4}/32", "via", S4])
        self.c.run(["ip", "-6", "route", "add", f"{PROHIBITED6}/128", "via", S6])
        self.s.run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
        self.s.run(["ip", "route", "add", "prohibit", f"{PROHIBITED4}/32"])
        self.s.run(["ip", "-6", "route", "add", "prohibit", f"{PROHIBITED6}/128"])

    def spawn(self, cmd, tag, **kw):
        p = Proc(cmd, self.tmp, tag, **kw)
        self.procs.append(p)
        return p

    def start_echo(self, ns, ports=ECHO_PORTS, tag=None):
        """Starts the TCP+UDP echo server in ns and waits until it is bound."""
        p = ns.spawn([PYTHON, os.path.join(HERE, "servers", "echo_server.py"),
                      "--ports", ",".join(str(x) for x in ports)],
                     tag or f"echo-{ns.name}", lines=True)
        if p.wait_line(lambda t: t == "ready", timeout=10) is None:
            raise RuntimeError(f"echo server did not start: {p.stderr_text()}")
        return p

    def start_http(self, ns=None, port=HTTP_PORT):
        ns = ns or self.s
        root = os.path.join(self.tmp, "www")
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(HTTP_BODY)
        p = ns.spawn([PYTHON, "-m", "http.server", "--bind", "::", "--directory", root,
                      str(port)], f"http-{ns.name}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # Probed from inside ns over loopback: creates no conntrack entry in c.
            if self.tcp_probe("::1", port, ns=ns, timeout_ms=500).outcome == "connected":
                return p
            if not p.alive():
                break
            time.sleep(0.05)
        raise RuntimeError(f"http server did not start: {p.stderr_text()}")

    def close(self):
        """Kills and removes everything; then fails if a program it ran in the background
        left a sanitizer report (wardend's own exit is checked by the fixture that ran it)."""
        reports = []
        for p in reversed(self.procs):
            p.kill()
            try:
                check_output(p.tag, p.stderr_text())
            except AssertionError as e:
                reports.append(str(e))
        for name in reversed(self._made):
            pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", name], check=False)
        self._made = []
        shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            raise AssertionError("\n".join(reports))

    # ---- clients -------------------------------------------------------------------------
    def _client(self, name):
        path = os.path.join(clients_dir(), name)
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"client {path} is not built (set WARDEN_CLIENTS_DIR)")
        return path

    def _probe(self, ns, argv, limit_s):
        res = (ns or self.c).run(argv, timeout=limit_s, check=False)
        words = res.stdout.split()
        out = ProbeResult(outcome=words[0] if words else "no-output", elapsed_ms=0.0,
                          returncode=res.returncode, stdout=res.stdout, stderr=res.stderr)
        return out, words

    def tcp_probe(self, host, port, ns=None, timeout_ms=1500, source_port=None):
        argv = [self._client("tcp_probe"), host, str(port), "--timeout-ms", str(timeout_ms)]
        if source_port:
            argv += ["--source-port", str(source_port)]
        out, words = self._probe(ns, argv, timeout_ms / 1000 + 5)
        if len(words) >= 2:
            out.elapsed_ms = float(words[1])
        return out

    def udp_probe(self, host, port, ns=None, timeout_ms=1500, count=1, connect=False,
                  ipv6_ext=None):
        argv = [self._client("udp_probe"), host, str(port), "--timeout-ms", str(timeout_ms),
                "--count", str(count)]
        if connect:
            argv.append("--connect")
        if ipv6_ext:
            argv += ["--ipv6-ext", ipv6_ext]
        out, words = self._probe(ns, argv, timeout_ms / 1000 * count + 10)
        if len(words) >= 3:
            out.replies, out.count = (int(x) for x in words[1].split("/"))
            out.elapsed_ms = float(words[2])
        for w in words[3:]:
            k, _, v = w.partition("=")
            out.extra[k] = v
        return out

    def tcp_exchange(self, host, port, count, ns=None, timeout_ms=2000):
        """One TCP connection, COUNT echo round trips; outcome 'done' when all worked."""
        argv = [self._client("tcp_session"), host, str(port), "--count", str(count),
                "--timeout-ms", str(timeout_ms)]
        res = (ns or self.c).run(argv, timeout=timeout_ms / 1000 * 2 + count * 0.05 + 10,
                                 check=False)
        lines = res.stdout.splitlines()
        last = lines[-1].split() if lines else ["no-output"]
        out = ProbeResult(outcome=last[0], elapsed_ms=float(last[-1]) if len(last) > 1 else 0,
                          returncode=res.returncode, stdout=res.stdout, stderr=res.stderr)
        if last[0] == "done":
            out.replies, out.count = (int(x) for x in last[1].split("/"))
        return out

    def tcp_session(self, host, port, ns=None, interval_ms=100, timeout_ms=2000, tag=None):
        """Starts a long-lived TCP session exchanging a message every INTERVAL ms, reporting
        each exchange ("ok <seq> <ms>" / "fail ..."); waits until it is connected."""
        ns = ns or self.c
        p = ns.spawn([self._client("tcp_session"), host, str(port), "--count", "0",
                      "--interval-ms", str(interval_ms), "--timeout-ms", str(timeout_ms),
                      "--each"], tag or f"session-{len(self.procs)}", lines=True)
        first = p.wait_line(lambda t: True, timeout=timeout_ms / 1000 + 5)
        if first is None or not first.startswith("connected"):
            raise AssertionError(f"tcp_session to {host}:{port} did not connect: {first!r} "
                                 f"{p.stderr_text()}")
        return p

    def ping(self, host, ns=None, timeout_s=2):
        """One echo request; outcome reply / timeout / error (an ICMP error came back)."""
        start = time.monotonic()
        res = (ns or self.c).run(["ping", "-n", "-c", "1", "-W", str(timeout_s), host],
                                 timeout=timeout_s + 5, check=False)
        elapsed = (time.monotonic() - start) * 1000
        if res.returncode == 0:
            outcome = "reply"
        elif "not permitted" in res.stderr:
            outcome = "blocked"  # sendmsg EPERM: netfilter refused it synchronously
        elif re.search(r"\+\d+ errors", res.stdout) or "prohibited" in res.stdout.lower() \
                or "filtered" in res.stdout.lower() or "unreachable" in res.stdout.lower():
            outcome = "error"  # an ICMP error came back
        elif res.returncode == 1:
            outcome = "timeout"
        else:
            outcome = "failed"
        return ProbeResult(outcome=outcome, elapsed_ms=elapsed, returncode=res.returncode,
                           stdout=res.stdout, stderr=res.stderr)

    def curl(self, host, port=HTTP_PORT, path="/hello.txt", ns=None, timeout_s=3):
        h = f"[{host}]" if ":" in host else host
        start = time.monotonic()
        res = (ns or self.c).run(["curl", "-sS", "-g", "--max-time", str(timeout_s),
                                  f"http://{h}:{port}{path}"], timeout=timeout_s + 5, check=False)
        elapsed = (time.monotonic() - start) * 1000
        outcome = {0: "ok", 7: "refused", 28: "timeout"}.get(res.returncode, "failed")
        return ProbeResult(outcome=outcome, elapsed_ms=elapsed, returncode=res.returncode,
                           stdout=res.stdout, stderr=res.stderr)
