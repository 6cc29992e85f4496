#!/usr/bin/env bats
# backup.sh and restore.sh against the local PostgreSQL (real dumps, real
# restores) and a fake kubectl (in-cluster paths; `kubectl exec` runs the
# command on this machine).

load helpers

setup() {
  setup_fake_cluster
  OUT="${BATS_TEST_TMPDIR}/backups"
  mkdir -p "${OUT}"
}

teardown() {
  drop_db
}

# seed: two tables with rows, one empty table in another schema, a quoted
# name with a space, and a row with a newline inside.
seed() {
  psql -X -q -d "${DB}" -c "
    CREATE TABLE users (id int PRIMARY KEY, name text);
    INSERT INTO users SELECT g, 'user ' || g || E'\nline two' FROM generate_series(1, 250) g;
    CREATE TABLE \"Audit Log\" (id int);
    INSERT INTO \"Audit Log\" SELECT generate_series(1, 7);
    CREATE SCHEMA extra;
    CREATE TABLE extra.empty (x int);"
}

backup_local() {
  run "${SCRIPTS}/backup.sh" --target local --database "${DB}" --output-dir "${OUT}" "$@"
}

@test "backup writes a verified dump and its manifest with exact row counts" {
  require_postgres
  fresh_db
  seed
  backup_local
  [ "$status" -eq 0 ]
  [[ "$(last_line)" == *"3 tables, 257 rows"* ]]
  [ -L "${OUT}/db-latest.sql.gz" ] && [ -L "${OUT}/db-latest.manifest.tsv" ]
  gzip -t "${OUT}/db-latest.sql.gz"
  [ "$(cat "${OUT}/db-latest.manifest.tsv")" = "$(printf 'extra.empty\t0\npublic."Audit Log"\t7\npublic.users\t250')" ]
}

@test "backup fails and keeps nothing when pg_dump fails midway" {
  require_postgres
  fresh_db
  seed
  mkdir -p "${BATS_TEST_TMPDIR}/bin"
  # A pg_dump that writes part of a dump, then fails.
  printf '#!/bin/sh\necho "-- PostgreSQL database dump"\necho "CREATE TABLE t (id int);"\nexit 1\n' > "${BATS_TEST_TMPDIR}/bin/pg_dump"
  chmod +x "${BATS_TEST_TMPDIR}/bin/pg_dump"
  PATH="${BATS_TEST_TMPDIR}/bin:${PATH}" backup_local
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"pg_dump failed; nothing kept"* ]]
  [ -z "$(ls -A "${OUT}")" ]
}

@test "backup of a database that does not exist fails" {
  require_postgres
  DB="bats_no_such_database_$$"
  backup_local
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"no snapshot"* || "$(last_line)" == *"could not export"* ]]
  [ -z "$(ls -A "${OUT}")" ]
}

@test "backup of a database without tables fails" {
  require_postgres
  fresh_db
  backup_local
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"has no tables"* ]]
  [ -z "$(ls -A "${OUT}")" ]
}

@test "backup --keep-days deletes old dumps and their manifests" {
  require_postgres
  fresh_db
  seed
  touch -d '30 days ago' "${OUT}/db-20000101T000000Z.sql.gz" "${OUT}/db-20000101T000000Z.manifest.tsv"
  backup_local --keep-days 14
  [ "$status" -eq 0 ]
  [ ! -e "${OUT}/db-20000101T000000Z.sql.gz" ] && [ ! -e "${OUT}/db-20000101T000000Z.manifest.tsv" ]
}

@test "backup through kubectl exec (single-pod tier) works" {
  require_postgres
  fresh_db
  seed
  run "${SCRIPTS}/backup.sh" --database "${DB}" --output-dir "${OUT}"
  [ "$status" -eq 0 ]
  called 'exec -i deployment/postgres -c postgres -- pg_dump'
}

@test "backup finds the CloudNativePG primary when there is no deployment/postgres" {
  require_postgres
  fresh_db
  seed
  respond 'get deployment postgres --ignore-not-found -o name' ''
  respond 'get pods -l cnpg.io/cluster=postgres,cnpg.io/instanceRole=primary' 'pod/postgres-2\n'
  run "${SCRIPTS}/backup.sh" --database "${DB}" --output-dir "${OUT}"
  [ "$status" -eq 0 ]
  called 'exec -i pod/postgres-2 -c postgres -- pg_dump'
}

