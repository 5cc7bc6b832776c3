#!/usr/bin/env bash
# Tessera's soak test (issue 13): bench/soak.sh
#
# For SQLite (and PostgreSQL when POSTGRES_BENCH_URL or POSTGRES_TEST_URL is set) starts
# the release build on a fresh database and a free loopback port (bench/lib.sh, as
# bench/run.sh does), sets up through the public API a tenant, clients, users and
# refresh sessions, then runs for SOAK_SECONDS, all at once, one wrk per kind of traffic
# at modest connection counts, so the machine is not saturated and latencies mean
# something:
#   client_credentials  POST /oauth/token, grant_type=client_credentials
#   password_login      POST /api/v1/tokens with a user's password (argon2: 1 connection)
#   refresh             POST /oauth/token, grant_type=refresh_token, rotating
#                       SOAK_REFRESH_SESSIONS sessions in turn (bench/refresh.lua)
#   introspect          POST /oauth/introspect of a client's and a user's access token
#   admin_writes        create + delete a client, add + delete a secret, PUT a tenant's
#                       metadata (bench/soak.lua): the clients and secrets stay as they
#                       were; the audit trail grows by a row a write
# Every SOAK_SAMPLE_SECONDS it samples the server's RSS (VmRSS), open file descriptors,
# threads and database size into a CSV. At the end it prints per traffic the requests/s,
# latencies and the responses by status class, and per database the least-squares slope
# of RSS (KiB/min) and of open fds (per min) over the samples after the warm-up, with
# their minimum and maximum. It exits 1 when any response was a 5xx, when the fd count
# grew steadily (slope above SOAK_MAX_FD_SLOPE), or when the server died or a wrk gave no
# report; the verdict is the last line. Everything it starts or creates is removed on
# exit (BENCH_KEEP_LOGS=1 keeps the work directory: server logs, wrk output, samples).
#
# Environment:
#   SOAK_SECONDS=600            length of the mixed traffic, per database
#   SOAK_SAMPLE_SECONDS=10      interval of the RSS / fd samples
#   SOAK_WARMUP_SECONDS         samples before it are left out of the slopes (default 60,
#                               or a third of SOAK_SECONDS when that is under 3 minutes)
#   SOAK_DATABASES="..."        sqlite and/or postgres (default: sqlite, plus postgres
#                               when a URL is set)
#   POSTGRES_BENCH_URL          a PostgreSQL server to create the databases on (falls back
#                               to POSTGRES_TEST_URL)
#   SOAK_CONNECTIONS=4          wrk connections of client_credentials, refresh, introspect
#   SOAK_LOGIN_CONNECTIONS=1    wrk connections of password_login
#   SOAK_ADMIN_CONNECTIONS=2    wrk connections of admin_writes
#   SOAK_REFRESH_SESSIONS=2000  sessions the refresh traffic rotates
#   SOAK_TRAFFIC="..."          names of the traffic above to run (default: all)
#   SOAK_MAX_FD_SLOPE=1         open fds per minute above which the run fails
#   SOAK_WRK_TIMEOUT=10s        wrk's --timeout: a slower response is a socket error
#   TESSERA_BIN, BENCH_SESSIONS_BIN  binaries to use instead of building them
#   CARGO_TARGET_DIR            default $HOME/.cache/tessera/target
#   BENCH_SERVER_ENV="..."      more NAME=VALUE settings for the server, space-separated
#   BENCH_KEEP_LOGS=1           keep the work directory
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_DIR=$ROOT/bench
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE_SECONDS=${SOAK_SAMPLE_SECONDS:-10}
if [[ -n ${SOAK_WARMUP_SECONDS:-} ]]; then
    WARMUP_SECONDS=$SOAK_WARMUP_SECONDS
elif ((SOAK_SECONDS >= 180)); then
    WARMUP_SECONDS=60
else
    WARMUP_SECONDS=$((SOAK_SECONDS / 3))
