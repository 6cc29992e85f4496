#!/usr/bin/env bash
# API contract checks: the committed and the served OpenAPI documents are valid OpenAPI 3.1, a
# typed Python client generates from the document with no error or warning, and schemathesis
# (every check, the stateful phase on) finds no failure against the real server on PostgreSQL +
# Redis. Every route in the document is covered: nothing here lists routes.
#
# Usage: bash .ci/contract-checks.sh [--no-install]
# Needs: a built `freeagentics` binary (FREEAGENTICS_BIN, default $CARGO_TARGET_DIR/debug/freeagentics),
# PostgreSQL at TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432) and Redis at
# TEST_REDIS_URL (default redis://127.0.0.1:6379). Exits non-zero on the first failing step.
set -euo pipefail
self="$(readlink -f "${BASH_SOURCE[0]}")"
cd "${self%/*}/.."

PIP_PACKAGES=("schemathesis==4.32.5" "openapi-spec-validator==0.9.0" "openapi-python-client==0.29.1")
PYBIN="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="${PYBIN}:${PATH}"

if [[ "${1:-}" != "--no-install" ]]; then
  missing=()
  command -v st >/dev/null || missing+=("${PIP_PACKAGES[0]}")
  command -v openapi-spec-validator >/dev/null || missing+=("${PIP_PACKAGES[1]}")
  command -v openapi-python-client >/dev/null || missing+=("${PIP_PACKAGES[2]}")
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing with pip: ${missing[*]}"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${missing[@]}"
  fi
fi

BIN="${FREEAGENTICS_BIN:-${CARGO_TARGET_DIR:-target}/debug/freeagentics}"
[[ -x "$BIN" ]] || { echo "contract-checks: no binary at $BIN (build it first)" >&2; exit 1; }
ADMIN_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"

WORK="$(mktemp -d)"
DB="fa_contract_$(date +%s)_$$"
PREFIX="fa:contract:$$:"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  psql "$ADMIN_URL/postgres" -q -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" 2>/dev/null | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf -- '-- %s\n' "$*"; }

step "committed document is valid OpenAPI"
openapi-spec-validator docs/openapi.json

step "typed client generates without errors or warnings"
openapi-python-client generate --path docs/openapi.json --output-path "$WORK/client" > "$WORK/generate.log" 2>&1 \
  || { cat "$WORK/generate.log"; echo "contract-checks: client generation failed" >&2; exit 1; }
if grep -qiE "warning|error" "$WORK/generate.log"; then
  cat "$WORK/generate.log"
  echo "contract-checks: client generation reported problems" >&2
  exit 1
fi

step "server on PostgreSQL + Redis"
psql "$ADMIN_URL/postgres" -q -c "create database $DB"
ADMIN_PASSWORD_VALUE="contract-check-$(date +%s%N)"
env -i PATH="$PATH" HOME="$WORK" \
  DATABASE_URL="$ADMIN_URL/$DB" REDIS_URL="$REDIS" REDIS_KEY_PREFIX="$PREFIX" \
  BIND_ADDR=127.0.0.1:0 DATA_DIR="$WORK/data" LOG_FORMAT=json LOG_LEVEL=info \
  RATE_LIMIT_ENABLED=false LOGIN_THROTTLE_IP_FAILURES=1000000 LOGIN_THROTTLE_ACCOUNT_IP_FAILURES=1000000 \
  LOGIN_THROTTLE_ACCOUNT_FAILURES=1000000 \
  ADMIN_USERNAME=contract-admin ADMIN_EMAIL=contract-admin@example.com ADMIN_PASSWORD="$ADMIN_PASSWORD_VALUE" \
  "$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 100); do
  BASE="$(python3 - "$WORK/server.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("message") == "serving" or entry.get("fields", {}).get("message") == "serving":
        print("http://" + (entry.get("addr") or entry.get("fields", {}).get("addr", "")))
        break
PY
)"
  [[ -n "$BASE" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "contract-checks: the server exited" >&2; exit 1; }
  sleep 0.2
done
[[ -n "$BASE" ]] || { cat "$WORK/server.log"; echo "contract-checks: the server did not start" >&2; exit 1; }
# the admin is created in the background at start-up
for _ in $(seq 1 50); do
  code="$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -d "{\"username_or_email\":\"contract-admin\",\"password\":\"$ADMIN_PASSWORD_VALUE\"}" "$BASE/api/v1/auth/login")"
  [[ "$code" == 200 ]] && break
  sleep 0.2
done
[[ "$code" == 200 ]] || { echo "contract-checks: the admin cannot sign in ($code)" >&2; exit 1; }

step "served document equals the committed one and is valid"
curl -sf "$BASE/api/v1/openapi.json" -o "$WORK/served.json"
openapi-spec-validator "$WORK/served.json"
python3 - docs/openapi.json "$WORK/served.json" <<'PY'
import json, sys
committed, served = (json.load(open(p)) for p in sys.argv[1:3])
if committed != served:
    sys.exit("contract-checks: the served document differs from docs/openapi.json")
PY

step "schemathesis: every check, stateful phase on"
CONTRACT_ADMIN_USERNAME=contract-admin CONTRACT_ADMIN_PASSWORD="$ADMIN_PASSWORD_VALUE" \
  st --no-color --config-file .ci/schemathesis.toml run "$BASE/api/v1/openapi.json" \
  --phases examples,coverage,fuzzing,stateful > "$WORK/schemathesis.log" 2>&1 || {
  cat "$WORK/schemathesis.log"
  echo "-- the server's log, last 40 lines"
  tail -n 40 "$WORK/server.log"
  echo "contract-checks: schemathesis found failures" >&2
  exit 1
}
# warnings do not fail the check, but they are shown: they point at schema constraints to tighten
sed -n '/^=* WARNINGS =*$/,$p' "$WORK/schemathesis.log"
if grep -qE "^Errors:" "$WORK/schemathesis.log"; then
  cat "$WORK/schemathesis.log"
  echo "contract-checks: schemathesis could not run some tests" >&2
  exit 1
fi
if grep -qE '"level":"ERROR"' "$WORK/server.log"; then
  grep -E '"level":"ERROR"' "$WORK/server.log" | head -n 20
  echo "contract-checks: the server logged errors (an undocumented status, a 5xx cause)" >&2
  exit 1
fi
echo "contract-checks: OK"
