"""Hot reload on file changes (SPEC section 6, issue 3): wardend watches warden.toml and the
profiles directory. An edit in place, a file renamed into place, a new or deleted profile all
reload on their own; a file with an error is refused with its file:line:column and the policy in
force stays, until the file is fixed."""
import os
import time

from warden_lab import S4

PROFILE = """name = "{name}"
default = "deny"
[[match]]
path = "/usr/bin/{name}"
[[rule]]
action = "allow"
ports = 443
"""


def write_in_place(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def write_by_rename(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    write_in_place(tmp, text)
    os.rename(tmp, path)


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def policy(d):
    return d.status()["policy"]


def test_profile_changes_reload_without_a_signal(lab, wardend):
    d = wardend()
    profiles = os.path.join(d.dir, "profiles.d")
    first = policy(d)
    assert first["profiles"] == 0

    # A new profile written in place.
    write_in_place(os.path.join(profiles, "10-curl.toml"), PROFILE.format(name="curl"))
    second = wait_for(lambda: (p := policy(d))["revision"] > first["revision"] and p,
                      what="a reload after a new profile")
    assert second["profiles"] == 1

    # Another one renamed into place (how editors and package managers replace files).
    write_by_rename(os.path.join(profiles, "20-wget.toml"), PROFILE.format(name="wget"))
    third = wait_for(lambda: (p := policy(d))["revision"] > second["revision"] and p,
                     what="a reload after a rename")
    assert third["profiles"] == 2

    # Files that are not profiles (an editor's swap file) do not trigger anything.
    write_in_place(os.path.join(profiles, ".20-wget.toml.swp"), "garbage")
    time.sleep(0.6)
    assert policy(d)["revision"] == third["revision"]

    # A broken profile is refused with its location; the policy in force stays.
    broken = os.path.join(profiles, "20-wget.toml")
    write_by_rename(broken, PROFILE.format(name="wget").replace('default = "deny"',
                                                                'default = "maybe"'))
    wait_for(lambda: "reload refused" in d.stderr(), what="the refusal")
    assert f"{broken}:2:" in d.stderr(), d.stderr()
    assert policy(d)["revision"] == third["revision"]
    assert policy(d)["profiles"] == 2

    # Fixed: reloaded again.
    write_by_rename(broken, PROFILE.format(name="wget"))
    fourth = wait_for(lambda: (p := policy(d))["revision"] > third["revision"] and p,
                      what="a reload after the fix")
    assert fourth["profiles"] == 2

    # Deleted: gone from the policy.
    os.unlink(broken)
    wait_for(lambda: policy(d)["profiles"] == 1, what="a reload after a delete")


def test_config_edit_changes_traffic_and_bad_config_keeps_old(lab, wardend):
    d = wardend()
    assert lab.tcp_probe(S4, 7000).outcome == "connected"

    # warden.toml replaced by rename: a global rule now rejects the port.
    d.write_config(rules=[{"action": "reject", "proto": "tcp", "ports": 7000}])
    wait_for(lambda: lab.tcp_probe(S4, 7000).outcome == "refused", timeout=5,
             what="the new rule to apply")

    # A broken warden.toml is refused; the reject rule stays in force.
    revision = policy(d)["revision"]
    d.write_config(text="[engine]\nmode = \"enforce\"\nqueues = [0, 2]\n")
    wait_for(lambda: "reload refused" in d.stderr(), what="the refusal")
    assert f"{d.config_path}:3:" in d.stderr(), d.stderr()
    assert policy(d)["revision"] == revision
    assert lab.tcp_probe(S4, 7000).outcome == "refused"
