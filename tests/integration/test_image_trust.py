"""Attacks on the executable's SHA-256 (SPEC section 5): hashes are cached by the image's
identity (device, inode, size, mtime, ctime), which holds only where the bytes cannot change
unseen. On tmpfs a write through a shared mapping of a page already mapped changes no
timestamp (shmem has no page_mkwrite), and a FUSE server gives each reader the bytes it likes:
wardend trusts no hash of an image on tmpfs, ramfs, hugetlbfs, overlayfs or FUSE
(unpinnedImageFilesystem), so a sha256 key never matches what runs from them.

The attacker is nobody (uid 65534): /dev/shm is a world-writable tmpfs on every Linux host, and
a tmpfs of a user namespace of one's own works the same way.
"""
import os
import shutil
import subprocess

import pytest

from test_attribution import (NOBODY, _reachable_by_everyone, _userns_allowed, cgroup,  # noqa: F401
                              in_cgroup, install, logged_rows, profiled, sha256_of)
from warden_lab import PYTHON, S4

# Rewrites FILE with the bytes of SRC (same size) through a MAP_SHARED mapping, and prints the
# file's stat identity before and after (on 6.18 a first write to a page of a shmem mapping
# updates mtime/ctime, a write to a page already mapped by a read does not).
MMAP_REWRITE = r"""
import mmap, os, sys
path, src = sys.argv[1], sys.argv[2]
def ident():
    s = os.stat(path)
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
with open(src, "rb") as f:
    data = f.read()
before = ident()
fd = os.open(path, os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
assert len(m) == len(data), (len(m), len(data))
# Each page read first: its write then faults as a write-protect fault of a present page,
# which on shmem updates no timestamp (a first-touch write fault does).
touched = sum(m[i] for i in range(0, len(m), 4096))
m[:] = data
m.close()
os.close(fd)
after = ident()
print("identity-before=%s identity-after=%s same=%d" % (
    ",".join(map(str, before)), ",".join(map(str, after)), before == after))
"""

# Run as nobody in the cgroup. $1: a tmpfs directory nobody can write; $2: the pinned program;
# $3: the other program (same size); $4: the rewrite script.
#  1. CONTROLS: the pinned program where it is installed is allowed (port 7000); a fresh copy
#     of the other program is refused (port 7002).
#  2. a copy of the pinned program runs from tmpfs and sends (port 7000): before the fix it was
#     allowed and its hash cached under the copy's identity; now no hash of it is trusted.
#  3. the copy's bytes are replaced through a shared mapping (identity unchanged).
#  4. the copy, now the other program, connects (port 7001): must be refused.
ATTACK = r"""
set -u
dir=$1; pinned=$2; other=$3; rewrite=$4
echo "installed: $("$pinned" __S4__ 7000 --timeout-ms 1500)"
cp "$other" "$dir/control" && chmod 755 "$dir/control" || exit 90
echo "control: $("$dir/control" __S4__ 7002 --timeout-ms 1500)"
cp "$pinned" "$dir/app" && chmod 755 "$dir/app" || exit 91
echo "pinned: $("$dir/app" __S4__ 7000 --timeout-ms 1500)"
sleep 0.3
echo "rewrite: $(__PYTHON__ "$rewrite" "$dir/app" "$other")"
echo "attack: $("$dir/app" __S4__ 7001 --timeout-ms 1500)"
""".replace("__S4__", S4).replace("__PYTHON__", PYTHON)

USERNS_ATTACK = ('mount -t tmpfs -o mode=0755 none /mnt || exit 92; sh -c "$0" sh /mnt "$@"')


def same_size_other_program(lab, pinned):
    """tcp_probe (a program the policy does not allow), padded with zeros to the pinned
    program's size: an ELF runs the same with bytes after its end."""
    with open(lab._client("tcp_probe"), "rb") as f:
        other = f.read()
    size = os.path.getsize(pinned)
    assert len(other) < size
    path = os.path.join(lab.tmp, "bin", "other", "tcp_probe_padded")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(other + b"\0" * (size - len(other)))
    os.chmod(path, 0o755)
    return path


def outcome(text, label):
    for line in text.splitlines():
        if line.startswith(label + ":"):
            words = line.split()
            return words[1] if len(words) > 1 else ""
    return None


