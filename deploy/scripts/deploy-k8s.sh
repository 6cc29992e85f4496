#!/usr/bin/env bash
# Render and apply the Kubernetes manifests, run migrations, release the
# backend (runbook: ./k8s/deploy-k8s-enhanced.sh).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy-k8s.sh [--version VERSION] [options]

Renders deploy/k8s/overlays/<overlay> with kustomize, sets the backend image
to IMAGE_REPO:VERSION and applies everything (server-side apply), in order:

  1. Namespaces; then a check that the Secrets exist
     (deploy/k8s/secrets-template.yaml lists them; nothing is created here).
  2. All manifests. Custom resources whose CRD is not installed (Istio,
     cert-manager, VPA) are skipped with a warning (--require-crds: fail).
     On an existing installation the backend Deployments keep their current
     image in this step, so nothing new serves traffic before migrations.
  3. Waits for postgres and redis, then for the migration Job backend-migrate
     (`freeagentics migrate run` with the new image; the previous Job is
     deleted first because a Job's template is immutable).
  4. Waits for the other Deployments.
  5. Releases the backend: first install -> rollout; otherwise hands over to
     zero-downtime-deploy.sh --strategy STRATEGY --skip-migrations (smoke
     tests, traffic shifting, automatic rollback).

Options:
  --version VERSION   backend image tag (default: latest)
  --strategy NAME     rolling | blue-green | canary (default: rolling)
  --namespace NS      namespace of the overlay (default: freeagentics-prod)
  --overlay NAME      overlay under deploy/k8s/overlays (default: production)
  --image-repo REPO   backend image repository (default: freeagentics/backend)
  --require-crds      fail instead of skipping custom resources without CRD
  --render-only       print the final manifests and exit (no cluster needed)
  --timeout SECONDS   per-wait timeout (default 600)
  --public-url URL, --prometheus-url URL, --observe-seconds N, --skip-smoke
                      passed to zero-downtime-deploy.sh
  --dry-run           validate against the cluster (server-side dry run) and
                      print the mutating commands instead of running them;
                      fails like a real run when the cluster cannot be read,
                      a Secret is missing or the server rejects a manifest
  -h, --help          this help

Exits 0 only when every step succeeded; otherwise prints the step that failed
and exits 1. A Deployment other than the backend that does not finish rolling
out does not stop the backend release, but still makes the run fail at the end.
USAGE
}

