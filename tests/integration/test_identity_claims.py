"""What an unprivileged user can claim of a program's identity, and must not be believed
(SPEC 5): application tags from the environment (FLATPAK_ID, SNAP_NAME, APPIMAGE+APPDIR) or
from a cgroup the user names in the subtree systemd hands to their manager, and a parent_path
lent by a parent that forks the user's program and then execs the trusted one. Each test runs
a control (the same program without the trick is refused) and fails when the trick works.
"""
import json
import os
import shutil

import pytest

from test_attribution import (NOBODY, _kill_and_remove, _reachable_by_everyone, attributing,
                              cgroup, in_cgroup, install, logged_rows, write_profiles)
from warden_cli import cli
from warden_expect import wait_until
from warden_lab import REPO, S4

assert cgroup  # the fixture, imported for pytest

FIREFOX_TAG = "flatpak:org.mozilla.firefox"


def _probe_as_nobody(lab, cg, argv, env=()):
    """argv run as nobody inside cg, with the extra environment variables env."""
    cmd = NOBODY + ["env"] + list(env) + list(argv)
    res = lab.c.run(in_cgroup(cg, cmd), timeout=30, check=False)
    return res.stdout.split()[:1], res


def _tool(lab, name="tool"):
    path = install(lab._client("tcp_probe"), os.path.join(lab.tmp, "bin", "user", name))
    _reachable_by_everyone(lab, path)
    return path


# The shipped policy (etc/warden/profiles.d/10-browser.toml) gives the firefox profile to
# "tags = ["flatpak:org.mozilla.firefox"]" and to "tags = ["snap:firefox"]", with the comment
# "the tag comes from the sandbox's cgroup". engine/attribution/tags.cpp also takes them from
# the process's own environment (FLATPAK_ID, SNAP_NAME, APPIMAGE+APPDIR).
ENV_TAGS = [
    pytest.param(["FLATPAK_ID=org.mozilla.firefox"], FIREFOX_TAG, id="flatpak"),
    pytest.param(["SNAP_NAME=firefox"], "snap:firefox", id="snap"),
    pytest.param(["APPIMAGE=/opt/Trusted.AppImage", "APPDIR=/nowhere"],
                 "appimage:/opt/Trusted.AppImage", id="appimage"),
]


@pytest.mark.parametrize("env,tag", ENV_TAGS)
def test_application_tag_from_the_callers_environment(lab, cgroup, wardend, env, tag):
    tool = _tool(lab)
    write_profiles(lab, {"trusted-app": ("allow", {"tags": [tag]})})
    d = attributing(lab, wardend, cgroup, default="deny")

    # Control: the user's own program gets no profile, the engine default denies it.
    out, res = _probe_as_nobody(lab, cgroup, [tool, S4, "7000", "--timeout-ms", "1500"])
    assert out == ["timeout"], (res.stdout, res.stderr)

    # Attack: the same program started with the application's variable in its environment.
    out, res = _probe_as_nobody(lab, cgroup, [tool, S4, "7001", "--timeout-ms", "1500"], env)
    logged = logged_rows(d, {7000, 7001}) or []
    rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged]
    assert out != ["connected"], (f"{tool} (uid 65534) with {env} got tag {tag}: connected; "
                                  f"log {rows}")
    assert all(r["profile"] != "trusted-app" for r in logged), rows


def _rmtree_cgroup(path):
    """Removes a cgroup subtree bottom-up, killing what runs in it."""
    if not os.path.isdir(path):
        return
    for entry in os.listdir(path):
        child = os.path.join(path, entry)
        if os.path.isdir(child):
            _rmtree_cgroup(child)
    _kill_and_remove(path)


HEX = "ab" * 32
CGROUP_TAGS = [
    pytest.param("app-flatpak-org.mozilla.firefox-4242.scope", FIREFOX_TAG, id="flatpak"),
    pytest.param("snap.firefox.firefox-4242.scope", "snap:firefox", id="snap"),
    pytest.param("systemd-resolved.service", "systemd:systemd-resolved.service", id="systemd"),
    pytest.param(f"docker-{HEX}.scope", f"container:{HEX}", id="container"),
]


