"""Fixtures of the integration tier: a fresh lab (two network namespaces joined by veth, with
echo servers) per test, wardend started inside it, and cleanup that runs even when a test fails
or is interrupted. A session-level sweep removes what a killed earlier run left behind."""
import os
import signal

import pytest

from warden_daemon import Daemon
from warden_lab import Lab, clients_dir, sweep_leftovers, wardend_path
from warden_sanitizer import SANITIZE, check_output


def _root_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables, NFQUEUE)"
    if not os.path.isdir("/run/netns") and not os.access("/run", os.W_OK):
        return "cannot create network namespaces here"
    return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # SIGTERM (and a SIGINT that a non-interactive shell set to "ignore" for a background job)
    # become KeyboardInterrupt, so pytest still runs every fixture finalizer: namespaces,
    # processes and temp dirs go away also when a run is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


@pytest.fixture(scope="session", autouse=True)
def _sweep():
    if _root_reason() is None:
        sweep_leftovers()
    yield


@pytest.fixture
def root():
    reason = _root_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def bare_lab(root):
    """Namespaces and links only, nothing running."""
    for tool in ("tcp_probe", "udp_probe", "tcp_session"):
        if not os.access(os.path.join(clients_dir(), tool), os.X_OK):
            pytest.fail(f"test client {tool} not built in {clients_dir()}")
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def lab(bare_lab):
    """The lab with the TCP+UDP echo server running in the server namespace."""
    bare_lab.start_echo(bare_lab.s)
    return bare_lab


@pytest.fixture
def http(lab):
    return lab.start_http()


@pytest.fixture
def wardend(lab, request):
    """Factory: wardend(**config) writes a warden.toml and starts the daemon in lab.c, waiting for
    its ready line. Every daemon is killed at teardown (with the lab) and its stderr is attached
    to the report of a failing test."""
    if not os.access(wardend_path(), os.X_OK):
        pytest.fail(f"wardend not built at {wardend_path()} (set WARDEND)")
    made = []
    request.node.warden_daemons = made

    def start(tag="wardend", wait_ready=True, env=None, launcher=None, **config):
        d = Daemon(lab, tag=f"{tag}{len(made) or ''}", **config)
        made.append(d)
        return d.start(wait_ready=wait_ready, env=env, launcher=launcher)

    yield start
    _check_daemons(made)


def _check_daemons(daemons):
    """At teardown: each daemon's stderr must hold no sanitizer report. In a sanitizer build a
    daemon still running is stopped as systemd would (SIGTERM), so that LeakSanitizer runs at its
    exit and a report printed then is seen too, and its exit status must not be the sanitizers'."""
    problems = []
    for d in daemons:
        if d.proc is None:
            continue
        alive = d.alive()  # polls: an exit not yet reaped gets its code
        code = d.proc.popen.returncode
        if SANITIZE and alive:
            code = d.terminate(timeout=60)
            if code is None:
                problems.append(f"{d.tag} did not exit within 60 s of SIGTERM:\n{d.stderr()}")
                continue
        try:
            check_output(d.tag, d.stderr(), code)
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for d in getattr(item, "warden_daemons", []):
            report.sections.append((f"{d.tag} stderr", d.stderr() or "(empty)"))
