"""`wardend --check`: a good warden.toml passes (exit 0); each kind of bad input (SPEC section 9)
is refused with exit 1 and an error at the exact file:line:column. wardend without --check refuses
to start on the same files, and creates no table. Syntax-error columns are those toml++ reports;
semantic errors point at the offending value (for a list, the offending element), an unknown key
at the key."""
import os
import re

import pytest

from warden_daemon import render_config, warden_tables
from warden_lab import run, wardend_path


@pytest.fixture
def tmp(root, tmp_path):
    os.makedirs(tmp_path / "profiles.d", exist_ok=True)
    return tmp_path


def locate(text, line_snippet, token):
    """1-based (line, column) of token within the first line containing line_snippet."""
    for n, line in enumerate(text.splitlines(), 1):
        if line_snippet in line:
            return n, line.index(token) + 1
    raise AssertionError(f"{line_snippet!r} not in config")


def write(tmp, text, name="warden.toml"):
    path = str(tmp / name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def check(path):
    return run([wardend_path(), "--check", "--config", path], timeout=10, check=False)


def error_lines(stderr):
    return [l for l in stderr.splitlines() if ": error: " in l]


def assert_error_at(res, path, line, column, mentions=None):
    assert res.returncode == 1, f"exit {res.returncode}, stderr:\n{res.stderr}"
    pattern = re.compile(re.escape(path) + f":{line}:" + (f"{column}:" if column else r"\d+:")
                         + r" error: \S")
    found = [l for l in res.stderr.splitlines() if pattern.match(l)]
    assert found, (f"expected an error at {path}:{line}:{column or '*'}; stderr:\n{res.stderr}")
    if mentions:
        assert any(mentions in l for l in found), f"error should name {mentions!r}: {found}"


def test_good_config_passes(tmp):
    text = render_config(str(tmp), rules=[
        {"action": "allow", "scope": "localhost", "comment": "loopback"},
        {"action": "deny", "direction": "out", "proto": "tcp", "ip": ["192.0.2.10", "2001:db8::/32"],
         "ports": [443, "8000-8100"], "log": False},
        {"action": "reject", "direction": "in", "proto": "udp", "ip": "198.51.100.0/24",
         "ports": 53},
        {"action": "deny", "proto": "icmp"},
        {"action": "allow", "proto": "any", "scope": "lan"},
    ], engine={"mark_mask": 0x00f00000, "queue_maxlen": 4096})
    res = check(write(tmp, text))
    assert res.returncode == 0, res.stderr
    assert not error_lines(res.stderr), res.stderr


def test_shipped_config_passes(root):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "warden", "warden.toml")
    res = check(os.path.abspath(path))
    assert res.returncode == 0, res.stderr


# (id, config text appended to a valid base or replacing a line, snippet, token, mentions)
# Each case is a valid base config plus one bad line; the expected position is computed from the
# text itself, so the cases read as what a user would write.
SEMANTIC = [
    ("unknown-engine-key", "[engine]", 'moode = "learn"', "moode", "moode"),
    ("bad-mode", "[engine]", 'mode = "enforcing"', '"enforcing"', None),
    ("bad-default", "[engine]", 'default = "permit"', '"permit"', None),
    ("bad-fail", "[engine]", 'fail = "ajar"', '"ajar"', None),
    ("queues-wrong-type", "[engine]", 'queues = "zero"', '"zero"', None),
    ("inbound-wrong-type", "[engine]", 'inbound = "yes"', '"yes"', None),
    ("unknown-section-key", "[log]", "colour = true", "colour", "colour"),
    ("unknown-rule-key", "[[rule]]", 'hosts = "x"', "hosts", "hosts"),
    ("rule-bad-action", "[[rule]]", 'action = "permit"', '"permit"', None),
    ("rule-bad-direction", "[[rule]]", 'direction = "sideways"', '"sideways"', None),
    ("rule-bad-proto", "[[rule]]", 'proto = "sctp"', '"sctp"', None),
    ("rule-bad-scope", "[[rule]]", 'scope = "moon"', '"moon"', None),
    ("rule-bad-cidr", "[[rule]]", 'ip = "192.0.2.0/33"', '"192.0.2.0/33"', None),
    ("rule-bad-ipv4", "[[rule]]", 'ip = ["192.0.2.1", "10.0.0.300"]', '"10.0.0.300"', None),
    ("rule-bad-ipv6-cidr", "[[rule]]", 'ip = "2001:db8::/129"', '"2001:db8::/129"', None),
    ("rule-bad-port-range", "[[rule]]", 'ports = "9000-80"', '"9000-80"', None),
    ("rule-port-too-big", "[[rule]]", "ports = [80, 70000]", "70000", None),
    ("rule-port-wrong-type", "[[rule]]", "ports = 1.5", "1.5", None),
    ("rule-log-wrong-type", "[[rule]]", 'log = "yes"', '"yes"', None),
]


