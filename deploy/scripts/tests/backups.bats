#!/usr/bin/env bats
# backups.sh against a fake kubectl (`kubectl exec` runs on this machine, so
# the "volume" is a directory of real dumps: BACKUPS_MOUNT).

load helpers

setup() {
  setup_fake_cluster
  respond 'get pvc postgres-backups -o name' 'persistentvolumeclaim/postgres-backups'
  VOLUME="${BATS_TEST_TMPDIR}/volume"
  mkdir -p "${VOLUME}"
  export BACKUPS_MOUNT="${VOLUME}"
  { printf -- '--\n-- PostgreSQL database dump\n--\nCREATE TABLE public.t (id int);\nCOPY public.t (id) FROM stdin;\n1\n2\n\\.\n'
    printf -- '--\n-- PostgreSQL database dump complete\n--\n'; } | gzip > "${VOLUME}/db-20261130T020000Z.sql.gz"
  printf 'public.t\t2\n' > "${VOLUME}/db-20261130T020000Z.manifest.tsv"
  ln -s db-20261130T020000Z.sql.gz "${VOLUME}/db-latest.sql.gz"
  OUT="${BATS_TEST_TMPDIR}/out"
}

@test "list shows every dump with its manifest summary, and deletes the pod" {
  run "${SCRIPTS}/backups.sh" list
  [ "$status" -eq 0 ]
  [[ "${output}" == *"db-20261130T020000Z.sql.gz"*"1 tables, 2 rows"* ]]
  called 'apply -f -'
  called 'delete pod backup-browser-[0-9]+'
}

@test "fetch latest copies the dump and its manifest and verifies them" {
  run "${SCRIPTS}/backups.sh" fetch latest --output-dir "${OUT}"
  [ "$status" -eq 0 ]
  cmp "${OUT}/db-20261130T020000Z.sql.gz" "${VOLUME}/db-20261130T020000Z.sql.gz"
  cmp "${OUT}/db-20261130T020000Z.manifest.tsv" "${VOLUME}/db-20261130T020000Z.manifest.tsv"
  called 'delete pod backup-browser-'
}

@test "fetch of a dump that is not there fails and deletes the pod" {
  run "${SCRIPTS}/backups.sh" fetch db-20200101T000000Z.sql.gz --output-dir "${OUT}"
  [ "$status" -ne 0 ]
  [[ "${output}" == *"no db-20200101T000000Z.sql.gz on postgres-backups"* ]]
  called 'delete pod backup-browser-'
}

@test "fetch of a truncated dump fails verification and keeps nothing" {
  printf -- '--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\n' | gzip > "${VOLUME}/db-20261129T020000Z.sql.gz"
  run "${SCRIPTS}/backups.sh" fetch db-20261129T020000Z.sql.gz --output-dir "${OUT}"
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"failed verification; deleted"* ]]
  [ ! -e "${OUT}/db-20261129T020000Z.sql.gz" ]
}

@test "a pod that does not become ready fails and is deleted" {
  fail_call 'wait --for=condition=Ready pod/'
  run "${SCRIPTS}/backups.sh" list
  [ "$status" -ne 0 ]
  [[ "${output}" == *"not ready"* ]]
  called 'delete pod backup-browser-'
}

@test "a missing volume fails before any pod is created" {
  fail_call 'get pvc postgres-backups'
  run "${SCRIPTS}/backups.sh" list
  [ "$status" -ne 0 ]
  ! called 'apply'
}

@test "dry run without a cluster fails" {
  unreachable
  run "${SCRIPTS}/backups.sh" list --dry-run
  [ "$status" -ne 0 ]
  [[ "${output}" != *"OK"* ]]
}

@test "a bad dump name is refused" {
  run "${SCRIPTS}/backups.sh" fetch ../../etc/passwd
  [ "$status" -ne 0 ]
  ! called 'apply'
}
