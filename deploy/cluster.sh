#!/bin/bash
# The several-node topology on one bare machine (Debian packages, no containers):
#
#   nginx :NGINX_PORT ──► API node 1..N (exchange-hub serve) ──► PgBouncer (transaction pooling)
#                                         │      workers 1..M ─┘        └──► PostgreSQL primary
#                                         ├──► Redis (shared rate limits)          │ streaming
#                                         └──► PostgreSQL replica (figures) ◄──────┘
#
#   deploy/cluster.sh start    initdb + primary, pg_basebackup -R -X stream replica, PgBouncer,
#                              Redis, key ring (keys init once), migrations once, N API nodes,
#                              M workers, nginx; waits until each answers
#   deploy/cluster.sh stop     stops everything it started (the data stays under CLUSTER_DIR)
#   deploy/cluster.sh status   each component up or down (exit 1 when one is down)
#   deploy/cluster.sh env      the HUB_* variables a client, a test or an extra node needs
#   deploy/cluster.sh hub ...  an exchange-hub command against the cluster (members add, audit verify…)
#   deploy/cluster.sh destroy  stop, then remove CLUSTER_DIR
#
# Ports and sizes: deploy/cluster.env (sourced; the environment overrides it). PostgreSQL,
# PgBouncer and nginx refuse to run as root or should not: started by root, they run as the
# `postgres` user (runuser). Redis runs without libfaketime (LD_PRELOAD stripped: it hangs
# under it). Every other HUB_* variable in the environment reaches the API nodes and workers
# (HUB_RATE_LIMIT_PER_MINUTE, HUB_PUSH_ALLOWED_HOSTS, …).
set -euo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$DEPLOY")
# shellcheck source=deploy/cluster.env
source "$DEPLOY/cluster.env"
STATE="$CLUSTER_DIR/cluster.state"
# A running cluster's own settings win over defaults (stop/status/env from another shell).
if [ "${1:-}" != start ] && [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    source "$STATE"
fi

if [ -z "$HUB_BIN" ]; then
    if [ -x "$ROOT/.venv/bin/exchange-hub" ]; then HUB_BIN="$ROOT/.venv/bin/exchange-hub"
    else HUB_BIN=$(command -v exchange-hub || true); fi
fi
if [ -z "$API_PORTS" ]; then
    API_PORTS=$(seq -s ' ' "$API_BASE_PORT" $((API_BASE_PORT + API_NODES - 1)))
fi
read -r -a API_PORT_LIST <<<"$API_PORTS"
API_NODES=${#API_PORT_LIST[@]}

PG_USER=postgres
PRIMARY_DATA="$CLUSTER_DIR/primary"
REPLICA_DATA="$CLUSTER_DIR/replica"
RUN="$CLUSTER_DIR/run"      # pid files
LOGS="$CLUSTER_DIR/logs"
KEYS_FILE="$CLUSTER_DIR/keys.json"

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

as_service_user() {  # a server that refuses root: as postgres when started by root
    if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

url() {  # url PORT [DATABASE]
    echo "postgresql://$PG_USER@$CLUSTER_HOST:$1/${2:-$DATABASE_NAME}"
}

hub_env() {  # the settings every API node, worker and `hub` command gets
    export HUB_DATABASE_URL; HUB_DATABASE_URL=$(url "$PGBOUNCER_PORT")
    export HUB_DATABASE_POOLER=transaction
    export HUB_DIRECT_DATABASE_URL; HUB_DIRECT_DATABASE_URL=$(url "$PRIMARY_PORT")
    export HUB_READ_DATABASE_URL; HUB_READ_DATABASE_URL=$(url "$REPLICA_PORT")
    export HUB_REDIS_URL="redis://$CLUSTER_HOST:$REDIS_PORT/0"
    export HUB_KEYS_FILE="$KEYS_FILE"
    export HUB_GENERATE_DEV_KEYS=false
    export HUB_DATA_DIR="${HUB_DATA_DIR:-$CLUSTER_DIR/hub}"
    export HUB_INGEST_WORKERS="${HUB_INGEST_WORKERS:-$API_INGEST_WORKERS}"
    # Plain http on the loopback address (nginx here terminates no TLS).
    export HUB_SECURE_COOKIES="${HUB_SECURE_COOKIES:-false}"
    export HUB_CRYPTO_PROFILE="${HUB_CRYPTO_PROFILE:-international}"  # keys init makes its keys
}

port_open() {  # port_open PORT: something accepts connections there
    (exec 3<>"/dev/tcp/$CLUSTER_HOST/$1") 2>/dev/null
}

running() {  # running PID: the process exists and is no zombie (a killed node nobody reaped)
    kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

alive() {  # alive NAME: the pid in $RUN/NAME.pid is running
    local pid
    [ -f "$RUN/$1.pid" ] && pid=$(cat "$RUN/$1.pid") && [ -n "$pid" ] && running "$pid"
}

wait_for() {  # wait_for WHAT COMMAND...: until COMMAND succeeds, at most START_TIMEOUT s
    local what="$1" deadline=$((SECONDS + START_TIMEOUT)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${START_TIMEOUT}s (logs: $LOGS)"
        sleep 0.1
    done
}

http_ok() {  # http_ok PORT PATH: an HTTP 200 from CLUSTER_HOST:PORT
    "$PYTHON" - "$CLUSTER_HOST" "$1" "$2" <<'PY' 2>/dev/null
import sys, http.client
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=2)
conn.request("GET", sys.argv[3])
sys.exit(0 if conn.getresponse().status == 200 else 1)
PY
}

# -- PostgreSQL -------------------------------------------------------------------------------
pg_ctl_start() {  # pg_ctl_start DATA PORT NAME
    as_service_user "$PG_BIN/pg_ctl" -D "$1" -l "$LOGS/$3.log" -w -t "$START_TIMEOUT" \
        -o "-p $2 -k $1 -c listen_addresses=$CLUSTER_HOST" start >/dev/null
}

start_primary() {
    if [ ! -f "$PRIMARY_DATA/PG_VERSION" ]; then
        as_service_user "$PG_BIN/initdb" -D "$PRIMARY_DATA" -U "$PG_USER" -A trust --no-sync \
            -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log"
        as_service_user cp "$DEPLOY/postgres/primary.conf" "$PRIMARY_DATA/hub-primary.conf"
        as_service_user cp "$DEPLOY/postgres/pg_hba.cluster.conf" "$PRIMARY_DATA/pg_hba.conf"
        echo "include 'hub-primary.conf'" | as_service_user tee -a "$PRIMARY_DATA/postgresql.conf" >/dev/null
        if [ "$CLUSTER_SCRATCH" = 1 ]; then
            as_service_user cp "$DEPLOY/postgres/scratch.conf" "$PRIMARY_DATA/hub-scratch.conf"
            echo "include 'hub-scratch.conf'" | as_service_user tee -a "$PRIMARY_DATA/postgresql.conf" >/dev/null
        fi
        pg_ctl_start "$PRIMARY_DATA" "$PRIMARY_PORT" primary
        "$PYTHON" - "$(url "$PRIMARY_PORT" postgres)" "$DATABASE_NAME" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'CREATE DATABASE "{sys.argv[2]}"')
PY
    else
        pg_ctl_start "$PRIMARY_DATA" "$PRIMARY_PORT" primary
    fi
}

start_replica() {
    if [ ! -f "$REPLICA_DATA/PG_VERSION" ]; then
        # -R writes primary_conninfo and standby.signal; -X stream copies the WAL written
        # meanwhile; --checkpoint=fast: a spread checkpoint would wait minutes.
        as_service_user "$PG_BIN/pg_basebackup" -D "$REPLICA_DATA" -h "$CLUSTER_HOST" \
            -p "$PRIMARY_PORT" -U "$PG_USER" -R -X stream --checkpoint=fast >"$LOGS/basebackup.log" 2>&1
        as_service_user cp "$DEPLOY/postgres/replica.conf" "$REPLICA_DATA/hub-replica.conf"
        echo "include 'hub-replica.conf'" | as_service_user tee -a "$REPLICA_DATA/postgresql.conf" >/dev/null
    fi
    # The primary may listen elsewhere than when the replica was made (another PRIMARY_PORT).
    as_service_user sed -i "/^primary_conninfo/s/port=[0-9]*/port=$PRIMARY_PORT/" \
        "$REPLICA_DATA/postgresql.auto.conf"
    pg_ctl_start "$REPLICA_DATA" "$REPLICA_PORT" replica
}

stop_postgres() {  # stop_postgres DATA
    [ -f "$1/postmaster.pid" ] || return 0
    as_service_user "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 30 stop >/dev/null 2>&1 \
        || as_service_user "$PG_BIN/pg_ctl" -D "$1" -m immediate -w stop >/dev/null 2>&1 || true
}

# -- PgBouncer, Redis, nginx ------------------------------------------------------------------
start_pgbouncer() {
    local dir="$CLUSTER_DIR/pgbouncer"
    as_service_user mkdir -p "$dir"
    as_service_user cp "$DEPLOY/pgbouncer/pgbouncer.ini" "$dir/hub.ini"
    echo "\"$PG_USER\" \"\"" | as_service_user tee "$dir/userlist.txt" >/dev/null
    as_service_user tee "$dir/pgbouncer.ini" >/dev/null <<EOF
;; Written by deploy/cluster.sh; the shared settings are deploy/pgbouncer/pgbouncer.ini.
[databases]
$DATABASE_NAME = host=$CLUSTER_HOST port=$PRIMARY_PORT dbname=$DATABASE_NAME user=$PG_USER

[pgbouncer]
listen_addr = $CLUSTER_HOST
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
logfile = $LOGS/pgbouncer.log
pidfile = $RUN/pgbouncer.pid
default_pool_size = $PGBOUNCER_POOL_SIZE
%include $dir/hub.ini
EOF
    as_service_user pgbouncer -d "$dir/pgbouncer.ini"
    wait_for PgBouncer port_open "$PGBOUNCER_PORT"
}

start_redis() {
    # libfaketime and redis-server's allocator recurse into each other: never under it.
    env -u LD_PRELOAD -u FAKETIME redis-server --bind "$CLUSTER_HOST" --port "$REDIS_PORT" \
        --save '' --appendonly no --dir "$CLUSTER_DIR" --daemonize yes \
        --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log"
    wait_for Redis port_open "$REDIS_PORT"
}

start_nginx() {
    local dir="$CLUSTER_DIR/nginx" upstream="" port
    as_service_user mkdir -p "$dir/tmp"
    for port in "${API_PORT_LIST[@]}"; do
        upstream+="        server $CLUSTER_HOST:$port max_fails=1 fail_timeout=5s;"$'\n'
    done
    as_service_user tee "$dir/nginx.conf" >/dev/null <<EOF
# Written by deploy/cluster.sh: deploy/nginx/hub.conf's proxying, on plain http, unprivileged.
worker_processes 1;
pid $RUN/nginx.pid;
error_log $LOGS/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream hub_api {
$upstream        keepalive 32;
    }
    server {
        listen $CLUSTER_HOST:$NGINX_PORT;
        client_max_body_size 2m;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_set_header X-Request-Id \$request_id;
        # A node that refuses the connection (stopped, killed): the next one is asked.
        # A request already sent to a node that dies is not re-sent (POST is not idempotent):
        # the client retries it with its Idempotency-Key.
        proxy_next_upstream error timeout http_502;
        location / { proxy_pass http://hub_api; }
        location = /api/v1/records/batch {
            client_max_body_size 2g;
            proxy_request_buffering off;
            proxy_read_timeout 600s;
            proxy_pass http://hub_api;
        }
    }
}
EOF
    as_service_user nginx -p "$dir" -c "$dir/nginx.conf" -e "$LOGS/nginx-error.log"
    wait_for nginx http_ok "$NGINX_PORT" /healthz
}

stop_pidfiles() {  # stop_pidfiles NAME...: SIGTERM to each at once, SIGKILL to any left after 10 s
    local name pid pids=()
    for name in "$@"; do
        [ -f "$RUN/$name.pid" ] || continue
        pid=$(cat "$RUN/$name.pid")
        if [ -n "$pid" ] && running "$pid"; then kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); fi
        rm -f "$RUN/$name.pid"
    done
    for _ in $(seq 100); do
        local left=0
        for pid in "${pids[@]}"; do running "$pid" && left=1; done
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# -- the hub ----------------------------------------------------------------------------------
start_api() {  # start_api INDEX PORT
    detach_hub "api$1" serve --host "$CLUSTER_HOST" --port "$2" --workers 1
}

start_worker() {  # start_worker INDEX
    detach_hub "worker$1" worker
}

detach_hub() {  # detach_hub NAME exchange-hub-args...
    local name="$1"; shift
    setsid "$HUB_BIN" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
}

start_hub() {
    hub_env
    # One key ring for every node (keys init leaves a ring already in place), and the schema
    # migrated once, on the primary itself, before any node starts.
    "$HUB_BIN" keys init --out "$KEYS_FILE" >>"$LOGS/keys.log" 2>&1 || die "keys init failed (logs: $LOGS/keys.log)"
    "$HUB_BIN" migrate >>"$LOGS/migrate.log" 2>&1 || die "migrations failed (logs: $LOGS/migrate.log)"
    local index
    for index in $(seq "$API_NODES"); do start_api "$index" "${API_PORT_LIST[$((index - 1))]}"; done
    for index in $(seq "$WORKERS"); do start_worker "$index"; done
    for index in $(seq "$API_NODES"); do
        wait_for "API node $index" http_ok "${API_PORT_LIST[$((index - 1))]}" /readyz
    done
}

write_state() {
    {
        for name in CLUSTER_HOST PG_BIN PRIMARY_PORT REPLICA_PORT DATABASE_NAME PGBOUNCER_PORT \
                    REDIS_PORT API_PORTS WORKERS NGINX_PORT HUB_BIN; do
            printf '%s=%q\n' "$name" "${!name}"
        done
        printf 'API_PORTS=%q\n' "${API_PORT_LIST[*]}"
    } >"$STATE"
}

# -- commands ---------------------------------------------------------------------------------
cmd_start() {
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15's server binaries are not in $PG_BIN (apt-get install postgresql-15)"
    local tool
    for tool in pgbouncer redis-server nginx; do
        command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] \
            || die "$tool is not installed (apt-get install ${tool/redis-server/redis-server})"
    done
    PATH="$PATH:/usr/sbin"
    [ -n "$HUB_BIN" ] && [ -x "$HUB_BIN" ] || die "exchange-hub not found (set HUB_BIN, or ./dev test --version)"
    mkdir -p "$CLUSTER_DIR"
    chmod 755 "$CLUSTER_DIR"
    [ "$(id -u)" = 0 ] && chown "$PG_USER" "$CLUSTER_DIR"
    mkdir -p "$RUN" "$LOGS"
    chmod 777 "$RUN" "$LOGS"  # the servers running as postgres write their pid files and logs here
    write_state
    local began=$SECONDS
    # A start that fails half-way stops what it had started (the data stays for a look).
    trap 'say "start failed; stopping what was started"; cmd_stop' EXIT
    start_primary
    start_replica
    start_pgbouncer
    start_redis
    start_hub
    start_nginx
    trap - EXIT
    say "up in $((SECONDS - began))s: nginx http://$CLUSTER_HOST:$NGINX_PORT, $API_NODES API nodes, $WORKERS workers ($CLUSTER_DIR)"
}

cmd_stop() {
    local index nodes=()
    stop_pidfiles nginx
    for index in $(seq "$API_NODES"); do nodes+=("api$index"); done
    for index in $(seq "$WORKERS"); do nodes+=("worker$index"); done
    # and any node of an earlier start with more of them
    nodes+=($(cd "$RUN" 2>/dev/null && ls -- *.pid 2>/dev/null | sed 's/\.pid$//' | grep -E '^(api|worker)[0-9]+$' || true))
    stop_pidfiles "${nodes[@]}"
    stop_pidfiles redis pgbouncer
    stop_postgres "$REPLICA_DATA"
    stop_postgres "$PRIMARY_DATA"
    say "stopped (data kept in $CLUSTER_DIR)"
}

cmd_status() {
    local down=0 index
    report() {  # report NAME ADDRESS CHECK...
        local name="$1" address="$2"; shift 2
        if "$@"; then printf '%-10s up    %s\n' "$name" "$address"
        else printf '%-10s down  %s\n' "$name" "$address"; down=1; fi
    }
    pg_up() { [ -f "$1/postmaster.pid" ] && port_open "$2"; }
    report primary "$CLUSTER_HOST:$PRIMARY_PORT" pg_up "$PRIMARY_DATA" "$PRIMARY_PORT"
    report replica "$CLUSTER_HOST:$REPLICA_PORT" pg_up "$REPLICA_DATA" "$REPLICA_PORT"
    report pgbouncer "$CLUSTER_HOST:$PGBOUNCER_PORT" port_open "$PGBOUNCER_PORT"
    report redis "$CLUSTER_HOST:$REDIS_PORT" port_open "$REDIS_PORT"
    for index in $(seq "$API_NODES"); do
        report "api$index" "$CLUSTER_HOST:${API_PORT_LIST[$((index - 1))]}" alive "api$index"
    done
    for index in $(seq "$WORKERS"); do report "worker$index" "pid $(cat "$RUN/worker$index.pid" 2>/dev/null || echo -)" alive "worker$index"; done
    report nginx "$CLUSTER_HOST:$NGINX_PORT" port_open "$NGINX_PORT"
    return "$down"
}

cmd_env() {
    hub_env
    local name
    for name in HUB_DATABASE_URL HUB_DATABASE_POOLER HUB_DIRECT_DATABASE_URL HUB_READ_DATABASE_URL \
                HUB_REDIS_URL HUB_KEYS_FILE HUB_GENERATE_DEV_KEYS HUB_DATA_DIR HUB_SECURE_COOKIES \
                HUB_CRYPTO_PROFILE; do
        printf 'export %s=%q\n' "$name" "${!name}"
    done
    local urls="" port
    for port in "${API_PORT_LIST[@]}"; do urls+="http://$CLUSTER_HOST:$port "; done
    printf 'export CLUSTER_URL=%q\n' "http://$CLUSTER_HOST:$NGINX_PORT"
    printf 'export CLUSTER_API_URLS=%q\n' "${urls% }"
}

cmd_hub() {
    hub_env
    exec "$HUB_BIN" "$@"
}

PYTHON="$(dirname "${HUB_BIN:-/usr/bin/python3}")/python"
[ -x "$PYTHON" ] || PYTHON=python3

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    hub) shift; cmd_hub "$@" ;;
    destroy) cmd_stop; rm -rf "$CLUSTER_DIR" ;;
    *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
