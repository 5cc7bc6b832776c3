#!/usr/bin/env bash
# Tessera's load benchmark (issue 6): bench/run.sh
#
# Builds Tessera in release mode, installs wrk when it is missing, then for SQLite (and
# PostgreSQL when POSTGRES_BENCH_URL or POSTGRES_TEST_URL is set) starts Tessera on a
# fresh database and a free loopback port, creates a tenant and OAuth clients through
# the public API, warms up, drives each scenario with wrk (-t1 -c32) and prints one
# table with the ratio of every scenario to GET /healthz of the same run, then how each
# target of issue 6 fared. A scenario whose endpoint is not there yet (404/405) is
# skipped with the reason. Every process, database and file it made is removed on exit.
#
# Environment:
#   BENCH_SECONDS=10          length of each measurement
#   BENCH_WARMUP_SECONDS=3    unrecorded run before each measurement
#   BENCH_CONNECTIONS=32      wrk connections (one wrk thread)
#   BENCH_SCENARIOS="..."     names from SCENARIOS below (default: all)
#   BENCH_DATABASES="..."     sqlite and/or postgres (default: sqlite, plus postgres
#                             when a URL is set)
#   POSTGRES_BENCH_URL        a PostgreSQL server to create the databases on, e.g.
#                             postgres://postgres@127.0.0.1:5432/postgres (falls back to
#                             POSTGRES_TEST_URL)
#   BENCH_MANY_CLIENTS=10000  clients the many_clients scenario creates and round-robins
#   BENCH_REFRESH_SESSIONS=2000  sessions the refresh scenario refreshes in turn (each
#                             run, warm-up and measurement, gets sessions of its own)
#   BENCH_SESSIONS_BIN        the bench_sessions fixture (bench/sessions.rs) to use
#                             instead of building it
#   BENCH_SERVER_ENV="..."    more NAME=VALUE settings for the server, space-separated,
#                             e.g. "TESSERA_SERVER__WORKERS=1" to compare worker counts
#   TESSERA_BIN               use this binary instead of building one
#   CARGO_TARGET_DIR          default $HOME/.cache/tessera/target
#   BENCH_KEEP_LOGS=1         keep the work directory (server logs, wrk output)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_DIR=$ROOT/bench
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
PG_URL=${POSTGRES_BENCH_URL:-${POSTGRES_TEST_URL:-}}
if [[ -n ${BENCH_DATABASES:-} ]]; then
    read -r -a DATABASES <<<"$BENCH_DATABASES"
elif [[ -n $PG_URL ]]; then
    DATABASES=(sqlite postgres)
else
    DATABASES=(sqlite)
fi

# ---- Scenarios -------------------------------------------------------------------------
# One line each: name, the signing algorithm of the server it runs on, the function.
# Lines with the same algorithm share one server (a fresh database per algorithm and
# database); healthz must come first, it is the baseline of the ratio.
#
# To add a scenario: write scenario_NAME below (probe the endpoint with `probe`, `skip`
# when it is not there, `measure` it with wrk) and add its line here. For instance:
#   - password login: set up a user through the API, then `measure "password login"
#     /api/v1/tokens POST "<body>"` (bench/request.lua sends form bodies; give it a
#     BENCH_CONTENT_TYPE if the endpoint takes JSON).
#   - a scenario that needs state per request, like refresh (bench/refresh.lua: each
#     response's refresh_token goes back into the queue of chains).
SCENARIOS=(
    "healthz            ES256 scenario_healthz"
    "jwks               ES256 scenario_jwks"
    "client_credentials ES256 scenario_client_credentials"
    "introspect         ES256 scenario_introspect"
    "flood              ES256 scenario_flood"
    "many_clients       ES256 scenario_many_clients"
    "refresh            ES256 scenario_refresh"
    "tokens_me          ES256 scenario_tokens_me"
    "introspect_user    ES256 scenario_introspect_user"
    "password_login     ES256 scenario_password_login"
    "client_credentials RS256 scenario_client_credentials"
)

# ---- Rate limits: the one place to adjust them --------------------------------------------
# The benchmark must not be throttled by the per-client token rate limit (issue 5); the
# limit on failed authentications stays at its default, the flood scenario measures it.
# KEY=VALUE pairs for TESSERA_RATE_LIMIT__KEY, passed only when config/default.toml has a
# [rate_limit] section, and each only when that section names KEY (an unknown key stops
# the server), so a renamed key is reported here rather than breaking the run.
RATE_LIMIT_OVERRIDES=(
    "requests_per_second=1000000"
    "burst=1000000"
    # Every load generator sends from 127.0.0.1: the per-address and global limits too.
    "address_requests_per_second=1000000"
    "address_burst=1000000"
    "global_requests_per_second=1000000"
    "global_burst=1000000"
)

