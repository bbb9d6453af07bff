# Sourced by scripts/test.sh: owns the PostgreSQL server the test suites use (the storage
# conformance tests, the e2e suite on PostgreSQL and its `psql` clean-up) and exports
# TEMPER_TEST_POSTGRES, a libpq connection string, for everything after it:
#  - TEMPER_TEST_POSTGRES already set: used as it is.
#  - else a server at 127.0.0.1:5432 that lets user `postgres` in without a password:
#    `host=127.0.0.1 user=postgres dbname=test` (database `test` created when missing).
#  - else a private server: initdb/pg_ctl of Debian's `postgresql` package (installed with
#    apt-get when missing, as root or through sudo), its data and socket in a fresh temporary
#    directory, trust authentication, superuser `postgres`, listening on 127.0.0.1 at a free
#    port; stopped and deleted when the sourcing shell exits. As root, the server runs as the
#    `postgres` user (initdb and postgres refuse root).
# TEMPER_TEST_POSTGRES_PRIVATE=1 starts the private server even when one is configured or
# answers. `psql` is needed in every case (the e2e suite drops its schemas with it).

temper_pg_fail() {
    echo "scripts/postgres.sh: $*" >&2
    exit 1
}

# Installs Debian's postgresql package (server binaries and psql).
temper_pg_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || temper_pg_fail "$1, and installing Debian's postgresql" \
            "package needs root or sudo; install it, or set TEMPER_TEST_POSTGRES to a server"
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null || temper_pg_fail "$1 and there is no apt-get to install" \
        "Debian's postgresql package; install PostgreSQL, or set TEMPER_TEST_POSTGRES"
    echo "== $1: installing Debian's postgresql package"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        postgresql >/dev/null
}

# The directory holding initdb and pg_ctl: from PATH, else Debian's newest version.
temper_pg_bindir() {
    local initdb dir
    if initdb=$(command -v initdb) && dir=$(dirname "$(readlink -f "$initdb")") \
        && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return
        fi
    done
    return 1
}

# Runs a command as the private server's owner: `postgres` when this script runs as root.
temper_pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

temper_pg_stop() {
    temper_pg_as_owner "$TEMPER_PG_BIN/pg_ctl" stop -D "$TEMPER_PG_DIR/data" -m fast -w \
        >/dev/null 2>&1 || true
    rm -rf "$TEMPER_PG_DIR"
}

temper_pg_start_private() {
    TEMPER_PG_BIN=$(temper_pg_bindir) || {
        temper_pg_install "no initdb/pg_ctl found"
        TEMPER_PG_BIN=$(temper_pg_bindir) || temper_pg_fail "no initdb/pg_ctl after installing"
    }
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || temper_pg_fail "running as root, the private server" \
            "needs a 'postgres' user to run as (Debian's postgresql package creates it)"
    fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    TEMPER_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/temper-pg.XXXXXX")
    trap temper_pg_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$TEMPER_PG_DIR"
    fi
    echo "== starting a private PostgreSQL ($TEMPER_PG_BIN) on 127.0.0.1:$port in $TEMPER_PG_DIR"
    temper_pg_as_owner "$TEMPER_PG_BIN/initdb" -D "$TEMPER_PG_DIR/data" -U postgres \
        --auth=trust --encoding=UTF8 --locale=C --no-sync >"$TEMPER_PG_DIR/initdb.log" 2>&1 \
        || { cat "$TEMPER_PG_DIR/initdb.log" >&2; temper_pg_fail "initdb failed"; }
    local options="-c listen_addresses=127.0.0.1 -c port=$port"
    options+=" -c unix_socket_directories=$TEMPER_PG_DIR -c fsync=off"
    temper_pg_as_owner "$TEMPER_PG_BIN/pg_ctl" start -D "$TEMPER_PG_DIR/data" -w -t 60 \
        -l "$TEMPER_PG_DIR/server.log" -o "$options" >/dev/null \
        || { cat "$TEMPER_PG_DIR/server.log" >&2; temper_pg_fail "pg_ctl start failed"; }
    psql "host=127.0.0.1 port=$port user=postgres dbname=postgres" -q -c "CREATE DATABASE test" \
        || temper_pg_fail "could not create database test"
    export TEMPER_TEST_POSTGRES="host=127.0.0.1 port=$port user=postgres dbname=test"
}

command -v psql >/dev/null || temper_pg_install "psql is missing"
if [ "${TEMPER_TEST_POSTGRES_PRIVATE:-}" = 1 ]; then
    temper_pg_start_private
elif [ -n "${TEMPER_TEST_POSTGRES:-}" ]; then
    export TEMPER_TEST_POSTGRES
elif PGCONNECT_TIMEOUT=5 psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres" -w -q \
    -tAc "SELECT 1" >/dev/null 2>&1; then
    if [ -z "$(psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres" -w -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'test'")" ]; then
        psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres" -w -q \
            -c "CREATE DATABASE test"
    fi
    export TEMPER_TEST_POSTGRES="host=127.0.0.1 user=postgres dbname=test"
else
    temper_pg_start_private
fi
echo "== PostgreSQL for the tests: $TEMPER_TEST_POSTGRES"
