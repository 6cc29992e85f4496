# shellcheck shell=bash
# Shared helpers for deploy/scripts/*.sh. Sourced, never executed:
#
#   _self="$(readlink -f "${BASH_SOURCE[0]}")"
#   # shellcheck source-path=SCRIPTDIR source=lib/common.sh
#   source "${_self%/*}/lib/common.sh"
#
# Conventions (they are what makes a failed step fail the script):
#   - every script runs under `set -euo pipefail`, and sourcing this file adds
#     inherit_errexit, so a failure inside $(...) fails the assignment too;
#   - no function is called where bash switches errexit off (an `if`, `!`,
#     `||` or `&&`): a function either dies with one clear line or reports
#     through a variable (POLL_STATE, JOB_STATE) that the caller tests;
#     conditions hold plain commands only;
#   - DRY_RUN=1 makes run() print mutating commands instead of executing
#     them; reads (kubectl get) always run, so a dry run without a
#     reachable cluster fails like a real one.
#
# Sourcing sets SCRIPT_DIR (deploy/scripts, also when a script is reached
# through the compatibility symlinks under scripts/ and k8s/), REPO_ROOT, and
# the defaults of the options every script takes (see common_option):
# NAMESPACE=freeagentics-prod, DRY_RUN=0 (or DRY_RUN from the environment).
shopt -s inherit_errexit

_common_path="$(readlink -f "${BASH_SOURCE[0]}")"
_common_path="${_common_path%/*}"
SCRIPT_DIR="${_common_path%/*}"
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

# _line COLOUR LABEL TEXT: "[HH:MM:SS] LABEL TEXT" on stderr (UTC, no subshell).
_line() {
  local ts
  TZ=UTC printf -v ts '%(%H:%M:%S)T' -1
  printf '%s[%s]%s%s %s\n' "$1" "${ts}" "$2" "${_c_off}" "$3" >&2
}
log()  { _line "${_c_blu}" "" "$*"; }
ok()   { _line "${_c_grn}" " OK" "$*"; }
warn() { _line "${_c_yel}" " WARN" "$*"; }
# die: one ERROR line, exit 1 (DIE_MESSAGE keeps it for an EXIT trap).
DIE_MESSAGE=""
# shellcheck disable=SC2034 # DIE_MESSAGE is read by the EXIT traps of the scripts
die()  { DIE_MESSAGE="$*"; _line "${_c_red}" " ERROR" "$*"; exit 1; }

# A failed command outside a condition ends the script (errexit); the ERR
# trap remembers which, so exit_report can name it in one line when nothing
# was printed by die. Scripts call `exit_report "$rc"` from their EXIT trap.
set -o errtrace
FAILED_COMMAND=""
# The failed step as written in the script (not in this library): file,
# line and its text.
_err_trap() {
  local i file line text
  FAILED_COMMAND="${BASH_COMMAND}"
  for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
    file="${BASH_SOURCE[i]}"
    [[ "${file}" == */lib/* ]] && continue
    line="${BASH_LINENO[i - 1]}"
    text="$(sed -n "${line}p" "${file}" 2>/dev/null)" || text=""
    text="${text#"${text%%[![:space:]]*}"}"
    FAILED_COMMAND="${file##*/}:${line}: ${text:-${BASH_COMMAND}}"
    return 0
  done
}
trap _err_trap ERR
exit_report() {
  local rc="$1"
  if [[ "${rc}" -ne 0 && -z "${DIE_MESSAGE}" ]]; then
    _line "${_c_red}" " ERROR" "${0##*/} failed (exit ${rc}) at ${FAILED_COMMAND:-an unknown step}"
  fi
}

require_cmd() {
  local c
  for c in "$@"; do
    command -v "${c}" >/dev/null 2>&1 || die "required command not found: ${c}"
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
    --namespace) [[ $# -ge 2 ]] || die "--namespace needs a value"; NAMESPACE="$2"; OPT_SHIFT=2 ;;
    --dry-run) DRY_RUN=1; OPT_SHIFT=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
}

# need_value OPTION ARGC: an option that takes a value got one.
need_value() {
  [[ "$2" -ge 2 ]] || die "$1 needs a value"
}

# check_strategy NAME: the release strategies of deploy-k8s.sh and
# zero-downtime-deploy.sh.
check_strategy() {
  case "$1" in rolling|blue-green|canary) ;; *) die "unknown strategy: $1" ;; esac
}

