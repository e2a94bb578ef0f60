#!/usr/bin/env bash
# The Postgres surface as real clients see it, each against one live run holding the sample
# chain: psql (\dt, \d, \d+, SQLSTATEs), SQLAlchemy's Inspector and pandas.read_sql, psycopg with
# binary parameters, node-postgres, and pgJDBC's DatabaseMetaData. Every client reads sku_margin
# and must get the rows `tillflow sql --connect` (Flight SQL) reads from the same run.
# Needs: python3 with sqlalchemy, pandas, psycopg; node and npm; java and pgJDBC
# (/usr/share/java/postgresql.jar, Debian's libpostgresql-jdbc-java); psql.
# Usage: tests/pg_clients.sh [path/to/tillflow]
set -euo pipefail
bin=$(realpath "${1:-target/debug/tillflow}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port); pg=$(port); flight=$(port)
"$bin" run --follow --workers 2 --tick 200ms --listen "127.0.0.1:$http" --pg "127.0.0.1:$pg" \
  --flight "127.0.0.1:$flight" --out "$work/views" 2>"$work/tillflow.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

export PGHOST=127.0.0.1 PGPORT=$pg PGUSER=tillflow PGDATABASE=tillflow PGCONNECT_TIMEOUT=2
for _ in $(seq 100); do psql -qAtc "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
for file in "$here"/../data/sample/reference.ndjson "$here"/../data/sample/events-*.ndjson; do
  curl -sf --data-binary @"$file" "http://127.0.0.1:$http/v1/events" >/dev/null || { echo "posting $file failed"; exit 1; }
done
query="SELECT store_id, sku, business_date, units_sold, net_sales, margin_pct FROM sku_margin ORDER BY store_id, sku, business_date"
# The run has settled when two reads a few ticks apart agree and hold rows.
previous=""
for _ in $(seq 150); do
  now=$("$bin" sql --connect "127.0.0.1:$flight" --format csv "$query")
  [ "$(echo "$now" | wc -l)" -gt 100 ] && [ "$now" = "$previous" ] && break
  previous=$now; sleep 1
done
echo "$now" >"$work/expected.csv"
echo "the live run holds $(($(wc -l <"$work/expected.csv") - 1)) rows of sku_margin"

fail() { echo "psql: $*"; exit 1; }
psql -qAtc "SELECT version()" | grep -q "^PostgreSQL 16\." || fail "version() is $(psql -qAtc 'SELECT version()')"
[ "$(psql -qAtc 'SHOW server_version')" = 16.6 ] || fail "SHOW server_version"
[ "$(psql -qAtc 'SHOW server_version_num')" = 160006 ] || fail "SHOW server_version_num"
[ "$(psql -qAtc 'SELECT current_database()')" = tillflow ] || fail "current_database()"
psql -qAtc "BEGIN; SET application_name = 'bi'; SELECT 1; COMMIT; DISCARD ALL;" >/dev/null || fail "session statements"
psql -c '\dt' | grep -q "sku_margin" || fail "\\dt lists no sku_margin: $(psql -c '\dt' 2>&1)"
psql -c '\d' | grep -q "exceptions" || fail "\\d lists no exceptions"
psql -c '\d sku_margin' | grep -q "net_sales.*numeric" || fail "\\d sku_margin: $(psql -c '\d sku_margin' 2>&1)"
psql -c '\d+ sku_margin' | grep -q "gross_sales − discounts − refunds" || fail "\\d+ sku_margin: $(psql -c '\d+ sku_margin' 2>&1)"
# (Floats aside: their text is the clients' business, compared as numbers by the others.)
[ "$(psql -qAt -F, -c "$query" | cut -d, -f1-5)" = "$(tail -n +2 "$work/expected.csv" | cut -d, -f1-5)" ] \
  || fail "sku_margin differs from tillflow sql"
for pair in "SELECT * FROM no_such_view:42P01" "SELEC 1:42601"; do
  code=$({ psql -v VERBOSITY=verbose -qAtc "${pair%:*}" 2>&1 || true; } | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p')
  [ "$code" = "${pair##*:}" ] || fail "${pair%:*}: SQLSTATE '$code', not ${pair##*:}"
done
echo "ok: psql (version, SHOW, \\dt, \\d, \\d+ with descriptions, sku_margin, SQLSTATEs)"

python3 "$here/pg_clients/python_clients.py" "$pg" "$work/expected.csv"

npm install --silent --no-audit --no-fund --prefix "$work/node" pg@8 >/dev/null
NODE_PATH="$work/node/node_modules" node "$here/pg_clients/node_client.js" "$pg" "$work/expected.csv"

java -cp /usr/share/java/postgresql.jar "$here/pg_clients/JdbcClient.java" "$pg" "$work/expected.csv"
echo "every Postgres client reads the live views"
