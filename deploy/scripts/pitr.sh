#!/usr/bin/env bash
# Point-in-time recovery of the CloudNativePG Cluster "postgres" into a new
# Cluster (production overlay; docs/OPERATIONS.md, "Point-in-time recovery").
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: pitr.sh --target-time "YYYY-MM-DD HH:MM:SS+00" [options]

Creates a new CloudNativePG Cluster (default postgres-pitr-<UTC timestamp>,
one instance) recovered from the object store of Cluster "postgres" (its
base backups and archived WAL) up to the target time, and waits until it is
ready. The production Cluster is not touched: inspect the recovered data at
<name>-rw, then copy what was lost, or make it the new primary database by
pointing the Pooler at it (docs/OPERATIONS.md).

The base backup used is the newest one before the target time; the target
must lie within the retention window (30 days) and after the first base
backup. A time zone is required (UTC: +00 or Z).

Options:
  --target-time TIME   recovery target (PostgreSQL timestamp with time zone)
  --name NAME          name of the new Cluster (default postgres-pitr-<ts>)
  --source NAME        Cluster whose backups to use (default postgres)
  --namespace NS       namespace (default freeagentics-prod)
  --timeout SECONDS    wait at most this long for the recovery (default 3600)
  --dry-run            print the Cluster instead of creating it (the source
                       Cluster is still read: without a cluster, this fails)
  -h, --help           this help
USAGE
}

_self="$(readlink -f "${BASH_SOURCE[0]}")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "${_self%/*}/lib/common.sh"

TARGET_TIME=""
NAME=""
SOURCE="postgres"
TIMEOUT=3600
while [[ $# -gt 0 ]]; do
  case "$1" in
    --target-time|--name|--source|--timeout) need_value "$1" "$#" ;;
    *) ;;
  esac
  case "$1" in
    --target-time) TARGET_TIME="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --source) SOURCE="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done

trap 'exit_report $?' EXIT
[[ -n "${TARGET_TIME}" ]] || { usage >&2; die "--target-time is required"; }
[[ "${TARGET_TIME}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}[\ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$ ]] \
  || die "--target-time must look like 2026-12-01 08:00:00+00 (with a time zone), got: ${TARGET_TIME}"
[[ "${TIMEOUT}" =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds"
if [[ -z "${NAME}" ]]; then
  TZ=UTC printf -v NAME 'postgres-pitr-%(%Y%m%d%H%M%S)T' -1
fi
[[ "${NAME}" =~ ^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$ ]] || die "--name must be a DNS label of at most 50 characters: ${NAME}"
require_cmd kubectl jq
require_cluster

source_json="$(kubectl -n "${NAMESPACE}" get cluster.postgresql.cnpg.io "${SOURCE}" -o json)" \
  || die "cannot read Cluster ${SOURCE} in ${NAMESPACE} (is this the production overlay, with CloudNativePG?)"
store="$(jq -c '.spec.backup.barmanObjectStore // empty' <<<"${source_json}")"
[[ -n "${store}" ]] || die "Cluster ${SOURCE} has no barmanObjectStore: there is no WAL archive to recover from"
existing="$(kubectl -n "${NAMESPACE}" get cluster.postgresql.cnpg.io "${NAME}" --ignore-not-found -o name)" \
  || die "cannot read Cluster ${NAME} in ${NAMESPACE}"
[[ -z "${existing}" ]] || die "Cluster ${NAME} already exists: choose another --name"

# The recovery Cluster: same image, storage, resources and parameters as the
# source, one instance, bootstrapped from the source's object store (its
# serverName is the source Cluster's name) up to the target time.
manifest="$(jq --arg name "${NAME}" --arg source "${SOURCE}" --arg target "${TARGET_TIME}" '
  {
    apiVersion: "postgresql.cnpg.io/v1",
    kind: "Cluster",
    metadata: {name: $name, labels: {"app.kubernetes.io/name": "postgres-pitr", "freeagentics.io/recovered-from": $source}},
    spec: {
      description: ("point-in-time recovery of " + $source + " to " + $target),
      instances: 1,
      imageName: .spec.imageName,
      storage: .spec.storage,
      walStorage: .spec.walStorage,
      resources: .spec.resources,
      postgresql: {parameters: (.spec.postgresql.parameters // {})},
      bootstrap: {recovery: {source: "origin", recoveryTarget: {targetTime: $target}}},
      externalClusters: [{
        name: "origin",
        barmanObjectStore: (.spec.backup.barmanObjectStore + {serverName: $source})
      }]
    }
  } | del(.. | nulls)' <<<"${source_json}")"

log "recovering ${SOURCE} to ${TARGET_TIME} into Cluster ${NAME} (${NAMESPACE})"
kube_run apply -f - <<<"${manifest}"
if [[ "${DRY_RUN}" == "1" ]]; then
  printf '%s\n' "${manifest}"
  ok "dry run: Cluster ${NAME} printed, not created"
  exit 0
fi
kubectl -n "${NAMESPACE}" wait --for=condition=Ready "cluster.postgresql.cnpg.io/${NAME}" --timeout="${TIMEOUT}s" \
  || die "Cluster ${NAME} did not become ready within ${TIMEOUT}s: kubectl describe cluster ${NAME} -n ${NAMESPACE}; kubectl logs -n ${NAMESPACE} -l cnpg.io/cluster=${NAME} (a target before the first base backup or after the newest archived WAL cannot be reached)"
ok "Cluster ${NAME} recovered ${SOURCE} to ${TARGET_TIME}: inspect it at ${NAME}-rw:5432 (database freeagentics); docs/OPERATIONS.md says how to switch to it or copy from it, and to delete it afterwards"
