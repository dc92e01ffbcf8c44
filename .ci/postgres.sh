#!/usr/bin/env bash
# Start a throwaway PostgreSQL on loopback for the ledger tests; prints the URL to use.
# Installs PostgreSQL from Debian when the machine lacks it. The cluster lives in a temp dir owned
# by the `postgres` user (PostgreSQL refuses to run as root) and is stopped by `.ci/postgres.sh stop`.
set -euo pipefail
PGDIR=${PGDIR:-/tmp/qbo_intacct_ci_pg}
PORT=${PGPORT_CI:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ "${1:-start}" = "stop" ]; then
  [ -n "$BIN" ] && [ -d "$PGDIR" ] && runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDIR" stop -m fast >/dev/null 2>&1 || true
  exit 0
fi
if [ -z "$BIN" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
fi
id postgres >/dev/null 2>&1 || useradd --system --home "$PGDIR" postgres
rm -rf "$PGDIR"; mkdir -p "$PGDIR"; chown postgres "$PGDIR"
runuser -u postgres -- "$BIN/initdb" -D "$PGDIR" -U postgres --auth=trust >/dev/null
runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDIR" -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1" -l "$PGDIR/log" -w start >/dev/null
runuser -u postgres -- "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres qbo_intacct_test
echo "postgresql://postgres@127.0.0.1:$PORT/qbo_intacct_test"