@pytest.mark.parametrize("name,tag", CGROUP_TAGS)
def test_application_tag_from_a_cgroup_the_user_names(lab, cgroup, wardend, name, tag):
    """systemd delegates each user's manager cgroup (user@UID.service) to that user, who may
    create children of any name there (systemd-run --user --scope --unit=NAME does it for
    them). The lab makes such a delegated cgroup, chowned to nobody as systemd does."""
    tool = _tool(lab)
    delegated = os.path.join(cgroup, "user@65534.service")
    os.mkdir(delegated)
    try:
        for f in ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
            os.chown(os.path.join(delegated, f), 65534, 65534)
        write_profiles(lab, {"trusted-app": ("allow", {"tags": [tag]})})
        d = attributing(lab, wardend, cgroup, default="deny")

        out, res = _probe_as_nobody(lab, delegated, [tool, S4, "7000", "--timeout-ms", "1500"])
        assert out == ["timeout"], (res.stdout, res.stderr)

        attack = ('mkdir "$0/$1" && echo $$ > "$0/$1/cgroup.procs" || exit 98; '
                  'shift; exec "$@"')
        out, res = _probe_as_nobody(lab, delegated, ["sh", "-c", attack, delegated, name,
                                                     tool, S4, "7001", "--timeout-ms", "1500"])
        assert res.returncode != 98, res.stderr
        logged = logged_rows(d, {7000, 7001}) or []
        rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged]
        assert out != ["connected"], (f"nobody in its own cgroup {name} got tag {tag}: "
                                      f"connected; log {rows}")
        assert all(r["profile"] != "trusted-app" for r in logged), rows
    finally:
        _rmtree_cgroup(delegated)


def test_shipped_firefox_profile_by_environment(lab, cgroup, wardend):
    """The shipped 10-browser.toml as it is, with engine default = "deny": a program of
    nobody's own (no profile) may not reach port 443; started with FLATPAK_ID it is "firefox"."""
    tool = _tool(lab, "not-firefox")
    lab.start_echo(lab.s, ports=(443,), tag="echo-443")
    directory = os.path.join(lab.tmp, "wardend", "profiles.d")
    os.makedirs(directory, exist_ok=True)
    shutil.copyfile(os.path.join(REPO, "etc", "warden", "profiles.d", "10-browser.toml"),
                    os.path.join(directory, "10-browser.toml"))
    d = attributing(lab, wardend, cgroup, default="deny")

    out, res = _probe_as_nobody(lab, cgroup, [tool, S4, "443", "--timeout-ms", "1500"])
    assert out == ["timeout"], (res.stdout, res.stderr)
    out, res = _probe_as_nobody(lab, cgroup, [tool, S4, "443", "--timeout-ms", "1500"],
                                ["FLATPAK_ID=org.mozilla.firefox"])
    def both():
        found = [json.loads(line) for line in cli(d, "log", "--json", "--limit", "0").stdout
                 .splitlines()]
        return found if len(found) >= 2 else None
    logged = wait_until(both, timeout=5) or []
    rows = [(r["remote_port"], r["profile"], r["action"], r.get("exe") or r.get("executable")) for r in logged]
    assert out != ["connected"], f"{tool} reached {S4}:443 as firefox; log {rows}"
    assert all(r["profile"] != "firefox" for r in logged), rows


# PR_SET_CHILD_SUBREAPER (36): no privilege needed, and kept across exec.
SUBREAPER = ("import ctypes, os, sys; ctypes.CDLL(None).prctl(36, 1, 0, 0, 0); "
             "os.execvp(sys.argv[1], sys.argv[1:])")


@pytest.mark.parametrize("subreaper", [pytest.param(False, id="parent"),
                                       pytest.param(True, id="subreaper-parent")])
def test_parent_path_given_by_a_parent_that_execs_after_the_fork(lab, cgroup, wardend,
                                                                 subreaper):
    """parent_path: "the executable of the direct parent (curl run by this shell)". nobody's
    shell forks the user's own program and then execs the trusted launcher in its place: the
    launcher never started anything, yet the child's parent now runs it. With `subreaper`
    the shell first made itself a subreaper: the kernel then cannot tell its children from
    ones it adopted, so their records do not say which of its images forked them."""
    tool = _tool(lab)
    launcher = install(shutil.which("sleep"), os.path.join(lab.tmp, "bin", "trusted",
                                                           "launcher"))
    _reachable_by_everyone(lab, launcher)
    write_profiles(lab, {"via-launcher": ("allow", {"parent_path": launcher})})
    d = attributing(lab, wardend, cgroup, default="deny")

    out, res = _probe_as_nobody(lab, cgroup, ["sh", "-c", 'exec "$0" "$@"', tool, S4, "7000",
                                              "--timeout-ms", "1500"])
    assert out == ["timeout"], (res.stdout, res.stderr)
    prefix = ["python3", "-c", SUBREAPER] if subreaper else []
    out, res = _probe_as_nobody(lab, cgroup, prefix + ["sh", "-c", 'sh -c "$0" & exec "$1" 3',
                                                       f'sleep 0.5; exec {tool} {S4} 7001 '
                                                       '--timeout-ms 1500', launcher])
    logged = logged_rows(d, {7000, 7001}) or []
    rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged]
    assert out != ["connected"], f"reached {S4}:7001 as via-launcher; log {rows}"
    assert all(r["profile"] != "via-launcher" for r in logged), rows
