#!/usr/bin/env bash
# PostgreSQL backup to a local file, verified (runbook: "Daily Automated Backups").
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: backup.sh [options]

Streams `pg_dump` of the freeagentics database from the running postgres
(Kubernetes deployment/postgres, or the compose service) into
OUTPUT_DIR/db-<UTC timestamp>.sql.gz and verifies it: pipefail (a pg_dump
failure fails the backup), non-empty, `gzip -t`, and pg_dump's completion
trailer. A file that fails verification is deleted and the script exits 1.
db-latest.sql.gz points at the newest good dump.

The scheduled backups are the CronJob postgres-backup (same checks, on the
postgres-backups volume, optional S3 copy). --in-cluster runs that CronJob
now instead of streaming to this machine.

Options:
  --target k8s|compose   where postgres runs (default k8s)
  --namespace NS         Kubernetes namespace (default freeagentics-prod)
  --compose-file FILE    compose file (default docker/compose.yaml)
  --output-dir DIR       where to write (default ./backups)
  --database NAME        database (default freeagentics)
  --keep-days N          delete local dumps older than N days (default: keep all)
  --with-config          also save the namespace's ConfigMaps as YAML
  --in-cluster           trigger CronJob postgres-backup and wait for it
  --dry-run              print what would run
  -h, --help             this help
USAGE
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

postgres_target_defaults
OUTPUT_DIR="./backups"
KEEP_DAYS=""
WITH_CONFIG=0
IN_CLUSTER=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --target|--compose-file|--database) postgres_target_option "$1" "$2"; shift 2 ;;
    --output-dir) OUTPUT_DIR="$2"; shift 2 ;;
    --keep-days) KEEP_DAYS="$2"; shift 2 ;;
    --with-config) WITH_CONFIG=1; shift ;;
    --in-cluster) IN_CLUSTER=1; shift ;;
    *) common_option "$@"; shift "$OPT_SHIFT" ;;
  esac
done
check_postgres_target
[[ -z "$KEEP_DAYS" || "$KEEP_DAYS" =~ ^[0-9]+$ ]] || die "--keep-days takes a number of days"

if [[ "$IN_CLUSTER" == "1" ]]; then
  [[ "$TARGET" == "k8s" ]] || die "--in-cluster needs --target k8s"
  require_cmd kubectl
  job="postgres-backup-manual-$(date -u +%Y%m%d%H%M%S)"
  kube_run create job "$job" --from=cronjob/postgres-backup
  if ! dry_run; then
    wait_job "$job" 3600 || die "backup Job ${job} failed"
  fi
  ok "in-cluster backup ${job} done (volume postgres-backups, and S3 when configured)"
  exit 0
fi

require_target_cmds kubectl
require_cmd gzip

ts="$(date -u +%Y%m%dT%H%M%SZ)"
final="${OUTPUT_DIR%/}/db-${ts}.sql.gz"
partial="${final}.partial"

if dry_run; then
  run pg_dump --format=plain --no-owner --no-privileges "$DATABASE" "| gzip > ${final}"
  log "[dry-run] then: verify (non-empty, gzip -t, completion trailer) and link db-latest.sql.gz"
  exit 0
fi

mkdir -p "$OUTPUT_DIR"
cleanup_partial() { rm -f "$partial"; }
trap cleanup_partial EXIT

log "dumping ${DATABASE} (${TARGET}) to ${final}"
if ! postgres_exec pg_dump --no-password --format=plain --no-owner --no-privileges "$DATABASE" | gzip -6 > "$partial"; then
  die "pg_dump failed; nothing kept"
fi

verify_dump() {
  local file="$1" bytes
  [[ -s "$file" ]] || { warn "${file}: empty"; return 1; }
  gzip -t "$file" || { warn "${file}: gzip -t failed"; return 1; }
  bytes="$(gzip -dc "$file" | wc -c)"
  (( bytes > 0 )) || { warn "${file}: decompresses to nothing"; return 1; }
  gzip -dc "$file" | tail -n 20 | grep -F 'PostgreSQL database dump complete' >/dev/null \
    || { warn "${file}: no pg_dump completion trailer (truncated dump)"; return 1; }
  log "${file}: $(wc -c < "$file") bytes compressed, ${bytes} bytes of SQL"
}

verify_dump "$partial" || die "backup verification failed; nothing kept"
mv "$partial" "$final"
ln -sfn "$(basename "$final")" "${OUTPUT_DIR%/}/db-latest.sql.gz"
ok "backup ${final}"

if [[ "$WITH_CONFIG" == "1" && "$TARGET" == "k8s" ]]; then
  kube get configmaps -o yaml > "${OUTPUT_DIR%/}/configmaps-${ts}.yaml"
  ok "ConfigMaps saved to ${OUTPUT_DIR%/}/configmaps-${ts}.yaml (Secrets are not exported: keep them in your secret store)"
fi

if [[ -n "$KEEP_DAYS" ]]; then
  find "$OUTPUT_DIR" -maxdepth 1 -type f -name 'db-*.sql.gz' -mtime "+${KEEP_DAYS}" -print -delete
fi
