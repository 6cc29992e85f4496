#!/usr/bin/env bash
# PostgreSQL backup to a local file, verified (runbook: "Daily Automated Backups").
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: backup.sh [options]

Dumps the freeagentics database with `pg_dump` into
OUTPUT_DIR/db-<UTC timestamp>.sql.gz and writes its manifest
OUTPUT_DIR/db-<UTC timestamp>.manifest.tsv: every table with its exact row
count, counted inside the snapshot the dump is taken from. Both are kept
only if the dump passes verification: non-empty, `gzip -t`, pg_dump's
completion trailer, at least one table, and the dump's own COPY blocks
holding exactly the manifest's tables and row counts. Any failed step
(pg_dump, the snapshot session, a check) deletes what was written, prints
one ERROR line and exits 1. db-latest.sql.gz and db-latest.manifest.tsv
point at the newest good pair.

The CronJob postgres-backup runs this script (--target local, mounted from
ConfigMap backup-scripts); --in-cluster runs that CronJob now instead of
dumping to this machine.

Options:
  --target k8s|compose|local
                         where postgres runs (default k8s: deployment/postgres,
                         or the primary of the CloudNativePG Cluster postgres;
                         local: psql/pg_dump here with PGHOST, PGPORT, PGUSER,
                         PGPASSWORD)
  --namespace NS         Kubernetes namespace (default freeagentics-prod)
  --compose-file FILE    compose file (default docker/compose.yaml)
  --output-dir DIR       where to write (default ./backups)
  --database NAME        database (default freeagentics)
  --keep-days N          delete dumps (and manifests) older than N days
                         (default: keep all)
  --with-config          also save the namespace's ConfigMaps as YAML
  --in-cluster           trigger CronJob postgres-backup and wait for it
  --dry-run              print what would run (the cluster is still read)
  -h, --help             this help
USAGE
}

