"""What an unprivileged local user (uid 65534, group 65534) can do to the files wardend trusts
-- policy files and their directories, the database, the control socket, the drafts of
`warden suggest` -- when an administrator left one of the directories on their way writable
by the user's group, or made a symbolic link into the user's reach (SPEC section 9: a policy
that anyone but root can change is refused). Each attack is performed for real; the tests of
the attacks failed on the code before the checks of every directory on the way
(base/trusted_path.h), and the controls show the protections that held already.
"""
import hashlib
import json
import os
import stat
import struct
import time

import pytest

from test_attribution import logged_rows
from warden_cli import warden_cli
from warden_daemon import Daemon, render_config
from warden_expect import wait_until
from warden_lab import PYTHON, S4, clients_dir

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
PORT = 7000


def probe_path():
    return os.path.join(clients_dir(), "tcp_probe")


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


DENY_PROBE = """name = "probe"
default = "reject"
[[match]]
path = "{path}"
[[rule]]
action = "reject"
proto = "tcp"
ports = {port}
"""


def as_nobody(lab, argv, timeout=20):
    return lab.c.run(NOBODY + list(argv), timeout=timeout, check=False)


def nobody_py(lab, code, *args, timeout=20):
    return as_nobody(lab, [PYTHON, "-c", code] + [str(a) for a in args], timeout=timeout)


def probe(lab, program=None, user=True, port=PORT, timeout_ms=1200):
    argv = [program or probe_path(), S4, str(port), "--timeout-ms", str(timeout_ms)]
    res = as_nobody(lab, argv) if user else lab.c.run(argv, timeout=20, check=False)
    words = res.stdout.split()
    return words[0] if words else f"no-output rc={res.returncode} {res.stderr!r}"


def start(lab, profiles_dir=None, db=None, engine=None, tag="wardend"):
    """wardend in lab.c with profiles.d and the database where the test says."""
    d = Daemon(lab, tag=tag)
    text = render_config(d.dir, engine=engine or {"default": "allow"})
    if profiles_dir:
        text = text.replace(json.dumps(os.path.join(d.dir, "profiles.d")), json.dumps(profiles_dir))
    if db:
        text = text.replace(json.dumps(os.path.join(d.dir, "warden.db")), json.dumps(db))
    d.write_config(text=text)
    d.start()
    return d


