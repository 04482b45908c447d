#!/usr/bin/env python3
"""`warden` on a terminal, as systemctl and journalctl behave there: long output goes through
the pager ($WARDEN_PAGER, else $PAGER, else less with LESS=FRXMK) and is coloured; into a pipe,
with --no-pager, or for --json neither pager nor (unless --color always) colour; NO_COLOR,
--color never and TERM=dumb switch colour off. Runs the real binary on a real pseudo-terminal
(python's pty module); the pager is a script that records what it was given. No daemon and no
privileges: `rules` and `profiles` show the policy files when wardend is not running.
Usage: terminal_test.py WARDEN_BINARY"""
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile

ESC = b"\x1b["
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAIL: {what}")


def read_text(path):
    """The file's text, or None when the pager never wrote it."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def run_on_tty(argv, env):
    """Runs argv with stdin, stdout and stderr on a new pseudo-terminal; returns (exit status,
    everything written to the terminal)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env,
                            close_fds=True)
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 10)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return proc.wait(10), output


def main():
    warden = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="warden-terminal-")
    try:
        os.makedirs(os.path.join(tmp, "profiles.d"))
        with open(os.path.join(tmp, "warden.toml"), "w") as f:
            f.write('[engine]\ndefault = "deny"\n[log]\ndb = "warden.db"\n'
                    '[profiles]\ndir = "profiles.d"\n[control]\nsocket = "control.sock"\n'
                    '[[rule]]\naction = "allow"\nscope = "localhost"\n')
        with open(os.path.join(tmp, "profiles.d", "10-curl.toml"), "w") as f:
            f.write('name = "curl"\ndefault = "deny"\n[[match]]\npath = "/usr/bin/curl"\n'
                    '[[rule]]\naction = "reject"\nports = [25]\n')
        recorded = os.path.join(tmp, "paged")
        less = os.path.join(tmp, "less")
        pager = os.path.join(tmp, "pager")
        with open(pager, "w") as f:
            f.write(f'#!/bin/sh\nprintf %s "$LESS" > {less}\ncat > {recorded}\n')
        os.chmod(pager, 0o755)
        config = ["--config", os.path.join(tmp, "warden.toml")]
        base_env = {k: v for k, v in os.environ.items()
                    if k not in ("NO_COLOR", "LESS", "PAGER", "WARDEN_PAGER")}
        base_env["TERM"] = "xterm-256color"

        def attempt(args, **env_changes):
            for path in (recorded, less):
                if os.path.exists(path):
                    os.unlink(path)
            env = dict(base_env, WARDEN_PAGER=pager)
            for key, value in env_changes.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
            status, screen = run_on_tty([warden, *args, *config], env)
            paged = None
            if os.path.exists(recorded):
                with open(recorded, "rb") as f:
                    paged = f.read()
            return status, screen, paged

        # On a terminal: paged, with colour and LESS=FRXMK.
        for command in ("rules", "profiles"):
            status, screen, paged = attempt([command])
            check(status == 0, f"{command} on a tty exited {status}: {screen!r}")
            check(paged is not None and b"curl" in paged,
                  f"{command} on a tty did not go through the pager: {screen!r}")
            check(paged is not None and ESC in paged,
                  f"{command} through the pager is not coloured: {paged!r}")
            check(read_text(less) == "FRXMK", f"{command}: the pager did not get LESS=FRXMK")
        status, screen, paged = attempt(["rules"])
        check(paged is not None and b"\x1b[32mallow out" in paged, f"allow not green: {paged!r}")
        check(paged is not None and b"\x1b[31mreject" in paged, f"reject not red: {paged!r}")
        check(paged is not None and b"\x1b[1m#\x1b[0m" in paged, f"header not bold: {paged!r}")
        check(paged is not None and b"matches: \x1b[31mdeny\x1b[0m" in paged,
              f"the engine default not red: {paged!r}")

        # A LESS of the user's own is kept; PAGER is used when WARDEN_PAGER is not set.
        status, screen, paged = attempt(["rules"], LESS="-S")
        check(read_text(less) == "-S", "a LESS that was set was replaced")
        status, screen, paged = attempt(["rules"], WARDEN_PAGER=None, PAGER=pager)
        check(paged is not None and b"curl" in paged, "PAGER was not used")

        # Colour off: NO_COLOR, --color never, TERM=dumb; still paged.
        for args, env, what in ((["rules"], {"NO_COLOR": "1"}, "NO_COLOR"),
                                (["--color", "never", "rules"], {}, "--color never"),
                                (["rules"], {"TERM": "dumb"}, "TERM=dumb")):
            status, screen, paged = attempt(args, **env)
            check(paged is not None and b"curl" in paged, f"{what}: not paged")
            check(paged is not None and ESC not in paged and ESC not in screen,
                  f"{what}: coloured anyway: {paged!r}")

        # No pager: --no-pager, WARDEN_PAGER empty or cat (systemd's habit), --json.
        for args, env, what in ((["--no-pager", "rules"], {}, "--no-pager"),
                                (["rules"], {"WARDEN_PAGER": ""}, "WARDEN_PAGER empty"),
                                (["rules"], {"WARDEN_PAGER": "cat", "PAGER": pager},
                                 "WARDEN_PAGER=cat"),
                                (["rules", "--json"], {}, "--json")):
            status, screen, paged = attempt(args, **env)
            check(status == 0, f"{what}: exited {status}")
            check(paged is None, f"{what}: the pager ran")
            check(b"curl" in screen, f"{what}: nothing on the terminal: {screen!r}")
        status, screen, paged = attempt(["--no-pager", "rules"])
        check(b"\x1b[32mallow" in screen, f"--no-pager on a tty is still coloured: {screen!r}")
        status, screen, paged = attempt(["rules", "--json"])
        check(ESC not in screen, f"--json is never coloured: {screen!r}")

        # Errors on a terminal: check's findings coloured on stderr (errors bold red).
        with open(os.path.join(tmp, "profiles.d", "20-bad.toml"), "w") as f:
            f.write('name = "bad"\n[[rule]]\naction = "sometimes"\n')
        status, screen, paged = attempt(["check"])
        check(status == 1, f"check of a bad policy exited {status}")
        check(b"\x1b[1;31merror\x1b[0m" in screen, f"check's error not bold red: {screen!r}")
        check(paged is None, "check went through the pager")
        os.unlink(os.path.join(tmp, "profiles.d", "20-bad.toml"))

        # Into a pipe: neither pager nor colour, whatever the terminal variables say.
        env = dict(base_env, WARDEN_PAGER=pager)
        if os.path.exists(recorded):
            os.unlink(recorded)
        piped = subprocess.run([warden, "rules", *config], env=env, capture_output=True,
                               stdin=subprocess.DEVNULL)
        check(piped.returncode == 0 and b"curl" in piped.stdout, f"rules into a pipe: {piped}")
        check(not os.path.exists(recorded), "the pager ran into a pipe")
        check(ESC not in piped.stdout, f"coloured into a pipe: {piped.stdout!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
