#!/usr/bin/env bats
# pitr.sh against a fake kubectl.

load helpers

setup() {
  setup_fake_cluster
  cat > "${BATS_TEST_TMPDIR}/source.json" <<'JSON'
{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "postgres"},
 "spec": {"instances": 3, "imageName": "ghcr.io/cloudnative-pg/postgresql:15.13",
  "storage": {"size": "100Gi"}, "walStorage": {"size": "20Gi"},
  "postgresql": {"parameters": {"max_connections": "300"}, "synchronous": {"method": "any", "number": 1}},
  "backup": {"barmanObjectStore": {"destinationPath": "s3://freeagentics-backups/cnpg",
   "s3Credentials": {"accessKeyId": {"name": "backup-object-store", "key": "ACCESS_KEY_ID"}}}}}}
JSON
  respond 'get cluster.postgresql.cnpg.io postgres -o json' "@${BATS_TEST_TMPDIR}/source.json"
}

pitr() {
  run "${SCRIPTS}/pitr.sh" --target-time "2026-12-01 08:00:00+00" --name postgres-pitr-test --timeout 5 "$@"
}

@test "recovery Cluster from the source's object store up to the target time" {
  pitr
  [ "$status" -eq 0 ]
  [[ "$(last_line)" == *"Cluster postgres-pitr-test recovered postgres to 2026-12-01 08:00:00+00"* ]]
  cluster="$(cat "${FAKE_DIR}"/stdin.*)"
  [ "$(jq -r '.spec.bootstrap.recovery.recoveryTarget.targetTime' <<<"${cluster}")" = "2026-12-01 08:00:00+00" ]
  [ "$(jq -r '.spec.externalClusters[0].barmanObjectStore.destinationPath' <<<"${cluster}")" = "s3://freeagentics-backups/cnpg" ]
  [ "$(jq -r '.spec.externalClusters[0].barmanObjectStore.serverName' <<<"${cluster}")" = "postgres" ]
  [ "$(jq -r '.spec.instances' <<<"${cluster}")" = "1" ]
  called 'wait --for=condition=Ready cluster.postgresql.cnpg.io/postgres-pitr-test'
}

@test "a target time without a time zone is refused" {
  run "${SCRIPTS}/pitr.sh" --target-time "2026-12-01 08:00:00"
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"with a time zone"* ]]
  ! called 'apply'
}

@test "dry run without a cluster fails" {
  unreachable
  pitr --dry-run
  [ "$status" -ne 0 ]
  [[ "${output}" != *"OK"* ]]
}

@test "a source Cluster that cannot be read fails" {
  fail_call 'get cluster.postgresql.cnpg.io postgres -o json'
  pitr
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"cannot read Cluster postgres"* ]]
}

@test "a source without an object store fails" {
  printf '{"spec": {"instances": 1}}' > "${BATS_TEST_TMPDIR}/source.json"
  pitr
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"no barmanObjectStore"* ]]
}

@test "an existing Cluster of that name is not overwritten" {
  respond 'get cluster.postgresql.cnpg.io postgres-pitr-test --ignore-not-found' 'cluster.postgresql.cnpg.io/postgres-pitr-test'
  pitr
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"already exists"* ]]
  ! called 'apply'
}

@test "apply failing fails" {
  fail_call 'apply -f -'
  pitr
  [ "$status" -ne 0 ]
  ! called 'wait'
}

@test "a recovery that does not become ready fails" {
  fail_call 'wait --for=condition=Ready'
  pitr
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"did not become ready within 5s"* ]]
}

@test "dry run prints the Cluster and creates nothing" {
  pitr --dry-run
  [ "$status" -eq 0 ]
  [ -z "$(mutations)" ]
  [[ "${output}" == *'"targetTime": "2026-12-01 08:00:00+00"'* ]]
}
