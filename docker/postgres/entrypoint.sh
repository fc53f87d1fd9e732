#!/bin/sh
# Initialises an empty data directory from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB (like
# the official image), then runs the server listening on every address, port PGPORT (default 5432).
set -eu

if [ "${1:-postgres}" != postgres ]; then
    exec "$@"
fi
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (see .env.example)}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    # Unix socket only while the database is made, so no client sees a half-initialised server.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        createdb --username="$POSTGRES_USER" "$POSTGRES_DB"
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)" >&2
fi

shift || true
exec postgres -c listen_addresses='*' "$@"
