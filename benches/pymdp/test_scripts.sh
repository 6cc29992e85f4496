#!/usr/bin/env bash
# Checks make_fixtures.py and compare.py, failure paths included:
#   benches/pymdp/test_scripts.sh
# Needs PyPI on first use (the scripts create benches/pymdp/.venv, or use $PYMDP_VENV).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benches/pymdp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0

expect() { # expect NAME WANTED_EXIT NEEDLE -- command...
  local name=$1 want=$2 needle=$3
  shift 4
  local code=0
  "$@" >"$tmp/out" 2>"$tmp/err" || code=$?
  if [[ $code -ne $want ]] || ! grep -qF -- "$needle" "$tmp/out" "$tmp/err"; then
    echo "FAIL $name: exit $code (wanted $want), output:" >&2
    cat "$tmp/out" "$tmp/err" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name"
    passes=$((passes + 1))
  fi
}

expect "make_fixtures rejects --random 0" 2 "--random must be at least 1" -- python3 $HERE/make_fixtures.py --random 0 --out "$tmp"
expect "make_fixtures rejects an unknown group" 2 "invalid choice" -- python3 $HERE/make_fixtures.py --only nope
expect "make_fixtures regenerates the committed two-factor fixtures" 0 "3 fixtures" -- python3 $HERE/make_fixtures.py --only two-factor --out "$tmp"
if ! cmp -s "$tmp/two_factor.json" crates/inference/tests/fixtures/two_factor.json; then
  echo "FAIL regenerated two_factor.json differs from the committed one" >&2
  failures=$((failures + 1))
else
  echo "ok   regenerated fixtures are identical"
  passes=$((passes + 1))
fi
expect "compare rejects --min-seconds 0" 2 "--min-seconds must be positive" -- python3 $HERE/compare.py --min-seconds 0
expect "compare fails when our engine fails" 1 "our engine failed" -- python3 $HERE/compare.py --skip-h5 --ours-binary /bin/false
expect "compare fails when our engine answers nothing" 1 "answered 0 of" -- python3 $HERE/compare.py --skip-h5 --ours-binary /bin/true

echo "$passes passed, $failures failed"
[[ $failures -eq 0 ]]
