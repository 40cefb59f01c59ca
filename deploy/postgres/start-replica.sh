#!/bin/sh
# deploy/compose.yaml's replica: on an empty volume, a copy of the primary made with
# pg_basebackup -R -X stream --checkpoint=fast (as deploy/cluster.sh does), then PostgreSQL
# as a hot standby with deploy/postgres/replica.conf.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h primary -p 5432 -q; do sleep 1; done
    PGPASSWORD=$(cat /run/secrets/replication_password) pg_basebackup -D "$PGDATA" -h primary \
        -p 5432 -U replicator -R -X stream --checkpoint=fast
    chmod 700 "$PGDATA"
    cp /etc/hub/replica.conf "$PGDATA/hub-replica.conf"
    echo "include 'hub-replica.conf'" >>"$PGDATA/postgresql.conf"
fi
exec postgres