# ----------------------------------------------------------------- dry run
# run CMD...: execute, or print it under --dry-run.
run() {
  if [[ "${DRY_RUN}" == "1" ]]; then
    printf '%s[dry-run]%s %s\n' "${_c_yel}" "${_c_off}" "$(printf '%q ' "$@")" >&2
    return 0
  fi
  "$@"
}

# sleep_if_live SECONDS: sleep, except in a dry run.
sleep_if_live() {
  if [[ "${DRY_RUN}" != "1" ]]; then sleep "$1"; fi
}

# ------------------------------------------------------------ waiting loop
# poll TIMEOUT INTERVAL CHECK...: run CHECK every INTERVAL seconds, at most
# TIMEOUT seconds long, and set POLL_STATE: CHECK returns 0 (done:
# POLL_STATE=0), 1 (not yet) or anything else (give up: POLL_STATE is that
# code); out of time: 124. poll itself always returns 0 (see the
# conventions above); CHECK functions test every step themselves.
POLL_STATE=0
poll() {
  local timeout="$1" interval="$2" waited=0 rc
  shift 2
  while true; do
    rc=0
    "$@" || rc=$?
    if [[ "${rc}" -ne 1 ]]; then
      POLL_STATE="${rc}"
      return 0
    fi
    if (( waited >= timeout )); then
      POLL_STATE=124
      return 0
    fi
    sleep "${interval}"
    waited=$((waited + interval))
  done
}

# ----------------------------------------------------------------- kubectl
# kube ARGS...: kubectl in $NAMESPACE, run also in a dry run (reads).
kube() {
  kubectl -n "${NAMESPACE}" "$@"
}

# kube_run ARGS...: kubectl in $NAMESPACE through run(): calls that change
# the cluster or wait for a change are printed under --dry-run.
kube_run() {
  run kubectl -n "${NAMESPACE}" "$@"
}

# kube_context: the current kubectl context into KUBE_CONTEXT (for messages).
KUBE_CONTEXT=""
kube_context() {
  KUBE_CONTEXT="$(kubectl config current-context 2>/dev/null)" || KUBE_CONTEXT="none"
}

# require_cluster: the cluster answers, and namespace $NAMESPACE exists.
require_cluster() {
  kube_context
  kubectl get namespace "${NAMESPACE}" -o name >/dev/null \
    || die "cannot read namespace ${NAMESPACE} (kubectl context: ${KUBE_CONTEXT})"
}

# wait_rollout RESOURCE TIMEOUT_SECONDS: kubectl rollout status (printed
# under --dry-run). Fails the script when the rollout does not complete.
wait_rollout() {
  kube_run rollout status "$1" --timeout="${2}s"
}

# deployment_image DEPLOYMENT CONTAINER: the image into IMAGE (empty when
# the deployment does not exist). Dies when the cluster cannot be read.
IMAGE_OF=""
deployment_image() {
  # shellcheck disable=SC2034 # read by the scripts
  IMAGE_OF="$(kubectl -n "${NAMESPACE}" get deployment "$1" --ignore-not-found \
    -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$2\")].image}")" \
    || die "cannot read deployment/$1 in ${NAMESPACE}"
}

# k8s_name_part TEXT: TEXT sanitised for a Kubernetes name, into NAME_PART.
NAME_PART=""
k8s_name_part() {
  local s="${1,,}"
  s="${s//[^a-z0-9-]/-}"
  while [[ "${s}" == -* ]]; do s="${s#-}"; done
  while [[ "${s}" == *- ]]; do s="${s%-}"; done
  NAME_PART="${s:0:30}"
}

