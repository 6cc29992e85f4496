#!/usr/bin/env bash
# The API on the production profile (PostgreSQL + Redis) against its references, in one run with the
# same load settings: a bare axum JSON handler and `pgbench -S` (select-only: the database's own
# ceiling on this machine). Prints a Markdown report for docs/PERFORMANCE.md.
#
#   benches/production.sh [--duration 10s] [--connections 32] [--threads 2] [--rounds 3]
#                         [--agents 256] [--rate 1000]
#
# 1. Authenticated reads (GET /api/v1/auth/me, GET /api/v1/agents/{id}), each on two servers that
#    differ only in CACHE_ENABLED, in alternating rounds with the bare handler and pgbench -S;
#    then the CPU per request of the uncached agent read and PostgreSQL's per pgbench transaction.
# 2. POST /api/v1/agents (20x20 grid explorer, horizon 3) with the same wrk settings.
# 3. POST /api/v1/agents/{id}/step on --agents active grid explorers (horizon 3), each wrk thread
#    going round-robin over its own share so steps rarely meet on one agent.
# 4. A fixed --rate of mixed requests (70 % reads, 10 % creates, 20 % steps) for twice --duration,
#    open loop (benches/mixed_load.rs): latency from each request's scheduled time; the server's
#    RSS before, after and at its peak. With TRACE=<file> in the environment, the fixed-rate run
#    also writes one line per request (scheduled ms, kind, latency ms, ok) to that file.
#
# Needs wrk and pgbench (Debian: wrk, postgresql-client), curl, PostgreSQL at TEST_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432) and Redis at TEST_REDIS_URL (redis://127.0.0.1:6379).
# Builds release binaries; creates (and drops) its own databases and Redis key prefixes.
set -euo pipefail

DURATION=10s
CONNECTIONS=32
THREADS=2
ROUNDS=3
AGENTS=256
RATE=1000
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --agents) AGENTS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "--duration takes seconds, e.g. 10s" >&2; exit 2; }

for tool in wrk pgbench psql redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freeagentics --example bare-health --example mixed-load
SERVICE_BIN="$TARGET_DIR/release/freeagentics"
BARE_BIN="$TARGET_DIR/release/examples/bare-health"
MIXED_BIN="$TARGET_DIR/release/examples/mixed-load"
PG=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
pg_isready -d "$PG/postgres" -q || { echo "PostgreSQL at $PG is not reachable" >&2; exit 1; }
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis at $REDIS is not reachable" >&2; exit 1; }

WORK=$(mktemp -d)
RUN="bench_$$"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${RUN}_cached" "${RUN}_uncached" "${RUN}_pgbench"; do
    psql "$PG/postgres" -q -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  done
  redis-cli -u "$REDIS" --scan --pattern "fa:$RUN:*" | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSWORD="a sturdy bench passphrase"
BARE=127.0.0.1:18101
CACHED=127.0.0.1:18102
UNCACHED=127.0.0.1:18103

# start NAME ADDR CACHE_ENABLED: a service on its own database and key prefix
start() {
  local name=$1 addr=$2 cache=$3
  psql "$PG/postgres" -q -c "create database ${RUN}_$name"
  mkdir -p "$WORK/$name"
  env -i PATH="$PATH" BIND_ADDR="$addr" DATABASE_URL="$PG/${RUN}_$name" REDIS_URL="$REDIS" \
    REDIS_KEY_PREFIX="fa:$RUN:$name:" DATA_DIR="$WORK/$name" CACHE_ENABLED="$cache" \
    ADMIN_USERNAME=bench ADMIN_EMAIL=bench@example.com ADMIN_PASSWORD="$PASSWORD" \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 "$SERVICE_BIN" serve >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  echo "$!" >"$WORK/$name.pid"
}
start cached "$CACHED" true
start uncached "$UNCACHED" false
MIMALLOC_PURGE_DELAY=0 BIND_ADDR=$BARE "$BARE_BIN" >"$WORK/bare.log" 2>&1 &
PIDS+=("$!")
CACHED_PID=$(cat "$WORK/cached.pid")

