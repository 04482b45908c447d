#!/bin/sh
# The built manual pages: each one exists, carries the project's version, and groff formats
# it without a single warning (-ww: all of them), as man(1) would.
# Usage: man_test.sh BUILT_MAN_DIR VERSION PAGE...
set -u
dir=$1
version=$2
shift 2
failures=0

if ! command -v groff >/dev/null; then
  echo "SKIP: groff is not installed (apt-get install groff-base)"
  exit 77
fi

for page in "$@"; do
  file=$dir/$page
  if [ ! -s "$file" ]; then
    echo "FAIL: $file was not built"
    failures=$((failures + 1))
    continue
  fi
  if ! grep -q "^\.TH .*\"warden $version\"" "$file"; then
    echo "FAIL: $file does not say version $version in its .TH line:"
    grep '^\.TH' "$file"
    failures=$((failures + 1))
  fi
  warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$file" 2>&1)
  if [ -n "$warnings" ]; then
    echo "FAIL: groff warns about $file:"
    printf '%s\n' "$warnings"
    failures=$((failures + 1))
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "ok: $# pages"
