"""Running the real `warden` command-line tool against a test's wardend."""
import os

import pytest

from warden_lab import build_dir, run


def warden_cli():
    return os.environ.get("WARDEN_CLI", os.path.join(build_dir(), "cli", "warden"))


@pytest.fixture(autouse=True)
def _cli_built():
    """Imported by a test module, fails each of its tests at once if `warden` is not built."""
    if not os.access(warden_cli(), os.X_OK):
        pytest.fail(f"warden not built at {warden_cli()} (set WARDEN_CLI)")


def cli(d, *args, as_nobody=False, timeout=20):
    """Runs `warden ARGS --config <d's warden.toml>` on the host (the control socket and the
    database are files, reachable from any namespace)."""
    cmd = [warden_cli(), *args, "--config", d.config_path]
    if as_nobody:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + cmd
    return run(cmd, timeout=timeout, check=False)
