"""Running the real wardend inside a lab's client namespace: writing its warden.toml, waiting
for "ready", talking to its control socket, stopping or killing it, and looking at its table."""
import json
import os
import signal
import socket
import time

from warden_lab import run, wardend_path

READY_PREFIX = "wardend: info: ready"


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string for our contents
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def render_config(tmp, engine=None, rules=(), attribution=None, log=None, extra=""):
    """warden.toml text with every path inside tmp. engine/attribution/log override defaults;
    rules is a list of dicts, one [[rule]] each, keys in the given order."""
    eng = {"mode": "enforce", "default": "allow", "unknown": "allow", "kernel": "allow",
           "fail": "open", "queues": [0, 1], "inbound": False}
    eng.update(engine or {})
    att = {"ebpf": False}
    att.update(attribution or {})
    lg = {"db": os.path.join(tmp, "warden.db")}
    lg.update(log or {})
    sections = [("engine", eng), ("attribution", att), ("log", lg),
                ("profiles", {"dir": os.path.join(tmp, "profiles.d")}),
                ("control", {"socket": os.path.join(tmp, "control.sock")})]
    out = []
    for name, table in sections:
        out.append(f"[{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in table.items()]
        out.append("")
    for rule in rules:
        out.append("[[rule]]")
        out += [f"{k} = {toml_value(v)}" for k, v in rule.items()]
        out.append("")
    out.append(extra)
    return "\n".join(out)


class ControlError(Exception):
    pass


class Daemon:
    """One wardend process in lab.c. Construct with Lab.start_daemon (conftest) or directly."""

    def __init__(self, lab, tag="wardend", **config):
        self.lab = lab
        self.tag = tag
        self.dir = os.path.join(lab.tmp, tag)
        os.makedirs(os.path.join(self.dir, "profiles.d"), exist_ok=True)
        self.config_path = os.path.join(self.dir, "warden.toml")
        self.socket_path = os.path.join(self.dir, "control.sock")
        self.proc = None
        self.write_config(**config)

    def write_config(self, text=None, **config):
        if text is None:
            text = render_config(self.dir, **config)
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.config_path)  # a reload never sees a half-written file

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self, wait_ready=True, timeout=10, env=None, launcher=None):
        """env: variables to add to wardend's environment. launcher: an argv prefix that runs
        wardend where it belongs instead of `ip netns exec` into lab.c (a namespace of its own
        entered with nsenter); killed with the lab like every process it spawns."""
        prefix = ["env"] + [f"{k}={v}" for k, v in env.items()] if env else []
        argv = prefix + [wardend_path(), "--config", self.config_path]
        if launcher:
            self.proc = self.lab.spawn(list(launcher) + argv, self.tag)
        else:
            self.proc = self.lab.c.spawn(argv, self.tag)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(l.startswith(READY_PREFIX) for l in self.stderr().splitlines()):
                return
            if not self.proc.alive():
                raise AssertionError(f"wardend exited {self.proc.popen.returncode} before ready:"
                                     f"\n{self.stderr()}")
            time.sleep(0.02)
        raise AssertionError(f"wardend not ready after {timeout}s:\n{self.stderr()}")

    def stderr(self):
        return self.proc.stderr_text() if self.proc else ""

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def terminate(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig and returns the exit code (None if it did not exit in time)."""
        self.proc.signal(sig)
        return self.proc.wait(timeout)

    def kill9(self):
        """SIGKILL, as a crash: nothing is cleaned up by the daemon."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)

    def hup(self):
        self.proc.signal(signal.SIGHUP)

    # ---- the control socket --------------------------------------------------------------
    def request(self, command, timeout=5, **fields):
        msg = {"version": 1, "command": command}
        msg.update(fields)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket_path)
            s.sendall(json.dumps(msg).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        if not buf.strip():
            raise ControlError(f"no answer to {command}")
        return json.loads(buf)

    def status(self):
        answer = self.request("status")
        if not answer.get("ok"):
            raise ControlError(f"status refused: {answer}")
        return answer["status"]

    def packets(self):
        return self.status()["totals"]["packets"]

    # ---- the offline commands --------------------------------------------------------------
    def check(self, path=None):
        return run([wardend_path(), "--check", "--config", path or self.config_path],
                   timeout=10, check=False)

    def cleanup(self):
        return self.lab.c.run([wardend_path(), "--cleanup", "--config", self.config_path],
                              timeout=10, check=False)


def warden_tables(ns):
    """Lines 'table inet warden' (etc.) of `nft list tables` in ns: inspection only."""
    res = ns.run(["nft", "list", "tables"], timeout=10)
    return [l.strip() for l in res.stdout.splitlines() if l.strip().endswith(" warden")]
