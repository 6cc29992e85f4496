#!/usr/bin/env bash
# Restore the freeagentics database from a pg_dump file (runbook: "Database
# Recovery" and the monthly "Recovery Testing").
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: restore.sh --file DUMP [--test-only | --yes] [options]

DUMP is a plain pg_dump, gzipped (.sql.gz, as written by backup.sh and the
CronJob postgres-backup) or not (.sql). Before touching anything the dump is
verified and the script refuses it if it is empty, fails `gzip -t`, or lacks
pg_dump's completion trailer (a truncated dump).

--test-only (the runbook's monthly recovery test): load the dump into a
scratch database test_restore_<ts> in one transaction, count its tables,
drop it. Production data is not touched.

--yes (a real restore), without data loss on the way:
  1. maintenance mode on (nginx-config maintenance=true), backend and
     backend-canary scaled to 0 (replica counts remembered);
  2. the dump is loaded into a new database freeagentics_restore_<ts>
     (ON_ERROR_STOP, single transaction) - a failure stops here, the live
     database untouched;
  3. freeagentics is renamed freeagentics_pre_restore_<ts> (kept: drop it
     when satisfied), the restored database becomes freeagentics;
  4. `freeagentics migrate run` brings an older dump's schema up to date;
  5. backend scaled back, maintenance mode off.
If a step after 1 fails, the script leaves maintenance mode ON and says
what to do.

Options:
  --file DUMP            dump to restore (required)
  --target k8s|compose   where postgres runs (default k8s)
  --namespace NS         Kubernetes namespace (default freeagentics-prod)
  --compose-file FILE    compose file (default docker/compose.yaml)
  --database NAME        database to replace (default freeagentics)
  --test-only            restore into a scratch database and drop it
  --yes                  really replace the database
  --verify-only          only verify the dump file
  --dry-run              print what would run
  -h, --help             this help
USAGE
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

postgres_target_defaults
FILE=""
MODE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --file) FILE="$2"; shift 2 ;;
    --target|--compose-file|--database) postgres_target_option "$1" "$2"; shift 2 ;;
    --test-only) MODE="test"; shift ;;
    --yes) MODE="restore"; shift ;;
    --verify-only) MODE="verify"; shift ;;
    *) common_option "$@"; shift "$OPT_SHIFT" ;;
  esac
done
[[ -n "$FILE" ]] || { usage >&2; die "--file is required"; }
[[ -n "$MODE" ]] || { usage >&2; die "choose --test-only, --yes or --verify-only"; }
check_postgres_target
[[ "$DATABASE" =~ ^[a-z_][a-z0-9_]*$ ]] || die "unexpected database name: $DATABASE"
require_cmd gzip

# ------------------------------------------------------------ verification
# cat_dump: the SQL text of the dump, gzipped or not.
cat_dump() {
  case "$FILE" in
    *.gz) gzip -dc "$FILE" ;;
    *) cat "$FILE" ;;
  esac
}

verify_dump() {
  [[ -f "$FILE" ]] || die "no such file: $FILE"
  [[ -s "$FILE" ]] || die "refusing ${FILE}: empty file"
  if [[ "$FILE" == *.gz ]]; then
    gzip -t "$FILE" 2>/dev/null || die "refusing ${FILE}: corrupt gzip (gzip -t failed)"
  fi
  local bytes
  bytes="$(cat_dump | wc -c)"
  (( bytes > 0 )) || die "refusing ${FILE}: no SQL inside"
  # (|| true: head closes the pipe early, which is not an error here)
  { cat_dump 2>/dev/null || true; } | head -n 30 | grep -F 'PostgreSQL database dump' >/dev/null \
    || die "refusing ${FILE}: not a plain-format pg_dump"
  cat_dump | tail -n 20 | grep -F 'PostgreSQL database dump complete' >/dev/null \
    || die "refusing ${FILE}: no completion trailer (truncated dump)"
  ok "${FILE}: plain pg_dump, ${bytes} bytes of SQL, complete"
}

verify_dump
[[ "$MODE" != "verify" ]] || exit 0

# --------------------------------------------------------------- helpers
require_target_cmds kubectl jq

# psql in the postgres container, as the owner role over the local socket.
psql_in() {
  postgres_exec psql -v ON_ERROR_STOP=1 -X -q "$@"
}

