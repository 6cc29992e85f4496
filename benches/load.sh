#!/usr/bin/env bash
# Load benchmarks of the service against a bare axum handler, in the same run with the same load
# settings. Prints a Markdown table for docs/PERFORMANCE.md.
#
#   benches/load.sh [--duration 15s] [--connections 32] [--threads 2] [--rounds 3] [--against PATH]
#
# --against PATH: another build of the service (e.g. the previous commit's, built with
# `git worktree`/`git archive` and `cargo build --release`) joins the alternating /health rounds,
# so a change is compared with what it replaces against the same bare handler, in the same run.
#
# Needs wrk (Debian package `wrk`) and curl. Builds release binaries, runs everything on loopback
# with the embedded profile, rate limiting off (we measure the stack, not the limiter's 429s), and
# stops what it started. Login throttling is raised too: one account signing in 50 times at once
# from one address is exactly what it exists to stop. Measures:
#   1. GET /health through the full middleware stack vs. the bare axum handler (req/s, p50, p99),
#      in alternating rounds (bare, service, bare, ...) reporting each one's median round: wrk
#      shares the cores with both servers, and one pair of runs swings by ±15 % on a busy machine;
#      and each server's own CPU time (user + system, /proc) per request over all rounds
#   2. RSS idle and under load
#   3. the cost of an authenticated GET /api/v1/auth/me (JWT check + denylist + user load)
#   4. login p99 with 50 concurrent logins vs. one login alone, and GET /health p99 meanwhile
set -euo pipefail

DURATION=15s
CONNECTIONS=32
THREADS=2
ROUNDS=3
AGAINST=
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --against) AGAINST=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "wrk is required: apt-get install -y wrk" >&2; exit 1; }
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freeagentics --example bare-health
SERVICE_BIN="$TARGET_DIR/release/freeagentics"
BARE_BIN="$TARGET_DIR/release/examples/bare-health"
if [ -n "$AGAINST" ] && [ ! -x "$AGAINST" ]; then echo "--against: no executable at $AGAINST" >&2; exit 1; fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SERVICE=127.0.0.1:18000
BARE=127.0.0.1:18001
OTHER=127.0.0.1:18002

env -i PATH="$PATH" BIND_ADDR=$SERVICE SQLITE_PATH="$WORK/bench.db" DATA_DIR="$WORK" \
  RATE_LIMIT_ENABLED=false LOGIN_THROTTLE_ACCOUNT_IP_FAILURES=100000 LOGIN_THROTTLE_IP_FAILURES=100000 \
  LOGIN_THROTTLE_ACCOUNT_FAILURES=100000 LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 "$SERVICE_BIN" serve >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!; PIDS+=("$SERVICE_PID")
MIMALLOC_PURGE_DELAY=0 BIND_ADDR=$BARE "$BARE_BIN" >"$WORK/bare.log" 2>&1 &
BARE_PID=$!; PIDS+=("$BARE_PID")
if [ -n "$AGAINST" ]; then
  mkdir "$WORK/other"
  env -i PATH="$PATH" BIND_ADDR=$OTHER SQLITE_PATH="$WORK/other/bench.db" DATA_DIR="$WORK/other" \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 "$AGAINST" serve >"$WORK/other.log" 2>&1 &
  OTHER_PID=$!; PIDS+=("$OTHER_PID")
fi

wait_up() { for _ in $(seq 1 100); do curl -sf "http://$1/health" >/dev/null && return 0; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }
wait_up $SERVICE
wait_up $BARE
[ -z "$AGAINST" ] || wait_up $OTHER
sleep 1



# CPU time a process has used (user + system), in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_SECOND=$(getconf CLK_TCK)
# a server's CPU per request over one wrk run, appended to FILE as "ticks requests"
measured() {
  local pid=$1 file=$2 before after summary; shift 2
  before=$(cpu_ticks "$pid")
  summary=$(run_wrk "$@")
  after=$(cpu_ticks "$pid")
  echo "$summary"
  echo "$((after - before)) $(echo "$summary" | awk '{print $5}')" >>"$file"
}

run_wrk() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | summarise; }

IDLE_SERVICE=$(rss_mib $SERVICE_PID)
IDLE_BARE=$(rss_mib $BARE_PID)

for _ in $(seq 1 "$ROUNDS"); do
  measured "$BARE_PID" "$WORK/bare.cpu" "http://$BARE/health" >>"$WORK/bare.rounds"
  measured "$SERVICE_PID" "$WORK/service.cpu" "http://$SERVICE/health" >>"$WORK/service.rounds"
  [ -z "$AGAINST" ] || measured "$OTHER_PID" "$WORK/other.cpu" "http://$OTHER/health" >>"$WORK/other.rounds"
