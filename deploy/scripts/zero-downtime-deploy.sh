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
  --observe-seconds N     observation window per traffic step (default 120)
  --timeout SECONDS       rollout timeout (default 600)
  --skip-migrations       do not run the migration Job
  --skip-smoke            do not run smoke tests (not recommended)
  --dry-run               print the mutating commands instead of running them
  -h, --help              this help

Needs kubectl, jq and curl; blue-green and canary need Istio (VirtualService
freeagentics-vs).
USAGE
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

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
SKIP_MIGRATIONS=0
SKIP_SMOKE=0

while [[ $# -gt 0 ]]; do
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
    --skip-migrations) SKIP_MIGRATIONS=1; shift ;;
    --skip-smoke) SKIP_SMOKE=1; shift ;;
    *) common_option "$@"; shift "$OPT_SHIFT" ;;
  esac
done

[[ -n "$VERSION" ]] || { usage >&2; die "--version is required"; }
check_strategy "$STRATEGY"
case "$ENV_NAME" in
  production) : "${NAMESPACE:=freeagentics-prod}"; [[ "$PUBLIC_URL" != "__default__" ]] || PUBLIC_URL="https://freeagentics.com" ;;
  staging) : "${NAMESPACE:=freeagentics-staging}"; [[ "$PUBLIC_URL" != "__default__" ]] || PUBLIC_URL="https://staging.freeagentics.com" ;;
  *) die "unknown --env: $ENV_NAME (production|staging)" ;;