fi
MAX_FD_SLOPE=${SOAK_MAX_FD_SLOPE:-1}
# A response slower than this is a wrk timeout (a socket error), not a latency. Longer
# than wrk's 2 s: on a busy machine a PostgreSQL commit can take seconds, and the soak
# wants to see it in p99 rather than lose the request.
WRK_TIMEOUT=${SOAK_WRK_TIMEOUT:-10s}
REFRESH_SESSIONS=${SOAK_REFRESH_SESSIONS:-2000}
PG_URL=${POSTGRES_BENCH_URL:-${POSTGRES_TEST_URL:-}}
if [[ -n ${SOAK_DATABASES:-} ]]; then
    read -r -a DATABASES <<<"$SOAK_DATABASES"
elif [[ -n $PG_URL ]]; then
    DATABASES=(sqlite postgres)
else
    DATABASES=(sqlite)
fi

# ---- The traffic: name and wrk connections -------------------------------------------------
# Each name has a function start_NAME that starts its wrk in the background (set up by
# prepare_traffic).
ALL_TRAFFIC=(
    "client_credentials ${SOAK_CONNECTIONS:-4}"
    "password_login     ${SOAK_LOGIN_CONNECTIONS:-1}"
    "refresh            ${SOAK_CONNECTIONS:-4}"
    "introspect         ${SOAK_CONNECTIONS:-4}"
    "admin_writes       ${SOAK_ADMIN_CONNECTIONS:-2}"
)
TRAFFIC=()
TRAFFIC_NAMES=" "
for line in "${ALL_TRAFFIC[@]}"; do
    read -r name _ <<<"$line"
    if [[ -z ${SOAK_TRAFFIC:-} || " $SOAK_TRAFFIC " == *" $name "* ]]; then
        TRAFFIC+=("$line")
        TRAFFIC_NAMES+="$name "
    fi
