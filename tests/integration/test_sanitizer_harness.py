"""The harness's side of the sanitizer runs (warden_sanitizer.py): a report in a program's output
fails the test that ran it. Checked on the report lines each sanitizer prints and, in a sanitizer
build, on a real report from a client built and run like wardend (clients/sanitizer_probe.c)."""
import os
import subprocess

import pytest

from warden_lab import clients_dir, run
from warden_sanitizer import SANITIZE, SANITIZER_EXIT, check_output, findings

# First lines as GCC 12's runtimes print them, and lines that must not count.
REPORTS = [
    "==4242==ERROR: LeakSanitizer: detected memory leaks",
    "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010",
    "WARNING: ThreadSanitizer: data race (pid=4242)",
    "../engine/dns/dns.cpp:120:31: runtime error: signed integer overflow: 2147483647 + 1",
    "SUMMARY: AddressSanitizer: 4096 byte(s) leaked in 1 allocation(s).",
]
NOT_REPORTS = [
    "wardend: info: ready: queues 0-1, mode enforce, fail open, policy revision 1, 11 profiles",
    "wardend: error: runtime error: not a sanitizer line without file:line:col",
    "warning: ThreadSanitizer is mentioned here but not at the start",
]


@pytest.mark.parametrize("line", REPORTS)
def test_report_lines_are_findings(line):
    assert findings(f"before\n{line}\nafter\n") == [line]
    with pytest.raises(AssertionError):
        check_output("program", f"before\n{line}\n", 0)


@pytest.mark.parametrize("line", NOT_REPORTS)
def test_ordinary_lines_are_not(line):
    assert findings(line) == []
    check_output("program", line, 0)


def probe(mode):
    path = os.path.join(clients_dir(), "sanitizer_probe")
    if not os.access(path, os.X_OK):
        pytest.fail(f"client {path} is not built (set WARDEN_CLIENTS_DIR)")
    return [path, mode]


# Which sanitizer reports each mode of the probe.
MODES = {"leak": "address", "overflow": "undefined", "race": "thread"}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_real_report_fails_the_run(mode):
    if MODES[mode] not in SANITIZE.split(","):
        pytest.skip(f"needs a build with WARDEN_SANITIZE including {MODES[mode]}")
    res = subprocess.run(probe(mode), capture_output=True, text=True, timeout=60)
    assert res.returncode == SANITIZER_EXIT, (res.returncode, res.stderr)
    assert findings(res.stderr), res.stderr
    with pytest.raises(AssertionError, match="sanitizer report"):
        run(probe(mode), timeout=60, check=False)


def test_a_clean_run_passes():
    assert run(probe("clean"), timeout=60).returncode == 0
