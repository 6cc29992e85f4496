#!/usr/bin/env bash
# Slow-header flood against the service: holds CONNECTIONS connections that send a header line
# every INTERVAL seconds and never finish their request head (each one replaced as soon as the
# server closes it), while wrk measures ordinary GET /health latency. Prints a Markdown summary for
# docs/PERFORMANCE.md.
#
#   benches/slow_headers.sh [--connections 2000] [--interval 5] [--attack 40] [--wrk 15s]
#                           [--service-bin PATH]   (another build of the service, e.g. an older one)
#
# Needs wrk and curl (Debian packages `wrk`, `curl`). Builds the release binary and the
# `slow-headers` example, runs everything on loopback with the embedded profile and stops what it
# started. Reports:
#   1. GET /health latency and throughput before and during the flood (wrk, same settings)
#   2. how fast the server sheds slow connections (their lifetimes, from the client's side) and how
#      many it closed for an unfinished head (its own counter)
#   3. the service's RSS idle, at the flood's peak, and after it, and the cost per held connection
set -euo pipefail

CONNECTIONS=2000
INTERVAL=5
ATTACK=40
WRK_DURATION=15s
SERVICE_BIN=
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --connections|--interval|--attack|--wrk|--service-bin)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; usage >&2; exit 2; } ;;&
    --connections) CONNECTIONS=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --attack) ATTACK=$2; shift 2 ;;
    --wrk) WRK_DURATION=$2; shift 2 ;;
    --service-bin) SERVICE_BIN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$CONNECTIONS$ATTACK" in *[!0-9]*|'') echo "--connections and --attack take whole numbers" >&2; exit 2 ;; esac

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required: apt-get install -y $tool" >&2; exit 1; }
done
# the flood, wrk and the listener all need descriptors: raise the soft limit as far as allowed
NEEDED=$((CONNECTIONS * 2 + 512))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEEDED" ]; then
  echo "the file-descriptor limit ($(ulimit -n)) is below $NEEDED: raise it (ulimit -Hn) or lower --connections" >&2
  exit 1
fi

cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freeagentics --example slow-headers
SERVICE_BIN=${SERVICE_BIN:-$TARGET_DIR/release/freeagentics}
FLOOD_BIN="$TARGET_DIR/release/examples/slow-headers"
[ -x "$SERVICE_BIN" ] || { echo "no service binary at $SERVICE_BIN" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SERVICE=127.0.0.1:18010
env -i PATH="$PATH" BIND_ADDR=$SERVICE SQLITE_PATH="$WORK/bench.db" DATA_DIR="$WORK" \
  RATE_LIMIT_ENABLED=false LOG_LEVEL=warn MIMALLOC_PURGE_DELAY=0 "$SERVICE_BIN" serve >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!; PIDS+=("$SERVICE_PID")
for _ in $(seq 1 100); do curl -sf "http://$SERVICE/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://$SERVICE/health" >/dev/null || { echo "the service did not start:" >&2; cat "$WORK/service.log" >&2; exit 1; }
sleep 1

# descriptors the service holds; sockets are most of them
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
run_wrk() { wrk -t1 -c16 -d"$WRK_DURATION" --latency "http://$SERVICE/health" | summarise; }
# a counter of the service's exposition, 0 when absent (an older build)
metric() { curl -sf "http://$SERVICE/metrics" | awk -v s="$1" 'index($0, s " ") == 1 {print $2; found=1} END {if (!found) print 0}'; }

IDLE_RSS=$(rss_mib $SERVICE_PID)
IDLE_FDS=$(fds $SERVICE_PID)
read -r BASE_RPS BASE_P50 BASE_P99 BASE_ERR _ < <(run_wrk)
HEADER_TIMEOUTS_BEFORE=$(metric 'freeagentics_http_connection_timeouts_total{listener="main",kind="header"}')

"$FLOOD_BIN" --addr $SERVICE --connections "$CONNECTIONS" --interval "$INTERVAL" --duration "$ATTACK" \
  >"$WORK/flood.txt" 2>"$WORK/flood.err" &
FLOOD_PID=$!; PIDS+=("$FLOOD_PID")
# sample the service while the flood ramps up and runs; wrk runs in the middle of it
PEAK_RSS=$IDLE_RSS; PEAK_FDS=$IDLE_FDS
sample() {
  local rss fd
  rss=$(rss_mib $SERVICE_PID); fd=$(fds $SERVICE_PID)
  PEAK_RSS=$(awk -v a="$PEAK_RSS" -v b="$rss" 'BEGIN {print (b > a ? b : a)}')
  [ "$fd" -gt "$PEAK_FDS" ] && PEAK_FDS=$fd
  return 0
}
for _ in $(seq 1 5); do sleep 1; sample; done
run_wrk >"$WORK/attack.wrk" &
WRK_PID=$!
while kill -0 $WRK_PID 2>/dev/null; do sleep 1; sample; done
wait $WRK_PID
read -r ATT_RPS ATT_P50 ATT_P99 ATT_ERR _ <"$WORK/attack.wrk"
while kill -0 $FLOOD_PID 2>/dev/null; do sleep 1; sample; done
wait $FLOOD_PID || { echo "the flood client failed:" >&2; cat "$WORK/flood.err" >&2; exit 1; }
FLOOD=$(cat "$WORK/flood.txt")
field() { echo "$FLOOD" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
sleep 2
AFTER_RSS=$(rss_mib $SERVICE_PID)
AFTER_FDS=$(fds $SERVICE_PID)
HEADER_TIMEOUTS=$(awk -v a="$(metric 'freeagentics_http_connection_timeouts_total{listener="main",kind="header"}')" \
  -v b="$HEADER_TIMEOUTS_BEFORE" 'BEGIN {print a - b}')
PER_CONN=$(awk -v peak="$PEAK_RSS" -v idle="$IDLE_RSS" -v n="$(field peak_open)" \
  'BEGIN {if (n > 0) printf "%.1f", (peak - idle) * 1024 / n; else print "-"}')

cat <<MD
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); service: \`$SERVICE_BIN\` with its defaults; flood: $CONNECTIONS connections, a header line every ${INTERVAL} s, each replaced when closed, for ${ATTACK} s; wrk -t1 -c16 -d$WRK_DURATION --latency GET /health.

| run | requests/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
| \`GET /health\`, no flood | $BASE_RPS | $BASE_P50 | $BASE_P99 | $BASE_ERR |
| \`GET /health\` during the flood | $ATT_RPS | $ATT_P50 | $ATT_P99 | $ATT_ERR |

- flood: $(field opened) connections opened, at most $(field peak_open) open at once, $(field connect_failures) failed connects
- shed by the server: $(field shed) connections, after (s) min $(field shed_after_s_min), p50 $(field shed_after_s_p50), p99 $(field shed_after_s_p99), max $(field shed_after_s_max); the service counted $HEADER_TIMEOUTS header timeouts
- service RSS: idle $IDLE_RSS MiB, peak $PEAK_RSS MiB, 2 s after the flood $AFTER_RSS MiB (≈ $PER_CONN KiB per held connection)
- service descriptors: idle $IDLE_FDS, peak $PEAK_FDS, 2 s after the flood $AFTER_FDS
MD
