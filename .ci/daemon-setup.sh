#!/usr/bin/env bash
# Prepares PostgreSQL for the daemon's tests (server/, store/, queue/):
# installs and starts the cluster and creates the role and database of
# BERTH_TEST_POSTGRES_DSN's default,
#   postgres://berth:berth@127.0.0.1:5432/berth_test?sslmode=disable
# Idempotent: running it again changes nothing. Exports nothing.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
if [ -z "$version" ]; then
  echo "daemon-setup: no PostgreSQL cluster found under /etc/postgresql" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online" {found=1} END {exit !found}'; then
  pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
  if su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1; then break; fi
  sleep 1
done

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'berth'")" != "1" ]; then
  psql_admin "CREATE ROLE berth LOGIN PASSWORD 'berth'"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'berth_test'")" != "1" ]; then
  psql_admin "CREATE DATABASE berth_test OWNER berth"
fi
# Tests create a schema or database each; let the role create databases.
psql_admin "ALTER ROLE berth CREATEDB"
echo "daemon-setup: PostgreSQL $version ready: postgres://berth:berth@127.0.0.1:5432/berth_test?sslmode=disable"