@pytest.mark.parametrize("where", ["dev-shm", "userns-tmpfs"])
def test_a_tmpfs_copy_rewritten_through_a_shared_mapping_gets_no_pinned_hash(lab, cgroup, wardend,
                                                                         where):
    if where == "userns-tmpfs" and not _userns_allowed():
        pytest.skip("unprivileged user namespaces are not allowed here")
    pinned = install(lab._client("udp_probe"), os.path.join(lab.tmp, "bin", "pinned",
                                                             "udp_probe"))
    other = same_size_other_program(lab, pinned)
    rewrite = os.path.join(lab.tmp, "bin", "rewrite.py")
    with open(rewrite, "w") as f:
        f.write(MMAP_REWRITE)
    os.chmod(rewrite, 0o644)
    _reachable_by_everyone(lab, pinned, other, rewrite)
    d = profiled(lab, wardend, cgroup, {"pinned": ("allow", {"sha256": [sha256_of(pinned)]})},
                 default="deny")
    shm = None
    try:
        if where == "dev-shm":
            shm = f"/dev/shm/warden-h1-{lab.id}"
            os.mkdir(shm, 0o755)
            os.chown(shm, 65534, 65534)
            argv = NOBODY + ["sh", "-c", ATTACK, "sh", shm, pinned, other, rewrite]
        else:
            argv = NOBODY + ["unshare", "-Urm", "sh", "-c", USERNS_ATTACK, ATTACK, pinned, other,
                             rewrite]
        res = lab.c.run(in_cgroup(cgroup, argv), timeout=60, check=False)
    finally:
        if shm:
            shutil.rmtree(shm, ignore_errors=True)
    text = res.stdout + res.stderr
    print(text)  # the rewrite's "same=1": the identity the cache was keyed by did not change
    assert outcome(text, "installed") == "reply", text
    assert outcome(text, "control") not in (None, "connected"), text
    rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged_rows(d, {7001}) or []]
    assert outcome(text, "attack") not in (None, "connected"), (
        f"BYPASS: other bytes, run from a file whose identity the pinned program had, got the "
        f"sha256 profile: {text!r}; log rows (port, profile, action): {rows}")
    # The copy on tmpfs ran the pinned bytes, but nothing vouches for them.
    assert outcome(text, "pinned") not in (None, "reply"), text


# ---------------------------------------------------------------------------------------------
# FUSE: a file whose server picks the bytes by who reads them.