wait_up() {
  for _ in $(seq 1 100); do curl -sf "http://$1/health" >/dev/null && return 0; sleep 0.1; done
  echo "$1 did not start; its log:" >&2; cat "$WORK"/*.log >&2; exit 1
}
for addr in "$BARE" "$CACHED" "$UNCACHED"; do wait_up "$addr"; done

# token ADDR: signs in as the admin the server creates at start-up (in the background, hence the
# retries; a registered account is an observer, which may not create agents) and prints its token
token() {
  local body
  for _ in $(seq 1 100); do
    if body=$(curl -sf -X POST "http://$1/api/v1/auth/login" -H 'content-type: application/json' \
      -d "{\"username_or_email\":\"bench\",\"password\":\"$PASSWORD\"}"); then
      sed -E 's/.*"access_token":"([^"]+)".*/\1/' <<<"$body"
      return 0
    fi
    sleep 0.1
  done
  echo "could not sign in at $1" >&2; exit 1
}
CACHED_TOKEN=$(token "$CACHED")
UNCACHED_TOKEN=$(token "$UNCACHED")
GRID='{"width":20,"height":20,"horizon":3}'
AGENT_BODY="{\"name\":\"bench\",\"template\":\"basic-explorer\",\"parameters\":$GRID}"

# agent ADDR TOKEN: creates a grid explorer, prints its id
agent() {
  curl -sf -X POST "http://$1/api/v1/agents" -H "authorization: Bearer $2" \
    -H 'content-type: application/json' -d "$AGENT_BODY" | sed -E 's/^\{"id":"([^"]+)".*/\1/'
}
CACHED_AGENT=$(agent "$CACHED" "$CACHED_TOKEN")
UNCACHED_AGENT=$(agent "$UNCACHED" "$UNCACHED_TOKEN")
[[ "$CACHED_AGENT" =~ ^[0-9a-f-]{36}$ && "$UNCACHED_AGENT" =~ ^[0-9a-f-]{36}$ ]] \
  || { echo "could not create the agents to read: '$CACHED_AGENT' '$UNCACHED_AGENT'" >&2; exit 1; }

run_wrk() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | summarise; }

# pgbench -S on a scale-1 database of its own: "tps"
psql "$PG/postgres" -q -c "create database ${RUN}_pgbench"
pgbench -q -i -s 1 "$PG/${RUN}_pgbench" >/dev/null 2>&1
pgbench_round() {
  pgbench -S -n -c "$CONNECTIONS" -j "$THREADS" -T "${DURATION%s}" "$PG/${RUN}_pgbench" 2>/dev/null \
    | awk '/^tps/ {printf "%.0f\n", $3}'
}

# 1. reads, alternating rounds
for _ in $(seq 1 "$ROUNDS"); do
  run_wrk "http://$BARE/health" >>"$WORK/bare.rounds"
  run_wrk -H "Authorization: Bearer $CACHED_TOKEN" "http://$CACHED/api/v1/auth/me" >>"$WORK/me-cached.rounds"
  run_wrk -H "Authorization: Bearer $UNCACHED_TOKEN" "http://$UNCACHED/api/v1/auth/me" >>"$WORK/me-uncached.rounds"
  run_wrk -H "Authorization: Bearer $CACHED_TOKEN" "http://$CACHED/api/v1/agents/$CACHED_AGENT" >>"$WORK/agent-cached.rounds"
  run_wrk -H "Authorization: Bearer $UNCACHED_TOKEN" "http://$UNCACHED/api/v1/agents/$UNCACHED_AGENT" >>"$WORK/agent-uncached.rounds"
  pgbench_round >>"$WORK/pgbench.rounds"
done

