# Shared by the load benchmark (bench/run.sh) and the soak test (bench/soak.sh): sourced,
# never run. It owns the plumbing both need: the work directory and the clean-up on exit
# (every process in PIDS stopped, every database in PG_DATABASES dropped), building the
# binaries and installing wrk, starting Tessera on a fresh database and a free port,
# set-up through the public API (tenant `bench`, clients, users, sessions), and running
# wrk and reading its report.
#
# Before sourcing, the script sets ROOT (the checkout), BENCH_DIR ($ROOT/bench),
# BENCH_NAME (its name in messages and in the work directory's name) and PG_URL (may be
# empty), and `set -euo pipefail`. It defines two hooks the set-up calls when the server
# answers something else than expected:
#   skip SCENARIO REASON   the endpoint is not there (404/405)
#   fail SCENARIO REASON   the server misbehaved
# CONNECTIONS is wrk's connection count for wrk_start (a caller may make it local);
# WRK_TIMEOUT (default 2s, wrk's own) the time after which wrk counts a request as a
# timeout (a socket error) rather than a latency.
# BENCH_KEEP_LOGS=1 keeps the work directory.

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
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-$BENCH_NAME.XXXXXX")
PIDS=()
PG_DATABASES=()

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
    say "$BENCH_NAME: $*"
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
# build_tessera: sets BIN, TESSERA_BIN or a release build into $CARGO_TARGET_DIR.
build_tessera() {
    if [[ -n ${TESSERA_BIN:-} ]]; then
        BIN=$TESSERA_BIN
    else
        say "building Tessera (release) into $CARGO_TARGET_DIR ..."
        cargo build --release --locked --bin tessera
        BIN=$CARGO_TARGET_DIR/release/tessera
    fi
    [[ -x $BIN ]] || die "no executable at $BIN"
}

# build_sessions_fixture: sets SESSIONS_BIN, the bench_sessions fixture (bench/sessions.rs:
# sessions started through the library), BENCH_SESSIONS_BIN or a release build.
build_sessions_fixture() {
    if [[ -n ${BENCH_SESSIONS_BIN:-} ]]; then
        SESSIONS_BIN=$BENCH_SESSIONS_BIN
    else
        say "building the bench_sessions fixture (release) ..."
        cargo build --release --locked --example bench_sessions
        SESSIONS_BIN=$CARGO_TARGET_DIR/release/examples/bench_sessions
    fi
}

# check_tools DATABASE...: wrk (installed from Debian's packages when missing), and psql
# when postgres is among the databases.
check_tools() {
    if ! command -v wrk >/dev/null; then
        local sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        say "installing wrk from Debian's packages ..."
        "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq wrk >/dev/null
    fi
    command -v wrk >/dev/null || die "wrk is not installed"
    if [[ " $* " == *" postgres "* ]]; then
        [[ -n $PG_URL ]] || die "postgres asked for, but neither POSTGRES_BENCH_URL nor POSTGRES_TEST_URL is set"
        command -v psql >/dev/null || die "psql is needed to create the PostgreSQL databases"
    fi
}

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
            say "note: [rate_limit] has no key '$key'; adjust RATE_LIMIT_OVERRIDES in bench/lib.sh"
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

