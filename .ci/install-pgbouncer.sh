#!/usr/bin/env bash
# Installs PgBouncer >= 1.21 (prepared statements in transaction pooling:
# max_prepared_statements) for the store's PgBouncer conformance suite, and
# prints the binary's path. Debian bookworm ships 1.18 (without it) and
# bookworm-backports has none, so this builds Debian trixie's source package
# (apt-get source through a private apt state: the system's sources and
# package lists are left alone) into PREFIX. Idempotent: an existing build is
# reused. Usage: bash .ci/install-pgbouncer.sh [PREFIX] (default
# /opt/pgbouncer-1.24; needs root for apt-get).
set -euo pipefail

PREFIX="${1:-/opt/pgbouncer-1.24}"
BIN="${PREFIX}/bin/pgbouncer"
if [[ -x "${BIN}" ]]; then
  echo "${BIN}"
  exit 0
fi

need=()
for pkg in libevent-dev libssl-dev pkg-config dpkg-dev make gcc; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || need+=("${pkg}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  echo "installing with apt: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # another apt on the machine holds the lock for a while: wait for it rather than fail the run
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/lists/partial" "${work}/src"
chmod 755 "${work}" "${work}/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "${work}/sources.list"
apt_private=(-o "Dir::Etc::SourceList=${work}/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o "Dir::State::Lists=${work}/lists")
apt-get "${apt_private[@]}" update -qq >&2
cd "${work}/src"
apt-get "${apt_private[@]}" source --download-only pgbouncer >&2
dsc="$(find . -maxdepth 1 -name 'pgbouncer_*.dsc' -print -quit)"
[[ -n "${dsc}" ]] || { echo "apt-get source fetched no pgbouncer .dsc" >&2; exit 1; }
dpkg-source --no-check -x "${dsc}" pgbouncer >&2
cd pgbouncer
./configure --prefix="${PREFIX}" --without-cares >&2
jobs="$(nproc)"
make -j"${jobs}" >&2
make install >&2
"${BIN}" --version >&2
echo "${BIN}"
