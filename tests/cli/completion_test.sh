#!/bin/bash
# completion/warden.bash driven in a real bash, as readline would call it: the words typed so
# far in COMP_WORDS, the one being completed at COMP_CWORD, the candidates in COMPREPLY.
# Profile names come from the built `warden profiles --json`, run against a configuration of
# the test's own.
# Usage: completion_test.sh WARDEN_BINARY SOURCE_DIR
set -u
warden=$1
source=$2
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The candidates for the words (the last one is being completed), sorted, one a line.
candidates() {
  local function=$1
  shift
  bash -c 'source "$1"; shift; function=$1; shift; COMP_WORDS=("$@")
           COMP_CWORD=$(($# - 1)); "$function"; printf "%s\n" "${COMPREPLY[@]}"' \
    bash "$source/completion/warden.bash" "$function" "$@" | sort
}

# expect FUNCTION "CANDIDATES" WORD...: the completion of the words is exactly CANDIDATES
# (sorted, space-separated).
expect() {
  local function=$1 want=$2
  shift 2
  local got
  got=$(candidates "$function" "$@" | xargs)
  if [ "$got" != "$want" ]; then
    echo "FAIL: completing '$*': got '$got', expected '$want'"
    failures=$((failures + 1))
  fi
}

# expect_among FUNCTION CANDIDATE WORD...: CANDIDATE is one of the completions (for lists
# that change while the test runs, such as PIDs).
expect_among() {
  local function=$1 want=$2
  shift 2
  if ! candidates "$function" "$@" | grep -qxF -- "$want"; then
    echo "FAIL: completing '$*': '$want' is not among the candidates"
    failures=$((failures + 1))
  fi
}

mkdir -p "$tmp/profiles.d" "$tmp/bin"
cat > "$tmp/warden.toml" <<END
[log]
db = "warden.db"
[profiles]
dir = "profiles.d"
[control]
socket = "control.sock"
END
cat > "$tmp/profiles.d/10-clients.toml" <<END
[[profile]]
name = "curl"
[[profile.match]]
path = "/usr/bin/curl"

[[profile]]
name = "chromium"
[[profile.match]]
path = "/usr/bin/chromium"
END
cat > "$tmp/profiles.d/20-ssh.toml" <<END
name = "ssh"
[[match]]
path = "/usr/bin/ssh"
END
touch "$tmp/bin/tool-one" "$tmp/bin/tool-two" "$tmp/bin/other"

# Commands and options.
expect _warden "log" warden lo
expect _warden "reject reload rules" warden r
expect _warden "allow check deny explain hash log profiles prompt reject reload rules status suggest" warden ""
expect _warden "profiles prompt" warden p
expect _warden "" warden prompt ""
expect _warden "--redecide" warden reload --re
expect _warden "--port --proto" warden allow /bin/true --p
expect _warden "lan" warden deny x --scope la
expect _warden "--follow" warden --config x log --json --f
expect _warden "--limit" warden log -f --l
expect _warden "" warden status ""
# Finite values.
expect _warden "allow deny reject" warden log --action ""
expect _warden "deny" warden log --action d
expect _warden "always auto never" warden --color ""
expect _warden "always" warden status --color = al
expect _warden "always auto never" warden status --color =
expect _warden "today" warden log --since to
# Profile names from the tool itself, through the --config given on the line.
expect _warden "chromium curl ssh" "$warden" --config "$tmp/warden.toml" rules ""
expect _warden "chromium curl" "$warden" log --config "$tmp/warden.toml" --profile c
expect _warden "curl" "$warden" log --config = "$tmp/warden.toml" --profile = cu
expect _warden "" "$warden" --config "$tmp/warden.toml" rules ssh ""
# No tool to ask: no names, and no error.
expect _warden "" /nonexistent/warden rules ""
# Files for hash and --config, PIDs for explain.
expect _warden "$tmp/bin/tool-one $tmp/bin/tool-two" warden hash "$tmp/bin/tool"
expect _warden "$tmp/warden.toml" warden --config "$tmp/warden."
expect _warden "$tmp/warden.toml" warden check --config "$tmp/warden."
expect_among _warden "$$" warden explain "$$"
expect_among _warden "1" warden explain ""
expect _warden "" warden explain "$$" ""
# suggest: its options, profile names, and directories (not files) for --out.
expect _warden "--out" warden suggest --o
expect _warden "chromium curl" "$warden" suggest --config "$tmp/warden.toml" --profile c
expect _warden "$tmp/bin" warden suggest --since 1h --out "$tmp/bi"
# wardend.
expect _wardend "--check --cleanup --config" wardend --c
expect _wardend "$tmp/warden.toml" wardend -c "$tmp/warden."

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "ok"
