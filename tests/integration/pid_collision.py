"""Starts two processes inside a pid namespace so that one's pid *there* is the other's pid in
the initial namespace, both started in the same clock tick and running the same image: what a
firewall that mixes the two numberings would take for one process.

  pid_collision.py INIT_HOST_PID CGROUP TWIN_SCRIPT PROGRAM_SCRIPT [ARG...]

INIT_HOST_PID is the namespace's pid 1 (as this process sees it); both children join CGROUP
and the namespace's network and mount namespaces. The "twin" runs `python3 TWIN_SCRIPT`, gets
the namespace pid equal to the "program"'s initial-namespace pid (ns_last_pid), and is started
first; once it announced itself, the program runs `python3 PROGRAM_SCRIPT ARG...`. Prints one
JSON line: the pids of both in both namespaces, their start ticks, attempts made, and the
program's first output line; the twin is left running until this process's stdin closes.

Run as a process of its own: setns() of a mount namespace needs a single-threaded caller.
"""
import ctypes
import json
import os
import signal
import sys

PYTHON = "/usr/bin/python3"
ATTEMPTS = 40
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def host_status(proc_fd, pid):
    """NSpid (outermost first) and start ticks of a process, from the initial /proc."""
    with open(os.open(f"{pid}/status", os.O_RDONLY, dir_fd=proc_fd)) as f:
        nspid = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
    with open(os.open(f"{pid}/stat", os.O_RDONLY, dir_fd=proc_fd)) as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    return [int(p) for p in nspid], ticks


def child(cgroup, go, out, argv):
    """Joins the cgroup, waits for a byte on `go`, then runs argv with stdout on `out`."""
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write("0")
        if os.read(go, 1) == b"x":
            os.dup2(out, 1)
            os.execv(argv[0], argv)
    finally:
        os._exit(99)


def spawn(cgroup, argv):
    """A child waiting to run argv: (pid, fd that releases it, fd of its stdout)."""
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        child(cgroup, go_r, out_w, argv)
    os.close(go_r)
    os.close(out_w)
    return pid, go_w, out_r


def attempt(proc_fd, cgroup, twin_argv, program_argv):
    """One try: the two waiting children when the numbers came out right, else None."""
    program = spawn(cgroup, program_argv)
    # Its pid in the initial namespace is the one the twin must get in the namespace.
    writer = os.fork()
    if writer == 0:
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(program[0] - 1))
        finally:
            os._exit(0)
    os.waitpid(writer, 0)
    twin = spawn(cgroup, twin_argv)
    twin_ns, twin_ticks = host_status(proc_fd, twin[0])
    program_ns, program_ticks = host_status(proc_fd, program[0])
    if twin_ns[-1] == program[0] and twin_ticks == program_ticks:
        return twin, program, {"twin_host_pid": twin[0], "twin_ns_pid": twin_ns[-1],
                               "program_host_pid": program[0], "program_ns_pid": program_ns[-1],
                               "ticks": program_ticks}
    for pid, go, out in (twin, program):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(go)
        os.close(out)
    return None


def first_line(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def main():
    init, cgroup, twin_script, program_script = sys.argv[1:5]
    proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)  # the initial namespace's
    fds = [os.open(f"/proc/{init}/ns/{kind}", os.O_RDONLY) for kind in ("net", "pid", "mnt")]
    for fd in fds:  # children are born in the namespace; /proc is now the namespace's
        setns(fd)
    twin_argv = [PYTHON, twin_script]
    program_argv = [PYTHON, program_script] + sys.argv[5:]
    for n in range(1, ATTEMPTS + 1):
        found = attempt(proc_fd, cgroup, twin_argv, program_argv)
        if found:
            break
    else:
        print(json.dumps({"attempts": ATTEMPTS, "collided": False}), flush=True)
        return 1
    (twin, twin_go, twin_out), (program, program_go, program_out), result = found
    result.update(attempts=n, collided=True)
    os.write(twin_go, b"x")
    result["twin_said"] = first_line(twin_out)  # it runs its script now
    os.write(program_go, b"x")
    result["program_said"] = first_line(program_out)
    os.waitpid(program, 0)
    print(json.dumps(result), flush=True)
    sys.stdin.read()
    os.kill(twin, signal.SIGKILL)
    os.waitpid(twin, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
