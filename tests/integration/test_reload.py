"""Reloading: SIGHUP (and the control socket's reload) build the new policy aside and swap it in
for new flows; a broken config is refused with file:line:column errors and the running policy
stays in force."""
import re

from warden_daemon import render_config
from warden_expect import DROP_WAIT_MS, dropped, wait_until
from warden_lab import S4, S6


def deny_port(port):
    return [{"action": "deny", "proto": "tcp", "ports": port}]


def policy_denies(lab, denied, allowed):
    """True when a new flow to `allowed` connects and one to `denied` is dropped (both families)."""
    for host in (S4, S6):
        if lab.tcp_probe(host, allowed, timeout_ms=500).outcome != "connected":
            return False
        if not dropped(lab.tcp_probe(host, denied, timeout_ms=DROP_WAIT_MS)):
            return False
    return True


def switched_to(lab, now_allowed):
    return lab.tcp_probe(S4, now_allowed, timeout_ms=300).outcome == "connected"


def broken_config(d, bad_line='action = "permit"'):
    text = render_config(d.dir, rules=deny_port(7000)) + f'\n[[rule]]\n{bad_line}\n'
    line = text.splitlines().index(bad_line) + 1
    col = bad_line.index('"') + 1
    return text, line, col


def test_sighup_reload_takes_effect_for_new_flows(lab, wardend):
    d = wardend(rules=deny_port(7001))
    assert policy_denies(lab, denied=7001, allowed=7000)
    held = lab.tcp_session(S4, 7000)  # decided before the reload: keeps its verdict
    d.write_config(rules=deny_port(7000))
    d.hup()
    assert wait_until(lambda: switched_to(lab, 7001), timeout=5), \
        f"SIGHUP reload did not take effect within 5 s:\n{d.stderr()}"
    assert policy_denies(lab, denied=7000, allowed=7001)
    assert d.alive()
    assert not any(t.startswith("fail") for _, t in held.lines), held.stdout_text()
    assert held.alive()


def test_sighup_with_broken_config_keeps_running_policy(lab, wardend):
    d = wardend(rules=deny_port(7001))
    text, line, col = broken_config(d)
    d.write_config(text=text)
    d.hup()
    pattern = re.escape(d.config_path) + f":{line}:{col}: error: "
    assert wait_until(lambda: re.search(pattern, d.stderr()), timeout=5), \
        f"expected an error at {d.config_path}:{line}:{col}:\n{d.stderr()}"
    assert d.alive(), "a broken config must not stop the daemon"
    assert policy_denies(lab, denied=7001, allowed=7000), "the old policy must stay in force"
    # And a good config afterwards is taken.
    d.write_config(rules=deny_port(7000))
    d.hup()
    assert wait_until(lambda: switched_to(lab, 7001), timeout=5), d.stderr()
    assert policy_denies(lab, denied=7000, allowed=7001)


def test_control_reload(lab, wardend):
    d = wardend(rules=deny_port(7001))
    d.write_config(rules=deny_port(7000))
    answer = d.request("reload")
    assert answer.get("ok") is True, answer
    assert wait_until(lambda: switched_to(lab, 7001), timeout=3), d.stderr()
    assert policy_denies(lab, denied=7000, allowed=7001)

    text, line, col = broken_config(d)
    d.write_config(text=text)
    answer = d.request("reload")
    assert answer.get("ok") is False, f"a broken config must be refused: {answer}"
    assert d.alive()
    assert policy_denies(lab, denied=7000, allowed=7001)


def test_reload_changes_mode(lab, wardend):
    d = wardend(rules=deny_port(7001))
    d.write_config(engine={"mode": "learn"}, rules=deny_port(7001))
    d.hup()
    assert wait_until(lambda: d.status()["mode"] == "learn", timeout=5), d.stderr()
    assert lab.tcp_probe(S4, 7001).outcome == "connected"


def test_settings_bound_at_start_stay_until_a_restart(lab, wardend):
    # The queues are bound and the workers mark verdicts with the bits they started with: a
    # reload that changes them keeps the running values (and says so) while the policy changes.
    d = wardend(rules=deny_port(7001))
    held = lab.tcp_session(S4, 7000)
    d.write_config(engine={"mark_mask": 0x0000000f, "queues": [3]}, rules=deny_port(7000))
    assert d.request("reload").get("ok") is True
    assert wait_until(lambda: switched_to(lab, 7001), timeout=5), d.stderr()
    assert "change only at restart; the running values stay" in d.stderr()
    assert policy_denies(lab, denied=7000, allowed=7001)
    assert sorted(q["queue"] for q in d.status()["queues"]) == [0, 1]
    ruleset = lab.c.run(["nft", "list", "table", "inet", "warden"]).stdout
    assert "0x00f00000" in ruleset and "0x0000000f" not in ruleset, ruleset
    assert not any(t.startswith("fail") for _, t in held.lines), held.stdout_text()
