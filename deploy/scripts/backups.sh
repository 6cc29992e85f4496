#!/usr/bin/env bash
# Lists and fetches the dumps on the postgres-backups volume (runbook:
# "List available backups"; docs/OPERATIONS.md, Backup and recovery).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: backups.sh list [options]
       backups.sh fetch NAME|latest [--output-dir DIR] [options]

The dumps of the CronJob postgres-backup live on the PersistentVolumeClaim
postgres-backups, which no running pod mounts. This starts a short-lived pod
backup-browser-<ts> that mounts it read-only (restricted security context,
no network use), runs the listing or copies a dump and its manifest out, and
deletes the pod again whatever happens.

  list              every dump, newest first: name, size, modification time,
                    and its manifest's table and row count
  fetch NAME        copy db-<ts>.sql.gz (or "latest") and its manifest into
                    --output-dir (default .), check the size, and verify the
                    dump with restore.sh --verify-only; a file that fails is
                    deleted

Options:
  --output-dir DIR   where fetch writes (default .)
  --namespace NS     namespace (default freeagentics-prod)
  --timeout SECONDS  wait at most this long for the pod (default 180)
  --dry-run          print the pod instead of creating it (the cluster is
                     still read: without one, this fails)
  -h, --help         this help
USAGE
}

_self="$(readlink -f "${BASH_SOURCE[0]}")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "${_self%/*}/lib/common.sh"

COMMAND=""
NAME=""
OUTPUT_DIR="."
TIMEOUT=180
# Where the pod mounts the volume (the tests point it elsewhere).
MOUNT="${BACKUPS_MOUNT:-/backups}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --output-dir|--timeout) need_value "$1" "$#" ;;
    *) ;;
  esac
  case "$1" in
    list) COMMAND="list"; shift ;;
    fetch) need_value "$1" "$#"; COMMAND="fetch"; NAME="$2"; shift 2 ;;
    --output-dir) OUTPUT_DIR="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done
trap 'exit_report $?' EXIT
[[ -n "${COMMAND}" ]] || { usage >&2; die "choose list or fetch"; }
if [[ "${COMMAND}" == "fetch" && "${NAME}" != "latest" ]]; then
  [[ "${NAME}" =~ ^db-[0-9]{8}T[0-9]{6}Z\.sql\.gz$ ]] || die "fetch takes latest or a dump name like db-20261201T020000Z.sql.gz"
fi
[[ "${TIMEOUT}" =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds"
require_cmd kubectl jq
require_cluster
kubectl -n "${NAMESPACE}" get pvc postgres-backups -o name >/dev/null \
  || die "cannot read PersistentVolumeClaim postgres-backups in ${NAMESPACE}"

TZ=UTC printf -v POD 'backup-browser-%(%Y%m%d%H%M%S)T' -1
pod_manifest="$(jq -cn --arg name "${POD}" --arg mount "${MOUNT}" '{
  apiVersion: "v1", kind: "Pod",
  metadata: {name: $name, labels: {app: "postgres-backup"}, annotations: {"sidecar.istio.io/inject": "false"}},
  spec: {
    restartPolicy: "Never", automountServiceAccountToken: false, activeDeadlineSeconds: 3600,
    securityContext: {runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: {type: "RuntimeDefault"}},
    containers: [{
      name: "browser", image: "postgres:15-bookworm", command: ["sleep", "3600"],
      resources: {requests: {cpu: "10m", memory: "16Mi"}, limits: {cpu: "500m", memory: "128Mi"}},
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: ["ALL"]}},
      volumeMounts: [{name: "backups", mountPath: $mount, readOnly: true}]
    }],
    volumes: [{name: "backups", persistentVolumeClaim: {claimName: "postgres-backups", readOnly: true}}]
  }}')"

if [[ "${DRY_RUN}" == "1" ]]; then
  kube_run apply -f - <<<"${pod_manifest}"
  printf '%s\n' "${pod_manifest}"
  ok "dry run: pod ${POD} printed, not created"
  exit 0
fi

cleanup() {
  local rc=$?
  kubectl -n "${NAMESPACE}" delete pod "${POD}" --ignore-not-found --wait=false >/dev/null \
    || warn "could not delete pod ${POD}: kubectl delete pod ${POD} -n ${NAMESPACE}"
  exit_report "${rc}"
  exit "${rc}"
}
trap cleanup EXIT
kubectl -n "${NAMESPACE}" apply -f - <<<"${pod_manifest}" >/dev/null || die "cannot create pod ${POD}"
kubectl -n "${NAMESPACE}" wait --for=condition=Ready "pod/${POD}" --timeout="${TIMEOUT}s" >/dev/null \
  || die "pod ${POD} not ready within ${TIMEOUT}s (is the volume mounted by a running backup?)"
EXEC=(kubectl -n "${NAMESPACE}" exec "${POD}" -c browser --)

# One line per dump: name, bytes, mtime, manifest summary.
# shellcheck disable=SC2016 # expanded by the pod's shell, not here
LIST_SCRIPT='cd "$1" && for f in $(ls -1t db-*.sql.gz 2>/dev/null); do
  m="${f%.sql.gz}.manifest.tsv"
  if [ -f "$m" ]; then s="$(awk -F "\t" "{ t++; r += \$2 } END { printf \"%d tables, %d rows\", t, r }" "$m")"; else s="no manifest"; fi
  printf "%s\t%s\t%s\t%s\n" "$f" "$(stat -c %s "$f")" "$(date -u -r "$f" +%Y-%m-%dT%H:%M:%SZ)" "$s"
done'

if [[ "${COMMAND}" == "list" ]]; then
  listing="$("${EXEC[@]}" sh -c "${LIST_SCRIPT}" sh "${MOUNT}")" || die "cannot list ${MOUNT} in pod ${POD}"
  if [[ -z "${listing}" ]]; then
    warn "no dumps on postgres-backups"
    exit 0
  fi
  printf 'NAME\tBYTES\tMODIFIED\tMANIFEST\n%s\n' "${listing}" \
    | awk -F '\t' '{ printf "%-28s %12s  %-20s  %s\n", $1, $2, $3, $4 }'
  exit 0
fi

# fetch
if [[ "${NAME}" == "latest" ]]; then
  NAME="$("${EXEC[@]}" readlink "${MOUNT}/db-latest.sql.gz")" || die "no db-latest.sql.gz on postgres-backups"
  NAME="${NAME##*/}"
