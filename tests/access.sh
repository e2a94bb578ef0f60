#!/usr/bin/env bash
# Governance as an attacker would try it, with real clients against one live run over TLS:
# psql (sslmode=verify-full against a test CA), psycopg and ADBC's Flight SQL driver as a chain
# analyst, a chain user without pii, a region, a district and a store manager. Every scoped answer
# must equal the chain's answer filtered to the scope; hostile queries must reveal nothing
# outside it; writes, wrong passwords and plain-text connections are refused; the access log
# holds it all. Also: a server beyond loopback without users and TLS does not start.
# Needs: openssl, psql, python3 with psycopg and adbc-driver-flightsql, curl.
# Usage: tests/access.sh [path/to/tillflow]
set -euo pipefail
bin=$(realpath "${1:-target/debug/tillflow}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; }; rm -rf "$work"' EXIT
fail() { echo "access: $*"; exit 1; }

# A test certificate authority and a server certificate for localhost.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 \
  -subj "/CN=tillflow test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.csr" -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" >"$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -out "$work/server.pem" -days 2 -extfile "$work/ext.cnf" 2>/dev/null

# Beyond loopback, no users or no TLS: refused at start, saying what to configure.
out=$("$bin" run --follow --pg 0.0.0.0:1 --out "$work/refused" 2>&1) && fail "--pg 0.0.0.0 without users started"
grep -q "configure \[tls\]" <<<"$out" || fail "refusal without users says: $out"
echo "ok: a server beyond loopback without users and TLS does not start"

analyst_scram=$(echo "analyst-pass" | "$bin" password)
cat >"$work/tillflow.toml" <<TOML
[tls]
cert = "$work/server.pem"
key = "$work/server.key"

[[users]]
name = "analyst"
password_scram = "$analyst_scram"
scope = "chain"
pii = true

[[users]]
name = "viewer"
password = "viewer-pass"
scope = "chain"

[[users]]
name = "central"
password = "central-pass"
scope = "region:Central"

[[users]]
name = "d01"
password = "d01-pass"
scope = "district:D01"

[[users]]
name = "s001"
password = "s001-pass"
scope = "store:S001"

[[ingest_tokens]]
name = "hq"
token = "hq-token-0123456789abcdef"
scope = "chain"

[[ingest_tokens]]
name = "pos-s001"
token = "pos-s001-token-0123456789"
scope = "store:S001"
TOML
grep -q "analyst-pass" "$work/tillflow.toml" && fail "the config holds a plain password it should not"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port); pg=$(port); flight=$(port)
"$bin" run --follow --config "$work/tillflow.toml" --workers 2 --tick 200ms --persist-every 1s \
  --listen "127.0.0.1:$http" --pg "127.0.0.1:$pg" --flight "127.0.0.1:$flight" --out "$work/views" \
  2>"$work/tillflow.log" &
pid=$!
conn() { echo "host=localhost port=$pg dbname=tillflow user=$1 sslmode=verify-full sslrootcert=$work/ca.pem connect_timeout=2"; }
for _ in $(seq 100); do PGPASSWORD=analyst-pass psql "$(conn analyst)" -qAtc "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
post() { curl -s --cacert "$work/ca.pem" -H "Authorization: Bearer $1" --data-binary "@$2" -o "$work/answer.json" \
  -w "%{http_code}" "https://localhost:$http/v1/events"; }
for _ in $(seq 100); do curl -s --cacert "$work/ca.pem" "https://localhost:$http/healthz" >/dev/null && break; sleep 0.2; done
for file in "$here"/../data/sample/reference.ndjson "$here"/../data/sample/events-*.ndjson; do
  [ "$(post hq-token-0123456789abcdef "$file")" = 202 ] || fail "posting $file failed: $(cat "$work/answer.json")"
done

