# shellcheck shell=bash
# Shared setup of the script behaviour tests: a fake kubectl (fake-bin/)
# first on PATH with its state in $FAKE_DIR, and a healthy cluster's answers.
# Tests that need PostgreSQL use the local server (PGHOST/PGUSER below).

SCRIPTS="$(cd "${BATS_TEST_DIRNAME}/.." && pwd)"
FIXTURES="${BATS_TEST_DIRNAME}/fixtures"

setup_fake_cluster() {
  FAKE_DIR="${BATS_TEST_TMPDIR}/cluster"
  mkdir -p "${FAKE_DIR}"
  export FAKE_DIR
  REAL_KUBECTL="$(command -v kubectl)"
  export REAL_KUBECTL
  PATH="${BATS_TEST_DIRNAME}/fake-bin:${PATH}"
  export PATH
  # Jobs complete at once; nothing waits between polls.
  export JOB_POLL_SECONDS=0 PORT_FORWARD_TIMEOUT=2 OBSERVE_INTERVAL_SECONDS=1
  respond 'get namespace freeagentics-prod' 'namespace/freeagentics-prod'
  respond 'get deployment backend --ignore-not-found -o jsonpath=' 'freeagentics/backend:v1.0.0'
  respond 'get deployment backend -o jsonpath=\{\.status\.readyReplicas\}' '3'
  respond 'get deployment backend -o json' "@${FIXTURES}/backend-deployment.json"
  respond 'get deployment backend-canary -o name' 'deployment.apps/backend-canary'
  respond 'get virtualservice freeagentics-vs -o name' 'virtualservice.networking.istio.io/freeagentics-vs'
  respond 'get job .* -o jsonpath=' '1|'
  respond 'get cronjob postgres-backup -o name' 'cronjob.batch/postgres-backup'
  respond 'get deployment postgres --ignore-not-found -o name' 'deployment.apps/postgres'
  respond 'get deployment backend(-canary)? -o jsonpath=\{\.spec\.replicas\}' '3'
}

# respond ERE OUTPUT: the fake kubectl prints OUTPUT for calls matching ERE
# (rules added later win over earlier ones).
respond() {
  local rules="${FAKE_DIR}/responses"
  { printf '%s\t%s\n' "$1" "$2"; cat "${rules}" 2>/dev/null || true; } > "${rules}.new"
  mv "${rules}.new" "${rules}"
}

# fail_call RULE: calls matching RULE fail ("#N ERE": only the Nth match).
fail_call() {
  printf '%s\n' "$1" >> "${FAKE_DIR}/fail"
}

unreachable() {
  : > "${FAKE_DIR}/unreachable"
}

calls() {
  cat "${FAKE_DIR}/calls" 2>/dev/null || true
}

# called ERE: some kubectl call matched ERE.
called() {
  calls | grep -Eq -- "$1"
}

# Mutating calls (anything but reads and the kustomize render).
mutations() {
  calls | grep -Ev '^(-n [^ ]+ )?(get|logs|config|version|api-resources|kustomize|wait|rollout status)( |$)' || true
}

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"

# require_postgres: skip outside CI when PostgreSQL is down; fail on CI.
require_postgres() {
  if psql -X -q -d postgres -c 'select 1' >/dev/null 2>&1; then return 0; fi
  local ci="${CI:-}"
  if [[ "${ci,,}" == "true" || "${ci}" == "1" ]]; then
    echo "CI is set but PostgreSQL at ${PGHOST}:${PGPORT} is unreachable" >&2
    return 1
  fi
  skip "PostgreSQL at ${PGHOST}:${PGPORT} is unreachable"
}

# fresh_db: a new database named for this test, in DB.
fresh_db() {
  DB="bats_${BATS_TEST_NUMBER}_$$"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" -c "CREATE DATABASE ${DB}"
  export DB
}

drop_db() {
  if [[ -n "${DB:-}" ]]; then
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}

# last_line: the last line of the script's output.
last_line() {
  printf '%s\n' "${output}" | tail -n 1
}
