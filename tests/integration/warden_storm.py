"""A storm of short-lived processes for the tests that need one (test_launch_storm,
test_process_storm): a Python program that starts /bin/true every `interval` seconds for
`duration` seconds, reaping as it goes, prints "storming" when it starts and "spawned N" when
done. With a probe, every 20th start is that client connecting to `server`:`port` instead."""
from warden_lab import PYTHON

_STORM = r"""
import os, sys, time
duration, interval = float(sys.argv[1]), float(sys.argv[2])
probe = sys.argv[3:6]  # client, server, port; or nothing
start = time.monotonic()
due, spawned = start, 0
print("storming", flush=True)
while time.monotonic() - start < duration:
    if probe and spawned % 20 == 0:
        os.posix_spawn(probe[0], probe + ["--timeout-ms", "500"], dict(os.environ),
                       file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    else:
        os.posix_spawn("/bin/true", ["true"], dict(os.environ))
    spawned += 1
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    due += interval
    time.sleep(max(0.0, due - time.monotonic()))
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print("spawned", spawned, flush=True)
"""


def storm_command(duration, interval, probe=None, server=None, port=None):
    """The argv that runs the storm (prefix it with in_cgroup, setpriv, env as needed)."""
    argv = [PYTHON, "-c", _STORM, str(duration), str(interval)]
    if probe:
        argv += [probe, server, str(port)]
    return argv
