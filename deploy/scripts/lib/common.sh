# shellcheck shell=bash
# Shared helpers for deploy/scripts/*.sh. Sourced, never executed.
#
# Conventions: every script runs under `set -euo pipefail`; DRY_RUN=1 makes
# run() print mutating commands instead of executing them; read-only
# commands (kubectl get) always run so that a dry run shows real decisions.

# Colours only on a terminal.
if [[ -t 2 ]]; then
  _c_red=$'\033[31m'; _c_grn=$'\033[32m'; _c_yel=$'\033[33m'; _c_blu=$'\033[34m'; _c_off=$'\033[0m'
else
  _c_red=""; _c_grn=""; _c_yel=""; _c_blu=""; _c_off=""
fi

DRY_RUN="${DRY_RUN:-0}"

log()  { printf '%s[%s]%s %s\n' "$_c_blu" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
ok()   { printf '%s[%s] OK%s %s\n' "$_c_grn" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
warn() { printf '%s[%s] WARN%s %s\n' "$_c_yel" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
die()  { printf '%s[%s] ERROR%s %s\n' "$_c_red" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; exit 1; }

# run CMD...: execute, or print it when DRY_RUN=1.
run() {
  if [[ "$DRY_RUN" == "1" ]]; then
    printf '%s[dry-run]%s %s\n' "$_c_yel" "$_c_off" "$(printf '%q ' "$@")" >&2
    return 0
  fi
  "$@"
}

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
  done
}

# Resolve this repository's root from a script path (follows the
# compatibility symlinks under scripts/ and k8s/).
repo_root_of() {
  local script
  script="$(readlink -f "$1")"
  (cd "$(dirname "$script")/../.." && pwd)
}

# kube ARGS...: kubectl in $NAMESPACE.
kube() {
  kubectl -n "$NAMESPACE" "$@"
}

# Image of container $2 in deployment $1 (empty if the deployment is absent).
deployment_image() {
  kube get deployment "$1" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$2\")].image}" 2>/dev/null || true
}

# Sanitise a version string for use in a Kubernetes name.
k8s_name_part() {
  printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9-' '-' | sed -e 's/^-*//' -e 's/-*$//' | cut -c1-30
}

# run_backend_job IMAGE ARGS...: run `freeagentics ARGS...` as a one-off Job
# built from the live backend Deployment's pod template (same env, secrets,
# security context; no sidecar, label app=backend-migrate so the postgres
# NetworkPolicy admits it), wait for it and print its logs. Fails if it fails.
run_backend_job() {
  local image="$1"; shift
  local name tmpl args_json timeout="${MIGRATION_TIMEOUT:-600}"
  args_json="$(printf '%s\n' "$@" | jq -R . | jq -cs .)"
  name="backend-$(k8s_name_part "$1")-$(k8s_name_part "${image##*:}")-$(date -u +%H%M%S)"
  log "running \`freeagentics $*\` with ${image} (Job ${name})"
  tmpl="$(kube get deployment backend -o json | jq --arg image "$image" --arg name "$name" --argjson args "$args_json" '
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {name: $name, labels: {app: "backend-migrate"}},
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: 900,
        ttlSecondsAfterFinished: 86400,
        template: {
          metadata: {
            labels: {app: "backend-migrate"},
            annotations: {"sidecar.istio.io/inject": "false"}
          },
          spec: (.spec.template.spec
            | del(.affinity, .topologySpreadConstraints, .terminationGracePeriodSeconds)
            | .restartPolicy = "Never"
            | .containers = [
                .containers[] | select(.name == "backend")
                | del(.ports, .startupProbe, .livenessProbe, .readinessProbe, .lifecycle)
                | .name = "migrate"
                | .image = $image
                | .args = $args
                | .resources = {requests: {cpu: "100m", memory: "128Mi"}, limits: {cpu: "500m", memory: "512Mi"}}
              ])
        }
      }
    }')"
  if [[ "$DRY_RUN" == "1" ]]; then
    run kubectl -n "$NAMESPACE" apply -f - <<<"$tmpl"
    return 0
  fi
  kube apply -f - <<<"$tmpl" >/dev/null
  wait_job "$name" "$timeout"
}

# run_migration_job IMAGE: `freeagentics migrate run` with IMAGE.
run_migration_job() {
  run_backend_job "$1" migrate run
}

# wait_job NAME TIMEOUT_SECONDS: wait until a Job completes; print its logs;
# return non-zero if it failed or timed out.
wait_job() {
  local name="$1" timeout="$2" waited=0 succeeded failed
  while (( waited < timeout )); do
    succeeded="$(kube get job "$name" -o 'jsonpath={.status.succeeded}' 2>/dev/null || true)"
    failed="$(kube get job "$name" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null || true)"
    if [[ "${succeeded:-0}" -ge 1 ]]; then
      kube logs "job/$name" --all-containers --tail=200 >&2 || true
      ok "Job $name completed"
      return 0
    fi
    if [[ "$failed" == "True" ]]; then
      kube logs "job/$name" --all-containers --tail=200 >&2 || true
      warn "Job $name failed"
      return 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
  kube logs "job/$name" --all-containers --tail=200 >&2 || true
  warn "Job $name did not finish within ${timeout}s"
  return 1
}

# VirtualService freeagentics-vs: set the stable/canary split (weights sum to 100).
vs_set_weights() {
  local stable="$1" canary="$2" patch
  (( stable + canary == 100 )) || die "weights must sum to 100 (got ${stable}+${canary})"
  patch="$(jq -cn --argjson s "$stable" --argjson c "$canary" '{
    spec: {http: [{
      name: "primary",
      route: [
        {destination: {host: "backend-stable", port: {number: 8000}}, weight: $s},
        {destination: {host: "backend-canary", port: {number: 8000}}, weight: $c}
      ],
      retries: {attempts: 2, perTryTimeout: "10s", retryOn: "connect-failure,refused-stream"}
    }]}}')"
  log "VirtualService freeagentics-vs: backend-stable ${stable}% / backend-canary ${canary}%"
  run kubectl -n "$NAMESPACE" patch virtualservice freeagentics-vs --type=merge -p "$patch"
}

# port_forward_start RESOURCE REMOTE_PORT: forward a free local port; sets
# PF_PID and PF_URL. port_forward_stop ends it (only the process we started).
PF_PID=""
PF_URL=""
port_forward_start() {
  local resource="$1" remote="$2" port i
  port="$(( (RANDOM % 20000) + 30000 ))"
  kubectl -n "$NAMESPACE" port-forward "$resource" "${port}:${remote}" >/dev/null 2>&1 &
  PF_PID=$!
  PF_URL="http://127.0.0.1:${port}"
  for i in $(seq 1 30); do
    if curl -fsS -o /dev/null --max-time 2 "${PF_URL}/health" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$PF_PID" 2>/dev/null; then
      break
    fi
    sleep 1
    : "$i"
  done
  port_forward_stop
  return 1
}

port_forward_stop() {
  if [[ -n "$PF_PID" ]] && kill -0 "$PF_PID" 2>/dev/null; then
    kill "$PF_PID" 2>/dev/null || true
    wait "$PF_PID" 2>/dev/null || true
  fi
  PF_PID=""
}