FUSE_SERVER = r'''
import ctypes, errno, os, struct, sys, time

mode = sys.argv[1]
mnt, devfuse, pinned_path, evil_path, logpath = sys.argv[2:7]
rest = sys.argv[8:] if len(sys.argv) > 7 and sys.argv[7] == "--" else []
PINNED = open(pinned_path, "rb").read()
EVIL = open(evil_path, "rb").read()
assert len(PINNED) == len(EVIL)
log = open(logpath, "a", buffering=1)
IN_HDR = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid extlen pad
OUT_HDR = struct.Struct("<IiQ")
T = 1700000000
DIRECT_IO, KEEP_CACHE = 1, 2

def attr(nodeid, owner):
    if nodeid == 1:
        ino, size, mode_, nlink = 1, 0, 0o040755, 2
    else:
        ino, size, mode_, nlink = 2, len(PINNED), 0o100755, 1
    return struct.pack("<QQQQQQIIIIIIIIII", ino, size, (size + 511) // 512, T, T, T, 0, 0, 0,
                       mode_, nlink, owner, owner, 0, 4096, 0)

def detach():
    null = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(null, n)
    libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL: gone with whoever started it

def serve(fd, owner, attacker):
    while True:
        try:
            buf = os.read(fd, 1 << 20)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINTR, errno.EAGAIN):
                continue
            log.write(f"server stops: {e}\n")
            return
        ln, op, unique, nodeid, uid, gid, pid, _, _ = IN_HDR.unpack_from(buf)
        body = buf[IN_HDR.size:ln]
        err, out = 0, b""
        if op == 26:  # INIT
            major, minor, ra, flags = struct.unpack_from("<IIII", body)
            out = struct.pack("<IIIIHHIIHHII", 7, 31, ra, 0, 16, 12, 131072, 1, 32, 0, 0, 0)
            out += b"\0" * (64 - len(out))
        elif op in (2, 42):  # FORGET, BATCH_FORGET: no answer
            continue
        elif op == 1:  # LOOKUP
            name = body.split(b"\0")[0]
            if nodeid == 1 and name == b"app":
                out = struct.pack("<QQQQII", 2, 0, 3600, 3600, 0, 0) + attr(2, owner)
            else:
                err = -errno.ENOENT
        elif op == 3:  # GETATTR
            out = struct.pack("<QII", 3600, 0, 0) + attr(nodeid, owner)
        elif op == 14:  # OPEN: other readers' direct, so they never read the page cache
            out = struct.pack("<QIi", 0, KEEP_CACHE if uid == attacker else DIRECT_IO, 0)
        elif op == 15:  # READ: the other program to the attacker, the pinned bytes to others
            fh, off, size = struct.unpack_from("<QQI", body)
            data = EVIL if uid == attacker else PINNED
            out = data[off:off + size]
        elif op in (18, 25, 29):  # RELEASE, FLUSH, RELEASEDIR
            pass
        elif op == 17:  # STATFS
            out = struct.pack("<QQQQQIIII", 1000, 0, 0, 10, 0, 4096, 255, 4096, 0) + b"\0" * 24
        else:  # GETXATTR, ACCESS, OPENDIR, INTERRUPT, ...
            err = -errno.ENOSYS
        log.write(f"op={op} nodeid={nodeid} uid={uid} pid={pid} err={err} n={len(out)}\n")
        try:
            os.write(fd, OUT_HDR.pack(OUT_HDR.size + len(out), err, unique) + out)
        except OSError as e:
            log.write(f"reply failed: {e}\n")

libc = ctypes.CDLL(None, use_errno=True)
MS_NOSUID, MS_NODEV = 2, 4

def mount(fd, options):
    if libc.mount(b"h1fuse", mnt.encode(), b"fuse.h1fuse", MS_NOSUID | MS_NODEV,
                  options.encode()) != 0:
        e = ctypes.get_errno()
        log.write(f"mount failed: {os.strerror(e)}\n")
        print(f"mount-failed={os.strerror(e)}", flush=True)
        sys.exit(93)

fd = os.open(devfuse, os.O_RDWR)
if mode == "userns":  # in a user namespace of the caller's own (unshare -Urm)
    mount(fd, f"fd={fd},rootmode=40000,user_id=0,group_id=0")
    if os.fork() == 0:
        detach()
        serve(fd, 0, 0)  # the attacker is root of its namespace
        os._exit(0)
    os.close(fd)
    time.sleep(0.2)
    os.execvp(rest[0], rest)
else:  # "root": mounted as fusermount does with user_allow_other, served by nobody
    mount(fd, f"fd={fd},rootmode=40000,user_id=65534,group_id=65534,allow_other,"
              "default_permissions")
    pid = os.fork()
    if pid == 0:
        detach()
        libc.prctl(1, 0, 0, 0, 0)  # outlives the mount helper
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        serve(fd, 65534, 65534)
        os._exit(0)
    print(f"server={pid}", flush=True)
'''

FUSE_ATTACK = r"""
set -u
mnt=$1; pinned=$2; other=$3; scratch=$4
cp "$other" "$scratch/control" && chmod 755 "$scratch/control" || exit 90
echo "control: $("$scratch/control" __S4__ 7002 --timeout-ms 1500)"
cp "$pinned" "$scratch/pinned" && chmod 755 "$scratch/pinned" || exit 91
echo "pinned: $("$scratch/pinned" __S4__ 7000 --timeout-ms 1500)"
echo "attack: $("$mnt/app" __S4__ 7001 --timeout-ms 1500)"
""".replace("__S4__", S4)


def fuse_setup(lab):
    pinned = install(lab._client("udp_probe"), os.path.join(lab.tmp, "bin", "pinned",
                                                             "udp_probe"))
    other = same_size_other_program(lab, pinned)
    base = os.path.join(lab.tmp, "fuse")
    os.makedirs(base)
    server = os.path.join(base, "server.py")
    with open(server, "w") as f:
        f.write(FUSE_SERVER)
    # /dev/fuse is 0600 here; fuse3 on a desktop makes it 0666: a copy of the node that
    # anybody may open stands for that.
    devfuse = os.path.join(base, "fuse")
    os.mknod(devfuse, 0o020666, os.makedev(10, 229))
    os.chmod(devfuse, 0o666)
    mnt = os.path.join(base, "mnt")
    scratch = os.path.join(base, "scratch")
    os.makedirs(mnt)
    os.makedirs(scratch)
    os.chown(scratch, 65534, 65534)
    logpath = os.path.join(base, "server.log")
    with open(logpath, "w"):
        pass
    os.chmod(logpath, 0o666)
    for p in (server, pinned, other):
        os.chmod(p, os.stat(p).st_mode | 0o444)
    _reachable_by_everyone(lab, server, pinned, other, devfuse, mnt, scratch)
    return pinned, other, server, devfuse, mnt, scratch, logpath


