#!/bin/sh
# Before the API starts: wait for the database (up to 60 s), then apply migrations.
# Safe to run on several nodes at once: `exchange-hub migrate` holds an advisory lock on
# PostgreSQL (the next one waits, then finds the schema current), on HUB_DIRECT_DATABASE_URL
# when the hub goes through PgBouncer.
set -eu
tries=0
until python - <<'PY'
import sys
from sqlalchemy import create_engine, text
from exchange_hub.config import Settings
from exchange_hub.db import driver_url
try:
    with create_engine(driver_url(Settings().resolved_database_url)).connect() as conn:
        conn.execute(text("SELECT 1"))
except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
    print(f"database not ready: {exc.__class__.__name__}", file=sys.stderr)
    sys.exit(1)
PY
do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "database still unreachable after 60 s; giving up" >&2
        exit 1
    fi
    sleep 2
done
exchange-hub migrate
