#!/bin/sh
# `warden check` as a user runs it: the shipped policy passes, and a policy with one
# mistake of each kind fails with exit 1 and every error on its file:line:column.
# Usage: check_test.sh WARDEN_BINARY SOURCE_DIR
set -eu
warden=$1
source=$2
status=0

"$warden" check --config "$source/etc/warden/warden.toml" || {
  echo "FAIL: the shipped policy does not pass"
  status=1
}

cd "$source/tests/cli/bad-policy"
set +e
output=$("$warden" check --config warden.toml 2>&1)
rc=$?
set -e
output=$(printf '%s\n' "$output" | sed "s|$PWD/||g")
expected=$(cat <<'END'
warden.toml:4:14: error: 'queues' must be consecutive numbers
profiles.d/10-browser.toml:5:13: error: invalid glob '/usr/lib/firefox*/[firefox': unclosed '['
profiles.d/10-browser.toml:9:15: error: invalid port range '90-80'
profiles.d/10-browser.toml:10:6: error: invalid CIDR '192.0.2.0/33'
profiles.d/20-tools.toml:5:11: error: invalid regex '--proxy(': missing ): --proxy(
profiles.d/20-tools.toml:10:11: error: invalid sha256 'not-a-hash' (expected 64 hex digits)
profiles.d/20-tools.toml:11:9: error: unknown tag kind 'flatpack' (expected flatpak, snap, appimage, systemd, container or script)
profiles.d/20-tools.toml:12:1: error: unknown key 'colour' in [[match]]
warden.toml: 8 errors, 0 warnings; policy refused
END
)
if [ $rc -ne 1 ]; then
  echo "FAIL: exit status $rc, expected 1"
  status=1
fi
if [ "$output" != "$expected" ]; then
  echo "FAIL: the bad policy's diagnostics differ; got:"
  printf '%s\n' "$output"
  echo "expected:"
  printf '%s\n' "$expected"
  status=1
fi
exit $status
