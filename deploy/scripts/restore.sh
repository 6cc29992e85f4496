#!/usr/bin/env bash
# Restore the freeagentics database from a pg_dump file (runbook: "Database
# Recovery" and the monthly "Recovery Testing").
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: restore.sh --file DUMP [--test-only | --yes | --verify-only] [options]

DUMP is a plain pg_dump, gzipped (.sql.gz, as written by backup.sh and the
CronJob postgres-backup) or not (.sql). Before touching anything the dump is
verified and the script refuses it if it is empty, fails `gzip -t`, or lacks
pg_dump's completion trailer (a truncated dump). Its manifest (the
db-<ts>.manifest.tsv beside it, or --manifest FILE) lists every table with
its row count at backup time; without one, the counts are read from the
dump's COPY blocks (with a warning).

--test-only (the runbook's monthly recovery test; the CronJob
postgres-restore-test runs it weekly): load the dump into a scratch database
test_restore_<ts> in one transaction, then compare its tables and row counts
with the manifest, and drop it. It fails when the dump holds no table, does
not load, or any table or count differs. Production data is not touched.

--yes (a real restore), without data loss on the way:
  1. maintenance mode on (nginx-config maintenance=true), backend and
     backend-canary scaled to 0 (replica counts remembered);
  2. the dump is loaded into a new database freeagentics_restore_<ts>
     (ON_ERROR_STOP, single transaction) and checked against the manifest -
     a failure stops here, the live database untouched;
  3. freeagentics is renamed freeagentics_pre_restore_<ts> (kept: drop it
     when satisfied), the restored database becomes freeagentics;
  4. `freeagentics migrate run` brings an older dump's schema up to date;
  5. backend scaled back, maintenance mode off.
If a step after 1 fails, the script leaves maintenance mode ON and says
what to do.

Options:
  --file DUMP            dump to restore (required)
  --manifest FILE        its manifest (default: beside the dump)
  --target k8s|compose|local
                         where postgres runs (default k8s: deployment/postgres,
                         or the primary of the CloudNativePG Cluster postgres;
                         local: psql here with PGHOST, PGPORT, PGUSER, PGPASSWORD)
  --namespace NS         Kubernetes namespace (default freeagentics-prod)
  --compose-file FILE    compose file (default docker/compose.yaml)
  --database NAME        database to replace (default freeagentics)
  --test-only            restore into a scratch database, compare, drop it
  --yes                  really replace the database
  --verify-only          only verify the dump file
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
FILE=""
MANIFEST=""
MODE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --file) need_value "$1" "$#"; FILE="$2"; shift 2 ;;
    --manifest) need_value "$1" "$#"; MANIFEST="$2"; shift 2 ;;
    --target|--compose-file|--database) postgres_target_option "$@"; shift 2 ;;
    --test-only) MODE="test"; shift ;;
    --yes) MODE="restore"; shift ;;
    --verify-only) MODE="verify"; shift ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done
[[ -n "${FILE}" ]] || { usage >&2; die "--file is required"; }
[[ -n "${MODE}" ]] || { usage >&2; die "choose --test-only, --yes or --verify-only"; }
check_postgres_target
[[ "${DATABASE}" =~ ^[a-z_][a-z0-9_]*$ ]] || die "unexpected database name: ${DATABASE}"
require_cmd gzip awk diff

# ------------------------------------------------------------ verification
# DUMP_SQL: the command that prints the SQL text of the dump, gzipped or
# not (the dump is streamed every time: a copy would double disk usage).
case "${FILE}" in
  *.gz) DUMP_SQL=(gzip -dc "${FILE}") ;;
  *) DUMP_SQL=(cat "${FILE}") ;;
esac

WORK="$(mktemp -d)"
SCRATCH=""
cleanup() {
  local rc="${1:-$?}"
  if [[ -n "${SCRATCH}" && "${DRY_RUN}" != "1" ]]; then
    "${PG_CMD[@]}" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${SCRATCH} WITH (FORCE);" \
      || warn "could not drop ${SCRATCH}: drop it by hand"
  fi
  rm -rf "${WORK}"
  exit_report "${rc}"
  exit "${rc}"
}
trap cleanup EXIT

[[ -f "${FILE}" ]] || die "no such file: ${FILE}"
[[ -s "${FILE}" ]] || die "refusing ${FILE}: empty file"
if [[ "${FILE}" == *.gz ]]; then
  gzip -t "${FILE}" 2>/dev/null || die "refusing ${FILE}: corrupt gzip (gzip -t failed)"
