#!/usr/bin/env bash
# `freeagentics migrate run|revert|status` as a one-off Kubernetes Job with a
# chosen image (runbook: "Database Rollback", `alembic current` / `downgrade -1`).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: migrate.sh [--version VERSION | --image IMAGE] [options] run|revert|status

Runs `freeagentics migrate <command>` in a Job built from the live backend
pod template (same configuration, Secrets, security context) and prints its
output. Use it when the image that knows a migration is not running any
more - e.g. to revert the newest migration with the release that added it
before rolling the code back:

  migrate.sh --version v1.2.3 status
  migrate.sh --version v1.2.3 revert      # undoes exactly the newest applied migration

With the running image, `kubectl exec -n freeagentics-prod deployment/backend
-- freeagentics migrate status` is quicker.

Options:
  --version VERSION   image tag (image freeagentics/backend:VERSION)
  --image IMAGE       full image reference (default: the running backend image)
  --namespace NS      namespace (default freeagentics-prod)
  --timeout SECONDS   wait at most this long (default 600)
  --dry-run           print the Job instead of creating it (the cluster is
                      still read: without one, the dry run fails)
  -h, --help          this help
USAGE
}

_self="$(readlink -f "${BASH_SOURCE[0]}")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "${_self%/*}/lib/common.sh"

IMAGE=""
COMMAND=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --version|--image|--timeout) need_value "$1" "$#" ;;
    *) ;;
  esac
  case "$1" in
    --version) IMAGE="freeagentics/backend:$2"; shift 2 ;;
    --image) IMAGE="$2"; shift 2 ;;
    --timeout) export MIGRATION_TIMEOUT="$2"; shift 2 ;;
    run|revert|status) COMMAND="$1"; shift ;;
    *) common_option "$@"; shift "${OPT_SHIFT}" ;;
  esac
done
trap 'exit_report $?' EXIT
[[ -n "${COMMAND}" ]] || { usage >&2; die "choose run, revert or status"; }
require_cmd kubectl jq
require_cluster
if [[ -z "${IMAGE}" ]]; then
  deployment_image backend backend
  IMAGE="${IMAGE_OF}"
  [[ -n "${IMAGE}" ]] || die "deployment/backend not found in ${NAMESPACE}; pass --image"
fi
if [[ "${COMMAND}" == "revert" ]]; then
  warn "reverting the newest applied migration with ${IMAGE}"
fi
run_backend_job "${IMAGE}" migrate "${COMMAND}"
if [[ "${DRY_RUN}" == "1" ]]; then
  ok "migrate ${COMMAND}: dry run (Job printed, not created)"
else
  ok "migrate ${COMMAND} done"
fi