done
((${#TRAFFIC[@]} > 0)) || { echo "soak: SOAK_TRAFFIC names none of the traffic" >&2; exit 1; }
running() { [[ $TRAFFIC_NAMES == *" $1 "* ]]; } # running NAME: NAME is in TRAFFIC

# ---- Plumbing (bench/lib.sh, shared with bench/run.sh) -------------------------------------
BENCH_NAME=soak
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
RESULTS=$WORK/results.tsv
MEMORY=$WORK/memory.tsv
: >"$RESULTS"
: >"$MEMORY"
FAILED=()

# The hooks of bench/lib.sh. In a soak every kind of traffic must run, so during the
# set-up a missing endpoint or a surprising answer stops the run; afterwards (SOAKING=1)
# a wrk without report or a dead server is one more failure in the verdict.
SOAKING=0
skip() { die "$1 on $DATABASE: $2"; }
fail() {
    if ((SOAKING)); then
        say "FAILED $1 on $DATABASE: $2"
        FAILED+=("$1 on $DATABASE: $2")
    else
        die "$1 on $DATABASE: $2"
    fi
}

build_tessera
SESSIONS_BIN=""
if running refresh; then
    build_sessions_fixture
fi
check_tools "${DATABASES[@]}"

# ---- Set-up --------------------------------------------------------------------------------
# prepare_traffic: on the running server, everything the wrk processes need: clients A
# (client_credentials) and B (introspects) of tenant `bench`, a user who signs in (its
# first access token is introspected), refresh sessions, and tenant `soak` with a client
# for the admin writes.
prepare_traffic() {
    setup A B
    [[ -z $CLIENTS_MISSING ]] || die "$CLIENTS_MISSING"
    token_ready client_credentials A || return 1
    CLIENT_TOKEN=$ACCESS_TOKEN
    bench_login_user password_login soak-login || return 1
    if running refresh; then
        refresh_fixture refresh soak-refresh || return 1
        say "  starting $REFRESH_SESSIONS refresh sessions ..."
        start_sessions refresh "$REFRESH_SESSIONS" "$WORK/$DATABASE-refresh.tokens" || return 1
    fi
    admin PUT /api/v1/tenants/soak '{"name": "Soak", "metadata": {"round": "0"}}'
    [[ $STATUS == 201 || $STATUS == 200 ]] || die "PUT /api/v1/tenants/soak answered $STATUS"
    admin POST /api/v1/oauth-clients '{"tenantId": "soak", "name": "soak-secrets",
        "description": "the soak test adds and deletes its secrets",
        "accessTokenValiditySeconds": 3600, "grantTypes": ["CLIENT_CREDENTIALS"],
        "accessType": "ONLINE", "enabled": true}'
    [[ $STATUS == 200 || $STATUS == 201 ]] || die "creating soak-secrets answered $STATUS"
    SOAK_CLIENT_ID=$(json_field "$BODY_FILE" id)
}

# ---- The wrk processes -----------------------------------------------------------------------
# start_NAME OUT: one wrk for SOAK_SECONDS in the background (sets WRK_PID); CONNECTIONS
# is the traffic's.
start_client_credentials() {
    wrk_start "$1" "$SOAK_SECONDS" /oauth/token POST grant_type=client_credentials \
        "$(basic_auth "${CLIENT_ID[A]}" "${CLIENT_SECRET[A]}")" 1
}

start_password_login() {
    wrk_start "$1" "$SOAK_SECONDS" /api/v1/tokens POST "$LOGIN_BODY" "" 1
}

start_refresh() {
    ((REFRESH_SESSIONS > CONNECTIONS)) ||
        die "SOAK_REFRESH_SESSIONS ($REFRESH_SESSIONS) must exceed the connections ($CONNECTIONS)"
    wrk_refresh_start "$1" "$SOAK_SECONDS" "$WORK/$DATABASE-refresh.tokens" 1
}

start_introspect() {
    SOAK_MODE=introspect BENCH_AUTH=$(basic_auth "${CLIENT_ID[B]}" "${CLIENT_SECRET[B]}") \
        SOAK_BODIES="token=$(urlencode "$CLIENT_TOKEN")"$'\n'"token=$(urlencode "$USER_ACCESS_TOKEN")" \
        wrk_soak "$1"
}

start_admin_writes() {
    SOAK_MODE=admin BENCH_AUTH="Bearer $ADMIN_KEY" SOAK_TENANT=soak \
        SOAK_CLIENT=$SOAK_CLIENT_ID wrk_soak "$1"
}

wrk_soak() { # wrk_soak OUT: bench/soak.lua, its traffic described by the environment
    timeout -k 5 $((SOAK_SECONDS + 30)) \
        wrk -t1 -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout "$WRK_TIMEOUT" --latency \
        -s "$BENCH_DIR/soak.lua" "$BASE_URL" >"$1" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
}

# ---- Samples ---------------------------------------------------------------------------------
database_kib() { # the database's size on disk, KiB
    case $DATABASE in
    sqlite) du -sk "$SERVER_DIR"/tessera.db* 2>/dev/null | awk '{kib += $1} END {print kib + 0}' ;;
    postgres) psql -X -A -t -d "$SERVER_DATABASE_URL" \
        -c "SELECT pg_database_size(current_database()) / 1024" 2>/dev/null || echo "" ;;
    esac
}

sample() { # sample START CSV PHASE: a line of seconds since START, RSS, fds, threads, size
    local now rss fds threads
    now=$(date +%s.%N)
    rss=$(rss_kib VmRSS)
    fds=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "")
    printf '%s,%s,%s,%s,%s,%s\n' "$3" "$(awk -v a="$now" -v b="$1" 'BEGIN {printf "%.1f", a - b}')" \
        "$rss" "$fds" "$threads" "$(database_kib)" >>"$2"
}

# sampler START CSV: a sample every SAMPLE_SECONDS (on the clock, not drifting with the
# time a sample takes) while the traffic runs: from START until SOAK_SECONDS have passed.
sampler() {
    local start=$1 csv=$2 next=0
    while ((next < SOAK_SECONDS)) && kill -0 "$SERVER_PID" 2>/dev/null; do
        sample "$start" "$csv" soak
        next=$((next + SAMPLE_SECONDS))
        sleep "$(awk -v s="$start" -v n="$next" -v now="$(date +%s.%N)" \
            'BEGIN {d = s + n - now; print (d > 0 ? d : 0)}')"
    done
}

# log_summary: the server's warnings and errors (log level warn), counted by message, so
# that a 5xx can be traced (e.g. "database unavailable" when the pool timed out).
log_summary() {
    [[ -s $SERVER_LOG ]] || return 0
    say "  the server logged (level warn and above, by message):"
    # "TIME  LEVEL message: more key=value ...": the level and message only.
    sed -E -n 's/^[^ ]+ +(WARN|ERROR) +(.*)/\1 \2/p' "$SERVER_LOG" | sed -E 's/:? [a-z_.]+=.*//; s/: .*//' |
        sort | uniq -c | sort -rn | head -n 10 >&2
}