# ---- Plumbing ----------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench.XXXXXX")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
PIDS=()
PG_DATABASES=()
FAILED=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local database
    for database in "${PG_DATABASES[@]}"; do
        psql -X -q -d "$PG_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
            >/dev/null 2>&1 || echo "could not drop PostgreSQL database $database" >&2
    done
    if [[ ${BENCH_KEEP_LOGS:-} == 1 ]]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$*" >&2; }
die() {
    say "bench: $*"
    exit 1
}

# forget_pid PID: a process that has been waited for leaves the clean-up list.
forget_pid() {
    local pid=$1 kept=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

random_text() { head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

urlencode() {
    python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1], safe=""))' "$1"
}

json_field() { # json_field FILE FIELD: prints a top-level field of a JSON document
    python3 -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null
}

# client_secret_basic (RFC 6749 §2.3.1): each part form-urlencoded, then base64.
basic_auth() {
    printf 'Basic %s' "$(printf '%s:%s' "$(urlencode "$1")" "$(urlencode "$2")" | base64 -w0)"
}

# request METHOD PATH [curl args...]: sets STATUS and BODY_FILE.
BODY_FILE=$WORK/body
request() {
    local method=$1 path=$2
    shift 2
    STATUS=$(curl -sS -o "$BODY_FILE" -w '%{http_code}' --max-time 30 -X "$method" \
        "$BASE_URL$path" "$@" 2>"$WORK/curl.err") || STATUS=000
}

admin() { # admin METHOD PATH JSON
    request "$1" "$2" -H "Authorization: Bearer $ADMIN_KEY" \
        -H 'Content-Type: application/json' --data-binary "$3"
}

# ---- Build, wrk -------------------------------------------------------------------------
if [[ -n ${TESSERA_BIN:-} ]]; then
    BIN=$TESSERA_BIN
else
    say "building Tessera (release) into $CARGO_TARGET_DIR ..."
    cargo build --release --locked --bin tessera
    BIN=$CARGO_TARGET_DIR/release/tessera
fi
[[ -x $BIN ]] || die "no executable at $BIN"
# The refresh scenario's fixture: sessions started through the library.
if [[ -n ${BENCH_SESSIONS_BIN:-} ]]; then
    SESSIONS_BIN=$BENCH_SESSIONS_BIN
elif [[ " ${BENCH_SCENARIOS:-refresh} " == *" refresh "* ]]; then
    say "building the bench_sessions fixture (release) ..."
    cargo build --release --locked --example bench_sessions
    SESSIONS_BIN=$CARGO_TARGET_DIR/release/examples/bench_sessions
else
    SESSIONS_BIN=""
fi

if ! command -v wrk >/dev/null; then
    SUDO=()
    [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    say "installing wrk from Debian's packages ..."
    "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
fi
command -v wrk >/dev/null || die "wrk is not installed"
if [[ " ${DATABASES[*]} " == *" postgres "* ]]; then
    [[ -n $PG_URL ]] || die "postgres asked for, but neither POSTGRES_BENCH_URL nor POSTGRES_TEST_URL is set"
    command -v psql >/dev/null || die "psql is needed to create the PostgreSQL databases"
fi

rate_limit_env() { # prints NAME=VALUE lines for the server's environment
    grep -qx '\[rate_limit\]' "$ROOT/config/default.toml" || return 0
    local section
    section=$(awk '/^\[/ {inside = ($0 == "[rate_limit]"); next} inside' "$ROOT/config/default.toml")
    local pair key
    for pair in "${RATE_LIMIT_OVERRIDES[@]}"; do
        key=${pair%%=*}
        if grep -Eq "^[[:space:]]*$key[[:space:]]*=" <<<"$section"; then
            printf 'TESSERA_RATE_LIMIT__%s=%s\n' "${key^^}" "${pair#*=}"
        else
            say "note: [rate_limit] has no key '$key'; adjust RATE_LIMIT_OVERRIDES in bench/run.sh"
        fi
    done
}

# ---- The server -----------------------------------------------------------------------
# start_server DATABASE ALGORITHM: a fresh database, a free port, generated keys.
start_server() {
    local database=$1 alg=$2 dir url
    dir=$WORK/$database-$alg
    mkdir -p "$dir"
    case $database in
    sqlite) url="sqlite://$dir/tessera.db" ;;
    postgres)
        local name
        name="tessera_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        psql -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" -c "CREATE DATABASE $name" >/dev/null
        PG_DATABASES+=("$name")
        url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG_URL" "$name")
        ;;
    *) die "unknown database '$database' (sqlite or postgres)" ;;
    esac
    SERVER_DATABASE_URL=$url
    PORT=$(free_port)
    BASE_URL="http://127.0.0.1:$PORT"
    ADMIN_KEY=$(random_text 24)
    SERVER_LOG=$dir/server.log
    SERVER_DIR=$dir
    SERVER_NAME="$database, $alg"
    SERVER_ENV=(
        "PATH=$PATH"
        "TESSERA_SERVER__LISTEN=127.0.0.1:$PORT"
        "TESSERA_SERVER__SHUTDOWN_TIMEOUT_SECONDS=5"
        "TESSERA_DATABASE__URL=$url"
        "TESSERA_ADMIN__API_KEY=$ADMIN_KEY"
        "TESSERA_SIGNING__ALGORITHM=$alg"
        "TESSERA_SIGNING__MASTER_KEY=$(head -c 32 /dev/urandom | base64 -w0)"
        "TESSERA_SIGNING__MASTER_KEY_FILE=$dir/master.key"
        # Request logging off while measuring (one info line per request otherwise).
        "TESSERA_LOG__LEVEL=warn"
    )
    local line extra
    while IFS= read -r line; do
        SERVER_ENV+=("$line")
    done < <(rate_limit_env)
    read -r -a extra <<<"${BENCH_SERVER_ENV:-}"
    SERVER_ENV+=("${extra[@]}")
    launch_server
}

