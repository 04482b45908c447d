"""A kernel-held verdict ends with the rule it rested on (SPEC section 12: it never allows what
the policy in force would refuse), also while no wardend runs: a rule with `expires` (what
`warden allow --for` writes) bounds the life of every entry held under its policy, as a DNS
answer bounds the entries of host rules."""
import datetime
import os
import time

from test_attribution import cgroup, install  # noqa: F401 (cgroup: a fixture)
from test_kernel_verdicts_attacks import Holder, hits, kv, refused, start, wait_held
from warden_expect import DROP_WAIT_MS, wait_until
from warden_lab import S4, clients_dir


def held_client():
    return os.path.join(clients_dir(), "held_client")


def app_copy(lab, name):
    return install(held_client(), os.path.join(lab.tmp, "bin", name, "held_client"))


def write_profile(lab, name, text, tag="wardend"):
    directory = os.path.join(lab.tmp, tag, "profiles.d")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.toml")
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)


def utc_in(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.replace(microsecond=0)


def toml_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def expiring_allow(lab, app, port, expires):
    """The app's profile: UDP and TCP to `port` allowed until `expires`, everything else
    denied."""
    write_profile(lab, "app", "\n".join([
        'name = "app"', 'default = "deny"', "", "[[match]]", f'path = "{app}"', "",
        "[[rule]]", 'action = "allow"', f"ports = {port}", f"expires = {toml_time(expires)}",
        ""]))


def test_control_an_expiring_allow_is_refused_after_its_time_while_wardend_runs(
        lab, cgroup, wardend):
    """Control: while wardend runs, a held allow ends with the rule that decided it."""
    app = app_copy(lab, "app")
    expires = utc_in(8)
    expiring_allow(lab, app, 7000, expires)
    d = start(lab, wardend, cgroup, fail="closed")
    p = Holder(lab, cgroup, "app", binary=app)
    for kind in ("udp", "tcp"):
        assert p.flow(kind, S4, 7000) == ("reply" if kind == "udp" else "connected")
    wait_held(d, 2)
    before = hits(d)
    assert p.flow("udp", S4, 7000) == "reply"
    assert p.flow("tcp", S4, 7000) == "connected"
    assert wait_until(lambda: hits(d) >= before + 2, timeout=3), kv(d)
    assert refused(p.flow("udp", S4, 7001, timeout_ms=DROP_WAIT_MS)), "profile default deny"
    while datetime.datetime.now(datetime.timezone.utc) < expires + datetime.timedelta(seconds=2):
        time.sleep(0.2)
    assert refused(p.flow("udp", S4, 7000, timeout_ms=DROP_WAIT_MS)), kv(d)
    assert refused(p.flow("tcp", S4, 7000, timeout_ms=DROP_WAIT_MS)), kv(d)


def test_a_held_allow_ends_with_its_expiring_rule_while_wardend_is_away(
        lab, cgroup, wardend):
    """A rule `expires = T` allows UDP and TCP to S4:7000; the app's flows there are held.
    wardend dies (SIGKILL: a crash, before systemd restarts it) before T. After T the policy in
    force has no such rule (the control above: wardend refuses the flow as soon as T passes),
    and the held allow ends too (it let the app through for kernel_verdicts_ttl, 600 s, before
    the entries' life was bounded by the rule's expiry). fail = "closed": with "open" every
    new flow passes while wardend is away anyway."""
    fail = "closed"
    app = app_copy(lab, "app")
    expires = utc_in(8)
    expiring_allow(lab, app, 7000, expires)
    d = start(lab, wardend, cgroup, fail=fail)
    p = Holder(lab, cgroup, "app", binary=app)
    assert p.flow("udp", S4, 7000) == "reply"
    assert p.flow("tcp", S4, 7000) == "connected"
    wait_held(d, 2)
    d.kill9()
    # Control: the held allow is what lets these through now (fail closed: nothing else could).
    assert p.flow("udp", S4, 7000) == "reply"
    while datetime.datetime.now(datetime.timezone.utc) < expires + datetime.timedelta(seconds=2):
        time.sleep(0.2)
    outcomes = {kind: p.flow(kind, S4, 7000, timeout_ms=DROP_WAIT_MS) for kind in ("udp", "tcp")}
    try:
        if fail == "closed":
            # A new flow (another port) is dropped: only a held verdict passes anything now.
            assert refused(p.flow("udp", S4, 7001, timeout_ms=DROP_WAIT_MS))
        assert all(refused(o) for o in outcomes.values()), \
            f"a held allow outlived the rule that decided it (expired at {expires}): {outcomes}"
    finally:
        d.cleanup()