# HTTP ingest: HTTPS only, a token required, and a store's token posts its own store's events only.
curl -s "http://127.0.0.1:$http/v1/events" --data-binary @/dev/null >/dev/null 2>&1 && fail "plain HTTP was answered"
[ "$(post "" "$here/../data/sample/reference.ndjson")" = 401 ] || fail "no token: not 401"
[ "$(post not-a-token "$here/../data/sample/reference.ndjson")" = 401 ] || fail "a wrong token: not 401"
days=("$here"/../data/sample/events-*.ndjson)
{ grep -m1 '"type":"sale","event_id":"[^"]*","ts":"[^"]*","store_id":"S001"' "${days[0]}"
  grep -m1 '"type":"sale","event_id":"[^"]*","ts":"[^"]*","store_id":"S002"' "${days[0]}"
  grep -m1 '"type":"product"' "$here/../data/sample/reference.ndjson"; } >"$work/mixed.ndjson"
[ "$(wc -l <"$work/mixed.ndjson")" = 3 ] || fail "the sample's records changed shape: $(cat "$work/mixed.ndjson")"
code=$(post pos-s001-token-0123456789 "$work/mixed.ndjson")
python3 - "$work/answer.json" "$code" <<'PYCHECK' || fail "pos-s001 posting other stores' records: $(cat "$work/answer.json")"
import json, sys
answer, code = json.load(open(sys.argv[1])), sys.argv[2]
reasons = [e["reason"] for e in answer["errors"]]
assert code == "400" and answer["received"] == 3 and answer["duplicates"] == 1 and answer["dead_lettered"] == 2, answer
assert any("token pos-s001 may post events of store:S001, not of store S002" in r for r in reasons), reasons
assert any("product records need a chain token" in r for r in reasons), reasons
PYCHECK
echo "ok: HTTP ingest over HTTPS with tokens; a store's token cannot post for another store or reference data"

# psql over verify-full: the store manager sees their store only.
stores=$(PGPASSWORD=s001-pass psql "$(conn s001)" -qAtc "SELECT DISTINCT store_id FROM sku_margin WHERE store_id <> 'S001' OR 1=1")
for _ in $(seq 100); do
  [ -n "$stores" ] && break; sleep 0.2
  stores=$(PGPASSWORD=s001-pass psql "$(conn s001)" -qAtc "SELECT DISTINCT store_id FROM sku_margin WHERE store_id <> 'S001' OR 1=1")
done
[ "$stores" = "S001" ] || fail "psql as s001 reads stores: $stores"
wrong=$(PGPASSWORD=nope psql "$(conn s001)" -v VERBOSITY=verbose -qAtc "SELECT 1" 2>&1 || true)
grep -q 'password authentication failed for user "s001"' <<<"$wrong" || fail "a wrong password: $wrong"
plain=$(PGPASSWORD=s001-pass psql "host=127.0.0.1 port=$pg dbname=tillflow user=s001 sslmode=disable" -qAtc "SELECT 1" 2>&1 || true)
grep -q "accepts TLS connections only" <<<"$plain" || fail "a connection without TLS: $plain"
echo "ok: psql with sslmode=verify-full; wrong password and no TLS refused"

# tillflow's own client: Flight SQL over TLS, signed in.
stores=$(TILLFLOW_PASSWORD=s001-pass "$bin" sql --connect "localhost:$flight" --user s001 --tls-ca "$work/ca.pem" \
  --format csv "SELECT DISTINCT store_id FROM sku_margin WHERE store_id <> 'S001' OR 1=1")
[ "$stores" = "$(printf 'store_id\nS001')" ] || fail "tillflow sql --connect as s001 reads: $stores"
refused=$(TILLFLOW_PASSWORD=nope "$bin" sql --connect "localhost:$flight" --user s001 --tls-ca "$work/ca.pem" "SELECT 1" 2>&1 || true)
grep -q 'wrong user name or password for "s001"' <<<"$refused" || fail "tillflow sql with a wrong password: $refused"
unsigned=$("$bin" sql --connect "localhost:$flight" --tls-ca "$work/ca.pem" "SELECT 1" 2>&1 || true)
grep -q "sign in first" <<<"$unsigned" || fail "tillflow sql without --user: $unsigned"
echo "ok: tillflow sql --connect over TLS as s001 reads S001 only; a wrong password and no sign-in refused"

python3 "$here/access/clients.py" "$pg" "$flight" "$work/ca.pem"