# launch_server: starts the server start_server described, on its database and port.
launch_server() {
    # A clean environment: no DATABASE_URL, RUST_LOG or TESSERA_* of the caller.
    (cd "$SERVER_DIR" && exec env -i "${SERVER_ENV[@]}" "$BIN" serve) >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local waited=0
    until curl -sf -o /dev/null --max-time 2 "$BASE_URL/healthz"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || ((waited >= 120)); then # 30 s
            say "--- server log ($SERVER_NAME) ---"
            tail -n 30 "$SERVER_LOG" >&2
            die "Tessera did not start ($SERVER_NAME)"
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    say "Tessera ($SERVER_NAME) at $BASE_URL, pid $SERVER_PID"
}

# restart_server: the same server stopped and started again: same database, empty caches.
restart_server() {
    stop_server
    launch_server
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < 40)); do
        sleep 0.25
        waited=$((waited + 1))
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    forget_pid "$SERVER_PID"
}

rss_kib() { # rss_kib VmHWM|VmRSS
    awk -v field="$1:" '$1 == field {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0
}

mib() { awk -v kib="${1:-0}" 'BEGIN {printf "%.1f", kib / 1024}'; }

# ---- Set-up through the public API -------------------------------------------------------
declare -A CLIENT_ID CLIENT_SECRET
CLIENTS_MISSING=""

# setup LABEL...: the tenant "bench" and one CLIENT_CREDENTIALS client per label.
setup() {
    CLIENT_ID=()
    CLIENT_SECRET=()
    CLIENTS_MISSING=""
    admin PUT /api/v1/tenants/bench '{"name": "Benchmark"}'
    [[ $STATUS == 201 || $STATUS == 200 ]] ||
        die "PUT /api/v1/tenants/bench answered $STATUS: $(head -c 300 "$BODY_FILE")"
    local label
    for label in "$@"; do
        admin POST /api/v1/oauth-clients "{\"tenantId\": \"bench\", \"name\": \"bench-$label\",
            \"description\": \"benchmark client\", \"accessTokenValiditySeconds\": 3600,
            \"grantTypes\": [\"CLIENT_CREDENTIALS\"], \"accessType\": \"ONLINE\",
            \"enabled\": true}"
        case $STATUS in
        200 | 201) ;;
        404 | 405)
            CLIENTS_MISSING="POST /api/v1/oauth-clients answered $STATUS: clients API not implemented"
            return 0
            ;;
        *) die "POST /api/v1/oauth-clients answered $STATUS: $(head -c 500 "$BODY_FILE")" ;;
        esac
        CLIENT_ID[$label]=$(json_field "$BODY_FILE" id)
        CLIENT_SECRET[$label]=$(json_field "$BODY_FILE" secret)
        [[ -n ${CLIENT_ID[$label]} && -n ${CLIENT_SECRET[$label]} ]] ||
            die "the created client has no id or secret: $(head -c 500 "$BODY_FILE")"
    done
}

