# Start a private PostgreSQL server on 127.0.0.1 for the ledger tests; sourced by .ci/run.
#
# Installs Debian's `postgresql` package when no server binaries are present, creates a cluster
# in a temporary directory (trust authentication, loopback only, a free port), exports
# SHOAL_TEST_POSTGRES_URL, and stops the server and removes the directory when the calling
# shell exits. The tests kill clients, never the server, so it runs with fsync=off: commits are
# cheap and what the tests check is unchanged. When no server can be started it says why and
# leaves the variable unset, so the PostgreSQL tests skip with that reason and the rest runs.

shoal_postgres_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

shoal_postgres_stop() {
    if [ -n "${SHOAL_POSTGRES_DIR:-}" ] && [ -d "$SHOAL_POSTGRES_DIR" ]; then
        shoal_postgres_as "$SHOAL_POSTGRES_BINDIR/pg_ctl" -D "$SHOAL_POSTGRES_DIR/data" \
            -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$SHOAL_POSTGRES_DIR"
    fi
}

shoal_postgres_as() {
    # initdb and postgres refuse to run as root: use the package's postgres user.
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

shoal_postgres_start() {
    SHOAL_POSTGRES_BINDIR="$(shoal_postgres_bindir)"
    if [ -z "$SHOAL_POSTGRES_BINDIR" ] && [ "$(id -u)" = 0 ]; then
        echo "postgres: installing the postgresql package" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
            >/dev/null 2>&1 || echo "postgres: apt-get install postgresql failed" >&2
        SHOAL_POSTGRES_BINDIR="$(shoal_postgres_bindir)"
    fi
    if [ -z "$SHOAL_POSTGRES_BINDIR" ]; then
        echo "postgres: no server binaries; the PostgreSQL ledger tests will be skipped" >&2
        return 0
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "postgres: no postgres user; the PostgreSQL ledger tests will be skipped" >&2
        return 0
    fi

    SHOAL_POSTGRES_DIR="$(mktemp -d /tmp/shoal-postgres.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres "$SHOAL_POSTGRES_DIR"
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    trap shoal_postgres_stop EXIT

    if ! shoal_postgres_as "$SHOAL_POSTGRES_BINDIR/initdb" -D "$SHOAL_POSTGRES_DIR/data" \
            -A trust -U postgres -E UTF8 --no-sync >"$SHOAL_POSTGRES_DIR/initdb.log" 2>&1; then
        echo "postgres: initdb failed; the PostgreSQL ledger tests will be skipped:" >&2
        tail -n 5 "$SHOAL_POSTGRES_DIR/initdb.log" >&2
        return 0
    fi
    if ! shoal_postgres_as "$SHOAL_POSTGRES_BINDIR/pg_ctl" -D "$SHOAL_POSTGRES_DIR/data" \
            -l "$SHOAL_POSTGRES_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $SHOAL_POSTGRES_DIR -c max_connections=60 -c fsync=off" \
            start >/dev/null 2>&1; then
        echo "postgres: the server did not start; the PostgreSQL ledger tests will be skipped:" >&2
        tail -n 5 "$SHOAL_POSTGRES_DIR/server.log" >&2
        return 0
    fi

    export SHOAL_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "postgres: $("$SHOAL_POSTGRES_BINDIR/postgres" --version) on 127.0.0.1:$port" >&2
}
