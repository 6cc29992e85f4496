# shellcheck shell=bash
# Shared helpers for deploy/scripts/*.sh. Sourced, never executed:
#
#   # shellcheck source-path=SCRIPTDIR source=lib/common.sh
#   source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"
#
# Conventions: every script runs under `set -euo pipefail`; DRY_RUN=1 makes
# run() print mutating commands instead of executing them; read-only
# commands (kubectl get) always run so that a dry run shows real decisions.
#
# Sourcing sets SCRIPT_DIR (deploy/scripts, also when a script is reached
# through the compatibility symlinks under scripts/ and k8s/), REPO_ROOT, and
# the defaults of the options every script takes (see common_option):
# NAMESPACE=freeagentics-prod, DRY_RUN=0 (or DRY_RUN from the environment).

SCRIPT_DIR="$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
NAMESPACE="freeagentics-prod"
DRY_RUN="${DRY_RUN:-0}"

# ------------------------------------------------------------------ output
# Colours only on a terminal.
if [[ -t 2 ]]; then
  _c_red=$'\033[31m'; _c_grn=$'\033[32m'; _c_yel=$'\033[33m'; _c_blu=$'\033[34m'; _c_off=$'\033[0m'
else
  _c_red=""; _c_grn=""; _c_yel=""; _c_blu=""; _c_off=""
fi

log()  { printf '%s[%s]%s %s\n' "$_c_blu" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
ok()   { printf '%s[%s] OK%s %s\n' "$_c_grn" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
warn() { printf '%s[%s] WARN%s %s\n' "$_c_yel" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
die()  { printf '%s[%s] ERROR%s %s\n' "$_c_red" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; exit 1; }

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
  done
}

# ----------------------------------------------------------------- options
# common_option "$@": the options every script takes. The last branch of a
# script's option loop:
#   *) common_option "$@"; shift "$OPT_SHIFT" ;;
# --namespace NS, --dry-run, -h|--help (the script's usage(), exit 0);
# anything else: usage on stderr, then "unknown argument" (exit 1).
OPT_SHIFT=1
# shellcheck disable=SC2034 # OPT_SHIFT is read by the calling loop
common_option() {
  case "$1" in
    --namespace) NAMESPACE="$2"; OPT_SHIFT=2 ;;
    --dry-run) DRY_RUN=1; OPT_SHIFT=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
}

# check_strategy NAME: the release strategies of deploy-k8s.sh and
# zero-downtime-deploy.sh.
check_strategy() {
  case "$1" in rolling|blue-green|canary) ;; *) die "unknown strategy: $1" ;; esac
}

# ----------------------------------------------------------------- dry run
# dry_run: true under --dry-run.
dry_run() { [[ "$DRY_RUN" == "1" ]]; }

# run CMD...: execute, or print it under --dry-run.
run() {
  if dry_run; then
    printf '%s[dry-run]%s %s\n' "$_c_yel" "$_c_off" "$(printf '%q ' "$@")" >&2
    return 0
  fi
  "$@"
}

# sleep_if_live SECONDS: sleep, except in a dry run.
sleep_if_live() { dry_run || sleep "$1"; }

# ------------------------------------------------------------ waiting loop
# poll TIMEOUT INTERVAL CHECK...: run CHECK every INTERVAL seconds, at most
# TIMEOUT seconds long. CHECK returns 0 (done: poll returns 0), 1 (not yet)
# or anything else (give up: poll returns that). Out of time: 124.
poll() {
  local timeout="$1" interval="$2" waited=0 rc
  shift 2
  while (( waited < timeout )); do
    rc=0
    "$@" || rc=$?
    if (( rc != 1 )); then
      return "$rc"
    fi
    sleep "$interval"
    waited=$((waited + interval))
  done
  return 124
}

# ----------------------------------------------------------------- kubectl
# kube ARGS...: kubectl in $NAMESPACE, run also in a dry run (reads).
kube() {
  kubectl -n "$NAMESPACE" "$@"
}

# kube_run ARGS...: kubectl in $NAMESPACE through run(): calls that change
# the cluster or wait for a change are printed under --dry-run.
kube_run() {
  run kubectl -n "$NAMESPACE" "$@"
}

# kube_context: the current kubectl context, for error messages.
kube_context() {
  kubectl config current-context 2>/dev/null || echo none
}

# wait_rollout RESOURCE TIMEOUT_SECONDS: kubectl rollout status (printed
# under --dry-run).
wait_rollout() {
  kube_run rollout status "$1" --timeout="${2}s"
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
  kube_run apply -f - <<<"$tmpl" >/dev/null
  if dry_run; then
    return 0
  fi
  wait_job "$name" "$timeout"
}

