#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on a loopback port, owned by
# a non-root user (PostgreSQL refuses to run as root).
#
#   .ci/postgres.sh start [PORT]   installs Debian's postgresql if missing,
#                                  starts a fresh cluster, prints the
#                                  `export SESHAT_TEST_POSTGRES=…` line
#   .ci/postgres.sh stop           stops it and removes its files
#
# Use: eval "$(.ci/postgres.sh start)"; the cluster lives in
# ${SESHAT_PG_DIR:-/tmp/seshat-ci-postgres}.
set -euo pipefail

dir="${SESHAT_PG_DIR:-/tmp/seshat-ci-postgres}"
port="${2:-55432}"

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$d" ] && echo "$d"
}

# run CMD… as the cluster's owner: the current user unless root, then the
# postgres user the Debian package creates.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
start)
  if ! bindir >/dev/null; then
    echo "installing postgresql" >&2
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
  fi
  bin="$(bindir)"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U seshat --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
  # Every test opens its own pool on its own schema: allow many
  # connections. Durability does not matter for a throwaway cluster.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=128MB -c fsync=off -c full_page_writes=off" start >&2
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U seshat seshat_test >&2
  echo "export SESHAT_TEST_POSTGRES=postgres://seshat@127.0.0.1:$port/seshat_test?sslmode=disable"
  ;;
stop)
  bin="$(bindir)"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start [PORT] | stop" >&2
  exit 2
  ;;
esac