def read_log(path):
    with open(path) as f:
        return f.read()


def assert_attack_refused(d, res, logpath, what):
    """FUSE_ATTACK's controls (the pinned copy allowed, the other program refused) and its
    attack (the FUSE file run: refused); returns the server's log."""
    text = res.stdout + res.stderr
    log = read_log(logpath)
    print(text, "\n--- server log ---\n", log, "\n--- attribution ---\n",
          d.status()["attribution"])
    assert outcome(text, "pinned") == "reply", (text, log)
    assert outcome(text, "control") not in (None, "connected"), (text, log)
    rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged_rows(d, {7001}) or []]
    assert outcome(text, "attack") not in (None, "connected"), (
        f"BYPASS through {what}: {text!r}; rows {rows}; log:\n{log}")
    return log


def test_a_fuse_file_of_a_user_namespace_gets_no_pinned_hash(lab, cgroup, wardend):
    """(a) nobody mounts a FUSE file system in a user namespace of its own and runs a file of it
    whose server hands the pinned bytes to uid 0 and the other program to everyone else."""
    if not _userns_allowed():
        pytest.skip("unprivileged user namespaces are not allowed here")
    pinned, other, server, devfuse, mnt, scratch, logpath = fuse_setup(lab)
    d = profiled(lab, wardend, cgroup, {"pinned": ("allow", {"sha256": [sha256_of(pinned)]})},
                 default="deny")
    argv = NOBODY + ["unshare", "-Urm", PYTHON, server, "userns", mnt, devfuse, pinned, other,
                     logpath, "--", "sh", "-c", FUSE_ATTACK, "sh", mnt, pinned, other, scratch]
    res = lab.c.run(in_cgroup(cgroup, argv), timeout=60, check=False)
    log = assert_attack_refused(d, res, logpath, "a FUSE file of a user namespace")
    assert "op=15" in log and " uid=0 " in log, f"the exec read nothing?\n{log}"