fi
bytes="$("${DUMP_SQL[@]}" | wc -c)" || die "refusing ${FILE}: cannot read it"
(( bytes > 0 )) || die "refusing ${FILE}: no SQL inside"
"${DUMP_SQL[@]}" | awk 'NR <= 30 && index($0, "PostgreSQL database dump") { f = 1 } END { exit !f }' \
  || die "refusing ${FILE}: not a plain-format pg_dump"
"${DUMP_SQL[@]}" | tail -n 20 | grep -F 'PostgreSQL database dump complete' >/dev/null \
  || die "refusing ${FILE}: no completion trailer (truncated dump)"
ok "${FILE}: plain pg_dump, ${bytes} bytes of SQL, complete"
[[ "${MODE}" != "verify" ]] || exit 0

# ---------------------------------------------------------------- manifest
"${DUMP_SQL[@]}" | dump_tables > "${WORK}/dump.tables"
if [[ -z "${MANIFEST}" ]]; then
  manifest_path "${FILE}"
  if [[ -f "${MANIFEST_PATH}" ]]; then MANIFEST="${MANIFEST_PATH}"; fi
fi
if [[ -n "${MANIFEST}" ]]; then
  [[ -f "${MANIFEST}" ]] || die "no such manifest: ${MANIFEST}"
  LC_ALL=C sort "${MANIFEST}" > "${WORK}/expected"
  compare_manifests "${WORK}/expected" "${WORK}/dump.tables" "refusing ${FILE}: its COPY blocks"
else
  warn "no manifest beside ${FILE}: checking against the dump's own COPY blocks"
  cp "${WORK}/dump.tables" "${WORK}/expected"
fi
[[ -s "${WORK}/expected" ]] || die "refusing ${FILE}: the dump holds no tables"
manifest_summary "${WORK}/expected"
log "expecting ${MANIFEST_SUMMARY}"

# --------------------------------------------------------------- helpers
require_target_cmds kubectl jq
if [[ "${TARGET}" == "k8s" ]]; then require_cluster; fi
resolve_postgres
postgres_cmd
PSQL=("${PG_CMD[@]}" psql -v ON_ERROR_STOP=1 -X -q)

# load_into DB: the dump into DB in one transaction (dies on any error).
load_into() {
  local db="$1"
  log "loading ${FILE} into ${db} (single transaction)"
  if [[ "${DRY_RUN}" == "1" ]]; then
    run "${PSQL[@]}" -d "${db}" --single-transaction -f -
    return 0
  fi
  "${DUMP_SQL[@]}" | "${PSQL[@]}" -d "${db}" --single-transaction -f - > /dev/null \
    || die "the dump does not load into ${db}"
}

# check_restored DB: DB holds exactly the expected tables and row counts.
check_restored() {
  local db="$1"
  if [[ "${DRY_RUN}" == "1" ]]; then
    run "${PSQL[@]}" -d "${db}" -At -c "<row counts>"
    return 0
  fi
  "${PSQL[@]}" -d "${db}" -At -c "${MANIFEST_SQL}" > "${WORK}/restored" \
    || die "cannot count the rows of ${db}"
  compare_manifests "${WORK}/expected" "${WORK}/restored" "restored ${db}"
  ok "${db}: ${MANIFEST_SUMMARY}, as in the manifest"
}

TZ=UTC printf -v ts '%(%Y%m%d%H%M%S)T' -1

# --------------------------------------------------------------- test mode
if [[ "${MODE}" == "test" ]]; then
  scratch="test_restore_${ts}"
  run "${PSQL[@]}" -d postgres -c "CREATE DATABASE ${scratch};"
  SCRATCH="${scratch}"
  load_into "${scratch}"
  check_restored "${scratch}"
  if [[ "${DRY_RUN}" == "1" ]]; then
    ok "dry run: recovery test of ${FILE} printed"
    exit 0
  fi
  run "${PSQL[@]}" -d postgres -c "DROP DATABASE ${scratch};"
  SCRATCH=""
  ok "recovery test passed: ${FILE} restored into ${scratch} (${MANIFEST_SUMMARY}, as in the manifest) and dropped"
  exit 0
fi

# ------------------------------------------------------------ real restore
[[ "${TARGET}" != "local" ]] || die "--yes needs --target k8s or compose (it stops and restarts the backend)"
maintenance() {
  if [[ "${TARGET}" == "k8s" ]]; then
    kube_run patch configmap nginx-config --type=merge -p "{\"data\":{\"maintenance\":\"$1\"}}"
  else
    log "compose: maintenance mode is not used; the backend is stopped instead"
  fi
}

