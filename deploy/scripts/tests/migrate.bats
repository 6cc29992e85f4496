#!/usr/bin/env bats
# migrate.sh against a fake kubectl.

load helpers

setup() {
  setup_fake_cluster
}

@test "dry run without a cluster fails" {
  unreachable
  run "${SCRIPTS}/migrate.sh" --dry-run status
  [ "$status" -ne 0 ]
  [[ "${output}" != *"OK migrate"* ]]
}

@test "dry run with --version and no cluster fails too" {
  unreachable
  run "${SCRIPTS}/migrate.sh" --version v2.0.0 --dry-run run
  [ "$status" -ne 0 ]
  [[ "${output}" != *"OK migrate"* ]]
}

@test "reading deployment/backend failing fails" {
  fail_call 'get deployment backend -o json'
  run "${SCRIPTS}/migrate.sh" --version v2.0.0 run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"cannot read deployment/backend"* ]]
  ! called 'apply'
}

@test "no backend deployment and no --image fails" {
  respond 'get deployment backend --ignore-not-found -o jsonpath=' ''
  run "${SCRIPTS}/migrate.sh" status
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"deployment/backend not found"* ]]
}

@test "a failed Job fails" {
  respond 'get job .* -o jsonpath=' '|True'
  run "${SCRIPTS}/migrate.sh" --version v2.0.0 revert
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"failed"* ]]
}

@test "the Job cannot be created" {
  fail_call 'apply -f -'
  run "${SCRIPTS}/migrate.sh" --version v2.0.0 run
  [ "$status" -ne 0 ]
}

@test "a successful Job with the chosen image and the direct database URL" {
  run "${SCRIPTS}/migrate.sh" --version v2.0.0 run
  [ "$status" -eq 0 ]
  [[ "$(last_line)" == *"migrate run done"* ]]
  job="$(cat "${FAKE_DIR}"/stdin.*)"
  [ "$(jq -r '.spec.template.spec.containers[0].image' <<<"${job}")" = "freeagentics/backend:v2.0.0" ]
  [ "$(jq -c '.spec.template.spec.containers[0].args' <<<"${job}")" = '["migrate","run"]' ]
  [ "$(jq -r '.spec.template.spec.containers[0].env[] | select(.name == "DATABASE_URL") | .valueFrom.secretKeyRef.key' <<<"${job}")" = "DATABASE_DIRECT_URL" ]
}

@test "dry run with a cluster prints the Job and creates nothing" {
  run "${SCRIPTS}/migrate.sh" --dry-run status
  [ "$status" -eq 0 ]
  [ -z "$(mutations)" ]
  [[ "$(last_line)" == *"dry run"* ]]
}