def config_with(tmp, section, line):
    """A valid config with `line` added at the end of `section` (a [[rule]] is created)."""
    base = render_config(str(tmp), rules=[{"action": "allow", "scope": "localhost"}])
    if section == "[[rule]]":
        if line.startswith("action"):
            return base + "\n[[rule]]\n" + line + "\n"
        return base + '\n[[rule]]\naction = "deny"\n' + line + "\n"
    key = line.split("=")[0].strip()
    out, current = [], None
    for l in base.splitlines():
        if l.startswith("["):
            current = l
        if current == section and l.split("=")[0].strip() == key:
            continue  # the bad line replaces the good one
        out.append(l)
        if l == section:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("section,line,token,mentions",
                         [c[1:] for c in SEMANTIC], ids=[c[0] for c in SEMANTIC])
def test_semantic_error_location(tmp, section, line, token, mentions):
    text = config_with(tmp, section, line)
    path = write(tmp, text)
    want_line, want_col = locate(text, line, token)
    assert_error_at(check(path), path, want_line, want_col, mentions)


# Syntax errors: the positions toml++ 3.3 reports (the daemon is expected to pass them on).
def test_syntax_unterminated_string(tmp):
    text = render_config(str(tmp)).replace('mode = "enforce"', 'mode = "enforce')
    path = write(tmp, text)
    line, _ = locate(text, 'mode = "enforce', "mode")
    assert_error_at(check(path), path, line, len('mode = "enforce') + 1)


def test_syntax_duplicate_key(tmp):
    text = render_config(str(tmp)).replace('mode = "enforce"', 'mode = "enforce"\nmode = "learn"')
    path = write(tmp, text)
    line, col = locate(text, 'mode = "learn"', '"learn"')
    assert_error_at(check(path), path, line, col)


def test_syntax_missing_value(tmp):
    text = render_config(str(tmp)).replace('fail = "open"', "fail = ")
    path = write(tmp, text)
    line, _ = locate(text, "fail = ", "fail")
    assert_error_at(check(path), path, line, len("fail = ") + 1)


def test_syntax_bad_table_header(tmp):
    text = render_config(str(tmp)).replace("[log]", "[log")
    path = write(tmp, text)
    line, _ = locate(text, "[log", "[")
    assert_error_at(check(path), path, line, len("[log") + 1)


def test_rule_without_action(tmp):
    text = render_config(str(tmp)) + '\n[[rule]]\nproto = "tcp"\nports = 80\n'
    path = write(tmp, text)
    res = check(path)
    assert res.returncode == 1, res.stderr
    # Either the [[rule]] header or its first key is a fair place to point at.
    lines = text.splitlines()
    header = max(i for i, l in enumerate(lines, 1) if l == "[[rule]]")
    assert any(re.match(re.escape(path) + f":({header}|{header + 1}):\\d+: error: ", l)
               for l in res.stderr.splitlines()), res.stderr


def test_missing_file(tmp):
    path = str(tmp / "nope.toml")
    res = check(path)
    assert res.returncode == 1
    assert path in res.stderr, res.stderr


def test_world_writable_config_refused(tmp):
    path = write(tmp, render_config(str(tmp)))
    os.chmod(path, 0o666)
    res = check(path)
    assert res.returncode == 1, "a warden.toml writable by others must be refused (SPEC 9)"
    assert path in res.stderr, res.stderr


def test_daemon_refuses_to_start_on_bad_config(bare_lab, tmp):
    text = config_with(tmp, "[[rule]]", 'ip = "192.0.2.0/33"')
    path = write(tmp, text)
    line, col = locate(text, 'ip = "192.0.2.0/33"', '"192.0.2.0/33"')
    res = bare_lab.c.run([wardend_path(), "--config", path], timeout=10, check=False)
    assert res.returncode != 0, "wardend must refuse to start without a good policy"
    assert re.search(re.escape(path) + f":{line}:{col}: error: ", res.stderr), res.stderr
    assert warden_tables(bare_lab.c) == [], "a refused start must not leave a table"


def test_daemon_refuses_a_broken_profile_before_touching_the_kernel(bare_lab, tmp):
    """A good warden.toml and a profile with an error: wardend refuses to start and names the
    error, before it probes nftables or sets up attribution (no eBPF program is loaded for a
    start that is refused), and leaves no table."""
    path = write(tmp, render_config(str(tmp)))
    profile = write(tmp, 'name = "broken"\n[[match]]\npath = 3\n', name="profiles.d/broken.toml")
    res = bare_lab.c.run([wardend_path(), "--config", path], timeout=20, check=False)
    assert res.returncode == 1, res.stderr
    assert re.search(re.escape(profile) + r":3:8: error: ", res.stderr), res.stderr
    assert "queue method" not in res.stderr and "attribution" not in res.stderr, res.stderr
    assert warden_tables(bare_lab.c) == [], "a refused start must not leave a table"