fi
manifest="${NAME%.sql.gz}.manifest.tsv"
remote_size="$("${EXEC[@]}" stat -c %s "${MOUNT}/${NAME}")" || die "no ${NAME} on postgres-backups"
mkdir -p "${OUTPUT_DIR}"
target="${OUTPUT_DIR%/}/${NAME}"
"${EXEC[@]}" cat "${MOUNT}/${NAME}" > "${target}.partial" || { rm -f "${target}.partial"; die "copying ${NAME} failed"; }
local_size="$(wc -c < "${target}.partial")"
if [[ "${local_size}" != "${remote_size}" ]]; then
  rm -f "${target}.partial"
  die "copying ${NAME} failed: ${local_size} of ${remote_size} bytes arrived"
fi
mv "${target}.partial" "${target}"
if "${EXEC[@]}" cat "${MOUNT}/${manifest}" > "${OUTPUT_DIR%/}/${manifest}"; then
  log "manifest ${manifest} fetched"
else
  rm -f "${OUTPUT_DIR%/}/${manifest}"
  warn "no manifest ${manifest} on the volume (dump written before manifests existed)"
fi
if ! "${SCRIPT_DIR}/restore.sh" --file "${target}" --verify-only; then
  rm -f "${target}" "${OUTPUT_DIR%/}/${manifest}"
  die "${NAME} failed verification; deleted"
fi
ok "fetched ${target} (${local_size} bytes); test it with: deploy/scripts/restore.sh --file ${target} --test-only --target local"