_self="$(readlink -f "${BASH_SOURCE[0]}")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "${_self%/*}/lib/common.sh"

VERSION="latest"
STRATEGY="rolling"
OVERLAY="production"
IMAGE_REPO="freeagentics/backend"
REQUIRE_CRDS=0
RENDER_ONLY=0
TIMEOUT=600
PASSTHROUGH=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --version|--strategy|--overlay|--image-repo|--timeout|--public-url|--prometheus-url|--observe-seconds)
      need_value "$1" "$#" ;;
    *) ;;
  esac
  case "$1" in
    --version) VERSION="$2"; shift 2 ;;
    --strategy) STRATEGY="$2"; shift 2 ;;
    --overlay) OVERLAY="$2"; shift 2 ;;
    --image-repo) IMAGE_REPO="$2"; shift 2 ;;
    --require-crds) REQUIRE_CRDS=1; shift ;;
    --render-only) RENDER_ONLY=1; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --public-url|--prometheus-url|--observe-seconds) PASSTHROUGH+=("$1" "$2"); shift 2 ;;
    --skip-smoke) PASSTHROUGH+=("$1"); shift ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done

check_strategy "$STRATEGY"
OVERLAY_DIR="${REPO_ROOT}/deploy/k8s/overlays/${OVERLAY}"
[[ -f "${OVERLAY_DIR}/kustomization.yaml" ]] || die "no overlay at ${OVERLAY_DIR}"
require_cmd kubectl awk
NEW_IMAGE="${IMAGE_REPO}:${VERSION}"

WORK="$(mktemp -d)"
trap 'rc=$?; rm -rf "${WORK}"; exit_report "${rc}"' EXIT

# filter_manifests PIN_IMAGE DROP_GROUPS [ONLY_KIND] < in > out
#   - every container image of IMAGE_REPO becomes NEW_IMAGE, except in the
#     Deployments backend and backend-canary when PIN_IMAGE is set;
#   - documents whose apiVersion group is in DROP_GROUPS (space separated)
#     are left out; with ONLY_KIND, only documents of that kind are kept.
filter_manifests() {
  awk -v repo="$IMAGE_REPO" -v new="$NEW_IMAGE" -v pin="$1" -v drop="$2" -v only="${3:-}" '
    function flush() {
      if (only != "" && kind != only) keep = 0
      if (doc != "" && keep) { if (printed) print "---"; printf "%s", doc; printed = 1 }
      doc = ""; kind = ""; name = ""; inmeta = 0; keep = 1
    }
    function image_repo(ref,   at, colon, tail) {
      at = index(ref, "@"); if (at) ref = substr(ref, 1, at - 1)
      colon = 0
      for (i = length(ref); i > 0; i--) { c = substr(ref, i, 1); if (c == ":") { colon = i; break } if (c == "/") break }
      return colon ? substr(ref, 1, colon - 1) : ref
    }
    BEGIN { n = split(drop, groups, " "); keep = 1 }
    /^---$/ { flush(); next }
    {
      line = $0
      if (line ~ /^apiVersion: /) {
        api = substr(line, 13)
        for (g = 1; g <= n; g++) if (index(api, groups[g] "/") == 1) keep = 0
      } else if (line ~ /^kind: /) { kind = substr(line, 7) }
      else if (line ~ /^metadata:/) { inmeta = 1 }
      else if (line ~ /^[A-Za-z]/) { inmeta = 0 }
      else if (inmeta && line ~ /^  name: / && name == "") { name = substr(line, 9) }
      if (match(line, /^ +(- )?image: /)) {
        prefix = substr(line, 1, RLENGTH); ref = substr(line, RLENGTH + 1)
        gsub(/["'\'']/, "", ref)
        if (image_repo(ref) == repo) {
          if (pin != "" && kind == "Deployment" && (name == "backend" || name == "backend-canary")) line = prefix pin
          else line = prefix new
        }
      }
      doc = doc line "\n"
    }
    END { flush() }
  '
}

# ------------------------------------------------------------------- render
log "rendering ${OVERLAY_DIR} with backend image ${NEW_IMAGE}"
kubectl kustomize "$OVERLAY_DIR" > "$WORK/rendered.yaml"

if [[ "$RENDER_ONLY" == "1" ]]; then
  filter_manifests "" "" < "$WORK/rendered.yaml"
  exit 0
fi

kube_context
kubectl version --request-timeout=10s >/dev/null \
  || die "cannot reach the cluster (kubectl context: ${KUBE_CONTEXT})"

DROP=""
for group in networking.istio.io cert-manager.io autoscaling.k8s.io postgresql.cnpg.io monitoring.coreos.com; do
  resources="$(kubectl api-resources --api-group="${group}" -o name)" \
    || die "cannot list the API resources of ${group} (kubectl context: ${KUBE_CONTEXT})"
  if [[ -z "${resources}" ]]; then
    if ! grep -q "^apiVersion: ${group}/" "${WORK}/rendered.yaml"; then continue; fi
    [[ "${REQUIRE_CRDS}" == "0" ]] || die "CRDs of ${group} are not installed (--require-crds)"
    # The data tier cannot be skipped: without its operator there is no database.
    [[ "${group}" != "postgresql.cnpg.io" ]] || die "the ${OVERLAY} overlay needs the CloudNativePG operator (CRDs of ${group})"
    warn "CRDs of ${group} are not installed: skipping its resources"
    DROP="${DROP} ${group}"
  fi
done

deployment_image backend backend
OLD_IMAGE="${IMAGE_OF}"
PIN=""
if [[ -n "$OLD_IMAGE" ]]; then
  PIN="$OLD_IMAGE"
  log "existing installation: backend stays on ${OLD_IMAGE} until migrations have run"
else
  log "first installation: backend starts with ${NEW_IMAGE}"
fi
filter_manifests "$PIN" "$DROP" < "$WORK/rendered.yaml" > "$WORK/final.yaml"

APPLY=(kubectl apply --server-side --force-conflicts --field-manager=freeagentics-deploy)

# ----------------------------------------------------- namespaces, secrets
filter_manifests "$PIN" "$DROP" Namespace < "$WORK/rendered.yaml" > "$WORK/namespaces.yaml"
run "${APPLY[@]}" -f "$WORK/namespaces.yaml"

# The Secrets the rendered manifests reference (secretKeyRef / secretRef /
# secret volumes), except the optional backup-s3.
SECRETS=()
for secret in backend-secrets postgres-secrets postgres-app postgres-superuser redis-secrets grafana-secrets \
              alertmanager-secrets monitoring-basic-auth backup-object-store; do
  if grep -Eq "(name|secretName): ${secret}\$" "${WORK}/final.yaml"; then SECRETS+=("${secret}"); fi
done
present="$(kubectl -n "${NAMESPACE}" get secrets -o name)" \
  || die "cannot list the Secrets in ${NAMESPACE} (kubectl context: ${KUBE_CONTEXT})"
missing=()
for secret in "${SECRETS[@]}"; do
  grep -qx "secret/${secret}" <<<"${present}" || missing+=("${secret}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  die "missing Secrets in ${NAMESPACE}: ${missing[*]} (see deploy/k8s/secrets-template.yaml and docs/OPERATIONS.md)"
fi

# ------------------------------------------------------------------- apply
kube_run delete job backend-migrate --ignore-not-found --wait=true
if [[ "${DRY_RUN}" == "1" ]]; then
  objects="$(grep -c '^kind: ' "${WORK}/final.yaml")"
  log "server-side dry run of ${objects} objects"
  "${APPLY[@]}" --dry-run=server -f "${WORK}/final.yaml" >"${WORK}/dry-run.out" 2>&1 \
    || { cat "${WORK}/dry-run.out" >&2; die "the server-side dry run rejected the manifests"; }
fi
run "${APPLY[@]}" -f "${WORK}/final.yaml"

# ------------------------------------------------------------------ waits
# The data tier: single-pod Deployments, or (production) the CloudNativePG
# Cluster and the Redis StatefulSet.
LAGGING=()
if [[ "${DRY_RUN}" != "1" ]]; then
  if grep -q '^kind: Cluster$' "${WORK}/final.yaml"; then
    log "waiting for the CloudNativePG Cluster postgres"
    kubectl -n "${NAMESPACE}" wait --for=condition=Ready cluster.postgresql.cnpg.io/postgres --timeout="${TIMEOUT}s" \
      || die "Cluster postgres not ready within ${TIMEOUT}s; backend left on ${OLD_IMAGE:-nothing}"
    wait_rollout statefulset/redis "${TIMEOUT}"
    wait_rollout statefulset/redis-sentinel "${TIMEOUT}"
  else
    wait_rollout deployment/postgres "${TIMEOUT}"
    wait_rollout deployment/redis "${TIMEOUT}"
  fi
  wait_job backend-migrate "${TIMEOUT}"
  [[ "${JOB_STATE}" == "succeeded" ]] \
    || die "migration Job backend-migrate ${JOB_STATE}; backend left on ${OLD_IMAGE:-nothing}"
  deployments="$(kubectl -n "${NAMESPACE}" get deployments -o name)" \
    || die "cannot list the Deployments in ${NAMESPACE}"
  while read -r d; do
    case "${d}" in deployment.apps/backend|deployment.apps/backend-canary|deployment.apps/postgres|deployment.apps/redis|"") continue ;; *) ;; esac
    if ! kubectl -n "${NAMESPACE}" rollout status "${d}" --timeout="${TIMEOUT}s"; then
      warn "${d} did not finish rolling out"
      LAGGING+=("${d}")
    fi
  done <<<"${deployments}"
fi

# ---------------------------------------------------------------- release
if [[ -z "${OLD_IMAGE}" ]]; then
  wait_rollout deployment/backend "${TIMEOUT}"
  released="first installation of ${NEW_IMAGE} done; run deploy/scripts/smoke-tests.sh against the public URL"
elif [[ "${OLD_IMAGE}" == "${NEW_IMAGE}" ]]; then
  wait_rollout deployment/backend "${TIMEOUT}"
  released="backend already on ${NEW_IMAGE}; manifests applied"
else
  dry=()
  if [[ "${DRY_RUN}" == "1" ]]; then dry=(--dry-run); fi
  "${SCRIPT_DIR}/zero-downtime-deploy.sh" --version "${VERSION}" --strategy "${STRATEGY}" \
    --namespace "${NAMESPACE}" --image-repo "${IMAGE_REPO}" --skip-migrations --timeout "${TIMEOUT}" \
    "${dry[@]}" "${PASSTHROUGH[@]}"
  released="released ${NEW_IMAGE}"
fi
if [[ ${#LAGGING[@]} -gt 0 ]]; then
  die "${released}, but these Deployments did not finish rolling out: ${LAGGING[*]}"
fi
ok "${released}"