# run_backend_job IMAGE ARGS...: run `freeagentics ARGS...` as a one-off Job
# built from the live backend Deployment's pod template (same env, secrets,
# security context; no sidecar, label app=backend-migrate so the postgres
# NetworkPolicy admits it), wait for it and print its logs. Dies if it fails.
# With DATABASE_DIRECT_URL in backend-secrets (production overlay: the
# backend talks to PgBouncer, migrations need a session), the Job uses it.
run_backend_job() {
  local image="$1"; shift
  [[ -n "${image}" ]] || die "no image for the backend Job"
  local name deployment args_json tmpl ts count timeout="${MIGRATION_TIMEOUT:-600}"
  args_json="$(jq -cn '$ARGS.positional' --args "$@")"
  TZ=UTC printf -v ts '%(%H%M%S)T' -1
  k8s_name_part "$1"
  name="backend-${NAME_PART}"
  k8s_name_part "${image##*:}"
  name="${name}-${NAME_PART}-${ts}"
  deployment="$(kubectl -n "${NAMESPACE}" get deployment backend -o json)" \
    || die "cannot read deployment/backend in ${NAMESPACE}"
  tmpl="$(jq --arg image "${image}" --arg name "${name}" --argjson args "${args_json}" '
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
                | .env = ((.env // []) | map(select(.name != "DATABASE_URL")) + [{
                    name: "DATABASE_URL",
                    valueFrom: {secretKeyRef: {name: "backend-secrets", key: "DATABASE_DIRECT_URL", optional: true}}
                  }])
                | .resources = {requests: {cpu: "100m", memory: "128Mi"}, limits: {cpu: "500m", memory: "512Mi"}}
              ])
        }
      }
    }' <<<"${deployment}")" || die "cannot build the Job from deployment/backend"
  count="$(jq -r '.spec.template.spec.containers | length' <<<"${tmpl}")"
  [[ "${count}" == "1" ]] || die "deployment/backend has no container named backend"
  log "running \`freeagentics $*\` with ${image} (Job ${name})"
  kube_run apply -f - <<<"${tmpl}" >/dev/null
  if [[ "${DRY_RUN}" == "1" ]]; then
    return 0
  fi
  wait_job "${name}" "${timeout}"
  [[ "${JOB_STATE}" == "succeeded" ]] || die "Job ${name} ${JOB_STATE}"
}

# run_migration_job IMAGE: `freeagentics migrate run` with IMAGE.
run_migration_job() {
  run_backend_job "$1" migrate run
}

# job_state NAME: 0 when Job NAME has succeeded, 2 when it has failed, 3
# when it cannot be read, else 1 (a CHECK for poll).
job_state() {
  local out succeeded failed
  out="$(kubectl -n "${NAMESPACE}" get job "$1" \
    -o 'jsonpath={.status.succeeded}{"|"}{.status.conditions[?(@.type=="Failed")].status}')" || return 3
  succeeded="${out%%|*}"
  failed="${out#*|}"
  if [[ "${succeeded:-0}" -ge 1 ]]; then return 0; fi
  if [[ "${failed}" == "True" ]]; then return 2; fi
  return 1
}

# wait_job NAME TIMEOUT_SECONDS: wait until a Job completes, print its logs,
# set JOB_STATE to succeeded | failed | timed out | unreadable.
JOB_STATE=""
wait_job() {
  local name="$1" timeout="$2"
  poll "${timeout}" "${JOB_POLL_SECONDS:-5}" job_state "${name}"
  kube logs "job/${name}" --all-containers --tail=200 >&2 || warn "no logs from job/${name}"
  case "${POLL_STATE}" in
    0) JOB_STATE="succeeded"; ok "Job ${name} completed" ;;
    124) JOB_STATE="timed out"; warn "Job ${name} did not finish within ${timeout}s" ;;
    3) JOB_STATE="unreadable"; warn "cannot read job/${name}" ;;
    *) JOB_STATE="failed"; warn "Job ${name} failed" ;;
  esac
}

