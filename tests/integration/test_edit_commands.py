"""`warden allow|deny|reject EXE` (SPEC section 8, issue 15 item 4): one command turns a blocked
program into an allowed one and back, through a drop-in file warden manages; `--for` makes a rule
that expires by itself (gone from the policy and the file, also across a restart); a program with
no profile gets one; a value the schema refuses changes nothing. Real wardend, real clients."""
import datetime
import json
import os
import re
import subprocess
import time

from warden_cli import cli, warden_cli
from warden_lab import S4, clients_dir, run

PROBE_PROFILE = """name = "probe"
default = "deny"

[[match]]
path = "{path}"
"""


def probe_path():
    return os.path.join(os.path.realpath(clients_dir()), "tcp_probe")


def profiles_dir(d):
    return os.path.join(d.dir, "profiles.d")


def write_profile(d, name, text):
    path = os.path.join(profiles_dir(d), name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def snapshot(directory):
    """Every file of the directory (hidden ones too) with its bytes."""
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and name != ".warden-edit.lock":
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def probe(lab, port):
    return lab.tcp_probe(S4, port, timeout_ms=700).outcome


def start_with_probe_profile(wardend):
    d = wardend(tag="edit")
    d.terminate()
    write_profile(d, "probe.toml", PROBE_PROFILE.format(path=probe_path()))
    return d.start()


def test_allow_then_deny_with_one_command_each(lab, wardend):
    d = start_with_probe_profile(wardend)
    assert probe(lab, 7000) == "timeout"  # the profile's default

    res = cli(d, "allow", probe_path(), "--proto", "tcp", "--port", "7000")
    assert res.returncode == 0, res.stderr
    local = os.path.join(profiles_dir(d), "probe.local.toml")
    assert f"added to {local}:4: allow out tcp ports=7000" in res.stdout, res.stdout
    assert "reloaded: policy revision" in res.stdout
    assert probe(lab, 7000) == "connected"
    assert probe(lab, 7001) == "timeout"  # only what was allowed
    with open(local) as f:
        text = f.read()
    assert text.startswith("# Managed by warden")
    assert 'extends = "probe"' in text
    assert os.stat(local).st_mode & 0o777 == 0o644

    # A person's comment in the managed file is kept byte for byte by the next command.
    with open(local, "a") as f:
        f.write("# kept: my note\n")
    res = cli(d, "deny", probe_path(), "--proto", "tcp", "--port", "7000", "--json")
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["ok"] and answer["reloaded"] and answer["profile"] == "probe"
    assert answer["replaced"] == ["allow out tcp ports=7000"], answer
    assert probe(lab, 7000) == "timeout"
    with open(local) as f:
        text = f.read()
    assert text.count("[[rule]]") == 1 and 'action = "deny"' in text
    assert "\n# kept: my note\n" in text, text

    # `warden rules` shows the drop-in rule first, with its own file.
    res = cli(d, "rules", "probe", "--json")
    assert res.returncode == 0, res.stderr
    rules = json.loads(res.stdout)
    shown = json.dumps(rules)
    assert "probe.local.toml" in shown, shown


def test_for_expires_by_itself_and_leaves_the_file(lab, wardend):
    d = start_with_probe_profile(wardend)
    res = cli(d, "allow", probe_path(), "--port", "7001", "--for", "3s")
    assert res.returncode == 0, res.stderr
    assert "expires" in res.stdout and "(in 3s)" in res.stdout, res.stdout
    assert probe(lab, 7001) == "connected"
    local = os.path.join(profiles_dir(d), "probe.local.toml")
    assert "expires = " in open(local).read()
    # No command: wardend reloads at the expiry and takes the rule out of its file.
    wait_for(lambda: "[[rule]]" not in open(local).read(), timeout=10,
             what="the expired rule removed from the file")
    assert probe(lab, 7001) == "timeout"
    assert "a rule expired at" in d.stderr()


def test_expiry_while_wardend_is_down(lab, wardend):
    d = start_with_probe_profile(wardend)
    res = cli(d, "allow", probe_path(), "--port", "7002", "--for", "3s")
    assert res.returncode == 0, res.stderr
    assert probe(lab, 7002) in ("connected", "refused")  # allowed: the server answers
    assert d.terminate() == 0
    local = os.path.join(profiles_dir(d), "probe.local.toml")
    text = open(local).read()
    assert "expires = " in text
    # The file says the expiry to the second (rounded up): start again only once it is past.
    expires = re.search(r"expires = (\S+)", text).group(1)
    at = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, at - time.time()) + 0.5)
    d.start()
    assert "[[rule]]" not in open(local).read()
    assert probe(lab, 7002) == "timeout"