def test_a_fuse_file_served_by_nobody_gets_no_pinned_hash(lab, cgroup, wardend):
    """(b) the mount fusermount makes for a user when /etc/fuse.conf has user_allow_other
    (allow_other,default_permissions; user_id=65534), served by nobody: the server hands the
    pinned bytes to wardend's reads (uid 0, its open direct-io) and the other program to the
    exec (through the page cache)."""
    pinned, other, server, devfuse, mnt, scratch, logpath = fuse_setup(lab)
    d = profiled(lab, wardend, cgroup, {"pinned": ("allow", {"sha256": [sha256_of(pinned)]})},
                 default="deny")
    started = subprocess.run([PYTHON, server, "root", mnt, "/dev/fuse", pinned, other, logpath],
                             capture_output=True, text=True, timeout=20)
    server_pid = None
    for word in started.stdout.split():
        if word.startswith("server="):
            server_pid = int(word.split("=", 1)[1])
    try:
        assert server_pid, (started.stdout, started.stderr, read_log(logpath))
        argv = NOBODY + ["sh", "-c", FUSE_ATTACK, "sh", mnt, pinned, other, scratch]
        res = lab.c.run(in_cgroup(cgroup, argv), timeout=60, check=False)
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
        if server_pid:
            try:
                os.kill(server_pid, 9)
                os.waitpid(server_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    assert_attack_refused(d, res, logpath, "a FUSE file served by nobody")


# ---------------------------------------------------------------------------------------------
# A filesystem with one-second timestamps: a rewrite in the second of the hash keeps the identity.

# As nobody. argv: dir (nobody's, on the coarse filesystem), pinned, other (same size), S4,
# "1": rewrite in the same second as the pinned run, "0": a second and more later (control).
SAME_SECOND = r"""
import os, subprocess, sys, time
d, pinned, other, s4, same = sys.argv[1:6]
same = same == "1"
app = os.path.join(d, "app")
P = open(pinned, "rb").read()
O = open(other, "rb").read()
assert len(P) == len(O)

def ident():
    s = os.stat(app)
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)

def run(path, port):
    r = subprocess.run([path, s4, str(port), "--timeout-ms", "1500"], capture_output=True,
                       text=True)
    return (r.stdout.split() or ["none"])[0]

# CONTROL: the other program, as itself on the same filesystem, is refused.
ctl = os.path.join(d, "control")
with open(ctl, "wb") as f:
    f.write(O)
os.chmod(ctl, 0o755)
print("control:", run(ctl, 7002))
for attempt in range(5):
    while time.time() % 1 > 0.1:  # start at the beginning of a second
        time.sleep(0.01)
    try:
        os.unlink(app)
    except FileNotFoundError:
        pass
    fd = os.open(app, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    os.write(fd, P)
    os.close(fd)
    before = ident()
    pinned_out = run(app, 7000)        # wardend hashes the pinned bytes: allowed
    if not same:
        time.sleep(1.2)
    fd = os.open(app, os.O_WRONLY)     # same size, in place: no truncation
    os.write(fd, O)
    os.close(fd)
    after = ident()
    if (before == after) == same:
        break
print("pinned:", pinned_out)
print("same=%d attempts=%d before=%s after=%s" % (before == after, attempt + 1, before, after))
print("attack:", run(app, 7001))       # the other program under the cached identity
"""


@pytest.fixture
def coarse_fs(lab):
    """An ext4 with 128-byte inodes (one-second timestamps), loop-mounted, with a directory
    nobody owns: a data partition made by an older mke2fs, or mke2fs -I 128."""
    base = os.path.join(lab.tmp, "coarse")
    os.makedirs(base)
    image = os.path.join(base, "fs.img")
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt)
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", image], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["mount", "-o", "loop,nodev,nosuid", image, mnt], check=True, timeout=30)
    try:
        udir = os.path.join(mnt, "u")
        os.mkdir(udir)
        os.chown(udir, 65534, 65534)
        os.chmod(mnt, 0o755)
        _reachable_by_everyone(lab, udir)
        yield udir
    finally:
        subprocess.run(["umount", mnt], check=False, timeout=30)
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", mnt], check=False, timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def _coarse_attack(lab, cgroup, wardend, udir, same):
    pinned = install(lab._client("udp_probe"), os.path.join(lab.tmp, "bin", "pinned",
                                                             "udp_probe"))
    other = same_size_other_program(lab, pinned)
    script = os.path.join(lab.tmp, "bin", "same_second.py")
    with open(script, "w") as f:
        f.write(SAME_SECOND)
    os.chmod(script, 0o644)
    _reachable_by_everyone(lab, pinned, other, script)
    d = profiled(lab, wardend, cgroup, {"pinned": ("allow", {"sha256": [sha256_of(pinned)]})},
                 default="deny")
    res = lab.c.run(in_cgroup(cgroup, NOBODY + [PYTHON, script, udir, pinned, other, S4,
                                                "1" if same else "0"]),
                    timeout=90, check=False)
    text = res.stdout + res.stderr
    print(text)
    return d, text


def test_a_rewrite_in_the_second_of_its_hash_on_a_one_second_filesystem_gets_no_pinned_hash(
        lab, cgroup, coarse_fs, wardend):
    """nobody copies the pinned program to its directory on an ext4 with 128-byte inodes
    (whole-second timestamps), runs it (hashed, allowed), and within the same second writes the
    other program over it in place (same size): device, inode, size, mtime and ctime all stay
    as they were, and the next run got the sha256 profile from the cache. A hash is now cached
    only once the file's ctime is two seconds old (FileIdentity::settledAt)."""
    d, text = _coarse_attack(lab, cgroup, wardend, coarse_fs, same=True)
    assert outcome(text, "control") not in (None, "connected"), text
    assert outcome(text, "pinned") == "reply", text
    assert "same=1" in text, f"the identity changed on every attempt: {text}"
    rows = [(r["remote_port"], r["profile"], r["action"]) for r in logged_rows(d, {7001}) or []]
    assert outcome(text, "attack") not in (None, "connected"), (
        f"BYPASS: other bytes rewritten in the same second on a one-second filesystem got the "
        f"pinned sha256 profile: {text!r}; log rows (port, profile, action): {rows}")


def test_control_a_rewrite_a_second_later_on_a_one_second_filesystem_is_refused(
        lab, cgroup, coarse_fs, wardend):
    """CONTROL: the same rewrite 1.2 s later changes mtime and ctime: refused."""
    d, text = _coarse_attack(lab, cgroup, wardend, coarse_fs, same=False)
    assert outcome(text, "pinned") == "reply", text
    assert "same=0" in text, text
    assert outcome(text, "attack") not in (None, "connected"), text