def wait_revision(d, above, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = d.status()["policy"]
        if p["revision"] > above:
            return p
        time.sleep(0.05)
    return d.status()["policy"]


def write_root_file(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, 0, 0)
    os.chmod(path, mode)


@pytest.fixture
def open_lab(lab):
    """The lab's temporary directory traversable by nobody (mkdtemp makes it 0700)."""
    os.chmod(lab.tmp, 0o755)
    return lab


# ---------------------------------------------------------------------------------------------
# 1. The parent of profiles.d writable by the user's group: swap the directory for a symlink.
# ---------------------------------------------------------------------------------------------

SWAP = r"""
import ctypes, os, sys
parent = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
link = os.path.join(parent, "swap")
try:
    os.symlink("/", link)      # any root-owned 0755 directory without *.toml files
except OSError as e:
    print("symlink", e.errno); sys.exit(0)
r = libc.renameat2(-100, link.encode(), -100, os.path.join(parent, "profiles.d").encode(), 2)
print("exchanged" if r == 0 else f"renameat2 {ctypes.get_errno()}")
"""


def _profiles_under(lab, parent_mode):
    parent = os.path.join(lab.tmp, "policy")
    os.mkdir(parent)
    os.chown(parent, 0, 65534)
    os.chmod(parent, parent_mode)
    profiles = os.path.join(parent, "profiles.d")
    os.mkdir(profiles)
    os.chmod(profiles, 0o755)
    write_root_file(os.path.join(profiles, "10-probe.toml"),
                    DENY_PROBE.format(path=probe_path(), port=PORT))
    return parent, profiles


def _undo_swap(parent):
    link = os.path.join(parent, "profiles.d")
    if os.path.islink(link):
        os.unlink(link)
        if os.path.isdir(os.path.join(parent, "swap")):
            os.rename(os.path.join(parent, "swap"), link)


def test_a_profiles_dir_whose_parent_others_can_write_is_refused(open_lab):
    """profiles.d is root's and 0755, its file root's and 0644, but its parent was made
    writable by group 65534 while wardend ran. nobody exchanges profiles.d with a symlink to "/"
    (RENAME_EXCHANGE; the move reloads at once): "/" is root's and 0755 and holds no *.toml,
    so the profile that refused nobody's flows was gone. Now the reload is refused for the
    parent and the running policy stays."""
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    try:
        d = start(lab, profiles_dir=profiles)
        assert d.status()["policy"]["profiles"] == 1
        assert probe(lab) == "refused"  # the profile refuses nobody's tcp_probe
        before = d.status()["policy"]["revision"]
        os.chmod(parent, 0o775)
        out = nobody_py(lab, SWAP, parent)
        assert "exchanged" in out.stdout, (out.stdout, out.stderr)
        assert wait_until(lambda: "writable by group or others" in d.stderr(), timeout=5), \
            d.stderr()[-2000:]
        after = d.status()["policy"]
        result = probe(lab)
        assert result != "connected" and after["revision"] == before, (
            f"nobody replaced profiles.d through its group-writable parent: policy now "
            f"{after}, denied flow {result}\n{d.stderr()[-2000:]}")
        assert f"{parent} is writable by group or others" in d.stderr()
        res = d.check()
        assert res.returncode != 0 and "on a path others can change" in res.stdout + res.stderr
    finally:
        _undo_swap(parent)


def test_a_config_whose_directory_others_can_write_is_refused(open_lab):
    """warden.toml is root's and 0600, but its directory was made writable by group 65534. An
    older root-owned config sits beside it (warden.toml.bak, mode = "learn"); nobody renames it
    over warden.toml and the config directory's watch reloads: every flow was accepted. Now
    the reload is refused and the running policy stays."""
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    d = Daemon(lab)
    text = render_config(d.dir, engine={"default": "allow"}).replace(
        json.dumps(os.path.join(d.dir, "profiles.d")), json.dumps(profiles))
    d.write_config(text=text)
    write_root_file(os.path.join(d.dir, "warden.toml.bak"),
                    text.replace('mode = "enforce"', 'mode = "learn"'), 0o600)
    d.start()
    assert probe(lab) == "refused"
    before = d.status()["policy"]["revision"]
    os.chown(d.dir, 0, 65534)
    os.chmod(d.dir, 0o775)
    out = as_nobody(lab, ["mv", os.path.join(d.dir, "warden.toml.bak"), d.config_path])
    assert out.returncode == 0, out.stderr
    assert wait_until(lambda: "refusing policy file" in d.stderr(), timeout=5), d.stderr()[-2000:]
    result = probe(lab)
    assert result != "connected", (f"nobody renamed a root-owned learn-mode config over "
                                   f"warden.toml: denied flow {result}; {d.status()['mode']}")
    assert d.status()["policy"]["revision"] == before
    assert f"{d.dir} is writable by group or others" in d.stderr()


def test_control_parent_not_writable_the_swap_is_refused(open_lab):
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    try:
        d = start(lab, profiles_dir=profiles)
        out = nobody_py(lab, SWAP, parent)
        assert "exchanged" not in out.stdout and "13" in out.stdout, out.stdout
        assert d.status()["policy"]["profiles"] == 1
        assert probe(lab) == "refused"
    finally:
        _undo_swap(parent)


def test_control_group_writable_profiles_dir_is_refused(open_lab):
    """profiles.d itself group-writable: wardend refuses to start on it (SPEC 9)."""
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    os.chown(profiles, 0, 65534)
    os.chmod(profiles, 0o775)
    d = Daemon(lab)
    text = render_config(d.dir).replace(json.dumps(os.path.join(d.dir, "profiles.d")),
                                        json.dumps(profiles))
    d.write_config(text=text)
    res = d.check()
    assert res.returncode != 0 and "refusing policy directory" in (res.stdout + res.stderr), res


def _acl_user_write(path, uid):
    """setfacl -m u:UID:rw PATH without setfacl: the system.posix_acl_access xattr."""
    undef = 0xFFFFFFFF
    entries = [(0x01, 6, undef), (0x02, 6, uid), (0x04, 4, undef), (0x10, 6, undef),
               (0x20, 4, undef)]
    blob = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    os.setxattr(path, "system.posix_acl_access", blob)


def test_control_acl_granting_write_on_a_root_0644_profile_is_refused(open_lab):
    """An ACL entry giving nobody write on a root-owned 0644 profile: the mask shows as group
    write in st_mode, so PolicyFile::open refuses the file; nobody can write it, but the policy
    with it is refused (the running one stays)."""
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    d = start(lab, profiles_dir=profiles)
    before = d.status()["policy"]["revision"]
    f = os.path.join(profiles, "10-probe.toml")
    _acl_user_write(f, 65534)
    assert os.stat(f).st_mode & stat.S_IWGRP
    # nobody appends a rule that allows everything first
    out = nobody_py(lab, "import sys; t=open(sys.argv[1]).read(); open(sys.argv[1],'w').write("
                         "t.replace('action = \"reject\"','action = \"allow\"'))", f)
    assert out.returncode == 0, out.stderr
    time.sleep(1.0)
    d.hup()
    time.sleep(0.5)
    assert "refusing policy file" in d.stderr(), d.stderr()[-2000:]
    assert d.status()["policy"]["revision"] == before
    assert probe(lab) == "refused"


def test_control_symlink_in_profiles_dir_to_a_user_file_is_refused(open_lab):
    """A root-made symlink in profiles.d to a file nobody owns: the target's owner is checked."""
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    udir = os.path.join(lab.tmp, "u")
    os.mkdir(udir)
    os.chown(udir, 65534, 65534)
    target = os.path.join(udir, "mine.toml")
    with open(target, "w") as f:
        f.write('name = "mine"\n[[match]]\npath = "/x"\n')
    os.chown(target, 65534, 65534)
    os.symlink(target, os.path.join(profiles, "20-mine.toml"))
    d = Daemon(lab)
    d.write_config(text=render_config(d.dir).replace(
        json.dumps(os.path.join(d.dir, "profiles.d")), json.dumps(profiles)))
    res = d.check()
    assert res.returncode != 0 and "owned by uid 65534" in (res.stdout + res.stderr), res


# ---------------------------------------------------------------------------------------------
# 2. The database in a directory the user's group may write (a pre-existing state directory).
# ---------------------------------------------------------------------------------------------

POISON = r"""
import os, sqlite3, sys, time
db, exe, digest = sys.argv[1:4]
st = os.stat(exe)
c = sqlite3.connect(db, timeout=5)
c.execute("INSERT OR REPLACE INTO exe_hash (device, inode, size, mtime_ns, ctime_ns, sha256, "
          "seen_at_ns) VALUES (?,?,?,?,?,?,?)",
          (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest,
           time.time_ns()))
c.commit()
print("poisoned", c.execute("SELECT count(*) FROM exe_hash").fetchone()[0])
"""


def _state_dir(lab, mode):
    state = os.path.join(lab.tmp, "state")
    os.mkdir(state)
    os.chown(state, 0, 65534)
    os.chmod(state, mode)
    return state


def _user_copy(lab):
    """nobody's own program: tcp_probe with a byte appended (another sha256)."""
    udir = os.path.join(lab.tmp, "u")
    os.mkdir(udir)
    os.chown(udir, 65534, 65534)
    mine = os.path.join(udir, "probe")
    out = as_nobody(lab, ["sh", "-c", 'cat "$0" > "$1" && printf x >> "$1" && chmod 755 "$1"',
                          probe_path(), mine])
    assert out.returncode == 0, out.stderr
    return mine


PINNED = """name = "trusted"
default = "allow"
[[match]]
sha256 = ["{digest}"]
"""


def _pinned_policy(d):
    write_root_file(os.path.join(d.dir, "profiles.d", "10-trusted.toml"),
                    PINNED.format(digest=sha256_of(probe_path())), 0o600)


def _start_pinned(lab, db):
    d = Daemon(lab)
    _pinned_policy(d)
    text = render_config(d.dir, engine={"default": "reject", "unknown": "reject"}).replace(
        json.dumps(os.path.join(d.dir, "warden.db")), json.dumps(db))
    d.write_config(text=text)
    d.start()
    return d


def test_a_database_in_a_directory_others_can_write_is_not_used(open_lab):
    """The state directory exists, writable by group 65534 (wardend creates it 0700 only when
    missing). nobody creates warden.db before wardend starts; wardend used it as it was, so
    nobody wrote the hash cache (its own program's identity with the sha256 of a pinned
    program, whose profile then applied to nobody's program) and deleted the log rows of its
    refused flows. Now wardend runs without the database, and says why."""
    lab = open_lab
    state = _state_dir(lab, 0o775)
    db = os.path.join(state, "warden.db")
    out = as_nobody(lab, ["touch", db])
    assert out.returncode == 0, out.stderr
    mine = _user_copy(lab)
    d = _start_pinned(lab, db)
    assert probe(lab, user=False) == "connected"  # the pinned program itself is allowed
    out = nobody_py(lab, POISON, db, mine, sha256_of(probe_path()))
    result = probe(lab, program=mine)
    assert result != "connected", (
        f"poisoning said {out.stdout!r} {out.stderr[-300:]!r}; nobody's own program got "
        f"{result} under the profile pinned to another sha256")
    problem = d.status()["log"].get("error", "")
    assert "not opening" in problem and f"{state} is writable by group or others (mode 0775)" in problem, \
        d.status()["log"]
    assert "running without a verdict log" in d.stderr()


def test_control_root_database_cannot_be_poisoned(open_lab):
    """Same policy, the database created by wardend in a directory nobody cannot write: the
    poisoning fails and nobody's program gets the engine default (reject)."""
    lab = open_lab
    state = _state_dir(lab, 0o755)
    db = os.path.join(state, "warden.db")
    mine = _user_copy(lab)
    d = _start_pinned(lab, db)
    out = nobody_py(lab, POISON, db, mine, sha256_of(probe_path()))
    assert "poisoned" not in out.stdout, out.stdout
    assert probe(lab, user=False) == "connected"
    assert probe(lab, program=mine) == "refused"
    assert "error" not in d.status()["log"], d.status()["log"]


def test_control_database_created_private_on_first_start(open_lab):
    """The database's directory exists (0755, root's): keepPrivate() runs before SQLite creates
    the files, but wardend's main() sets umask 0077, so warden.db, -wal and -shm are 0600 from
    the first run and nobody cannot read the verdict log."""
    lab = open_lab
    state = _state_dir(lab, 0o755)
    os.chown(state, 0, 0)
    db = os.path.join(state, "warden.db")
    d = start(lab, db=db)
    assert probe(lab, user=False) == "connected"
    time.sleep(1.5)  # the batching writer
    modes = {s: oct(os.stat(db + s).st_mode & 0o777) for s in ("", "-wal", "-shm")
             if os.path.exists(db + s)}
    out = nobody_py(lab, "import sys; print(len(open(sys.argv[1],'rb').read()) + "
                         "len(open(sys.argv[1]+'-wal','rb').read()))", db)
    assert out.returncode != 0, (f"nobody read the verdict log ({out.stdout.strip()} bytes); "
                                 f"modes {modes}")
    assert d.alive()


# ---------------------------------------------------------------------------------------------
# 2b. A profile symlinked (by root) to a file in a directory nobody controls.
# ---------------------------------------------------------------------------------------------

def test_a_profile_linked_into_a_users_directory_is_refused(open_lab):
    """root links profiles.d/20-app.toml to an application's own file, root's, in a directory
    nobody owns. nobody could replace the file at will: with a FIFO, whose open(2) held the
    control thread for good at the next reload (no status, no reload, no SIGTERM), or with a
    file of its own between wardend's checks. Refused from the start now, for the directory."""
    lab = open_lab
    parent, profiles = _profiles_under(lab, 0o755)
    udir = os.path.join(lab.tmp, "app")
    os.mkdir(udir)
    os.chown(udir, 65534, 65534)
    target = os.path.join(udir, "warden.toml")
    write_root_file(target, 'name = "app"\n[[match]]\npath = "/opt/app/bin/app"\n')
    os.symlink(target, os.path.join(profiles, "20-app.toml"))
    d = Daemon(lab)
    d.write_config(text=render_config(d.dir).replace(
        json.dumps(os.path.join(d.dir, "profiles.d")), json.dumps(profiles)))
    res = d.check()
    assert res.returncode != 0 and f"{udir} is owned by uid 65534" in res.stdout + res.stderr, res


# ---------------------------------------------------------------------------------------------
# 3. The control socket.
# ---------------------------------------------------------------------------------------------

CONNECT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect-errno", e.errno); sys.exit(0)
try:
    s.sendall(json.dumps({"version": 1, "command": sys.argv[2]}).encode() + b"\n")
except OSError as e:  # the refusal may be written and the connection closed first
    print("send-errno", e.errno)
buf = b""
while not buf.endswith(b"\n"):
    try:
        c = s.recv(65536)
    except OSError as e:
        print("recv-errno", e.errno); break
    if not c: break
    buf += c
print("answer", buf.decode(errors="replace").strip()[:300])
"""


def test_control_nobody_cannot_connect_to_the_control_socket(open_lab):
    lab = open_lab
    d = start(lab)
    st = os.stat(d.socket_path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    out = nobody_py(lab, CONNECT, d.socket_path, "reload")
    assert "connect-errno 13" in out.stdout, out.stdout
    # Second layer: even with the socket file opened up, the peer check refuses nobody.
    os.chmod(d.socket_path, 0o666)
    rev = d.status()["policy"]["revision"]
    for command in ("reload", "status", "prompt"):
        out = nobody_py(lab, CONNECT, d.socket_path, command)
        # the refusal, or a connection reset before it was read: never an answer
        assert ("permission denied" in out.stdout or "errno" in out.stdout
                or out.stdout.strip() == "answer"), (command, out.stdout, out.stderr)
        assert '"ok":true' not in out.stdout.replace(" ", ""), out.stdout
    assert d.status()["policy"]["revision"] == rev
    assert d.alive()


def _socket_dir(lab):
    rundir = os.path.join(lab.tmp, "run")
    os.mkdir(rundir)
    os.chown(rundir, 0, 65534)
    os.chmod(rundir, 0o775)
    return rundir, os.path.join(rundir, "control.sock")


def test_a_control_socket_directory_others_can_write_is_refused(open_lab):
    """[control] socket in a directory that group 65534 may write: nobody could unlink
    wardend's socket and bind its own, and answer root's `warden reload` and `warden prompt`
    in wardend's name. wardend now refuses to start there, and says why."""
    lab = open_lab
    rundir, sock = _socket_dir(lab)
    d = Daemon(lab)
    d.write_config(text=render_config(d.dir).replace(json.dumps(d.socket_path), json.dumps(sock)))
    d.socket_path = sock
    with pytest.raises(AssertionError) as refused:
        d.start()
    assert f"{rundir} is writable by group or others (mode 0775)" in str(refused.value), \
        str(refused.value)


IMPOSTOR = (r"import json, os, socket, sys" "\n"
            r"p = sys.argv[1]" "\n"
            r"s = socket.socket(socket.AF_UNIX); s.bind(p); os.chmod(p, 0o666); s.listen(4)" "\n"
            r"print('listening', flush=True)" "\n"
            r"c, _ = s.accept(); c.recv(65536)" "\n"
            r"c.sendall(json.dumps({'ok': True, 'revision': 999, 'reloaded': True, "
            r"'profiles': 0}).encode() + b'\n')" "\n")


def test_warden_believes_no_control_socket_but_roots(open_lab):
    """nobody serves the control socket's name (its directory was left writable by its group,
    before wardend ever started, or while it was away): root's `warden reload` talked to
    nobody's server and reported the reload it answered. It now checks who serves the
    socket (SO_PEERCRED) and refuses any but root."""
    lab = open_lab
    rundir, sock = _socket_dir(lab)
    d = Daemon(lab)
    d.write_config(text=render_config(d.dir).replace(json.dumps(d.socket_path), json.dumps(sock)))
    impostor = lab.c.spawn(NOBODY + [PYTHON, "-c", IMPOSTOR, sock], "impostor", lines=True)
    try:
        line = impostor.wait_line(lambda t: t == "listening", timeout=10)
        assert line, impostor.stderr_text()
        res = lab.c.run([warden_cli(), "reload", "--json", "--config", d.config_path], timeout=10,
                        check=False)
        assert res.returncode != 0 and "999" not in res.stdout, (
            f"root's warden reload believed nobody's server: rc {res.returncode} "
            f"{res.stdout!r} {res.stderr!r}")
        assert f"{sock} is served by uid 65534" in res.stdout + res.stderr, res
    finally:
        impostor.kill()


# ---------------------------------------------------------------------------------------------
# 4. `warden suggest --out DIR` run by root on a path nobody controls.
# ---------------------------------------------------------------------------------------------

def test_suggest_out_refuses_a_users_symlink_and_the_profiles_dir(open_lab):
    """nobody's program is refused (engine default reject); root runs `warden suggest --out
    .../review` to review drafts, on a path where nobody made `review` a symlink to profiles.d.
    The drafts (allowing what nobody did) landed in profiles.d, wardend loaded them on its own,
    and nobody's refused flow passed without any review. Now suggest writes through no symlink
    and never into the policy's directories."""
    lab = open_lab
    d = Daemon(lab)
    d.write_config(text=render_config(d.dir, engine={"default": "reject", "unknown": "reject"}))
    d.start()
    profiles = os.path.join(d.dir, "profiles.d")
    os.chmod(profiles, 0o755)
    mine = _user_copy(lab)
    udir = os.path.dirname(mine)
    assert probe(lab, program=mine) == "refused"
    assert logged_rows(d, {PORT})  # the verdict log's writer has the row
    review = os.path.join(udir, "review")
    out = as_nobody(lab, ["ln", "-s", profiles, review])
    assert out.returncode == 0, out.stderr
    for target, why in ((review, "is a symbolic link"), (profiles, "drafts go elsewhere")):
        res = lab.c.run([warden_cli(), "suggest", "--out", target, "--config", d.config_path],
                        timeout=20, check=False)
        assert res.returncode != 0 and why in res.stdout + res.stderr, res
        assert os.listdir(profiles) == [], os.listdir(profiles)
    assert probe(lab, program=mine) == "refused"
    # Control: a directory of root's own gets the drafts.
    drafts = os.path.join(lab.tmp, "drafts")
    res = lab.c.run([warden_cli(), "suggest", "--out", drafts, "--config", d.config_path],
                    timeout=20, check=False)
    assert res.returncode == 0 and os.listdir(drafts), res


def _suggest_setup(lab):
    d = Daemon(lab)
    d.write_config(text=render_config(d.dir, engine={"default": "reject", "unknown": "reject"}))
    d.start()
    profiles = os.path.join(d.dir, "profiles.d")
    os.chmod(profiles, 0o755)
    mine = _user_copy(lab)
    assert probe(lab, program=mine) == "refused"
    assert logged_rows(d, {7000})
    return d, profiles, os.path.dirname(mine)


def test_suggest_out_with_a_trailing_slash_refuses_a_users_symlink(open_lab):
    """nobody makes `review` a symbolic link to a directory of root's (here one standing for
    any root-owned directory that is not the policy's); root runs `warden suggest --out
    .../review/`. O_NOFOLLOW did not refuse `review/`: the trailing slash makes the kernel
    follow the link, and root's drafts landed where nobody pointed them. Now the directory is
    opened by its last name from its parent."""
    lab = open_lab
    d, profiles, udir = _suggest_setup(lab)
    elsewhere = os.path.join(lab.tmp, "root-only")
    os.mkdir(elsewhere, 0o755)
    review = os.path.join(udir, "review")
    out = as_nobody(lab, ["ln", "-s", elsewhere, review])
    assert out.returncode == 0, out.stderr
    # CONTROL: without the slash, refused.
    res = lab.c.run([warden_cli(), "suggest", "--out", review, "--config", d.config_path],
                    timeout=20, check=False)
    assert res.returncode != 0 and "is a symbolic link" in res.stdout + res.stderr, res
    assert os.listdir(elsewhere) == []
    res = lab.c.run([warden_cli(), "suggest", "--out", review + "/", "--config", d.config_path],
                    timeout=20, check=False)
    written = os.listdir(elsewhere)
    assert res.returncode != 0 and written == [], (
        f"BYPASS of the no-symlink rule: root's drafts went through nobody's link {review} "
        f"into {elsewhere}: {written}; rc {res.returncode} {res.stdout!r} {res.stderr!r}")
    assert os.listdir(profiles) == []


def test_suggest_out_refuses_a_directory_another_user_owns(open_lab):
    """nobody made the directory root names in `--out` (an admin's `--out /tmp/drafts`; here in
    nobody's own directory). root's drafts are written there, nobody can rewrite them after
    root read them and before root copies them into profiles.d (man warden(8): `cp
    /root/drafts/*.toml /etc/warden/profiles.d/ && warden check && warden reload`).
    Now refused, as wardend refuses such policy directories."""
    lab = open_lab
    d, profiles, udir = _suggest_setup(lab)
    review = os.path.join(udir, "review")
    out = as_nobody(lab, ["mkdir", "-m", "0755", review])
    assert out.returncode == 0, out.stderr
    res = lab.c.run([warden_cli(), "suggest", "--out", review, "--config", d.config_path],
                    timeout=20, check=False)
    written = os.listdir(review)
    swapped = None
    if written:
        # nobody replaces the draft root is about to copy (the directory is nobody's).
        name = written[0]
        out = as_nobody(lab, ["sh", "-c", 'printf "%s\\n" "# nobody was here" > "$0.new" && '
                                          'mv -f "$0.new" "$0"', os.path.join(review, name)])
        with open(os.path.join(review, name)) as f:
            swapped = "nobody was here" in f.read()
    assert res.returncode != 0 and written == [], (
        f"root's drafts were written into nobody's directory {review}: {written}; nobody "
        f"replaced one: {swapped}; rc {res.returncode} {res.stdout!r} {res.stderr!r}")