done
read -r BARE_RPS BARE_P50 BARE_P99 BARE_ERR _ < <(median_round "$WORK/bare.rounds")
read -r SVC_RPS SVC_P50 SVC_P99 SVC_ERR _ < <(median_round "$WORK/service.rounds")
ROUND_RATIOS=$(paste -d' ' "$WORK/service.rounds" "$WORK/bare.rounds" | awk '{printf "%s%.0f %%", (NR > 1 ? ", " : ""), 100 * $1 / $6}')
# microseconds of server CPU per request over all rounds
cpu_per_request() { awk -v hz="$TICKS_PER_SECOND" '{t += $1; n += $2} END {printf "%.1f", 1e6 * t / hz / n}' "$1"; }
BARE_CPU=$(cpu_per_request "$WORK/bare.cpu")
SVC_CPU=$(cpu_per_request "$WORK/service.cpu")
LOAD_SERVICE=$(rss_mib $SERVICE_PID)

# an account and a token for the authenticated runs
curl -sf -X POST "http://$SERVICE/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"a sturdy passphrase"}' >"$WORK/register.json"
TOKEN=$(sed -E 's/.*"access_token":"([^"]+)".*/\1/' "$WORK/register.json")
read -r ME_RPS ME_P50 ME_P99 ME_ERR _ < <(run_wrk -H "Authorization: Bearer $TOKEN" "http://$SERVICE/api/v1/auth/me")

cat >"$WORK/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username_or_email":"bench","password":"a sturdy passphrase"}'
LUA
read -r SOLO_RPS SOLO_P50 SOLO_P99 SOLO_ERR _ < <(wrk -t1 -c1 -d"$DURATION" --latency -s "$WORK/login.lua" "http://$SERVICE/api/v1/auth/login" | summarise)
# 50 concurrent logins, and /health probed at the same time with a light load
wrk -t2 -c50 -d"$DURATION" --latency -s "$WORK/login.lua" "http://$SERVICE/api/v1/auth/login" >"$WORK/logins.txt" &
LOGINS=$!
sleep 1
read -r HL_RPS HL_P50 HL_P99 HL_ERR _ < <(wrk -t1 -c4 -d"$DURATION" --latency "http://$SERVICE/health" | summarise)
wait $LOGINS
read -r CONC_RPS CONC_P50 CONC_P99 CONC_ERR _ < <(summarise <"$WORK/logins.txt")
PEAK_SERVICE=$(rss_mib $SERVICE_PID)


cat <<MD
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency on loopback; /health rows: median of $ROUNDS alternating rounds.

| run | requests/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
| bare axum \`GET /health\` | $BARE_RPS | $BARE_P50 | $BARE_P99 | $BARE_ERR |
| service \`GET /health\` (full stack) | $SVC_RPS | $SVC_P50 | $SVC_P99 | $SVC_ERR |
| service \`GET /api/v1/auth/me\` (JWT + denylist + user) | $ME_RPS | $ME_P50 | $ME_P99 | $ME_ERR |
| login, 1 client | $SOLO_RPS | $SOLO_P50 | $SOLO_P99 | $SOLO_ERR |
| login, 50 concurrent clients | $CONC_RPS | $CONC_P50 | $CONC_P99 | $CONC_ERR |
| \`GET /health\` during the 50 logins (4 connections) | $HL_RPS | $HL_P50 | $HL_P99 | $HL_ERR |

- full stack vs bare handler throughput: $(ratio "$SVC_RPS" "$BARE_RPS") (medians; round by round: $ROUND_RATIOS)
- server CPU (user + system) per \`GET /health\`, all rounds: bare $BARE_CPU µs, service $SVC_CPU µs (bare / service: $(ratio "$BARE_CPU" "$SVC_CPU"))
- \`/auth/me\` vs \`/health\` throughput: $(ratio "$ME_RPS" "$SVC_RPS")
- RSS: service idle $IDLE_SERVICE MiB, after the /health rounds $LOAD_SERVICE MiB, after the login runs $PEAK_SERVICE MiB; bare handler idle $IDLE_BARE MiB
MD
if [ -n "$AGAINST" ]; then
  read -r OTHER_RPS OTHER_P50 OTHER_P99 _ _ < <(median_round "$WORK/other.rounds")
  OTHER_RATIOS=$(paste -d' ' "$WORK/other.rounds" "$WORK/bare.rounds" | awk '{printf "%s%.0f %%", (NR > 1 ? ", " : ""), 100 * $1 / $6}')
  OTHER_CPU=$(cpu_per_request "$WORK/other.cpu")
  cat <<MD
- \`--against $AGAINST\` in the same rounds: $OTHER_RPS requests/s (p50 $OTHER_P50, p99 $OTHER_P99), $(ratio "$OTHER_RPS" "$BARE_RPS") of the bare handler (round by round: $OTHER_RATIOS); server CPU per request $OTHER_CPU µs (bare / it: $(ratio "$BARE_CPU" "$OTHER_CPU"))
MD
fi