# ---- Measuring -----------------------------------------------------------------------------
record() { # record SCENARIO RPS P50 P99 ERRORS RSS NOTE
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$DATABASE" "$2" "$3" "$4" "$5" "$6" "$7" >>"$RESULTS"
}

skip() { # skip SCENARIO REASON
    say "skipped $1 on $DATABASE: $2"
    SKIP_REASON=$2
    record "$1" - - - - - "skipped: $2"
}

fail() { # fail SCENARIO REASON: the server misbehaved; the run exits non-zero
    say "FAILED $1 on $DATABASE: $2"
    FAILED+=("$1 on $DATABASE: $2")
    record "$1" - - - - - "FAILED: see below"
}

# wrk_start OUT SECONDS PATH METHOD BODY AUTH [COUNT]: one wrk run in the background,
# bounded in time; sets WRK_PID. AUTH holds Authorization values, one per line (several
# alternate); COUNT=1 makes request.lua count the statuses.
wrk_start() {
    local out=$1 seconds=$2 path=$3
    BENCH_METHOD=$4 BENCH_BODY=$5 BENCH_AUTH=$6 BENCH_COUNT_STATUS=${7:-} \
        timeout -k 5 $((seconds + 30)) \
        wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency \
        -s "$BENCH_DIR/request.lua" "$BASE_URL$path" >"$out" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
}

wrk_wait() { # wrk_wait PID
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

wrk_run() { # as wrk_start, in the foreground
    wrk_start "$@"
    wrk_wait "$WRK_PID"
}

# parse SCENARIO OUT: sets RPS P50 P99 NON2XX SOCKET_ERRORS ERRORS (their sum) REQUESTS
# STATUSES; fails the scenario (and returns 1) when wrk gave no report or the server
# died under the load.
parse() {
    local scenario=$1 out=$2
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        say "--- server log ---"
        tail -n 30 "$SERVER_LOG" >&2
        fail "$scenario" "Tessera exited under the load (log above)"
        return 1
    fi
    IFS=$'\t' read -r RPS P50 P99 NON2XX SOCKET_ERRORS REQUESTS STATUSES \
        < <(python3 "$BENCH_DIR/report.py" parse "$out" || true)
    if [[ ! ${RPS:-} =~ ^[0-9]+$ ]]; then
        fail "$scenario" "wrk gave no report: $(head -c 300 "$out")"
        return 1
    fi
    ERRORS=$((NON2XX + SOCKET_ERRORS))
}

RUN=0
# measure SCENARIO PATH METHOD BODY AUTH: warm up, measure, record.
measure() {
    local scenario=$1
    RUN=$((RUN + 1))
    local out=$WORK/wrk-$RUN.txt
    say "  $scenario: warm-up ${WARMUP_SECONDS}s, then ${SECONDS_PER_RUN}s ..."
    if ((WARMUP_SECONDS > 0)); then
        wrk_run "$out" "$WARMUP_SECONDS" "$2" "$3" "$4" "$5"
    fi
    wrk_run "$out" "$SECONDS_PER_RUN" "$2" "$3" "$4" "$5"
    parse "$scenario" "$out" || return 0
    record "$scenario" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$(rss_kib VmHWM)")" ""
}

# probe SCENARIO METHOD PATH WANT [curl args...]: 0 when the answer is WANT; otherwise
# skips (404/405: not implemented) or fails the scenario, and returns 1.
probe() {
    local scenario=$1 method=$2 path=$3 want=$4
    shift 4
    request "$method" "$path" "$@"
    [[ $STATUS == "$want" ]] && return 0
    case $STATUS in
    404 | 405) skip "$scenario" "$method $path answered $STATUS: endpoint not implemented" ;;
    *) fail "$scenario" "$method $path answered $STATUS (expected $want): $(head -c 300 "$BODY_FILE")" ;;
    esac
    return 1
}

body_has() { # body_has PYTHON-EXPRESSION-OF-d: the JSON body satisfies it
    python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" \
        "$BODY_FILE" 2>/dev/null
}

FORM=(-H 'Content-Type: application/x-www-form-urlencoded')

# token_ready SCENARIO LABEL: the clients exist and /oauth/token gives LABEL a JWT.
token_ready() {
    local scenario=$1 label=$2
    if [[ -n $CLIENTS_MISSING ]]; then
        skip "$scenario" "$CLIENTS_MISSING"
        return 1
    fi
    probe "$scenario" POST /oauth/token 200 "${FORM[@]}" \
        -H "Authorization: $(basic_auth "${CLIENT_ID[$label]}" "${CLIENT_SECRET[$label]}")" \
        --data-binary 'grant_type=client_credentials' || return 1
    if ! body_has 'isinstance(d.get("access_token"), str) and d["access_token"].count(".") == 2'; then
        fail "$scenario" "POST /oauth/token gave no JWT access_token: $(head -c 300 "$BODY_FILE")"
        return 1
    fi
    ACCESS_TOKEN=$(json_field "$BODY_FILE" access_token)
}

