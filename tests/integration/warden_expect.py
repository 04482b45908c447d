"""Small assertions shared by the test files, phrased as what a user observes."""
import time

# How long a probe waits before calling a flow dropped. A dropped TCP SYN is retransmitted
# after 1 s, so a drop verdict that is not remembered would show up as a late "connected".
DROP_WAIT_MS = 1200
# A reject must be seen "at once": far below DROP_WAIT_MS and any retransmission.
AT_ONCE_MS = 500


def wait_until(fn, timeout, interval=0.1):
    """Calls fn until it returns something truthy; returns that, or the last value on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def dropped(result):
    """A silent drop as the client sees it: nothing came back before its timeout."""
    return result.outcome == "timeout"


def dropped_or_blocked(result):
    """A drop, or a local EPERM when netfilter refused our own packet synchronously."""
    return result.outcome in ("timeout", "blocked")
