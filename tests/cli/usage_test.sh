#!/bin/sh
# `warden` without a daemon, as a user or a script meets it: usage errors exit 2 and say in
# words what an option accepts, --help everywhere exits 0 and documents the exit statuses,
# the status/reload/log/profiles commands say clearly (and with their exit status) that
# wardend is not running or that the database does not exist yet, and with --json they say it
# as JSON on stdout. Into a pipe nothing is coloured unless --color always asks for it.
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

# expect_stdout STATUS PATTERN COMMAND...: as expect, on stdout alone.
expect_stdout() {
  want=$1 pattern=$2
  shift 2
  output=$("$@" 2>/dev/null)
  rc=$?
  if [ "$rc" -ne "$want" ] || ! printf '%s\n' "$output" | grep -q -- "$pattern"; then
    echo "FAIL: '$*' exited $rc (expected $want); stdout does not match '$pattern' or is:"
    printf '%s\n' "$output"
    failures=$((failures + 1))
  fi
}

# Bare `warden`: the help on stdout, and the usage status (see cli/main.cpp for why).
expect_stdout 2 "^Usage: .*SUBCOMMAND" "$warden"
expect_stdout 2 "log  *The verdict log" "$warden"
expect 2 "frob" "$warden" frob
expect 2 "^--since: invalid time 'soon': expected today, yesterday" "$warden" log --since soon
expect 2 "^--until: invalid time 'later'" "$warden" log --until later
expect 2 "^warden: --until yesterday (.*) is not after --since today (.*)" \
  "$warden" log --since today --until yesterday
expect 2 "^--action: must be allow, deny or reject, got 'maybe'$" "$warden" log --action maybe
expect 2 "^--limit: must be a whole number from 0 to 1000000000, got '-3'$" "$warden" log --limit -3
expect 2 "^--limit: must be a whole number from 0 to 1000000000, got '1e3'$" "$warden" log -n 1e3
expect 2 "^--limit: must be a whole number from 0 to 1000000000, got '2000000000'$" \
  "$warden" log --limit 2000000000
expect 2 "PID" "$warden" explain
expect 2 "^PID: must be a whole number from 1 to 4194304, got '0'$" "$warden" explain 0
expect 2 "^PID: must be a whole number from 1 to 4194304, got '99999999'$" "$warden" explain 99999999
expect 2 "^--color: must be auto, always or never, got 'blue'$" "$warden" --color blue status
expect 2 "FILE" "$warden" hash
# No "1.79769e+308" or any other float in any usage error.
for bad in "log --limit -1" "explain -5" "log -n x"; do
  expect 2 "must be a whole number from [0-9]* to [0-9]*, got" "$warden" $bad
done

# The version is project()'s in CMakeLists.txt; without a daemon that is said, with status 0.
version=$(sed -n 's/^project(warden VERSION \([0-9.]*\).*/\1/p' "$source/CMakeLists.txt")
expect_stdout 0 "^warden $version$" "$warden" --version --config /nonexistent/warden.toml
expect_stdout 0 "^wardend: version unknown (cannot read /nonexistent/warden.toml" \
  "$warden" --version --config /nonexistent/warden.toml
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
expect_stdout 0 "^wardend is not running (no control socket at $tmp/control.sock)$" \
  "$warden" --version $config

# --json on the failure paths: one JSON line on stdout (the message stays on stderr).
expect_stdout 3 '^{"error":"wardend is not running (no control socket at [^"]*)","exit_status":3,"ok":false}$' \
  "$warden" reload --json $config
expect_stdout 3 '^{"error":"wardend is not running.*"exit_status":3,"ok":false}$' \
  "$warden" explain --json 1 $config
expect_stdout 5 '^{"error":"no verdict log at .*","exit_status":5,"ok":false}$' \
  "$warden" log --json $config
expect_stdout 1 '^{"error":"no profile .firefox.","exit_status":1,"ok":false}$' \
  "$warden" rules --json firefox $config
expect_stdout 1 '^{"error":"cannot read /nonexistent/warden.toml.*","exit_status":1,"ok":false}$' \
  "$warden" profiles --json --config /nonexistent/warden.toml
expect_stdout 1 '^{"error":"cannot read /nonexistent/warden.toml.*","exit_status":1,"ok":false}$' \
  "$warden" status --json --config /nonexistent/warden.toml
expect_stdout 1 '"file":"/nonexistent/file","ok":false' "$warden" hash --json /nonexistent/file
expect_stdout 0 '^{"config":"[^"]*","diagnostics":\[\],"ok":true,"summary":{"errors":0,"global_rules":1,"profiles":1,"rules":0,"warnings":0}}$' \
  "$warden" check --json $config
expect_stdout 1 '"ok":false' "$warden" check --json --config "$source/tests/cli/bad-policy/warden.toml"

# Into a pipe: never coloured or paged (WARDEN_PAGER would record it), unless asked.
esc=$(printf '\033')
for command in "rules" "profiles" "--color auto rules" "--color never rules"; do
  output=$(WARDEN_PAGER="touch $tmp/paged" TERM=xterm "$warden" $command $config 2>&1)
  if printf '%s' "$output" | grep -q "$esc" || [ -e "$tmp/paged" ]; then
    echo "FAIL: '$command' into a pipe was coloured or paged"
    failures=$((failures + 1))
  fi
done
if ! "$warden" --color always rules $config 2>&1 | grep -q "${esc}\[32mallow"; then
  echo "FAIL: --color always did not colour 'allow' green into a pipe"
  failures=$((failures + 1))
fi
expect 0 "otherwise: deny" "$warden" --no-pager rules curl $config
# The global options after the command too, as systemctl takes them.
expect 0 "otherwise: deny" "$warden" rules --no-pager curl $config
if ! "$warden" rules curl --color always $config 2>&1 | grep -q "${esc}\[31mdeny"; then
  echo "FAIL: --color always after the command did not colour 'deny' red"
  failures=$((failures + 1))
fi
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