# ---- wrk ------------------------------------------------------------------------------------
# wrk_start OUT SECONDS PATH METHOD BODY AUTH [COUNT]: one wrk run in the background,
# bounded in time; sets WRK_PID. AUTH holds Authorization values, one per line (several
# alternate); COUNT=1 makes request.lua count the statuses (see bench/status_count.lua).
wrk_start() {
    local out=$1 seconds=$2 path=$3
    BENCH_METHOD=$4 BENCH_BODY=$5 BENCH_AUTH=$6 BENCH_COUNT_STATUS=${7:-} \
        timeout -k 5 $((seconds + 30)) \
        wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --timeout "${WRK_TIMEOUT:-2s}" --latency \
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


# ---- Refresh-token sessions (issue 10) -----------------------------------------------------
# refresh_fixture SCENARIO USERNAME: a user (member of `bench`) and a client of `bench` with
# the refresh grant; sets REFRESH_USER_ID, REFRESH_CLIENT_ID and REFRESH_AUTH (the
# client's Basic credentials). Returns 1 (after skip or fail) when the server cannot.
refresh_fixture() {
    local scenario=$1 username=$2
    [[ -x ${SESSIONS_BIN:-} ]] || {
        fail "$scenario" "no bench_sessions fixture at '${SESSIONS_BIN:-}'"
        return 1
    }
    admin POST /api/v1/users "{\"username\": \"$username\", \"password\": \"bench user password\"}"
    [[ $STATUS == 201 ]] || {
        skip "$scenario" "POST /api/v1/users answered $STATUS"
        return 1
    }
    REFRESH_USER_ID=$(json_field "$BODY_FILE" id)
    admin PUT "/api/v1/tenants/bench/members/$REFRESH_USER_ID" '{"roles": ["member"]}'
    [[ $STATUS == 201 || $STATUS == 200 ]] || {
        fail "$scenario" "adding the member answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 1
    }
    admin POST /api/v1/oauth-clients "{\"tenantId\": \"bench\", \"name\": \"$username-refresh\",
        \"description\": \"benchmark client for refresh\", \"accessTokenValiditySeconds\": 3600,
        \"refreshTokenValiditySeconds\": 86400, \"redirectUris\": [\"http://127.0.0.1/cb\"],
        \"grantTypes\": [\"AUTHORIZATION_CODE\", \"REFRESH_TOKEN\"], \"accessType\": \"OFFLINE\",
        \"enabled\": true}"
    [[ $STATUS == 200 || $STATUS == 201 ]] || {
        fail "$scenario" "creating the client answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 1
    }
    REFRESH_CLIENT_ID=$(json_field "$BODY_FILE" id)
    REFRESH_AUTH=$(basic_auth "$REFRESH_CLIENT_ID" "$(json_field "$BODY_FILE" secret)")
    request POST /oauth/token "${FORM[@]}" -H "Authorization: $REFRESH_AUTH" \
        --data-binary "grant_type=refresh_token&refresh_token=$(random_text 32)"
    if body_has 'd.get("error") == "unsupported_grant_type"'; then
        skip "$scenario" "grant_type=refresh_token is not supported"
        return 1
    fi
}

# start_sessions SCENARIO COUNT FILE: COUNT sessions of the fixture's user through its
# client, started by bench_sessions straight on the database (a login each would measure
# argon2), and checked by refreshing the first; FILE gets one live refresh token a line.
start_sessions() {
    local scenario=$1 count=$2 file=$3
    DATABASE_URL=$SERVER_DATABASE_URL "$SESSIONS_BIN" "$REFRESH_CLIENT_ID" "$REFRESH_USER_ID" \
        bench "$count" >"$file" 2>"$WORK/sessions.err" || {
        fail "$scenario" "bench_sessions failed: $(head -c 300 "$WORK/sessions.err")"
        return 1
    }
    request POST /oauth/token "${FORM[@]}" -H "Authorization: $REFRESH_AUTH" \
        --data-binary "grant_type=refresh_token&refresh_token=$(head -n1 "$file")"
    if [[ $STATUS != 200 ]] || ! body_has 'isinstance(d.get("refresh_token"), str)'; then
        fail "$scenario" "a refresh answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 1
    fi
    sed -i 1d "$file" # that chain moved on; wrk must not replay it
}

# The redirect URI the fixture's client has registered, and the PKCE verifier every stored
# code is bound to (its S256 challenge is stored with the code).
EXCHANGE_REDIRECT_URI=http://127.0.0.1/cb
EXCHANGE_VERIFIER=bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz

# store_codes SCENARIO COUNT FILE: COUNT authorization codes of the fixture's user for its
# client, stored by bench_sessions straight on the database, and checked by redeeming the
# first; FILE gets one live code a line.
store_codes() {
    local scenario=$1 count=$2 file=$3
    DATABASE_URL=$SERVER_DATABASE_URL "$SESSIONS_BIN" "$REFRESH_CLIENT_ID" "$REFRESH_USER_ID" \
        bench "$count" codes "$EXCHANGE_REDIRECT_URI" "$EXCHANGE_VERIFIER" \
        >"$file" 2>"$WORK/sessions.err" || {
        fail "$scenario" "bench_sessions failed: $(head -c 300 "$WORK/sessions.err")"
        return 1
    }
    request POST /oauth/token "${FORM[@]}" -H "Authorization: $REFRESH_AUTH" \
        --data-urlencode grant_type=authorization_code --data-urlencode "code=$(head -n1 "$file")" \
        --data-urlencode "redirect_uri=$EXCHANGE_REDIRECT_URI" \
        --data-urlencode "code_verifier=$EXCHANGE_VERIFIER"
    if [[ $STATUS != 200 ]] || ! body_has 'isinstance(d.get("refresh_token"), str)'; then
        fail "$scenario" "a code exchange answered $STATUS: $(head -c 300 "$BODY_FILE")"
        return 1
    fi
    sed -i 1d "$file" # redeemed; wrk must not replay it
}

# wrk_refresh_start OUT SECONDS TOKENS_FILE [COUNT]: bench/refresh.lua in the background,
# rotating the chains of TOKENS_FILE with the fixture's client; sets WRK_PID. COUNT=1
# counts the statuses.
wrk_refresh_start() {
    local out=$1 seconds=$2
    BENCH_TOKENS_FILE=$3 BENCH_AUTH=$REFRESH_AUTH BENCH_COUNT_STATUS=${4:-} \
        timeout -k 5 $((seconds + 30)) \
        wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --timeout "${WRK_TIMEOUT:-2s}" --latency \
        -s "$BENCH_DIR/refresh.lua" "$BASE_URL/oauth/token" >"$out" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
}
