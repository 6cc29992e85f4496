#!/usr/bin/env bash
# Zero-downtime backend release (runbook: ./scripts/deployment/zero-downtime-deploy.sh).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: zero-downtime-deploy.sh --version VERSION [options]

Releases freeagentics/backend:VERSION to the backend without dropping a
request, smoke-tests it, shifts traffic through VirtualService
freeagentics-vs and rolls back automatically on any failure.

Strategies:
  blue-green  (default) Deployment backend-canary ("green") gets the live
              stable pod template with the new image and as many replicas as
              the stable track; it is smoke-tested through Service
              backend-canary; then 100% of traffic switches to it and is
              observed; then the stable Deployment is updated in place, traffic
              switches back to it and the canary scales to 0.
  canary      like blue-green, but traffic moves 10% -> 50% -> 100% with an
              observation window after each step.
  rolling     kubectl set image on Deployment backend (maxUnavailable 0),
              then smoke tests; `kubectl rollout undo` on failure. Needs no
              Istio.

Every strategy first runs `freeagentics migrate run` with the new image as a
one-off Job (skip with --skip-migrations). Rollback never reverts the
database: migrations must stay backward compatible (expand/contract); see
docs/OPERATIONS.md for `freeagentics migrate revert`.

Options:
  --version VERSION       image tag to release (required), e.g. v1.2.3
  --strategy NAME         blue-green | canary | rolling (default blue-green)
  --env NAME              production (default) | staging: namespace and public URL
  --namespace NS          override the namespace (production: freeagentics-prod)
  --image-repo REPO       image repository (default freeagentics/backend)
  --public-url URL        public base URL for post-switch checks
                          (production: https://freeagentics.com; "" to skip)
  --prometheus-url URL    Prometheus base URL (e.g. http://127.0.0.1:9090/prometheus);
                          when set, the 5xx ratio of the new pods is checked
                          during observation
  --max-error-ratio R     5xx ratio that fails observation (default 0.01)
  --observe-seconds N     observation window per traffic step (default 120;
                          checked every OBSERVE_INTERVAL_SECONDS, default 15)
  --timeout SECONDS       rollout timeout (default 600)
  --skip-migrations       do not run the migration Job
  --skip-smoke            do not run smoke tests (not recommended)
  --settle-seconds N      wait after moving traffic away from a track before
                          scaling it down (default 15)
  --dry-run               print the mutating commands instead of running them
  -h, --help              this help

Any failure once backend-canary has been touched - a kubectl call, a
rollout, a smoke test, an observation, the promotion - rolls back: all
traffic to backend-stable, backend-canary scaled to 0, and `kubectl rollout
undo deployment/backend` when the stable track had already been changed;
the script then prints the step that failed and exits 1. A failure before
that changes nothing. Exit 0 means released.

Needs kubectl, jq and curl; blue-green and canary need Istio (VirtualService
freeagentics-vs).
USAGE
}

_self="$(readlink -f "${BASH_SOURCE[0]}")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "${_self%/*}/lib/common.sh"

VERSION=""
STRATEGY="blue-green"
ENV_NAME="production"
NAMESPACE=""  # --namespace, else from --env below
IMAGE_REPO="freeagentics/backend"
PUBLIC_URL="__default__"
PROMETHEUS_URL=""
MAX_ERROR_RATIO="0.01"
OBSERVE_SECONDS=120
TIMEOUT=600
SETTLE_SECONDS=15
SKIP_MIGRATIONS=0
SKIP_SMOKE=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --version|--strategy|--env|--image-repo|--public-url|--prometheus-url|--max-error-ratio|--observe-seconds|--timeout|--settle-seconds)
      need_value "$1" "$#" ;;
    *) ;;
  esac
  case "$1" in
    --version) VERSION="$2"; shift 2 ;;
    --strategy) STRATEGY="$2"; shift 2 ;;
    --env) ENV_NAME="$2"; shift 2 ;;
    --image-repo) IMAGE_REPO="$2"; shift 2 ;;
    --public-url) PUBLIC_URL="$2"; shift 2 ;;
    --prometheus-url) PROMETHEUS_URL="${2%/}"; shift 2 ;;
    --max-error-ratio) MAX_ERROR_RATIO="$2"; shift 2 ;;
    --observe-seconds) OBSERVE_SECONDS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --settle-seconds) SETTLE_SECONDS="$2"; shift 2 ;;
    --skip-migrations) SKIP_MIGRATIONS=1; shift ;;
    --skip-smoke) SKIP_SMOKE=1; shift ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done

[[ -n "${VERSION}" ]] || { usage >&2; die "--version is required"; }
check_strategy "${STRATEGY}"
case "${ENV_NAME}" in
  production) : "${NAMESPACE:=freeagentics-prod}"; [[ "${PUBLIC_URL}" != "__default__" ]] || PUBLIC_URL="https://freeagentics.com" ;;
  staging) : "${NAMESPACE:=freeagentics-staging}"; [[ "${PUBLIC_URL}" != "__default__" ]] || PUBLIC_URL="https://staging.freeagentics.com" ;;
  *) die "unknown --env: ${ENV_NAME} (production|staging)" ;;
esac
[[ "${OBSERVE_SECONDS}" =~ ^[0-9]+$ && "${TIMEOUT}" =~ ^[0-9]+$ && "${SETTLE_SECONDS}" =~ ^[0-9]+$ ]] \
  || die "--observe-seconds, --timeout and --settle-seconds take whole seconds"

require_cmd kubectl jq curl
NEW_IMAGE="${IMAGE_REPO}:${VERSION}"
SMOKE="${SCRIPT_DIR}/smoke-tests.sh"

# ------------------------------------------------------------- rollback trap
# STAGE names the step in progress; ROLLBACK says what a failure must undo:
#   ""      nothing changed yet (or the release completed)
#   mesh    traffic to backend-stable, backend-canary to 0
#   stable  rollout undo of deployment/backend, then as mesh
#   rolling rollout undo of deployment/backend (rolling strategy)
# Any non-zero exit - a die, or a failed command under errexit - runs
# on_exit, which undoes what ROLLBACK names with every step attempted even
# if one fails, and prints the one line that says what happened.
STAGE="preflight"
ROLLBACK=""
FAILURE=""
fail() {
  FAILURE="$*"
  exit 1
}

rollback_now() {
  local undo="$1"
  TRY_FAILURES=0
  if [[ "${undo}" == "stable" || "${undo}" == "rolling" ]]; then
    warn "ROLLBACK: kubectl rollout undo deployment/backend"
    try kubectl -n "${NAMESPACE}" rollout undo deployment/backend
    try kubectl -n "${NAMESPACE}" rollout status deployment/backend --timeout="${TIMEOUT}s"
  fi
  if [[ "${undo}" == "mesh" || "${undo}" == "stable" ]]; then
    warn "ROLLBACK: all traffic back to backend-stable, backend-canary scaled to 0"
    vs_weights_patch 100 0
    try kubectl -n "${NAMESPACE}" patch virtualservice freeagentics-vs --type=merge -p "${VS_PATCH}"
    sleep_if_live "${SETTLE_SECONDS}"
    try kubectl -n "${NAMESPACE}" scale deployment/backend-canary --replicas=0
  fi
}

on_exit() {
  local rc=$? undo="${ROLLBACK}"
  port_forward_stop
  if [[ "${rc}" -eq 0 ]]; then return 0; fi
  set +e
  ROLLBACK=""
  local reason="${FAILURE:-${DIE_MESSAGE:-a command failed (exit ${rc}): ${FAILED_COMMAND}}}"
  if [[ -z "${undo}" ]]; then
    _line "${_c_red}" " ERROR" "release of ${NEW_IMAGE} failed at ${STAGE}: ${reason}; nothing was changed"
    exit "${rc}"
  fi
  rollback_now "${undo}"
  if [[ "${TRY_FAILURES}" -gt 0 ]]; then
    _line "${_c_red}" " ERROR" "release of ${NEW_IMAGE} failed at ${STAGE}: ${reason}; ROLLBACK INCOMPLETE (${TRY_FAILURES} step(s) failed): run the runbook's Traffic Rollback patch and kubectl rollout undo deployment/backend"
  else
    _line "${_c_red}" " ERROR" "release of ${NEW_IMAGE} failed at ${STAGE}: ${reason}; rolled back to ${OLD_IMAGE:-the previous image}"
  fi
  exit "${rc}"
}
trap on_exit EXIT

# ---------------------------------------------------------------- preflight
mode=""
if [[ "${DRY_RUN}" == "1" ]]; then mode=", DRY RUN"; fi
log "release ${NEW_IMAGE} to ${NAMESPACE} (strategy ${STRATEGY}${mode})"
require_cluster
deployment_image backend backend
OLD_IMAGE="${IMAGE_OF}"
[[ -n "${OLD_IMAGE}" ]] || fail "deployment/backend not found in ${NAMESPACE}: first install with deploy/scripts/deploy-k8s.sh"
if [[ "${OLD_IMAGE}" == "${NEW_IMAGE}" ]]; then
  warn "backend already runs ${NEW_IMAGE}; continuing (the release will restart nothing for rolling)"
fi
if [[ "${STRATEGY}" != "rolling" ]]; then
  kubectl -n "${NAMESPACE}" get virtualservice freeagentics-vs -o name >/dev/null \
    || fail "blue-green/canary need Istio's VirtualService freeagentics-vs in ${NAMESPACE}; use --strategy rolling"
  kubectl -n "${NAMESPACE}" get deployment backend-canary -o name >/dev/null || fail "deployment/backend-canary not found"
fi
STABLE_REPLICAS="$(kube get deployment backend -o 'jsonpath={.status.readyReplicas}')"
STABLE_REPLICAS="${STABLE_REPLICAS:-0}"
(( STABLE_REPLICAS >= 1 )) || STABLE_REPLICAS=3
log "current image ${OLD_IMAGE}, ${STABLE_REPLICAS} ready stable replicas"

# smoke URL [ARGS...]: smoke-tests.sh against URL (printed under --dry-run).
smoke() {
  local url="$1"; shift
  if [[ "${SKIP_SMOKE}" == "1" ]]; then
    warn "smoke tests skipped (--skip-smoke)"
    return 0
  fi
  run "${SMOKE}" --base-url "${url}" "$@"
}

# smoke_service TRACK: smoke-test one track (backend-stable: Deployment
# backend, backend-canary: Deployment backend-canary) through a port-forward
# to one of its pods: the API port and the metrics listener (port 9091,
# METRICS_BIND_ADDR), so /metrics content is checked too. Dies when the
# forward or a test fails.
smoke_service() {
  local track="$1" deployment="deployment/backend"
  if [[ "${track}" == "backend-canary" ]]; then deployment="deployment/backend-canary"; fi
  if [[ "${SKIP_SMOKE}" == "1" ]]; then
    warn "smoke tests skipped (--skip-smoke)"
    return 0
  fi
  if [[ "${DRY_RUN}" == "1" ]]; then
    kube_run port-forward "${deployment}" "<port>:8000" "<metrics-port>:9091"
    smoke "http://127.0.0.1:<port>" --metrics-url "http://127.0.0.1:<metrics-port>"
    return 0
  fi
  port_forward_start "${deployment}" 8000 9091
  "${SMOKE}" --base-url "${PF_URL}" --metrics-url "${PF_METRICS_URL}" || fail "smoke tests against ${track} failed"
  port_forward_stop
}

# 5xx ratio of the canary pods over the last minute, from Prometheus, into
# RATIO ("unknown" when Prometheus does not answer).
RATIO=""
canary_error_ratio() {
  local q answer
  q='sum(rate(http_requests_total{job="freeagentics-backend",status=~"5..",pod=~"backend-canary-.*"}[1m])) / sum(rate(http_requests_total{job="freeagentics-backend",pod=~"backend-canary-.*"}[1m]))'
  if answer="$(curl -fsS --max-time 10 --get --data-urlencode "query=${q}" "${PROMETHEUS_URL}/api/v1/query")" \
     && RATIO="$(jq -er '.data.result[0].value[1] // "0"' <<<"${answer}")"; then
    return 0
  fi
  RATIO="unknown"
}

# observe SECONDS: watch the new version under real traffic; dies when it
# looks unhealthy.
observe() {
  local seconds="$1" elapsed=0
  if [[ "${DRY_RUN}" == "1" ]]; then
    log "[dry-run] would observe for ${seconds}s"
    return 0
  fi
  log "observing for ${seconds}s"
  while (( elapsed < seconds )); do
    sleep "${OBSERVE_INTERVAL_SECONDS:-15}"
    elapsed=$((elapsed + ${OBSERVE_INTERVAL_SECONDS:-15}))
    if [[ -n "${PROMETHEUS_URL}" ]]; then
      canary_error_ratio
      if [[ "${RATIO}" == "unknown" ]]; then
        warn "Prometheus query failed; continuing on smoke tests only"
      elif awk -v r="${RATIO}" -v m="${MAX_ERROR_RATIO}" 'BEGIN { exit !(r != "NaN" && r + 0 > m + 0) }'; then
        fail "5xx ratio of the new pods is ${RATIO} (> ${MAX_ERROR_RATIO})"
      else
        log "5xx ratio of the new pods: ${RATIO}"
      fi
    fi
    if [[ -n "${PUBLIC_URL}" ]]; then
      curl -fsS -o /dev/null --max-time 10 "${PUBLIC_URL}/api/v1/health" \
        || fail "${PUBLIC_URL}/api/v1/health failed"
    fi
  done
  if [[ -n "${PUBLIC_URL}" && "${SKIP_SMOKE}" != "1" ]]; then
    "${SMOKE}" --base-url "${PUBLIC_URL}" --expect-metrics-blocked || fail "public smoke tests failed"
  fi
}

# ----------------------------------------------------------------- migrations
if [[ "${SKIP_MIGRATIONS}" == "0" ]]; then
  STAGE="migrations"
  run_migration_job "${NEW_IMAGE}"
else
  log "migrations skipped (--skip-migrations)"
fi

# set_stable_image: the new image on the stable Deployment (it then rolls).
set_stable_image() {
  kube_run set image deployment/backend "backend=${NEW_IMAGE}"
  kube_run annotate deployment/backend kubernetes.io/change-cause="release ${VERSION} (${STRATEGY})" --overwrite
}

# -------------------------------------------------------------------- rolling
if [[ "${STRATEGY}" == "rolling" ]]; then
  STAGE="stable rollout"
  ROLLBACK="rolling"
  set_stable_image
  wait_rollout deployment/backend "${TIMEOUT}"
  STAGE="smoke tests against backend-stable"
  smoke_service backend-stable
  if [[ -n "${PUBLIC_URL}" ]]; then
    STAGE="public smoke tests"
    smoke "${PUBLIC_URL}" --expect-metrics-blocked
  fi
  ROLLBACK=""
  ok "released ${NEW_IMAGE} (rolling)"
  exit 0
fi

# ------------------------------------------------------ blue-green and canary
# 1. Green: the live stable pod template, new image, track=canary.
STAGE="preparing backend-canary"
stable_json="$(kube get deployment backend -o json)"
TEMPLATE="$(jq -c --arg image "${NEW_IMAGE}" '
  .spec.template
  | .metadata.labels.track = "canary"
  | .spec.containers |= map(if .name == "backend" then .image = $image else . end)' <<<"${stable_json}")"
canary_patch="$(jq -cn --argjson t "${TEMPLATE}" '{spec: {template: $t}}')"
log "preparing backend-canary with ${NEW_IMAGE} x ${STABLE_REPLICAS}"
ROLLBACK="mesh"
kube_run patch deployment backend-canary --type=merge -p "${canary_patch}"
kube_run scale deployment/backend-canary --replicas="${STABLE_REPLICAS}"
STAGE="backend-canary rollout"
wait_rollout deployment/backend-canary "${TIMEOUT}"

# 2. Smoke-test green before it takes any traffic.
STAGE="smoke tests against backend-canary"
smoke_service backend-canary

# 3. Shift traffic.
if [[ "${STRATEGY}" == "canary" ]]; then
  steps=(10 50 100)
else
  steps=(100)
fi
for weight in "${steps[@]}"; do
  STAGE="traffic at ${weight}% to backend-canary"
  vs_set_weights $((100 - weight)) "${weight}"
  observe "${OBSERVE_SECONDS}"
done

# 4. Promote: update the stable track in place while green serves everything.
STAGE="promotion (stable rollout)"
ROLLBACK="stable"
set_stable_image
wait_rollout deployment/backend "${TIMEOUT}"
STAGE="smoke tests against the updated backend-stable"
smoke_service backend-stable

# 5. Traffic back to stable (now the new version); retire green. A failure
# here still rolls back: the promoted stable track is undone too.
STAGE="traffic back to backend-stable"
vs_set_weights 100 0
sleep_if_live "${SETTLE_SECONDS}"
kube_run scale deployment/backend-canary --replicas=0
ROLLBACK=""
ok "released ${NEW_IMAGE} (${STRATEGY}); previous image ${OLD_IMAGE}"
