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
  --dry-run           print the Job instead of creating it
  -h, --help          this help
USAGE
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

IMAGE=""
COMMAND=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --version) IMAGE="freeagentics/backend:$2"; shift 2 ;;
    --image) IMAGE="$2"; shift 2 ;;
    --timeout) export MIGRATION_TIMEOUT="$2"; shift 2 ;;
    run|revert|status) COMMAND="$1"; shift ;;
    *) common_option "$@"; shift "$OPT_SHIFT" ;;
  esac
done
[[ -n "$COMMAND" ]] || { usage >&2; die "choose run, revert or status"; }
require_cmd kubectl jq
if [[ -z "$IMAGE" ]]; then
  IMAGE="$(deployment_image backend backend)"
  [[ -n "$IMAGE" ]] || die "deployment/backend not found in ${NAMESPACE}; pass --image"
fi
if [[ "$COMMAND" == "revert" ]]; then
  warn "reverting the newest applied migration with ${IMAGE}"
fi
run_backend_job "$IMAGE" migrate "$COMMAND" || die "migrate ${COMMAND} failed"
ok "migrate ${COMMAND} done"
