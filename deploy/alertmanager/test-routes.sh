#!/usr/bin/env bash
# Routing unit tests for deploy/alertmanager/alertmanager.yml.
#
# Each case is "expected-receiver(s) | label=value ...": amtool resolves the
# label set through the routing tree and must name exactly that receiver
# (the runbook's escalation matrix, one case per severity plus the default).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/alertmanager/test-routes.sh [--config FILE]

Runs `amtool check-config` and `amtool config routes test` for every routing
case below against FILE (default: alertmanager.yml next to this script).
Exits non-zero if any case resolves to another receiver.
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="${here}/alertmanager.yml"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v amtool >/dev/null || { echo "amtool not found (apt-get install prometheus-alertmanager)" >&2; exit 1; }

amtool check-config "$config"

cases=(
  "oncall-and-manager|severity=critical alertname=HighErrorRate"
  "oncall-and-manager|severity=critical alertname=DatabaseConnectionIssues job=postgres"
  "oncall-pager|severity=high alertname=RedisDown"
  "oncall-pager|severity=high alertname=DatabasePoolExhausted"
  "oncall-business-hours|severity=warning alertname=HighCPUUsage"
  "oncall-business-hours|severity=medium alertname=SomethingMedium"
  "email-ops|severity=low alertname=MaintenanceModeEnabled"
  "email-ops|severity=info alertname=Informational"
  "slack-alerts|alertname=NoSeverityLabel"
  "deadmans-switch|alertname=Watchdog severity=none"
  "oncall-pager|alertname=PostgresBackupMissing severity=high"
)

passed=0
failed=0
for case in "${cases[@]}"; do
  expected="${case%%|*}"
  read -r -a labels <<<"${case#*|}"
  if out="$(amtool config routes test --config.file="$config" --verify.receivers="$expected" "${labels[@]}" 2>/dev/null)"; then
    echo "PASS  ${labels[*]} -> ${out}"
    passed=$((passed + 1))
  else
    echo "FAIL  ${labels[*]}: expected ${expected}, got: ${out}"
    failed=$((failed + 1))
  fi
done

echo "alertmanager-routes: ${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
