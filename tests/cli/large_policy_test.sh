#!/bin/sh
# `warden check` of one profile of 20,000 rules of every kind (SPEC section 10): it passes,
# counts every rule, and names each rule that an earlier one shadows, with both lines. Its
# speed is measured by bench/policy_size.py, not here.
# Usage: large_policy_test.sh WARDEN_BINARY
set -eu
warden=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/profiles.d"
printf '[profiles]\ndir = "profiles.d"\n' >"$dir/warden.toml"

# Rule i starts at line 5 + 4 * i; rule i with i % 1000 = 999 repeats rule i - 500.
awk -v file="$dir/profiles.d/large.toml" -v expected="$dir/expected" 'BEGIN {
  printf "name = \"large\"\ndefault = \"deny\"\n[[match]]\npath = \"/usr/bin/large\"\n" >file
  for (i = 0; i < 20000; i++) {
    k = i
    if (i % 1000 == 999) {
      k = i - 500
      printf "profiles.d/large.toml:%d:1: warning: rule can never match: the rule at " \
             "profiles.d/large.toml:%d:1 matches every flow it matches\n", 5 + 4 * i, 5 + 4 * k >expected
    }
    printf "[[rule]]\naction = \"%s\"\n", (k % 2 ? "allow" : "deny") >file
    p = 1 + k % 60000
    if (k % 6 == 0) printf "ip = \"10.%d.%d.%d\"\nports = %d\n", int(k / 65536), int(k / 256) % 256, k % 256, p >file
    if (k % 6 == 1) printf "ip = [\"192.0.%d.0/24\", \"2001:db8:%x::/48\"]\nports = [\"%d-%d\", %d]\n", k % 256, k, p, p + 3, p + 20000 >file
    if (k % 6 == 2) printf "host = \"*.d%d.example.org\"\nports = 443\n", k >file
    if (k % 6 == 3) printf "host = \"H%d.Example.net.\"\nproto = \"tcp\"\n", k >file
    if (k % 6 == 4) printf "scope = \"%s\"\nports = %d\n", (k % 4 ? "internet" : "lan"), p >file
    if (k % 6 == 5) printf "direction = \"in\"\nports = %d\n", p >file
  }
}'

status=0
set +e
out=$(cd "$dir" && "$warden" check --config warden.toml 2>"$dir/stderr")
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "FAIL: exit status $rc, expected 0"
  head -5 "$dir/stderr"
  status=1
fi
if [ "$out" != "warden.toml: OK, 0 global rules, 1 profile with 20000 rules, 20 warnings" ]; then
  echo "FAIL: unexpected summary: $out"
  status=1
fi
sed "s|$dir/||g" "$dir/stderr" >"$dir/got"
if ! cmp -s "$dir/got" "$dir/expected"; then
  echo "FAIL: the warnings differ (got, then expected):"
  head -5 "$dir/got"
  head -5 "$dir/expected"
  status=1
fi
exit $status