# try CMD...: a best-effort step (rollbacks): run(CMD), and on failure count
# it in TRY_FAILURES instead of exiting, so the next step still runs.
TRY_FAILURES=0
try() {
  if [[ "${DRY_RUN}" == "1" ]]; then
    run "$@"
    return 0
  fi
  "$@" || TRY_FAILURES=$((TRY_FAILURES + 1))
}

# vs_weights_patch STABLE CANARY: the merge patch of VirtualService
# freeagentics-vs for that split (weights sum to 100) into VS_PATCH.
VS_PATCH=""
vs_weights_patch() {
  local stable="$1" canary="$2"
  (( stable + canary == 100 )) || die "weights must sum to 100 (got ${stable}+${canary})"
  VS_PATCH="$(jq -cn --argjson s "${stable}" --argjson c "${canary}" '{
    spec: {http: [{
      name: "primary",
      route: [
        {destination: {host: "backend-stable", port: {number: 8000}}, weight: $s},
        {destination: {host: "backend-canary", port: {number: 8000}}, weight: $c}
      ],
      retries: {attempts: 2, perTryTimeout: "10s", retryOn: "connect-failure,refused-stream"}
    }]}}')"
}

# vs_set_weights STABLE CANARY: apply that split.
vs_set_weights() {
  vs_weights_patch "$1" "$2"
  log "VirtualService freeagentics-vs: backend-stable $1% / backend-canary $2%"
  kube_run patch virtualservice freeagentics-vs --type=merge -p "${VS_PATCH}"
}

# port_forward_start RESOURCE REMOTE_PORT [METRICS_PORT]: forward free local
# ports; sets PF_PID, PF_URL (and PF_METRICS_URL for METRICS_PORT); dies
# when the forward does not answer /health within 30 s. port_forward_stop
# ends it (only the process we started).
PF_PID=""
PF_URL=""
PF_METRICS_URL=""
port_forward_start() {
  local resource="$1" remote="$2" metrics="${3:-}" port mport
  port="$(( (RANDOM % 20000) + 30000 ))"
  mport=$((port + 1))
  local ports=("${port}:${remote}")
  if [[ -n "${metrics}" ]]; then ports+=("${mport}:${metrics}"); fi
  # kubectl itself, not kube(): PF_PID must be kubectl's own process.
  kubectl -n "${NAMESPACE}" port-forward "${resource}" "${ports[@]}" >/dev/null 2>&1 &
  PF_PID=$!
  PF_URL="http://127.0.0.1:${port}"
  # shellcheck disable=SC2034 # read by the scripts
  PF_METRICS_URL=""
  # shellcheck disable=SC2034
  if [[ -n "${metrics}" ]]; then PF_METRICS_URL="http://127.0.0.1:${mport}"; fi
  poll "${PORT_FORWARD_TIMEOUT:-30}" 1 port_forward_ready
  if [[ "${POLL_STATE}" != "0" ]]; then
    port_forward_stop
    die "cannot port-forward to ${resource}:${remote}"
  fi
}

# port_forward_ready: 0 when ${PF_URL}/health answers, 2 when the
# port-forward has exited, else 1 (a CHECK for poll).
port_forward_ready() {
  if curl -fsS -o /dev/null --max-time 2 "${PF_URL}/health" 2>/dev/null; then
    return 0
  fi
  if ! kill -0 "${PF_PID}" 2>/dev/null; then
    return 2
  fi
  return 1
}

port_forward_stop() {
  if [[ -n "${PF_PID}" ]] && kill -0 "${PF_PID}" 2>/dev/null; then
    kill "${PF_PID}" 2>/dev/null || true
    wait "${PF_PID}" 2>/dev/null || true
  fi
  PF_PID=""
}

