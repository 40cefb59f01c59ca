#!/bin/sh
# deploy/compose.yaml's primary, first start only (the postgres image runs
# /docker-entrypoint-initdb.d/*.sh once, on an empty volume): the shared settings of
# deploy/postgres/primary.conf, and a replication role for the replica's pg_basebackup.
set -eu
cp /etc/hub/primary.conf "$PGDATA/hub-primary.conf"
echo "include 'hub-primary.conf'" >>"$PGDATA/postgresql.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '$(cat /run/secrets/replication_password)';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