esac
[[ "$OBSERVE_SECONDS" =~ ^[0-9]+$ && "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--observe-seconds and --timeout take whole seconds"

require_cmd kubectl jq curl
NEW_IMAGE="${IMAGE_REPO}:${VERSION}"
SMOKE="${SCRIPT_DIR}/smoke-tests.sh"
trap 'port_forward_stop' EXIT

# ---------------------------------------------------------------- preflight
if dry_run; then mode=", DRY RUN"; else mode=""; fi
log "release ${NEW_IMAGE} to ${NAMESPACE} (strategy ${STRATEGY}${mode})"
kubectl get namespace "$NAMESPACE" >/dev/null 2>&1 || die "namespace ${NAMESPACE} not found (kubectl context: $(kube_context))"
OLD_IMAGE="$(deployment_image backend backend)"
[[ -n "$OLD_IMAGE" ]] || die "deployment/backend not found in ${NAMESPACE}: first install with deploy/scripts/deploy-k8s.sh"
if [[ "$OLD_IMAGE" == "$NEW_IMAGE" ]]; then
  warn "backend already runs ${NEW_IMAGE}; continuing (the release will restart nothing for rolling)"
fi
if [[ "$STRATEGY" != "rolling" ]]; then
  kube get virtualservice freeagentics-vs >/dev/null 2>&1 \
    || die "blue-green/canary need Istio's VirtualService freeagentics-vs in ${NAMESPACE}; use --strategy rolling"
  kube get deployment backend-canary >/dev/null 2>&1 || die "deployment/backend-canary not found"
fi
STABLE_REPLICAS="$(kube get deployment backend -o 'jsonpath={.status.readyReplicas}')"
STABLE_REPLICAS="${STABLE_REPLICAS:-0}"
(( STABLE_REPLICAS >= 1 )) || STABLE_REPLICAS=3
log "current image ${OLD_IMAGE}, ${STABLE_REPLICAS} ready stable replicas"

# smoke_skipped: true (after a warning) under --skip-smoke.
smoke_skipped() {
  [[ "$SKIP_SMOKE" == "1" ]] || return 1
  warn "smoke tests skipped (--skip-smoke)"
}

# smoke URL [ARGS...]: smoke-tests.sh against URL (printed under --dry-run).
smoke() {
  local url="$1"; shift
  if smoke_skipped; then return 0; fi
  run "$SMOKE" --base-url "$url" "$@"
}

# Smoke-test one Service through a port-forward (reaches /metrics too).
smoke_service() {
  local svc="$1" rc=0
  if smoke_skipped; then return 0; fi
  if dry_run; then
    kube_run port-forward "svc/${svc}" "<port>:8000"
    smoke "http://127.0.0.1:<port>"
    return 0
  fi
  port_forward_start "svc/${svc}" 8000 || { warn "cannot port-forward to svc/${svc}"; return 1; }
  smoke "$PF_URL" || rc=$?
  port_forward_stop
  return "$rc"
}

# 5xx ratio of the canary pods over the last minute, from Prometheus.
canary_error_ratio() {
  local q
  q='sum(rate(http_requests_total{job="freeagentics-backend",status=~"5..",pod=~"backend-canary-.*"}[1m])) / sum(rate(http_requests_total{job="freeagentics-backend",pod=~"backend-canary-.*"}[1m]))'
  curl -fsS --max-time 10 --get --data-urlencode "query=${q}" "${PROMETHEUS_URL}/api/v1/query" \
    | jq -r '.data.result[0].value[1] // "0"'
}

# observe SECONDS: watch the new version under real traffic.
observe() {
  local seconds="$1" elapsed=0 ratio
  if dry_run; then
    log "[dry-run] would observe for ${seconds}s"
    return 0
  fi
  log "observing for ${seconds}s"
  while (( elapsed < seconds )); do
    sleep 15
    elapsed=$((elapsed + 15))
    if [[ -n "$PROMETHEUS_URL" ]]; then
      ratio="$(canary_error_ratio || echo "unknown")"
      if [[ "$ratio" == "unknown" ]]; then
        warn "Prometheus query failed; continuing on smoke tests only"
      elif awk -v r="$ratio" -v m="$MAX_ERROR_RATIO" 'BEGIN { exit !(r != "NaN" && r + 0 > m + 0) }'; then
        warn "5xx ratio of the new pods is ${ratio} (> ${MAX_ERROR_RATIO})"
        return 1
      else
        log "5xx ratio of the new pods: ${ratio}"
      fi
    fi
    if [[ -n "$PUBLIC_URL" ]]; then
      curl -fsS -o /dev/null --max-time 10 "${PUBLIC_URL}/api/v1/health" \
        || { warn "${PUBLIC_URL}/api/v1/health failed"; return 1; }
    fi
  done
  if [[ -n "$PUBLIC_URL" ]]; then
    smoke "$PUBLIC_URL" --expect-metrics-blocked || return 1
  fi
}

# ------------------------------------------------------------------ rollback
rollback_mesh() {
  warn "ROLLBACK: all traffic back to backend-stable (${OLD_IMAGE}), canary scaled to 0"
  vs_set_weights 100 0 || warn "could not reset VirtualService weights: run the runbook's Traffic Rollback patch"
  sleep_if_live 10
  kube_run scale deployment/backend-canary --replicas=0 || true
}

rollback_stable() {
  warn "ROLLBACK: kubectl rollout undo deployment/backend"
  kube_run rollout undo deployment/backend || true
  wait_rollout deployment/backend "$TIMEOUT" || true
}

fail_release() {
  die "release of ${NEW_IMAGE} failed: $* (rolled back to ${OLD_IMAGE})"
}

# ----------------------------------------------------------------- migrations
if [[ "$SKIP_MIGRATIONS" == "0" ]]; then
  run_migration_job "$NEW_IMAGE" || die "migrations failed with ${NEW_IMAGE}; nothing else was changed"
else
  log "migrations skipped (--skip-migrations)"
fi

# set_stable_image: the new image on the stable Deployment (it then rolls).
set_stable_image() {
  kube_run set image deployment/backend "backend=${NEW_IMAGE}"
  kube_run annotate deployment/backend kubernetes.io/change-cause="release ${VERSION} (${STRATEGY})" --overwrite
}

# -------------------------------------------------------------------- rolling
if [[ "$STRATEGY" == "rolling" ]]; then
  set_stable_image
  if ! wait_rollout deployment/backend "$TIMEOUT"; then
    rollback_stable
    fail_release "rollout did not complete"
  fi
  if ! smoke_service backend-stable; then
    rollback_stable
    fail_release "smoke tests failed"
  fi
  if [[ -n "$PUBLIC_URL" ]] && ! smoke "$PUBLIC_URL" --expect-metrics-blocked; then
    rollback_stable
    fail_release "public smoke tests failed"
  fi
  ok "released ${NEW_IMAGE} (rolling)"
  exit 0
fi

# ------------------------------------------------------ blue-green and canary
# 1. Green: the live stable pod template, new image, track=canary.
TEMPLATE="$(kube get deployment backend -o json | jq -c --arg image "$NEW_IMAGE" '
  .spec.template
  | .metadata.labels.track = "canary"
  | .spec.containers |= map(if .name == "backend" then .image = $image else . end)')"
log "preparing backend-canary with ${NEW_IMAGE} x ${STABLE_REPLICAS}"
kube_run patch deployment backend-canary --type=merge \
  -p "$(jq -cn --argjson t "$TEMPLATE" '{spec: {template: $t}}')"
kube_run scale deployment/backend-canary --replicas="$STABLE_REPLICAS"
if ! wait_rollout deployment/backend-canary "$TIMEOUT"; then
  rollback_mesh
  fail_release "backend-canary did not become ready"
fi

# 2. Smoke-test green before it takes any traffic.
if ! smoke_service backend-canary; then
  rollback_mesh
  fail_release "smoke tests against backend-canary failed"
fi

# 3. Shift traffic.
if [[ "$STRATEGY" == "canary" ]]; then
  steps=(10 50 100)
else
  steps=(100)
fi
for weight in "${steps[@]}"; do
  vs_set_weights $((100 - weight)) "$weight"
  if ! observe "$OBSERVE_SECONDS"; then
    rollback_mesh
    fail_release "new version unhealthy at ${weight}% traffic"
  fi
done

# 4. Promote: update the stable track in place while green serves everything.
set_stable_image
if ! wait_rollout deployment/backend "$TIMEOUT"; then
  rollback_stable
  rollback_mesh
  fail_release "stable rollout did not complete"
fi
if ! smoke_service backend-stable; then
  rollback_stable
  rollback_mesh
  fail_release "smoke tests against the updated stable track failed"
fi

# 5. Traffic back to stable (now the new version); retire green.
vs_set_weights 100 0
sleep_if_live 15
kube_run scale deployment/backend-canary --replicas=0
ok "released ${NEW_IMAGE} (${STRATEGY}); previous image ${OLD_IMAGE}"