load_into() {
  local db="$1"
  log "loading ${FILE} into ${db} (single transaction)"
  if dry_run; then
    psql_in -d "$db" --single-transaction -f -
    return 0
  fi
  cat_dump | psql_in -d "$db" --single-transaction -f - >/dev/null
}

ts="$(date -u +%Y%m%d%H%M%S)"

# --------------------------------------------------------------- test mode
if [[ "$MODE" == "test" ]]; then
  scratch="test_restore_${ts}"
  psql_in -d postgres -c "CREATE DATABASE ${scratch};"
  if load_into "$scratch"; then
    psql_in -d "$scratch" -At -c "SELECT 'tables restored: ' || count(*) FROM information_schema.tables WHERE table_schema = 'public';"
    psql_in -d postgres -c "DROP DATABASE ${scratch};"
    ok "recovery test passed (${scratch} restored and dropped)"
  else
    psql_in -d postgres -c "DROP DATABASE IF EXISTS ${scratch};" || true
    die "recovery test FAILED: the dump does not load"
  fi
  exit 0
fi

# ------------------------------------------------------------ real restore
maintenance() {
  local value="$1"
  if [[ "$TARGET" == "k8s" ]]; then
    kube_run patch configmap nginx-config --type=merge -p "{\"data\":{\"maintenance\":\"${value}\"}}"
  else
    log "compose: maintenance mode is not used; the backend is stopped instead"
  fi
}

declare -A REPLICAS=()
stop_backend() {
  if [[ "$TARGET" == "k8s" ]]; then
    local d n
    for d in backend backend-canary; do
      n="$(kube get deployment "$d" -o 'jsonpath={.spec.replicas}' 2>/dev/null || echo 0)"
      REPLICAS[$d]="${n:-0}"
      kube_run scale "deployment/${d}" --replicas=0
    done
    if ! dry_run; then
      kube wait --for=delete pod -l app=backend --timeout=120s || true
    fi
  else
    compose_run stop backend
  fi
}

start_backend() {
  if [[ "$TARGET" == "k8s" ]]; then
    local d
    for d in backend backend-canary; do
      local n="${REPLICAS[$d]:-0}"
      if [[ "$d" == "backend" && "$n" -lt 3 ]]; then n=3; fi
      kube_run scale "deployment/${d}" --replicas="$n"
    done
    wait_rollout deployment/backend 600
  else
    compose_run start backend
  fi
}

migrate() {
  if [[ "$TARGET" == "k8s" ]]; then
    local image
    image="$(deployment_image backend backend)"
    run_migration_job "$image"
  else
    compose_run run --rm migrate
  fi
}

stranded() {
  die "restore stopped at: $1. Maintenance mode is still ON and the backend is scaled to 0. Live database: ${DATABASE}; fix, then re-run or rename databases by hand (docs/OPERATIONS.md, Database recovery)."
}

new_db="${DATABASE}_restore_${ts}"
old_db="${DATABASE}_pre_restore_${ts}"

log "restoring ${FILE} over ${DATABASE} (${TARGET}${NAMESPACE:+, ${NAMESPACE}})"
maintenance true
stop_backend

psql_in -d postgres -c "CREATE DATABASE ${new_db};" || stranded "creating ${new_db}"
load_into "$new_db" || {
  psql_in -d postgres -c "DROP DATABASE IF EXISTS ${new_db};" || true
  stranded "loading the dump (the live database is unchanged)"
}

psql_in -d postgres -At -o /dev/null -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${DATABASE}' AND pid <> pg_backend_pid();" \
  || stranded "disconnecting clients from ${DATABASE}"
psql_in -d postgres -c "ALTER DATABASE ${DATABASE} RENAME TO ${old_db};" || stranded "renaming ${DATABASE}"
psql_in -d postgres -c "ALTER DATABASE ${new_db} RENAME TO ${DATABASE};" \
  || stranded "renaming ${new_db} to ${DATABASE} (the old data is in ${old_db})"

migrate || stranded "running migrations on the restored database"
start_backend || stranded "starting the backend"
maintenance false
ok "restored ${FILE} into ${DATABASE}; previous data kept as ${old_db} (DROP DATABASE ${old_db}; when satisfied)"
