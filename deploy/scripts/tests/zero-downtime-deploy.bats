#!/usr/bin/env bats
# zero-downtime-deploy.sh against a fake kubectl: the happy paths, and every
# failure point after the canary starts -> rollback (traffic to stable,
# canary to 0, stable undone once promoted) and a non-zero exit.

load helpers

setup() {
  setup_fake_cluster
}

deploy() {
  run "${SCRIPTS}/zero-downtime-deploy.sh" --version v2.0.0 --public-url "" --settle-seconds 0 \
    --observe-seconds 0 --skip-smoke "$@"
}

# The rollback's traffic patch: everything to backend-stable.
TO_STABLE='patch virtualservice freeagentics-vs .*"host":"backend-stable".*"weight":100\}.*"host":"backend-canary".*"weight":0\}'

assert_rolled_back() {
  [ "$status" -ne 0 ]
  called "${TO_STABLE}"
  called 'scale deployment/backend-canary --replicas=0'
  [[ "$(last_line)" == *"failed at"*"rolled back to freeagentics/backend:v1.0.0"* ]]
  [[ "${output}" != *"OK released"* ]]
}

@test "blue-green release: canary, 100% to canary, promotion, traffic back, canary to 0" {
  deploy --strategy blue-green
  [ "$status" -eq 0 ]
  [[ "$(last_line)" == *"released freeagentics/backend:v2.0.0 (blue-green)"* ]]
  called 'apply -f -'
  called 'scale deployment/backend-canary --replicas=3'
  called '"weight":0\}.*"weight":100\}'
  called 'set image deployment/backend backend=freeagentics/backend:v2.0.0'
  called "${TO_STABLE}"
  ! called 'rollout undo'
}

@test "canary release moves traffic 10 -> 50 -> 100" {
  deploy --strategy canary
  [ "$status" -eq 0 ]
  called '"weight":90\}.*"weight":10\}'
  called '"weight":50\}.*"weight":50\}'
  called '"weight":0\}.*"weight":100\}'
}

# Every mutating step from the canary on: the release must roll back.
@test "failure patching backend-canary rolls back" {
  fail_call 'patch deployment backend-canary'
  deploy
  assert_rolled_back
  [[ "${output}" == *"failed at preparing backend-canary"* ]]
}

@test "failure scaling backend-canary up rolls back" {
  fail_call 'scale deployment/backend-canary --replicas=3'
  deploy
  assert_rolled_back
}

@test "backend-canary rollout not completing rolls back" {
  fail_call 'rollout status deployment/backend-canary'
  deploy
  assert_rolled_back
  [[ "$(last_line)" == *"failed at backend-canary rollout"* ]]
}

@test "smoke tests against the canary failing (port-forward dies) roll back" {
  run "${SCRIPTS}/zero-downtime-deploy.sh" --version v2.0.0 --public-url "" --settle-seconds 0 --observe-seconds 0
  assert_rolled_back
  [[ "$(last_line)" == *"failed at smoke tests against backend-canary"*"cannot port-forward to deployment/backend-canary"* ]]
}

@test "VirtualService patch failing at 10% rolls back" {
  fail_call 'patch virtualservice freeagentics-vs .*"weight":10\}'
  deploy --strategy canary
  assert_rolled_back
  [[ "$(last_line)" == *"failed at traffic at 10% to backend-canary"* ]]
}

@test "VirtualService patch failing at 50% rolls back" {
  fail_call 'patch virtualservice freeagentics-vs .*"weight":50\}'
  deploy --strategy canary
  assert_rolled_back
  [[ "$(last_line)" == *"failed at traffic at 50% to backend-canary"* ]]
}

@test "VirtualService patch failing at 100% rolls back" {
  fail_call 'patch virtualservice freeagentics-vs .*"weight":0\}.*"weight":100\}'
  deploy --strategy blue-green
  assert_rolled_back
}

@test "unhealthy canary during observation rolls back" {
  run "${SCRIPTS}/zero-downtime-deploy.sh" --version v2.0.0 --skip-smoke --settle-seconds 0 \
    --observe-seconds 1 --public-url "http://127.0.0.1:9"
  assert_rolled_back
  [[ "$(last_line)" == *"/api/v1/health failed"* ]]
}

@test "promotion failing (set image) rolls back stable and traffic" {
  fail_call 'set image deployment/backend '
  deploy
  assert_rolled_back
  called 'rollout undo deployment/backend'
  [[ "$(last_line)" == *"failed at promotion"* ]]
}

@test "stable rollout failing after promotion rolls back stable and traffic" {
  fail_call '#1 rollout status deployment/backend --timeout'
  deploy
  assert_rolled_back
  called 'rollout undo deployment/backend'
}

@test "traffic back to stable failing after promotion still rolls back" {
  fail_call '#2 patch virtualservice freeagentics-vs'
  deploy --strategy blue-green
  assert_rolled_back
  called 'rollout undo deployment/backend'
  [[ "$(last_line)" == *"failed at traffic back to backend-stable"* ]]
}

@test "retiring the canary failing rolls back too" {
  fail_call '#1 scale deployment/backend-canary --replicas=0'
  deploy --strategy blue-green
  [ "$status" -ne 0 ]
  called 'rollout undo deployment/backend'
  [ "$(calls | grep -c 'scale deployment/backend-canary --replicas=0')" -eq 2 ]
}

@test "a rollback step failing is reported as an incomplete rollback" {
  fail_call 'rollout status deployment/backend-canary'
  fail_call 'scale deployment/backend-canary --replicas=0'
  deploy
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"ROLLBACK INCOMPLETE"* ]]
}

@test "migration Job failing stops before anything changes" {
  respond 'get job .* -o jsonpath=' '|True'
  run "${SCRIPTS}/zero-downtime-deploy.sh" --version v2.0.0 --public-url "" --skip-smoke
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"failed at migrations"*"nothing was changed"* ]]
  ! called 'patch|scale|set image'
}

@test "rolling: rollout failing undoes the stable track" {
  fail_call 'rollout status deployment/backend --timeout'
  deploy --strategy rolling
  [ "$status" -ne 0 ]
  called 'rollout undo deployment/backend'
  [[ "$(last_line)" == *"failed at stable rollout"* ]]
}

@test "rolling: set image failing undoes the stable track" {
  fail_call 'set image deployment/backend'
  deploy --strategy rolling
  [ "$status" -ne 0 ]
  called 'rollout undo deployment/backend'
}

@test "rolling release succeeds without touching the mesh" {
  deploy --strategy rolling
  [ "$status" -eq 0 ]
  ! called 'virtualservice|backend-canary'
}

@test "dry run without a cluster fails" {
  unreachable
  deploy --dry-run
  [ "$status" -ne 0 ]
  [[ "${output}" != *"released"* ]]
  [[ "$(last_line)" == *"cannot read namespace freeagentics-prod"* ]]
}

@test "dry run with a cluster reads it and changes nothing" {
  deploy --dry-run
  [ "$status" -eq 0 ]
  [ -z "$(mutations)" ]
  [[ "${output}" == *"[dry-run]"*"patch deployment backend-canary"* ]]
}

@test "missing backend-canary fails before anything changes" {
  fail_call 'get deployment backend-canary'
  deploy
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"nothing was changed"* ]]
  [ -z "$(mutations | grep -v 'apply -f -')" ]
}
