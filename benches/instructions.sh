#!/usr/bin/env bash
# Instructions per `GET /health` request, counted by callgrind: the service through its full
# middleware stack and the bare axum handler; and per authenticated `GET /api/v1/auth/me` (token
# check, denylist, principal from the cache). Unlike requests/s, the count does not depend on what
# else the machine is doing, so it shows a change to the stack even where load runs are too noisy.
#
#   benches/instructions.sh [--seconds 5]
#
# Needs valgrind (Debian package `valgrind`), wrk and curl. Runs each server under callgrind on
# loopback (embedded profile, rate limits off as in load.sh), warms it up, then counts user-space
# instructions over a fixed-length wrk run (1 thread, 4 connections) and divides by the requests.
set -euo pipefail

SECONDS_RUN=5
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
for tool in valgrind callgrind_control wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install -y valgrind wrk curl)" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freeagentics --example bare-health

WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# count NAME PORT URL_PATH COMMAND... → "NAME: N instructions/request (R requests)"; a path other
# than /health is requested with the token of an account registered first
count() {
  local name=$1 port=$2 path=$3; shift 3
  env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$port" SQLITE_PATH="$WORK/$name.db" DATA_DIR="$WORK" \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 \
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.%p.out" "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  local auth=()
  if [ "$path" != /health ]; then
    local token
    token=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/register" -H 'content-type: application/json' \
      -d '{"username":"bench","email":"bench@example.com","password":"a sturdy passphrase"}' \
      | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    auth=(-H "Authorization: Bearer $token")
  fi
  wrk -t1 -c4 -d2s "${auth[@]}" "http://127.0.0.1:$port$path" >/dev/null
  callgrind_control --zero "$PID" >/dev/null 2>&1
  local requests
  requests=$(wrk -t1 -c4 -d"${SECONDS_RUN}s" "${auth[@]}" "http://127.0.0.1:$port$path" | awk '/requests in/ {print $1}')
  callgrind_control --dump "$PID" >/dev/null 2>&1
  sleep 1
  local total
  # the dump requested above (callgrind numbers dumps .1, .2, ...)
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$WORK/$name".*.out.1)
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo "$name: $((total / requests)) instructions/request ($requests requests)"
}

count bare 18101 /health "$TARGET_DIR/release/examples/bare-health"
count service 18100 /health "$TARGET_DIR/release/freeagentics" serve
count service-auth-me 18102 /api/v1/auth/me "$TARGET_DIR/release/freeagentics" serve