# run_migration_job IMAGE: `freeagentics migrate run` with IMAGE.
run_migration_job() {
  run_backend_job "$1" migrate run
}

# job_state NAME: 0 when Job NAME has succeeded, 2 when it has failed, else 1
# (a CHECK for poll).
job_state() {
  local succeeded failed
  succeeded="$(kube get job "$1" -o 'jsonpath={.status.succeeded}' 2>/dev/null || true)"
  failed="$(kube get job "$1" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null || true)"
  if [[ "${succeeded:-0}" -ge 1 ]]; then
    return 0
  fi
  if [[ "$failed" == "True" ]]; then
    return 2
  fi
  return 1
}

# wait_job NAME TIMEOUT_SECONDS: wait until a Job completes; print its logs;
# return non-zero if it failed or timed out.
wait_job() {
  local name="$1" timeout="$2" state=0
  poll "$timeout" 5 job_state "$name" || state=$?
  kube logs "job/$name" --all-containers --tail=200 >&2 || true
  case "$state" in
    0) ok "Job $name completed"; return 0 ;;
    124) warn "Job $name did not finish within ${timeout}s" ;;
    *) warn "Job $name failed" ;;
  esac
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
  kube_run patch virtualservice freeagentics-vs --type=merge -p "$patch"
}

# port_forward_start RESOURCE REMOTE_PORT: forward a free local port; sets
# PF_PID and PF_URL. port_forward_stop ends it (only the process we started).
PF_PID=""
PF_URL=""
port_forward_start() {
  local resource="$1" remote="$2" port
  port="$(( (RANDOM % 20000) + 30000 ))"
  # kubectl itself, not kube(): PF_PID must be kubectl's own process.
  kubectl -n "$NAMESPACE" port-forward "$resource" "${port}:${remote}" >/dev/null 2>&1 &
  PF_PID=$!
  PF_URL="http://127.0.0.1:${port}"
  if poll 30 1 port_forward_ready; then
    return 0
  fi
  port_forward_stop
  return 1
}

# port_forward_ready: 0 when ${PF_URL}/health answers, 2 when the
# port-forward has exited, else 1 (a CHECK for poll).
port_forward_ready() {
  if curl -fsS -o /dev/null --max-time 2 "${PF_URL}/health" 2>/dev/null; then
    return 0
  fi
  if ! kill -0 "$PF_PID" 2>/dev/null; then
    return 2
  fi
  return 1
}

port_forward_stop() {
  if [[ -n "$PF_PID" ]] && kill -0 "$PF_PID" 2>/dev/null; then
    kill "$PF_PID" 2>/dev/null || true
    wait "$PF_PID" 2>/dev/null || true
  fi
  PF_PID=""
}

# --------------------------------------------------------- postgres target
# backup.sh and restore.sh: where postgres runs. postgres_target_defaults
# sets the defaults; the option loop has the branch
#   --target|--compose-file|--database) postgres_target_option "$1" "$2"; shift 2 ;;
# and check_postgres_target validates the result.
postgres_target_defaults() {
  TARGET="k8s"
  COMPOSE_FILE="${REPO_ROOT}/docker/compose.yaml"
  DATABASE="freeagentics"
}

# shellcheck disable=SC2034 # DATABASE is read by the script
postgres_target_option() {
  case "$1" in
    --target) TARGET="$2" ;;
    --compose-file) COMPOSE_FILE="$2" ;;
    --database) DATABASE="$2" ;;
  esac
}

check_postgres_target() {
  case "$TARGET" in k8s|compose) ;; *) die "--target must be k8s or compose" ;; esac
}

# require_target_cmds CMD...: the commands CMD... for --target k8s, docker
# for --target compose.
require_target_cmds() {
  if [[ "$TARGET" == "k8s" ]]; then require_cmd "$@"; else require_cmd docker; fi
}

# compose_run ARGS...: docker compose with $COMPOSE_FILE, through run().
compose_run() {
  run docker compose -f "$COMPOSE_FILE" "$@"
}

# postgres_exec CMD...: CMD inside the postgres container (PGUSER is set
# there), through run(): deployment/postgres in $NAMESPACE, or the compose
# service postgres.
postgres_exec() {
  if [[ "$TARGET" == "k8s" ]]; then
    kube_run exec -i deployment/postgres -c postgres -- "$@"
  else
    compose_run exec -T postgres "$@"
  fi
}