# --------------------------------------------------------- postgres target
# backup.sh and restore.sh: where postgres runs. postgres_target_defaults
# sets the defaults; the option loop has the branch
#   --target|--compose-file|--database) postgres_target_option "$@"; shift 2 ;;
# check_postgres_target validates the result, and resolve_postgres (k8s)
# finds the pod to exec into - a read that fails without a cluster, in a
# dry run too.
#   k8s      kubectl exec into deployment/postgres (single-pod tier) or the
#            primary instance of the CloudNativePG Cluster "postgres"
#   compose  docker compose exec into service postgres
#   local    psql/pg_dump on this machine with the libpq environment
#            (PGHOST, PGPORT, PGUSER, PGPASSWORD): CronJobs, port-forwards, CI
postgres_target_defaults() {
  TARGET="k8s"
  COMPOSE_FILE="${REPO_ROOT}/docker/compose.yaml"
  DATABASE="freeagentics"
  PG_EXEC=""
}

# shellcheck disable=SC2034 # DATABASE is read by the script
postgres_target_option() {
  need_value "$1" "$#"
  case "$1" in
    --target) TARGET="$2" ;;
    --compose-file) COMPOSE_FILE="$2" ;;
    --database) DATABASE="$2" ;;
    *) die "not a postgres target option: $1" ;;
  esac
}

check_postgres_target() {
  case "${TARGET}" in k8s|compose|local) ;; *) die "--target must be k8s, compose or local" ;; esac
}

# require_target_cmds CMD...: the commands CMD... for --target k8s, docker
# for --target compose, psql and pg_dump for --target local.
require_target_cmds() {
  case "${TARGET}" in
    k8s) require_cmd "$@" ;;
    compose) require_cmd docker ;;
    local) require_cmd psql pg_dump ;;
    *) die "unknown target ${TARGET}" ;;
  esac
}

# resolve_postgres: for --target k8s, PG_EXEC = the pod reference to exec
# into (deployment/postgres, else the CloudNativePG primary pod).
resolve_postgres() {
  [[ "${TARGET}" == "k8s" ]] || return 0
  local found
  found="$(kubectl -n "${NAMESPACE}" get deployment postgres --ignore-not-found -o name)" \
    || die "cannot read deployment/postgres in ${NAMESPACE}"
  if [[ -n "${found}" ]]; then
    PG_EXEC="deployment/postgres"
    return 0
  fi
  found="$(kubectl -n "${NAMESPACE}" get pods -l 'cnpg.io/cluster=postgres,cnpg.io/instanceRole=primary' \
    --field-selector=status.phase=Running -o name)" || die "cannot list the CloudNativePG pods in ${NAMESPACE}"
  [[ -n "${found}" ]] || die "neither deployment/postgres nor a running CloudNativePG primary in ${NAMESPACE}"
  PG_EXEC="${found%%$'\n'*}"
}

# compose_run ARGS...: docker compose with $COMPOSE_FILE, through run().
compose_run() {
  run docker compose -f "${COMPOSE_FILE}" "$@"
}

# postgres_cmd: PG_CMD = the command prefix that runs a program where
# postgres runs (empty for --target local). For pipelines and conditions,
# where a function call would switch errexit off: "${PG_CMD[@]}" pg_dump ...
PG_CMD=()
postgres_cmd() {
  case "${TARGET}" in
    k8s) PG_CMD=(kubectl -n "${NAMESPACE}" exec -i "${PG_EXEC}" -c postgres --) ;;
    compose) PG_CMD=(docker compose -f "${COMPOSE_FILE}" exec -T postgres) ;;
    local) PG_CMD=() ;;
    *) die "unknown target ${TARGET}" ;;
  esac
}

# postgres_exec CMD...: CMD where postgres runs, through run() (PGUSER is
# set in the single-pod container; CloudNativePG pods connect as postgres
# over the local socket).
postgres_exec() {
  postgres_cmd
  run "${PG_CMD[@]}" "$@"
}
