"""A datagram corked on a UDP socket by a process the policy denies, and pushed out by one it
allows (SPEC sections 5 and 12): the socket passed over a unix socket, the flow's record made
another socket's, the map of the socket's senders flooded. Moved out of
test_kernel_verdicts_attacks.py, which runs near ctest's limit for a file."""
import os
import time

import pytest

from test_attribution import cgroup, in_cgroup, write_profiles  # noqa: F401 (fixture)
from test_kernel_verdicts_attacks import (ATTACKER, COUNTED_X, _tools, counter,  # noqa: F401
                                          start, wait_held)
from warden_lab import PYTHON, S4


# The allowed process: two datagrams of its own to HOST PORT (the second decided by its held
# allow), then it takes a socket over an abstract unix socket NAME and sends nothing on it,
# which pushes whatever datagram is corked there, and keeps it open for a while.
CORK_PUSHER = """
import array, socket, sys, time
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    s.sendto(b"own", (host, port))
    s.recv(100)
    s.close()
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\\0" + name)
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
_, ancillary, _, _ = conn.recvmsg(1, socket.CMSG_LEN(4))
corked = socket.socket(fileno=array.array("i", ancillary[0][2][:4])[0])
corked.send(b"")
print("pushed", flush=True)
time.sleep(5)  # the socket stays open while wardend looks its holder up
"""
# The denied process: a datagram to HOST PORT corked (MSG_MORE), its socket passed to NAME.
# With "second": the socket bound with SO_REUSEADDR and a second one bound to the same port,
# on which an empty datagram to HOST PORT is corked too (its sendmsg hook writes the flow's
# record last, for the second socket), then closed; the first socket is closed once passed,
# so that only the pusher holds a socket on the port. With "evicting": then one datagram to
# HOST PORT+1 from each of 12,000 more sockets, each closed at once; with "held open", kept
# open until the last has sent (the map of senders forgets a socket at its close, not while it
# is held), then closed.
CORKER = """
import array, resource, socket, sys
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
second, evicting = sys.argv[4].startswith("second"), "evicting" in sys.argv[4]
held_open = sys.argv[4].endswith("held open")
if held_open:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
kept = []
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if second:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 0))
    s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s2.bind(("", s.getsockname()[1]))
s.sendto(b"corked", socket.MSG_MORE, (host, port))
if second:
    s2.sendto(b"", socket.MSG_MORE, (host, port))
    s2.close()
for _ in range(12000 if evicting else 0):
    o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        o.sendto(b"push", (host, port + 1))
    except OSError:
        pass
    if held_open:
        kept.append(o)
    else:
        o.close()
for o in kept:  # the entry of the first socket is gone by now: these may go too
    o.close()
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.connect("\\0" + name)
u.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
if second:
    s.close()
u.recv(1)
"""


@pytest.mark.parametrize("second", ["one socket", "second", "second, evicting",
                                    "second, evicting held open"])
def test_a_datagram_corked_by_a_denied_process_rides_no_held_allow_of_the_process_pushing_it(
        lab, cgroup, wardend, counter, second):
    """nobody, whom a profile denies, corks a datagram to X (MSG_MORE: the sendmsg hook records
    the flow for nobody) and passes the socket to a process that holds an allow for X, whose
    send() of nothing pushes the corked datagram out in its own task. The held allow is the
    pusher's, the datagram nobody's: it does not get through. Also when nobody made the flow's
    record another socket's (a second socket on the port corks an empty datagram to X after
    it, and is closed) and closed its copy of the first: then only the pusher holds a socket
    on the port, and asking the kernel who holds the flow's socket names the pusher. Also when
    nobody then sends once on each of 12,000 more sockets, closing each, to push its record of
    the first socket out of the map of senders (8,192): their entries go with them. And when
    it holds those 12,000 open, which does push it out: nobody is then known to have sent on
    the socket, and its first datagram on another socket's record is decided `unknown`, not
    for the holder sock_diag names."""
    write_profiles(lab, {"nobody": ("deny", {"user": "nobody"})})
    d = start(lab, wardend, cgroup)
    name = f"warden-cork-{os.getpid()}"
    pusher = lab.c.spawn(in_cgroup(cgroup, [PYTHON, "-c", CORK_PUSHER, S4, str(COUNTED_X), name]),
                         "pusher", lines=True)
    assert pusher.wait_line(lambda t: t == "ready", timeout=15), pusher.stderr_text()
    assert counter.seen(COUNTED_X) == 2, "the pusher's own datagrams"
    wait_held(d, 1)
    # (Room for 12,000 descriptors: the attacker raises its own limit to this hard one.)
    lab.c.run(in_cgroup(cgroup, ["prlimit", "--nofile=16384:16384"] + ATTACKER + [
        PYTHON, "-c", CORKER, S4, str(COUNTED_X), name, second]), timeout=90, check=False)
    assert pusher.wait_line(lambda t: t == "pushed", timeout=15), pusher.stderr_text()
    # (The 12,000 datagrams' decisions may still be ahead of it in the queue.)
    time.sleep(2)
    assert counter.seen(COUNTED_X) == 2, "nobody's corked datagram got through"
    attribution = d.status()["attribution"]
    if second.endswith("held open"):
        assert attribution["bpf"]["udp_sender_unknown"] >= 1, attribution["bpf"]
        assert attribution["sender_unknown"] >= 1, attribution
    elif second != "one socket":
        assert attribution["bpf"]["udp_last_sender"] >= 1, attribution["bpf"]