_self="$(readlink -f "${BASH_SOURCE[0]}")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "${_self%/*}/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/manifest.sh
source "${_self%/*}/lib/manifest.sh"

postgres_target_defaults
OUTPUT_DIR="./backups"
KEEP_DAYS=""
WITH_CONFIG=0
IN_CLUSTER=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --target|--compose-file|--database) postgres_target_option "$@"; shift 2 ;;
    --output-dir) need_value "$1" "$#"; OUTPUT_DIR="$2"; shift 2 ;;
    --keep-days) need_value "$1" "$#"; KEEP_DAYS="$2"; shift 2 ;;
    --with-config) WITH_CONFIG=1; shift ;;
    --in-cluster) IN_CLUSTER=1; shift ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done
check_postgres_target
[[ -z "${KEEP_DAYS}" || "${KEEP_DAYS}" =~ ^[0-9]+$ ]] || die "--keep-days takes a number of days"
[[ "${DATABASE}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "unexpected database name: ${DATABASE}"

trap 'exit_report $?' EXIT
if [[ "${IN_CLUSTER}" == "1" ]]; then
  [[ "${TARGET}" == "k8s" ]] || die "--in-cluster needs --target k8s"
  require_cmd kubectl
  require_cluster
  kubectl -n "${NAMESPACE}" get cronjob postgres-backup -o name >/dev/null \
    || die "cannot read cronjob/postgres-backup in ${NAMESPACE}"
  TZ=UTC printf -v job 'postgres-backup-manual-%(%Y%m%d%H%M%S)T' -1
  kube_run create job "${job}" --from=cronjob/postgres-backup
  if [[ "${DRY_RUN}" == "1" ]]; then
    ok "dry run: would wait for Job ${job}"
    exit 0
  fi
  wait_job "${job}" 3600
  [[ "${JOB_STATE}" == "succeeded" ]] || die "backup Job ${job} ${JOB_STATE}"
  ok "in-cluster backup ${job} done (volume postgres-backups, and object storage when configured)"
  exit 0
fi

require_target_cmds kubectl
require_cmd gzip awk diff
if [[ "${TARGET}" == "k8s" ]]; then require_cluster; fi
resolve_postgres
postgres_cmd

TZ=UTC printf -v ts '%(%Y%m%dT%H%M%SZ)T' -1
OUTPUT_DIR="${OUTPUT_DIR%/}"
final="${OUTPUT_DIR}/db-${ts}.sql.gz"
final_manifest="${OUTPUT_DIR}/db-${ts}.manifest.tsv"

if [[ "${DRY_RUN}" == "1" ]]; then
  postgres_exec psql -X -d "${DATABASE}" -c "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot(); <row counts>"
  postgres_exec pg_dump --snapshot="<id>" --format=plain --no-owner --no-privileges "${DATABASE}"
  log "[dry-run] | gzip > ${final}; manifest ${final_manifest}; verify; link db-latest.*"
  exit 0
fi

mkdir -p "${OUTPUT_DIR}"
WORK="$(mktemp -d "${OUTPUT_DIR}/.backup-${ts}.XXXXXX")"
SNAP_CHILD=""
cleanup() {
  local rc=$?
  if [[ -n "${SNAP_CHILD}" ]]; then kill "${SNAP_CHILD}" 2>/dev/null || true; fi
  rm -rf "${WORK}"
  exit_report "${rc}"
}
trap cleanup EXIT

# 1. A session that holds a REPEATABLE READ snapshot: export it for pg_dump
#    and count every table inside it.
log "dumping ${DATABASE} (${TARGET}) to ${final}"
coproc SNAP { "${PG_CMD[@]}" psql -X -q -At -v ON_ERROR_STOP=1 -d "${DATABASE}" 2>&1; }
# (bash unsets SNAP_PID once the coprocess exits: keep our own copy)
# shellcheck disable=SC2154 # SNAP_PID is set by coproc
SNAP_CHILD="${SNAP_PID}"
exec {snap_in}>&"${SNAP[1]}" {snap_out}<&"${SNAP[0]}"
printf '%s\n' "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;" "SELECT pg_export_snapshot();" >&"${snap_in}"
snapshot=""
read -r -t "${SNAPSHOT_TIMEOUT:-60}" snapshot <&"${snap_out}" || die "pg_dump not started: no snapshot from ${DATABASE} (${snapshot:-no answer})"
[[ "${snapshot}" =~ ^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$ ]] || die "pg_dump not started: could not export a snapshot: ${snapshot}"
printf '%s\n' "${MANIFEST_SQL}" '\echo __manifest_end__' >&"${snap_in}"
: > "${WORK}/manifest"
while true; do
  line=""
  read -r -t "${SNAPSHOT_TIMEOUT:-600}" line <&"${snap_out}" || die "counting rows failed: ${line:-no answer from the snapshot session}"
  if [[ "${line}" == "__manifest_end__" ]]; then break; fi
  [[ "${line}" == *$'\t'* ]] || die "counting rows failed: ${line}"
  printf '%s\n' "${line}" >> "${WORK}/manifest"
done

# 2. The dump, from that snapshot. pipefail: a pg_dump failure fails here.
"${PG_CMD[@]}" pg_dump --no-password --snapshot="${snapshot}" --format=plain --no-owner --no-privileges "${DATABASE}" \
  | gzip -6 > "${WORK}/dump.sql.gz" || die "pg_dump failed; nothing kept"
printf '%s\n' "COMMIT;" '\q' >&"${snap_in}"
exec {snap_in}>&-
wait "${SNAP_CHILD}" || die "the snapshot session failed; nothing kept"
SNAP_CHILD=""

# 3. Verify before keeping anything.
dump="${WORK}/dump.sql.gz"
[[ -s "${dump}" ]] || die "backup verification failed: empty dump; nothing kept"
gzip -t "${dump}" || die "backup verification failed: gzip -t; nothing kept"
gzip -dc "${dump}" | tail -n 20 | grep -F 'PostgreSQL database dump complete' >/dev/null \
  || die "backup verification failed: no pg_dump completion trailer (truncated dump); nothing kept"
[[ -s "${WORK}/manifest" ]] || die "backup verification failed: ${DATABASE} has no tables (wrong --database?); nothing kept"
gzip -dc "${dump}" | dump_tables > "${WORK}/dump.tables"
compare_manifests "${WORK}/manifest" "${WORK}/dump.tables" "backup verification failed: the dump's COPY blocks"
manifest_summary "${WORK}/manifest"
bytes="$(wc -c < "${dump}")"

# 4. Keep: manifest first, so a dump never exists without its manifest.
mv "${WORK}/manifest" "${final_manifest}"
mv "${dump}" "${final}"
ln -sfn "${final_manifest##*/}" "${OUTPUT_DIR}/db-latest.manifest.tsv"
ln -sfn "${final##*/}" "${OUTPUT_DIR}/db-latest.sql.gz"
ok "backup ${final} (${bytes} bytes, ${MANIFEST_SUMMARY}; manifest ${final_manifest##*/})"

if [[ "${WITH_CONFIG}" == "1" && "${TARGET}" == "k8s" ]]; then
  kube get configmaps -o yaml > "${OUTPUT_DIR}/configmaps-${ts}.yaml"
  ok "ConfigMaps saved to ${OUTPUT_DIR}/configmaps-${ts}.yaml (Secrets are not exported: keep them in your secret store)"
fi

if [[ -n "${KEEP_DAYS}" ]]; then
  find "${OUTPUT_DIR}" -maxdepth 1 -type f \( -name 'db-*.sql.gz' -o -name 'db-*.manifest.tsv' \) \
    -mtime "+${KEEP_DAYS}" -print -delete
fi
