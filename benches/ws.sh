#!/usr/bin/env bash
# WebSocket benchmarks: memory per idle socket, publish-to-receive latency on one replica and
# across two, sustained events per second. Prints the figures for docs/PERFORMANCE.md.
#
#   benches/ws.sh [--idle 10000] [--subscribers 1000] [--events 200] [--seconds 10] [--relay-poll MS]
#
# --relay-poll MS: the servers' EVENTS_RELAY_POLL_MS (default: the server's default).
# Needs PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432) and Redis
# (TEST_REDIS_URL, default redis://127.0.0.1:6379), curl and python3, and a file-descriptor limit
# above the idle count (each of the two processes holds that many sockets). Builds release
# binaries, starts two replicas on one fresh database and one Redis key prefix, and stops what it
# started (the database is dropped).
set -euo pipefail

IDLE=10000
SUBSCRIBERS=1000
EVENTS=200
SECONDS_LOAD=10
RELAY_POLL=
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --idle) IDLE=$2; shift 2 ;;
    --subscribers) SUBSCRIBERS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --seconds) SECONDS_LOAD=$2; shift 2 ;;
    --relay-poll) RELAY_POLL=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freeagentics --example ws-load
SERVICE_BIN="$TARGET_DIR/release/freeagentics"
LOAD_BIN="$TARGET_DIR/release/examples/ws-load"
PG=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
DB="fa_wsbench_$(date +%s)"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG/postgres" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql "$PG/postgres" -qc "create database $DB" >/dev/null

A=127.0.0.1:18100
B=127.0.0.1:18101
start() {
  env -i PATH="$PATH" BIND_ADDR="$1" DATABASE_URL="$PG/$DB" REDIS_URL="$REDIS" REDIS_KEY_PREFIX="fa:wsbench:$DB:" \
    DATA_DIR="$WORK" JWT_SECRET=ws-bench-only-0123456789abcdef0123456789 RATE_LIMIT_ENABLED=false \
    WS_MAX_CONNECTIONS_PER_USER=1000 ${RELAY_POLL:+EVENTS_RELAY_POLL_MS=$RELAY_POLL} ADMIN_USERNAME=root ADMIN_EMAIL=root@example.com \
    ADMIN_PASSWORD='a sturdy passphrase' LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 "$SERVICE_BIN" serve >"$WORK/$1.log" 2>&1 &
  PIDS+=("$!")
}
start $A
A_PID=${PIDS[-1]}
wait_up() { for _ in $(seq 1 100); do curl -sf "http://$1/health" >/dev/null && return 0; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }
wait_up $A
start $B
wait_up $B

login() {
  curl -sf -X POST "http://$A/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username_or_email\":\"$1\",\"password\":\"a sturdy passphrase\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
for _ in $(seq 1 50); do ADMIN=$(login root 2>/dev/null) && break; sleep 0.2; done
# one account per 1000 sockets (the per-user cap is raised to 1000 above)
TOKENS=$ADMIN
for i in $(seq 1 $(( (IDLE + 999) / 1000 ))); do
  curl -sf -X POST "http://$A/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"bench$i\",\"email\":\"bench$i@example.com\",\"password\":\"a sturdy passphrase\"}" >/dev/null
  TOKENS="$TOKENS,$(login "bench$i")"
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "commit: $(git rev-parse --short HEAD)"
# memory: sockets on replica A only
WS_BENCH_SERVERS="http://$A" WS_BENCH_TOKENS=${TOKENS#*,} WS_BENCH_PIDS=$A_PID "$LOAD_BIN" idle "$IDLE"
WS_BENCH_SERVERS="http://$A" WS_BENCH_TOKENS=$TOKENS "$LOAD_BIN" latency "$SUBSCRIBERS" "$EVENTS"
WS_BENCH_SERVERS="http://$A,http://$B" WS_BENCH_TOKENS=$TOKENS "$LOAD_BIN" latency "$SUBSCRIBERS" "$EVENTS"
WS_BENCH_SERVERS="http://$A,http://$B" WS_BENCH_TOKENS=$TOKENS "$LOAD_BIN" throughput "$SUBSCRIBERS" "$SECONDS_LOAD"
