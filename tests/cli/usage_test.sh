#!/bin/sh
# `warden` without a daemon, as a user or a script meets it: usage errors exit 2, --help
# everywhere exits 0 and documents the exit statuses, and the status/reload/log/profiles
# commands say clearly (and with their exit status) that wardend is not running or that the
# database does not exist yet.
# Usage: usage_test.sh WARDEN_BINARY SOURCE_DIR
set -u
warden=$1
source=$2
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# expect STATUS PATTERN COMMAND...: runs COMMAND, checks its exit status and that its output
# (stdout and stderr) matches the grep pattern.
expect() {
  want=$1 pattern=$2
  shift 2
  output=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL: '$*' exited $rc, expected $want; output:"
    printf '%s\n' "$output"
    failures=$((failures + 1))
  elif ! printf '%s\n' "$output" | grep -q -- "$pattern"; then
    echo "FAIL: '$*' output does not match '$pattern':"
    printf '%s\n' "$output"
    failures=$((failures + 1))
  fi
}

expect 2 "a command is required" "$warden"
expect 2 "frob" "$warden" frob
expect 2 "invalid time 'soon'" "$warden" log --since soon
expect 2 "maybe not in" "$warden" log --action maybe
expect 2 "limit" "$warden" log --limit -3
expect 2 "PID" "$warden" explain
expect 2 "" "$warden" explain 0
expect 2 "FILE" "$warden" hash
for command in check status reload profiles rules log explain hash; do
  expect 0 "Exit status:" "$warden" $command --help
done
expect 0 "3  wardend is not running" "$warden" --help
expect 1 "cannot read /nonexistent/warden.toml" "$warden" status --config /nonexistent/warden.toml

# A configuration whose daemon never ran: no socket, no database.
mkdir -p "$tmp/profiles.d"
cat > "$tmp/warden.toml" <<END
[engine]
default = "deny"
[log]
db = "warden.db"
[profiles]
dir = "profiles.d"
[control]
socket = "control.sock"
[[rule]]
action = "allow"
scope = "localhost"
END
cat > "$tmp/profiles.d/10-curl.toml" <<END
name = "curl"
[[match]]
path = "/usr/bin/curl"
END
chmod 755 "$tmp" "$tmp/profiles.d"
chmod 644 "$tmp/warden.toml" "$tmp/profiles.d/10-curl.toml"
config="--config $tmp/warden.toml"

expect 3 "^wardend is not running (no control socket at $tmp/control.sock)$" "$warden" status $config
expect 3 '^{"reason":"wardend is not running' "$warden" status --json $config
expect 3 "^warden: wardend is not running" "$warden" reload $config
expect 3 "^warden: wardend is not running" "$warden" reload --redecide $config
expect 5 "^warden: no verdict log at $tmp/warden.db" "$warden" log $config
expect 5 "no verdict log" "$warden" log -f $config
expect 0 "note: wardend is not running (no control socket at $tmp/control.sock); showing the policy files" \
  "$warden" profiles $config
expect 0 "path=/usr/bin/curl" "$warden" profiles $config
expect 0 "otherwise: deny (\[engine\] default)" "$warden" rules curl $config
expect 0 '"source":"files"' "$warden" rules --json $config
expect 1 "no profile 'firefox'" "$warden" rules firefox $config
expect 3 "^warden: wardend is not running" "$warden" explain 1 $config
# A socket file nobody listens on, as a killed daemon leaves it.
/usr/bin/python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" \
  "$tmp/control.sock"
expect 3 "nothing listens on $tmp/control.sock" "$warden" status $config
expect 0 'sha256 = \["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"\]' \
  sh -c "printf abc > '$tmp/abc' && '$warden' hash '$tmp/abc'"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "ok"
