#!/usr/bin/env bash
# POST /api/v1/coalitions/form end to end on the production profile (PostgreSQL + Redis): request
# parsing, candidate query, the strategy on the inference pool, and (unless a dry run) the one
# transaction that persists the coalitions. Prints a Markdown table for docs/PERFORMANCE.md.
#
#   benches/formation.sh [--agents 500] [--objectives 20] [--runs 20]
#
# Creates --agents active agents, each with 2–4 of 20 capabilities (deterministic), then times
# --runs requests of each scenario with curl (time to the last byte, one connection per request):
#   greedy / hierarchical dry runs over every agent with --objectives objectives (2–3 capabilities
#   each); optimal at its size limit (8 agents listed explicitly, 8 objectives) as a dry run; and
#   persisted greedy formations (each takes agents' free slots, so later runs place fewer).
#
# Needs curl, psql, redis-cli; PostgreSQL at TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432), Redis at TEST_REDIS_URL (redis://127.0.0.1:6379). Builds the
# release binary; creates and drops its own database and Redis key prefix.
set -euo pipefail

AGENTS=500
OBJECTIVES=20
RUNS=20
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --agents) AGENTS=$2; shift 2 ;;
    --objectives) OBJECTIVES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
for value in "$AGENTS" "$OBJECTIVES" "$RUNS"; do
  [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "options take positive integers" >&2; exit 2; }
done
(( OBJECTIVES <= 50 )) || { echo "--objectives: at most 50 (the API's limit)" >&2; exit 2; }
for tool in curl psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freeagentics
SERVICE_BIN="$TARGET_DIR/release/freeagentics"
PG=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
pg_isready -d "$PG/postgres" -q || { echo "PostgreSQL at $PG is not reachable" >&2; exit 1; }
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis at $REDIS is not reachable" >&2; exit 1; }

WORK=$(mktemp -d)
RUN="formation_$$"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null
  wait 2>/dev/null || true
  psql "$PG/postgres" -q -c "drop database if exists $RUN with (force)" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "fa:$RUN:*" | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSWORD="a sturdy bench passphrase"
ADDR=127.0.0.1:18111
psql "$PG/postgres" -q -c "create database $RUN"
env -i PATH="$PATH" BIND_ADDR="$ADDR" DATABASE_URL="$PG/$RUN" REDIS_URL="$REDIS" REDIS_KEY_PREFIX="fa:$RUN:" \
  DATA_DIR="$WORK" ADMIN_USERNAME=bench ADMIN_EMAIL=bench@example.com ADMIN_PASSWORD="$PASSWORD" \
  RATE_LIMIT_ENABLED=false LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 "$SERVICE_BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://$ADDR/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://$ADDR/health" >/dev/null || { echo "the server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }

TOKEN=""
for _ in $(seq 1 100); do
  if body=$(curl -sf -X POST "http://$ADDR/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username_or_email\":\"bench\",\"password\":\"$PASSWORD\"}"); then
    TOKEN=$(sed -E 's/.*"access_token":"([^"]+)".*/\1/' <<<"$body")
    break
  fi
  sleep 0.1
done
[[ -n "$TOKEN" ]] || { echo "could not sign in" >&2; exit 1; }

post() { curl -sf -X POST "http://$ADDR$1" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$2"; }

# capability c<i> for i in 0..19; agent k holds 2–4 of them, chosen by k
capabilities() {
  local k=$1 n=$(( 2 + $1 % 3 )) out="" i
  for (( i = 0; i < n; i++ )); do out+="${out:+,}\"c$(( (k * 7 + i * 3) % 20 ))\""; done
  printf '[%s]' "$out"
}
IDS=()
for (( k = 0; k < AGENTS; k++ )); do
  body="{\"name\":\"a$k\",\"parameters\":{\"width\":3,\"height\":3,\"horizon\":1},\"capabilities\":$(capabilities "$k")}"
  id=$(post /api/v1/agents "$body" | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  post "/api/v1/agents/$id/status" '{"status":"active"}' >/dev/null
  IDS+=("$id")
done

# objectives N: N objectives needing 2–3 capabilities each
objectives() {
  local n=$1 out="" j
  for (( j = 0; j < n; j++ )); do
    local caps="\"c$(( j % 20 ))\",\"c$(( (j * 3 + 1) % 20 ))\""
    (( j % 2 == 0 )) && caps+=",\"c$(( (j * 7 + 2) % 20 ))\""
    out+="${out:+,}{\"description\":\"objective $j\",\"required_capabilities\":[$caps],\"priority\":0.$(( 1 + j % 9 ))}"
  done
  printf '[%s]' "$out"
}
OBJ=$(objectives "$OBJECTIVES")
EIGHT=$(printf '"%s",' "${IDS[@]:0:8}")
OPTIMAL="{\"objectives\":$(objectives 8),\"agent_ids\":[${EIGHT%,}],\"strategy\":\"optimal\",\"dry_run\":true}"

# time_runs NAME BODY EXPECTED_STATUS: RUNS requests; prints "median p95 max" in ms and the last
# answer's duration_ms (the strategy alone) and coalition count
time_runs() {
  local name=$1 body=$2 expected=$3 i status
  : >"$WORK/$name.times"
  for (( i = 0; i < RUNS; i++ )); do
    status=$(curl -s -o "$WORK/$name.json" -w '%{http_code} %{time_total}' -X POST "http://$ADDR/api/v1/coalitions/form" \
      -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$body")
    [[ "${status% *}" == "$expected" ]] || { echo "$name: HTTP ${status% *}: $(cat "$WORK/$name.json")" >&2; exit 1; }
    awk -v t="${status#* }" 'BEGIN {printf "%.2f\n", t * 1000}' >>"$WORK/$name.times"
  done
  local strategy_ms coalitions
  strategy_ms=$(sed -E 's/.*"duration_ms":([0-9.e+-]+).*/\1/' "$WORK/$name.json")
  coalitions=$(grep -o '"covers_objectives"' "$WORK/$name.json" | wc -l)
  sort -n "$WORK/$name.times" | awk -v s="$strategy_ms" -v c="$coalitions" -v name="$name" '
    {t[NR] = $1} END {printf "| %s | %.1f | %.1f | %.1f | %.2f | %d |\n", name, t[int((NR + 1) / 2)], t[int(NR * 0.95 + 0.999)], t[NR], s, c}'
}

echo "Formation end to end: $AGENTS active agents, $OBJECTIVES objectives, $RUNS runs each ($(nproc) cores)"
echo
echo "| scenario | median ms | p95 ms | max ms | strategy ms (last run) | coalitions (last run) |"
echo "|---|---|---|---|---|---|"
time_runs "greedy, dry run" "{\"objectives\":$OBJ,\"strategy\":\"greedy\",\"dry_run\":true}" 200
time_runs "hierarchical, dry run" "{\"objectives\":$OBJ,\"strategy\":\"hierarchical\",\"dry_run\":true}" 200
time_runs "optimal 8 × 8, dry run" "$OPTIMAL" 200
time_runs "greedy, persisted" "{\"objectives\":$OBJ,\"strategy\":\"greedy\"}" 201
