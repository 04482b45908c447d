"""`script:<path>` names a file of the host (SPEC section 5): two ways a user's mount namespace
made another file look like the trusted script, found by an attack review.

- An absolute symbolic link. In its own namespace nobody mounts a tmpfs over the trusted
  script's directory and makes the script's path a link to /tmp/A/t/job.sh, a path that on the
  host leads (through a link nobody made in /tmp) to the trusted directory, and in its
  namespace to a tmpfs of its own with its script. wardend checked the path through
  /proc/PID/root, where an absolute link restarts from wardend's own root: the host's file,
  and the tag was given. It is now resolved with the process's root as "/".
- A relative name in a covered working directory. nobody binds its directory over the trusted
  one, enters it, and binds the trusted one back on top: /proc/PID/cwd reads as the trusted
  directory's name, and that name + job.sh is the host's trusted file, but bash opens job.sh
  in the directory it is in. The name is now checked to lead to that directory.
- A subshell forked after a `cd` (no namespace at all): nobody runs `bash job.sh` in its own
  directory, and its job.sh does `cd` into the trusted directory and connects from a subshell.
  Described from /proc on its flow's request (its fork event not read yet), the subshell has
  bash's argv and the trusted directory as its working directory: job.sh there is the trusted
  script. A relative name now counts only in the directory the exec left the process in,
  which the eBPF programs record at the exec (and pass on at a fork).

Both run as nobody in a user namespace of its own; the trusted script connects to the echo
port, the attacker's to a port nothing listens on (refused at once: let through; a timeout:
dropped). The controls show the trusted script's profile allows and the other script is
dropped.
"""
import os
import shutil

import pytest

from test_attribution import (NOBODY, _reachable_by_everyone, _userns_allowed, cgroup,  # noqa: F401
                              in_cgroup, logged_rows, profiled)
from warden_cli import cli
from warden_lab import S4

needs_userns = pytest.mark.skipif(not _userns_allowed(),
                                  reason="unprivileged user namespaces are not allowed here")

BASH = "/usr/bin/bash"


def _scripts(lab, port):
    """trusted/job.sh (to the echo port 7000) and evil/job.sh (to `port`)."""
    paths = {}
    for name, to in (("trusted", 7000), ("evil", port)):
        path = os.path.join(lab.tmp, "bin", name, "job.sh")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"echo {name} running\n"
                    f"exec 3<>/dev/tcp/{S4}/{to} && echo {name} connected\n")
        os.chmod(path, 0o644)
        paths[name] = path
    _reachable_by_everyone(lab, *paths.values())
    return paths


def _profiled(lab, wardend, cgroup, scripts):
    d = profiled(lab, wardend, cgroup,
                 {"trusted": ("allow", {"path": BASH, "tags": [f"script:{scripts['trusted']}"]})},
                 default="deny")
    ok = lab.c.run(in_cgroup(cgroup, NOBODY + ["timeout", "4", BASH, scripts["trusted"]]),
                   timeout=30, check=False)
    assert "trusted connected" in ok.stdout, (ok.stdout, ok.stderr)
    other = lab.c.run(in_cgroup(cgroup, NOBODY + ["timeout", "4", BASH, scripts["evil"]]),
                      timeout=30, check=False)
    assert other.returncode == 124 and "refused" not in other.stderr, \
        (other.returncode, other.stdout, other.stderr)
    return d


def _assert_dropped(d, res, port):
    assert "evil running" in res.stdout, ("the attack did not run", res.stdout, res.stderr)
    assert "refused" not in res.stderr, \
        ("BYPASS: the attacker's script had the trusted script's tag", res.stdout, res.stderr)
    rows = logged_rows(d, {port})
    assert rows, cli(d, "log", "--json", "--limit", "0").stdout
    assert {(r["profile"], r["action"]) for r in rows if r["remote_port"] == port} == \
        {(None, "deny")}, rows


ABSOLUTE_LINK = r'''
set -e
trusted=$1; evil=$2; alias=$3
mkdir "$alias"; ln -s "$(dirname "$trusted")" "$alias/t"
exec unshare -Urm sh -c '
  set -e; trusted=$1; evil=$2; alias=$3
  mount -t tmpfs none "$alias"; mkdir "$alias/t"; cp "$evil" "$alias/t/job.sh"
  mount -t tmpfs none "$(dirname "$trusted")"; ln -s "$alias/t/job.sh" "$trusted"
  exec timeout 4 /usr/bin/bash "$trusted"
' sh "$trusted" "$evil" "$alias"
'''


@needs_userns
def test_an_absolute_link_in_the_processs_namespace_is_resolved_there(lab, cgroup, wardend):
    scripts = _scripts(lab, 7101)
    d = _profiled(lab, wardend, cgroup, scripts)
    alias = os.path.join("/tmp", f"{lab.id}-alias")
    try:
        res = lab.c.run(in_cgroup(cgroup, NOBODY + ["sh", "-c", ABSOLUTE_LINK, "sh",
                                                    scripts["trusted"], scripts["evil"], alias]),
                        timeout=30, check=False)
        _assert_dropped(d, res, 7101)
    finally:
        shutil.rmtree(alias, ignore_errors=True)


COVERED_CWD = r'''
set -e; trusted_dir=$1; evil_dir=$2
mount -t tmpfs none /mnt; mkdir /mnt/orig; mount --bind "$trusted_dir" /mnt/orig
mount --bind "$evil_dir" "$trusted_dir"; cd "$trusted_dir"; mount --bind /mnt/orig "$trusted_dir"
exec timeout 4 /usr/bin/bash job.sh
'''


@needs_userns
def test_a_relative_script_name_in_a_covered_working_directory(lab, cgroup, wardend):
    scripts = _scripts(lab, 7102)
    d = _profiled(lab, wardend, cgroup, scripts)
    res = lab.c.run(in_cgroup(cgroup, NOBODY + ["unshare", "-Urm", "sh", "-c", COVERED_CWD, "sh",
                                                os.path.dirname(scripts["trusted"]),
                                                os.path.dirname(scripts["evil"])]),
                    timeout=30, check=False)
    _assert_dropped(d, res, 7102)


SUBSHELL_AFTER_CD = """echo evil running
cd {trusted_dir}
( exec 3<>/dev/tcp/{host}/{port} && echo evil connected )
"""


def test_a_subshell_forked_after_a_cd_into_the_trusted_directory_is_not_its_script(
        lab, cgroup, wardend):
    """Run four times: the subshell is described from /proc only when its flow's request is
    served before its fork event is read (two runs in three on the build before the fix)."""
    scripts = _scripts(lab, 7105)
    d = _profiled(lab, wardend, cgroup, scripts)
    home = os.path.join(lab.tmp, "home-nobody")
    os.makedirs(home)
    job = os.path.join(home, "job.sh")
    with open(job, "w") as f:
        f.write(SUBSHELL_AFTER_CD.format(trusted_dir=os.path.dirname(scripts["trusted"]),
                                         host=S4, port=7105))
    os.chmod(job, 0o644)
    _reachable_by_everyone(lab, job)
    for attempt in range(4):
        res = lab.c.run(in_cgroup(cgroup, NOBODY + ["sh", "-c",
                                                    f"cd {home} && exec timeout 4 {BASH} job.sh"]),
                        timeout=30, check=False)
        _assert_dropped(d, res, 7105)