# ---- The scenarios ------------------------------------------------------------------------
scenario_healthz() {
    probe healthz GET /healthz 200 || return 0
    measure healthz /healthz GET "" ""
}

scenario_jwks() {
    probe jwks GET /.well-known/jwks.json 200 || return 0
    body_has 'len(d["keys"]) > 0' || {
        fail jwks "the JWKS holds no key"
        return 0
    }
    measure jwks /.well-known/jwks.json GET "" ""
}

scenario_client_credentials() { # ALG
    local name="client_credentials $1"
    token_ready "$name" B || return 0
    measure "$name" /oauth/token POST grant_type=client_credentials \
        "$(basic_auth "${CLIENT_ID[B]}" "${CLIENT_SECRET[B]}")"
}

scenario_introspect() { # ALG
    local name="introspect $1" auth
    token_ready "$name" B || return 0
    auth=$(basic_auth "${CLIENT_ID[B]}" "${CLIENT_SECRET[B]}")
    local body
    body="token=$(urlencode "$ACCESS_TOKEN")"
    probe "$name" POST /oauth/introspect 200 "${FORM[@]}" -H "Authorization: $auth" \
        --data-binary "$body" || return 0
    body_has 'd.get("active") is True' || {
        fail "$name" "a fresh token is not active: $(head -c 300 "$BODY_FILE")"
        return 0
    }
    measure "$name" /oauth/introspect POST "$body" "$auth"
}