declare -A REPLICAS=()
stop_backend() {
  if [[ "${TARGET}" == "k8s" ]]; then
    local d n
    for d in backend backend-canary; do
      n="$(kubectl -n "${NAMESPACE}" get deployment "${d}" -o 'jsonpath={.spec.replicas}')" \
        || die "cannot read deployment/${d}"
      REPLICAS[${d}]="${n:-0}"
      kube_run scale "deployment/${d}" --replicas=0
    done
    if [[ "${DRY_RUN}" != "1" ]]; then
      kubectl -n "${NAMESPACE}" wait --for=delete pod -l app=backend --timeout=120s \
        || warn "backend pods still terminating after 120 s"
    fi
  else
    compose_run stop backend
  fi
}

start_backend() {
  if [[ "${TARGET}" == "k8s" ]]; then
    local d n
    for d in backend backend-canary; do
      n="${REPLICAS[${d}]:-0}"
      if [[ "${d}" == "backend" && "${n}" -lt 3 ]]; then n=3; fi
      kube_run scale "deployment/${d}" --replicas="${n}"
    done
    wait_rollout deployment/backend 600
  else
    compose_run start backend
  fi
}

migrate() {
  if [[ "${TARGET}" == "k8s" ]]; then
    deployment_image backend backend
    [[ -n "${IMAGE_OF}" ]] || die "deployment/backend has no backend image: cannot run migrations"
    run_migration_job "${IMAGE_OF}"
  else
    compose_run run --rm migrate
  fi
}

STAGE=""
stranded() {
  local rc=$?
  if [[ "${rc}" -ne 0 && -n "${STAGE}" ]]; then
    _line "${_c_red}" " ERROR" "restore stopped at: ${STAGE}. Maintenance mode is still ON and the backend is scaled to 0. Live database: ${LIVE_DB}; fix, then re-run or rename databases by hand (docs/OPERATIONS.md, Database recovery)."
  fi
  cleanup "${rc}"
}
trap stranded EXIT

new_db="${DATABASE}_restore_${ts}"
old_db="${DATABASE}_pre_restore_${ts}"
(( ${#old_db} <= 63 )) || die "database name ${DATABASE} too long for ${old_db} (PostgreSQL truncates names at 63 bytes)"
LIVE_DB="${DATABASE}"

log "restoring ${FILE} over ${DATABASE} (${TARGET}, ${NAMESPACE})"
# Reads first: a missing backend image stops here, before anything changes.
if [[ "${TARGET}" == "k8s" ]]; then
  deployment_image backend backend
  [[ -n "${IMAGE_OF}" ]] || die "deployment/backend has no backend image in ${NAMESPACE}: cannot run migrations after the restore"
fi
STAGE="enabling maintenance mode"
maintenance true
STAGE="stopping the backend"
stop_backend

STAGE="creating ${new_db}"
run "${PSQL[@]}" -d postgres -c "CREATE DATABASE ${new_db};"
SCRATCH="${new_db}"
STAGE="loading the dump (the live database is unchanged)"
load_into "${new_db}"
check_restored "${new_db}"

STAGE="disconnecting clients from ${DATABASE}"
run "${PSQL[@]}" -d postgres -At -o /dev/null -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${DATABASE}' AND pid <> pg_backend_pid();"
STAGE="renaming ${DATABASE}"
run "${PSQL[@]}" -d postgres -c "ALTER DATABASE ${DATABASE} RENAME TO ${old_db};"
LIVE_DB="none (the old data is in ${old_db})"
STAGE="renaming ${new_db} to ${DATABASE} (the old data is in ${old_db})"
run "${PSQL[@]}" -d postgres -c "ALTER DATABASE ${new_db} RENAME TO ${DATABASE};"
SCRATCH=""
LIVE_DB="${DATABASE} (restored)"

STAGE="running migrations on the restored database"
migrate
STAGE="starting the backend"
start_backend
STAGE="disabling maintenance mode"
maintenance false
STAGE=""
if [[ "${DRY_RUN}" == "1" ]]; then
  ok "dry run: restore of ${FILE} into ${DATABASE} printed"
else
  ok "restored ${FILE} into ${DATABASE}; previous data kept as ${old_db} (DROP DATABASE ${old_db}; when satisfied)"
fi