@test "backup without a cluster fails, in a dry run too" {
  unreachable
  run "${SCRIPTS}/backup.sh" --output-dir "${OUT}" --dry-run
  [ "$status" -ne 0 ]
  run "${SCRIPTS}/backup.sh" --in-cluster --dry-run
  [ "$status" -ne 0 ]
  [[ "${output}" != *"OK"* ]]
}

@test "backup --in-cluster fails when the Job fails" {
  respond 'get job .* -o jsonpath=' '|True'
  run "${SCRIPTS}/backup.sh" --in-cluster
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"backup Job postgres-backup-manual-"*"failed"* ]]
}

@test "backup --in-cluster fails without the CronJob" {
  fail_call 'get cronjob postgres-backup'
  run "${SCRIPTS}/backup.sh" --in-cluster
  [ "$status" -ne 0 ]
  ! called 'create job'
}

@test "backup --in-cluster succeeds when the Job does" {
  run "${SCRIPTS}/backup.sh" --in-cluster
  [ "$status" -eq 0 ]
  called 'create job postgres-backup-manual-[0-9]+ --from=cronjob/postgres-backup'
}

# ------------------------------------------------------------------ restore
@test "restore --test-only passes for a good dump and drops the scratch database" {
  require_postgres
  fresh_db
  seed
  backup_local
  [ "$status" -eq 0 ]
  run "${SCRIPTS}/restore.sh" --target local --file "${OUT}/db-latest.sql.gz" --test-only
  [ "$status" -eq 0 ]
  [[ "$(last_line)" == *"recovery test passed"*"3 tables, 257 rows"* ]]
  [ -z "$(psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'test_restore_%'")" ]
}

@test "restore --test-only fails for a dump of an empty database" {
  require_postgres
  fresh_db
  pg_dump "${DB}" | gzip > "${OUT}/empty.sql.gz"
  run "${SCRIPTS}/restore.sh" --target local --file "${OUT}/empty.sql.gz" --test-only
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"the dump holds no tables"* ]]
}

@test "restore --test-only fails when the manifest disagrees with the dump" {
  require_postgres
  fresh_db
  seed
  backup_local
  cp "${OUT}/db-latest.sql.gz" "${OUT}/db-x.sql.gz"
  sed 's/^public.users\t250$/public.users\t251/' "${OUT}/db-latest.manifest.tsv" > "${OUT}/db-x.manifest.tsv"
  run "${SCRIPTS}/restore.sh" --target local --file "${OUT}/db-x.sql.gz" --test-only
  [ "$status" -ne 0 ]
  [[ "${output}" == *"expected: public.users"*"251"* ]]
}

@test "restore --test-only fails when the restored rows differ from the manifest" {
  require_postgres
  fresh_db
  seed
  pg_dump "${DB}" > "${OUT}/trigger.sql"
  # Consistent dump and manifest, but a trigger that drops rows on load.
  printf 'public.t\t3\n' > "${OUT}/trigger.manifest.tsv"
  { printf -- '--\n-- PostgreSQL database dump\n--\n'
    printf 'CREATE TABLE public.t (id int);\n'
    printf 'CREATE FUNCTION public.drop_even() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id %% 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;\n'
    printf 'CREATE TRIGGER t_drop BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.drop_even();\n'
    printf 'COPY public.t (id) FROM stdin;\n1\n2\n3\n\\.\n'
    printf -- '--\n-- PostgreSQL database dump complete\n--\n'; } > "${OUT}/trigger.sql"
  run "${SCRIPTS}/restore.sh" --target local --file "${OUT}/trigger.sql" --test-only
  [ "$status" -ne 0 ]
  [[ "${output}" == *"found:    public.t"*"2"* ]]
  [ -z "$(psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'test_restore_%'")" ]
}

