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
# The plumbing it shares with the soak test (bench/soak.sh) lives in bench/lib.sh.
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
#   BENCH_EXCHANGE_CODES=30000  codes the code_exchange scenario stores for its
#                             measurement (each request redeems one; the warm-up gets a
#                             fifth as many of its own)
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
    "code_exchange      ES256 scenario_code_exchange"
    "tokens_me          ES256 scenario_tokens_me"
    "introspect_user    ES256 scenario_introspect_user"
    "password_login     ES256 scenario_password_login"
    "client_credentials RS256 scenario_client_credentials"
)

# ---- Plumbing (bench/lib.sh, shared with bench/soak.sh) -----------------------------------
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
FAILED=()

build_tessera
SESSIONS_BIN=""
if [[ -n ${BENCH_SESSIONS_BIN:-} || " ${BENCH_SCENARIOS:-refresh} " == *" refresh "* ||
    " ${BENCH_SCENARIOS:-} " == *" code_exchange "* ]]; then
    build_sessions_fixture
fi
check_tools "${DATABASES[@]}"

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

# warm_then_measure RUNNER OUT WARM_FILE FILE: RUNNER OUT SECONDS INPUT for the warm-up
# on WARM_FILE (unless BENCH_WARMUP_SECONDS is 0), then for the measurement on FILE, whose
# report OUT keeps. For the scenarios whose requests spend their input (tokens, codes).
warm_then_measure() {
    local runner=$1 out=$2 warm=$3 file=$4
    if ((WARMUP_SECONDS > 0)); then
        "$runner" "$out" "$WARMUP_SECONDS" "$warm"
    fi
    "$runner" "$out" "$SECONDS_PER_RUN" "$file"
}

wrk_refresh() { # wrk_refresh OUT SECONDS TOKENS_FILE
    wrk_refresh_start "$@"
    wrk_wait "$WRK_PID"
}

wrk_exchange() { # wrk_exchange OUT SECONDS CODES_FILE: bench/exchange.lua, to its end
    BENCH_CODES_FILE=$3 BENCH_AUTH=$REFRESH_AUTH BENCH_REDIRECT_URI=$EXCHANGE_REDIRECT_URI \
        BENCH_VERIFIER=$EXCHANGE_VERIFIER timeout -k 5 $(($2 + 30)) \
        wrk -t1 -c"$CONNECTIONS" -d"$2s" --timeout "${WRK_TIMEOUT:-2s}" --latency \
        -s "$BENCH_DIR/exchange.lua" "$BASE_URL/oauth/token" >"$1" 2>&1 || true # parse reports
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
    ((count > CONNECTIONS)) || {
        fail "$name" "BENCH_REFRESH_SESSIONS ($count) must exceed BENCH_CONNECTIONS ($CONNECTIONS)"
        return 0
    }
    refresh_fixture "$name" bench-user || return 0
    local warm=$WORK/refresh-warm.tokens tokens=$WORK/refresh.tokens
    say "  $name: starting 2 x $count sessions ..."
    start_sessions "$name" "$count" "$warm" || return 0
    start_sessions "$name" "$count" "$tokens" || return 0
    RUN=$((RUN + 1))
    local out=$WORK/wrk-$RUN.txt
    say "  $name: warm-up ${WARMUP_SECONDS}s, then ${SECONDS_PER_RUN}s ..."
    warm_then_measure wrk_refresh "$out" "$warm" "$tokens"
    parse "$name" "$out" || return 0
    record "$name" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$(rss_kib VmHWM)")" \
        "$count sessions refreshed in turn; errors = refused refreshes"
}

# Issue 10: the authorization code exchange with PKCE, each request redeeming a code of
# its own (bench/exchange.lua): the code locked and marked used, a session started, an
# access and a refresh token issued. The codes are stored through the library
# (bench_sessions ... codes), as the login page stores them once the user approves:
# going through the page would measure argon2. BENCH_EXCHANGE_CODES codes for the
# measurement (more than it redeems, or the rest show up as errors) and a fifth as many
# for the warm-up.
scenario_code_exchange() { # ALG
    local name="code exchange $1" count=${BENCH_EXCHANGE_CODES:-30000}
    if [[ -n $CLIENTS_MISSING ]]; then
        skip "$name" "$CLIENTS_MISSING"
        return 0
    fi
    ((count > CONNECTIONS)) || {
        fail "$name" "BENCH_EXCHANGE_CODES ($count) must exceed BENCH_CONNECTIONS ($CONNECTIONS)"
        return 0
    }
    refresh_fixture "$name" bench-exchange || return 0
    # The warm-up's share of the codes, at the measurement's rate, and a margin.
    local warm=$WORK/exchange-warm.codes codes=$WORK/exchange.codes
    local warm_count=0
    ((WARMUP_SECONDS == 0)) || warm_count=$((count * WARMUP_SECONDS / SECONDS_PER_RUN + CONNECTIONS))
    say "  $name: storing $count codes, and $warm_count for the warm-up ..."
    store_codes "$name" "$count" "$codes" || return 0
    if ((WARMUP_SECONDS > 0)); then
        store_codes "$name" "$warm_count" "$warm" || return 0
    fi
    RUN=$((RUN + 1))
    local out=$WORK/wrk-$RUN.txt
    say "  $name: warm-up ${WARMUP_SECONDS}s, then ${SECONDS_PER_RUN}s ..."
    warm_then_measure wrk_exchange "$out" "$warm" "$codes"
    parse "$name" "$out" || return 0
    # Every request sent, and those in flight at the end, took a code of the file.
    local stored
    stored=$(wc -l <"$codes")
    if ((REQUESTS + CONNECTIONS >= stored)); then
        fail "$name" "$REQUESTS requests for $stored codes: the codes ran out; raise BENCH_EXCHANGE_CODES"
        return 0
    fi
    record "$name" "$RPS" "$P50" "$P99" "$ERRORS" "$(mib "$(rss_kib VmHWM)")" \
        "each request redeems its own code (PKCE S256), starting a session with a refresh token"
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