def test_no_profile_creates_one_that_works(lab, wardend):
    d = wardend(tag="edit", engine={"default": "deny"})
    assert probe(lab, 7000) == "timeout"
    res = cli(d, "allow", probe_path(), "--proto", "tcp", "--port", "7000")
    assert res.returncode == 0, res.stderr
    created = os.path.join(profiles_dir(d), "tcp_probe.toml")
    assert f"created profile tcp_probe for {probe_path()} in {created}" in res.stdout
    text = open(created).read()
    assert f'path = "{probe_path()}"' in text and "sha256 = [" in text
    assert probe(lab, 7000) == "connected"
    assert probe(lab, 7001) == "timeout"  # the engine default stays


def test_a_bad_port_changes_nothing(lab, wardend):
    d = start_with_probe_profile(wardend)
    assert cli(d, "allow", probe_path(), "--port", "7000").returncode == 0
    before = snapshot(profiles_dir(d))
    revision = d.status()["policy"]["revision"]
    res = cli(d, "allow", probe_path(), "--port", "70000")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--port: invalid port 70000 (expected 1 to 65535)" in res.stderr, res.stderr
    res = cli(d, "allow", probe_path(), "--port", "9-3")
    assert res.returncode == 2 and "invalid port range '9-3'" in res.stderr, res.stderr
    res = cli(d, "allow", "/nonexistent/prog")
    assert res.returncode == 1 and "/nonexistent/prog: No such file" in res.stderr, res.stderr
    assert snapshot(profiles_dir(d)) == before
    assert d.status()["policy"]["revision"] == revision


def test_a_persons_drop_in_is_never_rewritten(lab, wardend):
    d = start_with_probe_profile(wardend)
    mine = write_profile(d, "probe.local.toml", 'extends = "probe"\n')
    before = snapshot(profiles_dir(d))
    res = cli(d, "allow", probe_path(), "--port", "7000")
    assert res.returncode == 1 and "was not written by warden" in res.stderr, res.stderr
    assert snapshot(profiles_dir(d)) == before
    assert open(mine).read() == 'extends = "probe"\n'


def test_a_read_only_profiles_dir_is_a_clear_error(lab, wardend):
    d = start_with_probe_profile(wardend)
    directory = profiles_dir(d)
    before = snapshot(directory)
    # A read-only bind mount in a mount namespace of the command's own: the host is untouched.
    res = run(["unshare", "-m", "--propagation", "private", "sh", "-c",
               'mount --bind -o ro "$0" "$0" && exec "$@"', directory,
               warden_cli(), "allow", probe_path(), "--port", "7000", "--config", d.config_path],
              check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"cannot write in {directory}: read-only file system" in res.stderr, res.stderr
    assert snapshot(directory) == before


def test_concurrent_edits_of_one_file_both_land(lab, wardend):
    d = start_with_probe_profile(wardend)
    procs = [subprocess.Popen([warden_cli(), "allow", probe_path(), "--port", str(port),
                               "--config", d.config_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for port in range(7100, 7106)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    text = open(os.path.join(profiles_dir(d), "probe.local.toml")).read()
    for port in range(7100, 7106):
        assert f"ports = [{port}]" in text, text
    assert text.count("[[rule]]") == 6