# ---- One database ----------------------------------------------------------------------------
soak_database() {
    SOAKING=0
    start_server "$DATABASE" ES256
    prepare_traffic || die "the set-up failed on $DATABASE"
    local csv=$WORK/samples-$DATABASE.csv start line name connections
    echo "phase,seconds,rss_kib,fds,threads,database_kib" >"$csv"
    declare -A out pid
    say "  ${SOAK_SECONDS}s of mixed traffic on $DATABASE, a sample every ${SAMPLE_SECONDS}s ..."
    start=$(date +%s.%N)
    sample "$start" "$csv" before
    sampler "$start" "$csv" &
    local sampler_pid=$!
    PIDS+=("$sampler_pid")
    for line in "${TRAFFIC[@]}"; do
        read -r name connections <<<"$line"
        out[$name]=$WORK/wrk-$DATABASE-$name.txt
        CONNECTIONS=$connections "start_$name" "${out[$name]}"
        pid[$name]=$WRK_PID
    done
    for line in "${TRAFFIC[@]}"; do
        read -r name _ <<<"$line"
        wrk_wait "${pid[$name]}"
    done
    wait "$sampler_pid" 2>/dev/null || true
    forget_pid "$sampler_pid"
    sleep 1 # the connections wrk closed, closed on the server's side too
    sample "$start" "$csv" after
    SOAKING=1

    local fives inactive
    for line in "${TRAFFIC[@]}"; do
        read -r name connections <<<"$line"
        if ! parse "$name" "${out[$name]}"; then
            continue
        fi
        fives=$(python3 "$BENCH_DIR/report.py" count5xx "$STATUSES")
        inactive=$(awk '/^tag inactive:/ {print $3}' "${out[$name]}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DATABASE" "$name" "$connections" \
            "$REQUESTS" "$RPS" "$P50" "$P99" "$NON2XX" "$fives" "$SOCKET_ERRORS" \
            "${STATUSES//,/ }${inactive:+; $inactive answers active=false}" >>"$RESULTS"
        if ((fives > 0)); then
            FAILED+=("$name on $DATABASE: $fives responses were 5xx")
        fi
    done
    local memory
    memory=$(python3 "$BENCH_DIR/report.py" samples "$csv" "$WARMUP_SECONDS")
    printf '%s\t%s\n' "$DATABASE" "$memory" >>"$MEMORY"
    local fd_slope
    fd_slope=$(cut -f7 <<<"$memory")
    if [[ $fd_slope == nan ]]; then
        FAILED+=("open fds on $DATABASE: under 3 samples after the warm-up, no slope (a longer SOAK_SECONDS or a shorter SOAK_SAMPLE_SECONDS)")
    elif awk -v s="$fd_slope" -v max="$MAX_FD_SLOPE" 'BEGIN {exit !(s > max)}'; then
        FAILED+=("open fds on $DATABASE: slope $fd_slope per minute (at most $MAX_FD_SLOPE)")
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        FAILED+=("Tessera on $DATABASE exited during the soak")
    fi
    log_summary
    stop_server
}

say "soak: ${SOAK_SECONDS}s per database (${DATABASES[*]}), samples every ${SAMPLE_SECONDS}s, slopes after ${WARMUP_SECONDS}s"
for DATABASE in "${DATABASES[@]}"; do
    soak_database
done

echo
echo "Tessera $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') on" \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores;" \
    "${SOAK_SECONDS}s of mixed traffic per database, wrk -t1 each, loopback, log level warn"
echo
python3 "$BENCH_DIR/report.py" soak-traffic "$RESULTS"
echo
python3 "$BENCH_DIR/report.py" soak-memory "$MEMORY" "$WARMUP_SECONDS"
echo
if ((${#FAILED[@]} > 0)); then
    echo "Verdict: FAILED"
    printf '  %s\n' "${FAILED[@]}"
    exit 1
fi
echo "Verdict: passed: no 5xx, open fds flat (slope at most $MAX_FD_SLOPE per minute)"
