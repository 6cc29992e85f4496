# shellcheck shell=bash
# Dump manifests: what a backup proves it holds, and what a restore test
# checks. Sourced by backup.sh and restore.sh after lib/common.sh.
#
# A manifest is a TSV file beside the dump (db-<ts>.manifest.tsv): one line
# per table, "schema.table<TAB>rows", sorted bytewise. backup.sh counts the
# rows inside the very snapshot pg_dump dumps (pg_export_snapshot), then
# checks the dump's own COPY blocks against those counts before keeping
# either file.

# The tables and their exact row counts of the connected database, as
# manifest lines (query_to_xml runs one count(*) per table inside the
# statement, so the counts belong to the statement's snapshot).
# shellcheck disable=SC2034 # read by backup.sh and restore.sh
MANIFEST_SQL="SELECT format('%I.%I', n.nspname, c.relname) || E'\\t' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY format('%I.%I', n.nspname, c.relname) COLLATE \"C\";"

# (Every caller runs under pipefail: a failing stage fails the pipeline.)
# shellcheck disable=SC2312
# dump_tables < SQL: manifest lines from a plain pg_dump's COPY blocks (in
# COPY text format every row is one line; a table without rows still has
# its block).
dump_tables() {
  # The table name ends at the first space outside double quotes (quoted
  # identifiers may hold spaces; "" is an escaped quote inside them).
  awk '
    incopy && $0 == "\\." { print name "\t" n; incopy = 0; next }
    incopy { n++; next }
    /^COPY .* FROM stdin;$/ {
      rest = substr($0, 6); quoted = 0; name = ""
      for (i = 1; i <= length(rest); i++) {
        c = substr(rest, i, 1)
        if (c == "\"") quoted = !quoted
        else if (c == " " && !quoted) break
        name = name c
      }
      n = 0; incopy = 1
    }
  ' | LC_ALL=C sort
}

# manifest_summary FILE: "N tables, M rows" into MANIFEST_SUMMARY.
MANIFEST_SUMMARY=""
manifest_summary() {
  # shellcheck disable=SC2034 # read by the scripts
  MANIFEST_SUMMARY="$(awk -F '\t' '{ t++; r += $2 } END { printf "%d tables, %d rows", t, r }' "$1")"
}

# manifest_path DUMP: the manifest beside DUMP (symlinks resolved) into
# MANIFEST_PATH.
MANIFEST_PATH=""
manifest_path() {
  local real
  real="$(readlink -f "$1")"
  real="${real%.gz}"
  # shellcheck disable=SC2034 # read by the scripts
  MANIFEST_PATH="${real%.sql}.manifest.tsv"
}

# compare_manifests EXPECTED ACTUAL WHAT: dies with the differing lines
# ("-" expected, "+" found) unless both list the same tables and counts.
compare_manifests() {
  local expected="$1" actual="$2" what="$3" diff_out
  if diff_out="$(diff "${expected}" "${actual}")"; then
    return 0
  fi
  # shellcheck disable=SC2312 # pipefail is on in every caller
  printf '%s\n' "${diff_out}" | sed -n 's/^< /  expected: /p; s/^> /  found:    /p' | awk 'NR <= 40' >&2
  die "${what}: tables or row counts differ from the manifest"
}
