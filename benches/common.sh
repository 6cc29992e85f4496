# shellcheck shell=bash
# Helpers the load scripts share (sourced, not run).

# wrk --latency output on stdin → "req/s p50 p99 non-2xx requests"
summarise() {
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    /Non-2xx/ {errors=$NF}
    / requests in / {requests=$1}
    END {printf "%s %s %s %s %s\n", rps, p50, p99, (errors == "" ? 0 : errors), requests}'
}

# the line of FILE with the median first column (rounds of summarise, or one number per line)
median_round() { sort -n -k1,1 "$1" | awk '{line[NR] = $0} END {print line[int((NR + 1) / 2)]}'; }

# rss_mib PID [FIELD]: a /proc/PID/status memory field (VmRSS by default) in MiB, no newline
rss_mib() { awk -v key="${2:-VmRSS}" '$1 == key":" {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# ratio A B → "NN %"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f %%", 100 * a / b}'; }