@test "restore --test-only fails when the dump does not load, and drops the scratch database" {
  require_postgres
  { printf -- '--\n-- PostgreSQL database dump\n--\n'
    printf 'CREATE TABLE public.t (id int);\nCOPY public.t (id) FROM stdin;\nnot-a-number\n\\.\n'
    printf -- '--\n-- PostgreSQL database dump complete\n--\n'; } > "${OUT}/bad.sql"
  run "${SCRIPTS}/restore.sh" --target local --file "${OUT}/bad.sql" --test-only
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"the dump does not load"* ]]
  [ -z "$(psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'test_restore_%'")" ]
}

@test "restore refuses empty, corrupt and truncated dumps" {
  : > "${OUT}/empty.sql.gz"
  echo "not gzip" > "${OUT}/corrupt.sql.gz"
  printf -- '--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\n' | gzip > "${OUT}/truncated.sql.gz"
  for f in empty corrupt truncated; do
    run "${SCRIPTS}/restore.sh" --target local --file "${OUT}/${f}.sql.gz" --verify-only
    [ "$status" -ne 0 ]
  done
  [[ "$(last_line)" == *"no completion trailer"* ]]
}

@test "restore --test-only --dry-run without a cluster fails" {
  require_postgres
  fresh_db
  seed
  backup_local
  unreachable
  run "${SCRIPTS}/restore.sh" --file "${OUT}/db-latest.sql.gz" --test-only --dry-run
  [ "$status" -ne 0 ]
  [[ "${output}" != *"OK dry run"* ]]
}

@test "restore --yes --dry-run fails when the backend image cannot be found" {
  require_postgres
  fresh_db
  seed
  backup_local
  respond 'get deployment backend --ignore-not-found -o jsonpath=' ''
  run "${SCRIPTS}/restore.sh" --file "${OUT}/db-latest.sql.gz" --yes --dry-run
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"no backend image"* ]]
  ! called 'patch configmap nginx-config'
}

@test "restore --yes replaces the database and keeps the old one" {
  require_postgres
  fresh_db
  seed
  backup_local
  psql -X -q -d "${DB}" -c "INSERT INTO users VALUES (9999, 'written after the backup')"
  run "${SCRIPTS}/restore.sh" --file "${OUT}/db-latest.sql.gz" --database "${DB}" --yes
  [ "$status" -eq 0 ]
  [ "$(psql -X -At -d "${DB}" -c 'SELECT count(*) FROM users')" = "250" ]
  old="$(psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE '${DB}_pre_restore_%'")"
  [ "$(psql -X -At -d "${old}" -c 'SELECT count(*) FROM users')" = "251" ]
  psql -X -q -d postgres -c "DROP DATABASE ${old}"
  called 'patch configmap nginx-config .*"maintenance":"true"'
  called 'patch configmap nginx-config .*"maintenance":"false"'
  called 'scale deployment/backend --replicas=3'
}

@test "restore --yes stops with maintenance on when the dump does not load" {
  require_postgres
  fresh_db
  seed
  { printf -- '--\n-- PostgreSQL database dump\n--\n'
    printf 'CREATE TABLE public.t (id int);\nCOPY public.t (id) FROM stdin;\nx\n\\.\n'
    printf -- '--\n-- PostgreSQL database dump complete\n--\n'; } > "${OUT}/bad.sql"
  printf 'public.t\t1\n' > "${OUT}/bad.manifest.tsv"
  run "${SCRIPTS}/restore.sh" --file "${OUT}/bad.sql" --database "${DB}" --yes
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"restore stopped at: loading the dump"*"Maintenance mode is still ON"* ]]
  ! called '"maintenance":"false"'
  [ "$(psql -X -At -d "${DB}" -c 'SELECT count(*) FROM users')" = "250" ]
}

@test "restore --yes stops when the migration Job fails" {
  require_postgres
  fresh_db
  seed
  backup_local
  respond 'get job .* -o jsonpath=' '|True'
  run "${SCRIPTS}/restore.sh" --file "${OUT}/db-latest.sql.gz" --database "${DB}" --yes
  [ "$status" -ne 0 ]
  [[ "$(last_line)" == *"restore stopped at: running migrations"* ]]
  old="$(psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE '${DB}_pre_restore_%'")"
  [ -n "${old}" ]
  psql -X -q -d postgres -c "DROP DATABASE ${old}"
}