# CPU time (user + system, clock ticks) each process named NAME has used, with that of its ended
# children (PostgreSQL's postmaster reaps every backend that exits), as "pid ticks" lines
ticks_by_pid() {
  local pid
  for pid in $(pgrep -x "$1" || true); do
    [[ -r "/proc/$pid/stat" ]] && awk -v pid="$pid" '{print pid, $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null
  done
  return 0
}
# ticks NAME BEFORE_FILE: ticks NAME's processes used since BEFORE_FILE was written (processes
# started since count whole; one that ended counts through its parent, the pools' long-lived
# connections and pgbench's, which start after BEFORE_FILE, alike)
ticks_since() {
  awk 'NR == FNR {before[$1] = $2; next} {used += $2 - before[$1]} END {print used + 0}' "$2" <(ticks_by_pid "$1")
}
TICKS_PER_SECOND=$(getconf CLK_TCK)
# costed NAME wrk-args...: a wrk run, plus "NAME µs-service µs-postgres µs-redis" of CPU per request
# appended to $WORK/cpu
costed() {
  local name=$1 summary requests; shift
  ticks_by_pid freeagentics >"$WORK/before.freeagentics"
  ticks_by_pid postgres >"$WORK/before.postgres"
  ticks_by_pid redis-server >"$WORK/before.redis-server"
  summary=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  requests=$(awk '/ requests in / {print $1}' <<<"$summary")
  printf '%s' "$name" >>"$WORK/cpu"
  for process in freeagentics postgres redis-server; do
    awk -v t="$(ticks_since "$process" "$WORK/before.$process")" -v hz="$TICKS_PER_SECOND" -v n="$requests" \
      'BEGIN {printf " %.0f", 1e6 * t / hz / n}' >>"$WORK/cpu"
  done
  echo >>"$WORK/cpu"
  summarise <<<"$summary"
}

# where a read from PostgreSQL spends its CPU: the uncached read, and pgbench -S (PostgreSQL's
# CPU per transaction; pgbench's own is not counted)
read -r _ < <(costed read-uncached -H "Authorization: Bearer $UNCACHED_TOKEN" "http://$UNCACHED/api/v1/agents/$UNCACHED_AGENT")
ticks_by_pid postgres >"$WORK/before.postgres"
PGB_COSTED=$(pgbench_round)
awk -v t="$(ticks_since postgres "$WORK/before.postgres")" -v hz="$TICKS_PER_SECOND" -v n="$((PGB_COSTED * ${DURATION%s}))" \
  'BEGIN {printf "pgbench-S - %.0f -\n", 1e6 * t / hz / n}' >>"$WORK/cpu"

# 2. creates
cat >"$WORK/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $CACHED_TOKEN"
wrk.body = '$AGENT_BODY'
LUA
read -r CREATE_RPS CREATE_P50 CREATE_P99 CREATE_ERR _ < <(costed create -s "$WORK/create.lua" "http://$CACHED/api/v1/agents")

# 3. steps: --agents active grid explorers
for _ in $(seq 1 "$AGENTS"); do
  id=$(agent "$CACHED" "$CACHED_TOKEN")
  curl -sf -o /dev/null -X POST "http://$CACHED/api/v1/agents/$id/status" -H "authorization: Bearer $CACHED_TOKEN" \
    -H 'content-type: application/json' -d '{"status":"active"}'
  echo "$id" >>"$WORK/agents.txt"
done
cat >"$WORK/step.lua" <<'LUA'
-- Each thread steps its own share of the agents in turn: thread t of n takes ids t, t+n, t+2n, ...
local threads = 0
function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end
function init(args)
  ids = {}
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  stride = tonumber(args[2])
  next_index = offset
