"""What the integration tier does differently when scripts/test built everything with GCC's
sanitizers (WARDEN_SANITIZE set, see scripts/sanitizer-env): a sanitizer report in the output of
any program a test ran, or a sanitizer's exit status, fails the test; tests that measure memory
or speed skip, since a sanitized program is several times bigger and slower."""
import os
import re

import pytest

SANITIZE = os.environ.get("WARDEN_SANITIZE", "")
# The exit status scripts/sanitizer-env gives every sanitizer's stop.
SANITIZER_EXIT = int(os.environ.get("WARDEN_SANITIZER_EXIT", "86"))

# The first line of every report: ASan and LSan errors, TSan warnings (races, lock inversions,
# signal-unsafe calls) and UBSan's "file:line:col: runtime error: ...".
_REPORT = re.compile(r"^(==\d+==\s*ERROR: (Address|Leak)Sanitizer.*"
                     r"|WARNING: ThreadSanitizer.*"
                     r"|\S+:\d+:\d+: runtime error: .*"
                     r"|SUMMARY: \w+Sanitizer.*)$", re.M)


def findings(text):
    """The sanitizer report lines in text (empty when there are none)."""
    return [m.group(0) for m in _REPORT.finditer(text or "")]


def check_output(what, stderr, returncode=None):
    """Raises AssertionError, with the report, when stderr holds a sanitizer report or the
    program exited with the sanitizers' status."""
    found = findings(stderr)
    if found or (SANITIZE and returncode == SANITIZER_EXIT):
        raise AssertionError(f"{what}: sanitizer report (exit {returncode}): {found}\n{stderr}")


def skip_under_sanitizer(reason):
    """Skips the calling test in a sanitizer build: for tests whose numbers (memory, time) a
    sanitizer's overhead makes meaningless. reason says what is measured."""
    if SANITIZE:
        pytest.skip(f"WARDEN_SANITIZE={SANITIZE}: {reason}")