# Client A floods /oauth/token with a wrong secret while clients B and C ask for tokens:
# their rate alone, then during the flood, and the server's RSS during the flood.
scenario_flood() {
    local good=("flood: good clients B+C, alone" "flood: good clients B+C, during flood")
    local attacker="flood: wrong secret, client A"
    SKIP_REASON=""
    token_ready "${good[0]}" B || {
        skip "${good[1]}" "${SKIP_REASON:-see the row above}"
        skip "$attacker" "${SKIP_REASON:-see the row above}"
        return 0
    }
    local wrong auth_a auths
    wrong=$(random_text 32)
    auth_a=$(basic_auth "${CLIENT_ID[A]}" "$wrong")
    auths="$(basic_auth "${CLIENT_ID[B]}" "${CLIENT_SECRET[B]}")"$'\n'"$(basic_auth "${CLIENT_ID[C]}" "${CLIENT_SECRET[C]}")"
    request POST /oauth/token "${FORM[@]}" -H "Authorization: $auth_a" \
        --data-binary grant_type=client_credentials
    if [[ $STATUS != 401 && $STATUS != 429 ]]; then
        fail "$attacker" "a wrong secret answered $STATUS (expected 401 or 429)"
        return 0
    fi

    RUN=$((RUN + 1))
    local alone=$WORK/wrk-$RUN-alone.txt during=$WORK/wrk-$RUN-during.txt flood=$WORK/wrk-$RUN-flood.txt
    say "  flood: good clients alone, warm-up ${WARMUP_SECONDS}s, then ${SECONDS_PER_RUN}s ..."
    if ((WARMUP_SECONDS > 0)); then
        wrk_run "$alone" "$WARMUP_SECONDS" /oauth/token POST grant_type=client_credentials "$auths"
    fi
    wrk_run "$alone" "$SECONDS_PER_RUN" /oauth/token POST grant_type=client_credentials "$auths"
    parse "${good[0]}" "$alone" || return 0
    local alone_rps=$RPS
    record "${good[0]}" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$(rss_kib VmHWM)")" ""

    say "  flood: client A's wrong secret and clients B+C at once, ${SECONDS_PER_RUN}s ..."
    local flood_pid good_pid peak=0 rss
    wrk_start "$flood" $((SECONDS_PER_RUN + 2)) /oauth/token POST grant_type=client_credentials "$auth_a" 1
    flood_pid=$WRK_PID
    sleep 1
    wrk_start "$during" "$SECONDS_PER_RUN" /oauth/token POST grant_type=client_credentials "$auths"
    good_pid=$WRK_PID
    while kill -0 "$flood_pid" 2>/dev/null || kill -0 "$good_pid" 2>/dev/null; do
        rss=$(rss_kib VmRSS)
        if ((rss > peak)); then
            peak=$rss
        fi
        sleep 0.2
    done
    wrk_wait "$good_pid"
    wrk_wait "$flood_pid"
    FLOOD_RSS[$DATABASE]=$(mib "$peak")

    parse "${good[1]}" "$during" || return 0
    local share="-"
    if [[ $alone_rps =~ ^[0-9]+$ ]] && ((alone_rps > 0)); then
        share=$(awk -v a="$RPS" -v b="$alone_rps" 'BEGIN {printf "%.0f", 100 * a / b}')
    fi
    record "${good[1]}" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$peak")" \
        "${share}% of alone; RSS = peak VmRSS during the flood"
    parse "$attacker" "$flood" || return 0
    # Expected: 401 or 429 (request.lua counts them; without its counts, any non-2xx).
    local expected=0 pair pairs
    IFS=, read -r -a pairs <<<"$STATUSES"
    for pair in "${pairs[@]}"; do
        if [[ $pair == 401=* || $pair == 429=* ]]; then
            expected=$((expected + ${pair#*=}))
        fi
    done
    if [[ $STATUSES == - ]]; then
        expected=$NON2XX
    fi
    record "$attacker" "$RPS" "$P50" "$P99" $((REQUESTS - expected + SOCKET_ERRORS)) \
        "$(mib "$peak")" "statuses ${STATUSES//,/ }; errors = not 401/429"
}

# Issue 9: BENCH_MANY_CLIENTS clients created through the API (the creation rate is a
# row), then the server restarted (empty caches) and client_credentials round-robined
# over all of them from that fresh start, with no warm-up, to compare with the one-client
# row. The clients live in a tenant of their own, beside the cap of the "bench" one.
scenario_many_clients() { # ALG
    local count=${BENCH_MANY_CLIENTS:-10000}
    local creation="many clients: creation through the API"
    local name="client_credentials $1, many clients, fresh start"
    if [[ -n $CLIENTS_MISSING ]]; then
        skip "$creation" "$CLIENTS_MISSING"
        skip "$name" "$CLIENTS_MISSING"
        return 0
    fi
    local auth_file=$WORK/many-clients.auth created seconds
    say "  $creation: $count clients ..."
    if ! read -r created seconds < <(python3 "$BENCH_DIR/many_clients.py" "$BASE_URL" \
        "$ADMIN_KEY" many "$count" "$auth_file" 2>"$WORK/many-clients.err"); then
        fail "$creation" "$(head -c 300 "$WORK/many-clients.err")"
        return 0
    fi
    local rate
    rate=$(awk -v n="$created" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}')
    say "  created $created clients in ${seconds}s: $rate/s"
    record "$creation" "$rate" - - 0 "$(mib "$(rss_kib VmHWM)")" \
        "clients/s over 8 connections; $created in ${seconds}s"

    say "  $name: restarting the server, then ${SECONDS_PER_RUN}s with no warm-up ..."
    restart_server
    RUN=$((RUN + 1))
    local out=$WORK/wrk-$RUN.txt
    BENCH_AUTH_FILE=$auth_file wrk_run "$out" "$SECONDS_PER_RUN" /oauth/token POST \
        grant_type=client_credentials ""
    parse "$name" "$out" || return 0
    record "$name" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$(rss_kib VmHWM)")" \
        "$count clients round-robin from a fresh start"
}

# Issue 10: BENCH_REFRESH_SESSIONS sessions of one user, each refreshed in turn
# (bench/refresh.lua carries every chain's latest token), on a client with the refresh
# grant. Sessions start through the library (bench/sessions.rs): the login page would
# measure argon2. Warm-up and measurement each get sessions of their own, since the
# warm-up leaves its chains' latest tokens in wrk's memory only.
scenario_refresh() { # ALG
    local name="refresh $1" count=${BENCH_REFRESH_SESSIONS:-2000}
    if [[ -n $CLIENTS_MISSING ]]; then
        skip "$name" "$CLIENTS_MISSING"
        return 0
    fi
    [[ -x ${SESSIONS_BIN:-} ]] || {
        fail "$name" "no bench_sessions fixture at '${SESSIONS_BIN:-}'"
        return 0
    }
    ((count > CONNECTIONS)) || {
        fail "$name" "BENCH_REFRESH_SESSIONS ($count) must exceed BENCH_CONNECTIONS ($CONNECTIONS)"
        return 0
    }
    admin POST /api/v1/users '{"username": "bench-user", "password": "bench user password"}'
    [[ $STATUS == 201 ]] || {
        skip "$name" "POST /api/v1/users answered $STATUS"
        return 0
    }
    local user
    user=$(json_field "$BODY_FILE" id)
    admin PUT "/api/v1/tenants/bench/members/$user" '{"roles": ["member"]}'
    [[ $STATUS == 201 || $STATUS == 200 ]] || {
        fail "$name" "adding the member answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 0
    }
    admin POST /api/v1/oauth-clients '{"tenantId": "bench", "name": "bench-refresh",
        "description": "benchmark client for refresh", "accessTokenValiditySeconds": 3600,
        "refreshTokenValiditySeconds": 86400, "redirectUris": ["http://127.0.0.1/cb"],
        "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"], "accessType": "OFFLINE",
        "enabled": true}'
    [[ $STATUS == 200 || $STATUS == 201 ]] || {
        fail "$name" "creating the client answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 0
    }
    local client secret auth
    client=$(json_field "$BODY_FILE" id)
    secret=$(json_field "$BODY_FILE" secret)
    auth=$(basic_auth "$client" "$secret")
    request POST /oauth/token "${FORM[@]}" -H "Authorization: $auth" \
        --data-binary "grant_type=refresh_token&refresh_token=$(random_text 32)"
    if body_has 'd.get("error") == "unsupported_grant_type"'; then
        skip "$name" "grant_type=refresh_token is not supported"
        return 0
    fi
    local warm=$WORK/refresh-warm.tokens tokens=$WORK/refresh.tokens
    say "  $name: starting 2 x $count sessions ..."
    local file
    for file in "$warm" "$tokens"; do
        DATABASE_URL=$SERVER_DATABASE_URL "$SESSIONS_BIN" "$client" "$user" bench "$count" \
            >"$file" 2>"$WORK/sessions.err" || {
            fail "$name" "bench_sessions failed: $(head -c 300 "$WORK/sessions.err")"
            return 0
        }
    done
    request POST /oauth/token "${FORM[@]}" -H "Authorization: $auth" \
        --data-binary "grant_type=refresh_token&refresh_token=$(head -n1 "$warm")"
    if [[ $STATUS != 200 ]] || ! body_has 'isinstance(d.get("refresh_token"), str)'; then
        fail "$name" "a refresh answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 0
    fi
    sed -i 1d "$warm" # that chain moved on; the script must not replay it
    RUN=$((RUN + 1))
    local out=$WORK/wrk-$RUN.txt run_file seconds
    say "  $name: warm-up ${WARMUP_SECONDS}s, then ${SECONDS_PER_RUN}s ..."
    for run_file in "$warm" "$tokens"; do
        seconds=$SECONDS_PER_RUN
        if [[ $run_file == "$warm" ]]; then
            ((WARMUP_SECONDS > 0)) || continue
            seconds=$WARMUP_SECONDS
        fi
        BENCH_TOKENS_FILE=$run_file BENCH_AUTH=$auth timeout -k 5 $((seconds + 30)) \
            wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency \
            -s "$BENCH_DIR/refresh.lua" "$BASE_URL/oauth/token" >"$out" 2>&1 &
        WRK_PID=$!
        PIDS+=("$WRK_PID")
        wrk_wait "$WRK_PID"
    done
    parse "$name" "$out" || return 0
    record "$name" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$(rss_kib VmHWM)")" \
        "$count sessions refreshed in turn; errors = refused refreshes"
}

# Issue 11: a user of tenant `bench` (member, `bench` its default tenant) signed in through
# the first-party token API (`POST /api/v1/tokens`, one argon2), whose access token the
# user-token scenarios present. bench_login_user SCENARIO USERNAME: sets USER_ACCESS_TOKEN
# and LOGIN_BODY (the form body of that sign-in).
bench_login_user() {
    local scenario=$1 username=$2 password="bench login password"
    admin POST /api/v1/users "{\"username\": \"$username\", \"password\": \"$password\",
        \"defaultTenantId\": \"bench\"}"
    [[ $STATUS == 201 ]] || {
        skip "$scenario" "POST /api/v1/users answered $STATUS"
        return 1
    }
    local user
    user=$(json_field "$BODY_FILE" id)
    admin PUT "/api/v1/tenants/bench/members/$user" '{"roles": ["member"]}'
    [[ $STATUS == 201 || $STATUS == 200 ]] || {
        fail "$scenario" "adding the member answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 1
    }
    LOGIN_BODY="username=$(urlencode "$username")&password=$(urlencode "$password")"
    probe "$scenario" POST /api/v1/tokens 200 "${FORM[@]}" --data-binary "$LOGIN_BODY" ||
        return 1
    USER_ACCESS_TOKEN=$(json_field "$BODY_FILE" accessToken)
    [[ -n $USER_ACCESS_TOKEN ]] || {
        fail "$scenario" "POST /api/v1/tokens gave no accessToken: $(head -c 300 "$BODY_FILE")"
        return 1
    }
}

# GET /api/v1/tokens/me: the token verified, its session checked, the user read.
scenario_tokens_me() { # ALG
    local name="tokens/me $1"
    bench_login_user "$name" bench-me || return 0
    probe "$name" GET /api/v1/tokens/me 200 -H "Authorization: Bearer $USER_ACCESS_TOKEN" ||
        return 0
    measure "$name" /api/v1/tokens/me GET "" "Bearer $USER_ACCESS_TOKEN"
}

# Introspection of a user's access token: with its session check.
scenario_introspect_user() { # ALG
    local name="introspect user token $1" auth body
    token_ready "$name" B || return 0
    bench_login_user "$name" bench-introspect || return 0
    auth=$(basic_auth "${CLIENT_ID[B]}" "${CLIENT_SECRET[B]}")
    body="token=$(urlencode "$USER_ACCESS_TOKEN")"
    probe "$name" POST /oauth/introspect 200 "${FORM[@]}" -H "Authorization: $auth" \
        --data-binary "$body" || return 0
    body_has 'd.get("active") is True and d.get("sid")' || {
        fail "$name" "a fresh user token is not active: $(head -c 300 "$BODY_FILE")"
        return 0
    }
    measure "$name" /oauth/introspect POST "$body" "$auth"
}

# POST /api/v1/tokens: password sign-ins, argon2-bound; the peak RSS shows whether memory
# stays flat (the argon2 pool reuses its memory).
scenario_password_login() { # ALG
    # One account from one address: the login limits take a cell per attempt in flight
    # (given back on success), 5 per account and address; argon2's pool runs one hash
    # per core anyway, so 4 connections keep it busy without hitting that limit.
    local name="password login $1" before CONNECTIONS=4
    bench_login_user "$name" bench-login || return 0
    before=$(mib "$(rss_kib VmRSS)")
    measure "$name" /api/v1/tokens POST "$LOGIN_BODY" ""
    say "  $name: RSS before ${before} MiB, after $(mib "$(rss_kib VmRSS)") MiB"
}

# ---- Main ----------------------------------------------------------------------------------
wanted() { # wanted NAME: in BENCH_SCENARIOS (or no filter)
    [[ -z ${BENCH_SCENARIOS:-} || " $BENCH_SCENARIOS " == *" $1 "* ]]
}

declare -A FLOOD_RSS PEAK_RSS
ALGORITHMS=()
for line in "${SCENARIOS[@]}"; do
    read -r _ alg _ <<<"$line"
    [[ " ${ALGORITHMS[*]} " == *" $alg "* ]] || ALGORITHMS+=("$alg")
done

say "wrk -t1 -c$CONNECTIONS, ${SECONDS_PER_RUN}s per scenario after ${WARMUP_SECONDS}s of warm-up; databases: ${DATABASES[*]}"
for DATABASE in "${DATABASES[@]}"; do
    for alg in "${ALGORITHMS[@]}"; do
        todo=()
        for line in "${SCENARIOS[@]}"; do
            read -r name line_alg function <<<"$line"
            if [[ $line_alg == "$alg" ]] && wanted "$name"; then
                todo+=("$function")
            fi
        done
        ((${#todo[@]} > 0)) || continue
        start_server "$DATABASE" "$alg"
        setup A B C
        for function in "${todo[@]}"; do
            "$function" "$alg"
        done
        PEAK_RSS["$DATABASE $alg"]=$(mib "$(rss_kib VmHWM)")
        stop_server
    done
done

echo
echo "Tessera $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') on" \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores;" \
    "wrk -t1 -c$CONNECTIONS, ${SECONDS_PER_RUN}s each, loopback, log level warn (no request" \
    "log)${BENCH_SERVER_ENV:+; server settings: $BENCH_SERVER_ENV}"
echo
python3 "$BENCH_DIR/report.py" table "$RESULTS"
echo
for key in "${!PEAK_RSS[@]}"; do
    echo "peak RSS (VmHWM) of the $key server: ${PEAK_RSS[$key]} MiB"
done | sort
for key in "${!FLOOD_RSS[@]}"; do
    echo "peak RSS (VmRSS sampled every 0.2 s) during the flood on $key: ${FLOOD_RSS[$key]} MiB"
done | sort
echo
python3 "$BENCH_DIR/report.py" targets "$RESULTS"
if ((${#FAILED[@]} > 0)); then
    echo
    echo "Failed (the server answered something unexpected):"
    printf '  %s\n' "${FAILED[@]}"
    exit 1
fi