end
function request()
  local id = ids[(next_index % #ids) + 1]
  next_index = next_index + stride
  return wrk.format("POST", "/api/v1/agents/" .. id .. "/step", nil, '{"observation":[0]}')
end
LUA
cat >"$WORK/step-headers.lua" <<LUA
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $CACHED_TOKEN"
LUA
cat "$WORK/step-headers.lua" "$WORK/step.lua" >"$WORK/steps.lua"
read -r STEP_RPS STEP_P50 STEP_P99 STEP_ERR _ < <(costed step -s "$WORK/steps.lua" "http://$CACHED" -- "$WORK/agents.txt" "$THREADS")

# 4. a fixed rate of mixed requests
RSS_BEFORE=$(rss_mib "$CACHED_PID" VmRSS)
# VmHWM would include the closed-loop runs above; sample VmRSS during this load instead
while :; do rss_mib "$CACHED_PID" VmRSS; echo; sleep 0.25; done >"$WORK/rss.samples" &
SAMPLER=$!
BASE="http://$CACHED" TOKEN="$CACHED_TOKEN" AGENTS_FILE="$WORK/agents.txt" RATE="$RATE" \
  DURATION_SECS=$((2 * ${DURATION%s})) AGENT_BODY="$AGENT_BODY" "$MIXED_BIN" >"$WORK/mixed.txt"
kill "$SAMPLER"
RSS_AFTER=$(rss_mib "$CACHED_PID" VmRSS)
RSS_UNDER_LOAD=$(sort -n "$WORK/rss.samples" | tail -n 1)
RSS_PEAK=$(rss_mib "$CACHED_PID" VmHWM)
ACHIEVED=$(awk '$1 == "achieved" {print $2}' "$WORK/mixed.txt")

read -r BARE_RPS BARE_P50 BARE_P99 BARE_ERR _ < <(median_round "$WORK/bare.rounds")
read -r MEC_RPS MEC_P50 MEC_P99 MEC_ERR _ < <(median_round "$WORK/me-cached.rounds")
read -r MEU_RPS MEU_P50 MEU_P99 MEU_ERR _ < <(median_round "$WORK/me-uncached.rounds")
read -r AGC_RPS AGC_P50 AGC_P99 AGC_ERR _ < <(median_round "$WORK/agent-cached.rounds")
read -r AGU_RPS AGU_P50 AGU_P99 AGU_ERR _ < <(median_round "$WORK/agent-uncached.rounds")
read -r PGB_TPS < <(median_round "$WORK/pgbench.rounds")
steps_on() { grep -c . "$WORK/agents.txt"; }

cat <<MD
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); PostgreSQL and Redis on the same machine; wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency on loopback, pgbench -S -c $CONNECTIONS -j $THREADS -T ${DURATION%s}; read rows: medians of $ROUNDS alternating rounds.

| run | requests/s | p50 | p99 | non-2xx | vs bare handler | vs pgbench -S |
|---|---|---|---|---|---|---|
| bare axum \`GET /health\` | $BARE_RPS | $BARE_P50 | $BARE_P99 | $BARE_ERR | 100 % | |
| \`pgbench -S\` (transactions/s) | $PGB_TPS | | | | | 100 % |
| \`GET /api/v1/auth/me\`, cache on | $MEC_RPS | $MEC_P50 | $MEC_P99 | $MEC_ERR | $(ratio "$MEC_RPS" "$BARE_RPS") | $(ratio "$MEC_RPS" "$PGB_TPS") |
| \`GET /api/v1/auth/me\`, cache off | $MEU_RPS | $MEU_P50 | $MEU_P99 | $MEU_ERR | $(ratio "$MEU_RPS" "$BARE_RPS") | $(ratio "$MEU_RPS" "$PGB_TPS") |
| \`GET /api/v1/agents/{id}\`, cache on | $AGC_RPS | $AGC_P50 | $AGC_P99 | $AGC_ERR | $(ratio "$AGC_RPS" "$BARE_RPS") | $(ratio "$AGC_RPS" "$PGB_TPS") |
| \`GET /api/v1/agents/{id}\`, cache off | $AGU_RPS | $AGU_P50 | $AGU_P99 | $AGU_ERR | $(ratio "$AGU_RPS" "$BARE_RPS") | $(ratio "$AGU_RPS" "$PGB_TPS") |
| \`POST /api/v1/agents\` (20×20 grid, horizon 3) | $CREATE_RPS | $CREATE_P50 | $CREATE_P99 | $CREATE_ERR | | |
| \`POST /api/v1/agents/{id}/step\` on $(steps_on) agents (20×20 grid, horizon 3) | $STEP_RPS | $STEP_P50 | $STEP_P99 | $STEP_ERR | | |

CPU per request (user + system, µs, from /proc; all processes of each program, so the server
column includes both servers' idle work, which is nil):

| run | service | PostgreSQL | Redis |
|---|---|---|---|
$(awk '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$WORK/cpu")

Fixed rate, open loop: $RATE requests/s scheduled for $((2 * ${DURATION%s})) s (70 % \`GET /api/v1/agents/{id}\`, 10 % \`POST /api/v1/agents\`, 20 % steps over the same agents), latency from each request's scheduled time; achieved $ACHIEVED requests/s.

| kind | requests | non-2xx | p50 ms | p99 ms | max ms |
|---|---|---|---|---|---|
$(awk '$1 != "achieved" {printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}' "$WORK/mixed.txt")

RSS of the server: $RSS_BEFORE MiB before the fixed-rate load, at most $RSS_UNDER_LOAD MiB during it (sampled every 0.25 s), $RSS_AFTER MiB after; its peak over the whole run (VmHWM, including the closed-loop creates and steps at 32 connections) $RSS_PEAK MiB.
MD
