#!/usr/bin/env bats
# deploy-k8s.sh against a fake kubectl (the manifests are rendered by the
# real kustomize): dry runs fail when the cluster does, a Secret is missing
# or the server rejects a manifest; real runs fail on every failed wait.

load helpers

setup() {
  setup_fake_cluster
  respond 'api-resources --api-group=' 'kind.example/present'
  respond 'get secrets -o name' 'secret/backend-secrets\nsecret/postgres-secrets\nsecret/postgres-app\nsecret/postgres-superuser\nsecret/redis-secrets\nsecret/grafana-secrets\nsecret/alertmanager-secrets\nsecret/monitoring-basic-auth\nsecret/backup-object-store\n'
  respond 'get deployments -o name' 'deployment.apps/backend\ndeployment.apps/frontend\n'
}

deploy_k8s() {
  run "${SCRIPTS}/deploy-k8s.sh" --version v2.0.0 --timeout 5 "$@"
}

@test "dry run without a cluster fails" {
  unreachable
  deploy_k8s --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"cannot reach the cluster"* ]]
  [[ "${output}" != *"released"* ]]
}

@test "dry run fails when the server-side dry run rejects the manifests" {
  fail_call 'apply --server-side .*--dry-run=server'
  deploy_k8s --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"server-side dry run rejected the manifests"* ]]
  [[ "${output}" == *"injected failure"* ]]
  [[ "${output}" != *"OK released"* ]]
}

@test "dry run with a healthy cluster passes and applies nothing" {
  deploy_k8s --dry-run
  [ "$status" -eq 0 ]
  called 'apply --server-side .*--dry-run=server'
  [ -z "$(mutations | grep -v -- '--dry-run=server')" ]
}

@test "a missing Secret fails, in a dry run too" {
  respond 'get secrets -o name' 'secret/backend-secrets\n'
  deploy_k8s --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"missing Secrets in freeagentics-prod"*"grafana-secrets"* ]]
}

@test "listing the Secrets failing fails" {
  fail_call 'get secrets'
  deploy_k8s --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"cannot list the Secrets"* ]]
}

@test "api-resources failing fails instead of skipping the custom resources" {
  fail_call 'api-resources --api-group=cert-manager.io'
  deploy_k8s --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"cannot list the API resources of cert-manager.io"* ]]
}

@test "the production overlay refuses to run without the CloudNativePG operator" {
  respond 'api-resources --api-group=postgresql.cnpg.io' ''
  deploy_k8s --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"needs the CloudNativePG operator"* ]]
}

@test "apply failing fails the run" {
  fail_call 'apply --server-side --force-conflicts --field-manager=freeagentics-deploy -f .*final.yaml'
  deploy_k8s --strategy rolling
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *'ERROR deploy-k8s.sh failed (exit 1) at deploy-k8s.sh:'*': run "${APPLY[@]}" -f "${WORK}/final.yaml"'* ]]
  ! called 'set image'
}

@test "the migration Job failing stops before the backend is released" {
  respond 'get job backend-migrate -o jsonpath=' '|True'
  deploy_k8s --strategy rolling
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"migration Job backend-migrate failed; backend left on freeagentics/backend:v1.0.0"* ]]
  ! called 'set image'
}

@test "the data tier not becoming ready stops the run" {
  fail_call 'wait --for=condition=Ready cluster.postgresql.cnpg.io/postgres'
  deploy_k8s --strategy rolling
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"Cluster postgres not ready"* ]]
  ! called 'set image'
}

@test "a lagging Deployment fails the run after the release" {
  fail_call 'rollout status deployment.apps/frontend'
  deploy_k8s --strategy rolling --skip-smoke --public-url ""
  [ "$status" -ne 0 ]
  called 'set image deployment/backend backend=freeagentics/backend:v2.0.0'
  [[ "$(last_line)" == *"did not finish rolling out: deployment.apps/frontend"* ]]
}

@test "a release through zero-downtime-deploy.sh passes its failure on" {
  fail_call 'rollout status deployment/backend-canary'
  deploy_k8s --strategy blue-green --skip-smoke --public-url "" --observe-seconds 0
  [ "$status" -ne 0 ]
  called 'scale deployment/backend-canary --replicas=0'
}

@test "a full rolling release succeeds" {
  deploy_k8s --strategy rolling --skip-smoke --public-url ""
  [ "$status" -eq 0 ]
  [[ "$(last_line)" == *"OK released freeagentics/backend:v2.0.0"* ]]
}

@test "--render-only needs no cluster" {
  unreachable
  run "${SCRIPTS}/deploy-k8s.sh" --version v2.0.0 --render-only
  [ "$status" -eq 0 ]
  [[ "${output}" == *"image: freeagentics/backend:v2.0.0"* ]]
}
