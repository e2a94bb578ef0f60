#!/usr/bin/env python3
"""Scopes, refusals and the access log through psycopg and ADBC's Flight SQL driver.

Usage: clients.py PG_PORT FLIGHT_PORT CA_PEM   (users as tests/access.sh configures them)
"""

import sys
import time

import adbc_driver_flightsql.dbapi as flightsql
import psycopg

PG, FLIGHT, CA = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
PASSWORDS = {"analyst": "analyst-pass", "viewer": "viewer-pass", "central": "central-pass", "d01": "d01-pass", "s001": "s001-pass"}

# Every table a scope applies to, and the column it is applied by (district where the table has one).
SCOPED = {
    "sku_margin": "store_id", "inventory_position": "store_id", "rule_breaks": "store_id",
    "labor_demand": "store_id", "exceptions": "district", "refund_void_anomalies": "district",
    "stores": "district",
}
CHAIN_ONLY = ["segment_profiles", "pipeline_stats", "access_log"]
PII = ["customer_segments", "dead_letters"]
OTHER_STORES = ["S002", "S003", "S004", "S005", "S006"]


def connect(user, password=None):
    return psycopg.connect(host="localhost", port=PG, dbname="tillflow", user=user,
                           password=password or PASSWORDS[user], sslmode="verify-full",
                           sslrootcert=CA, autocommit=True, connect_timeout=5)


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return sorted(tuple("" if v is None else str(v) for v in row) for row in cur.fetchall())


def fails(conn, sql, error=psycopg.Error):
    try:
        rows(conn, sql)
    except error as e:
        return e
    sys.exit(f"expected an error from: {sql[:120]}")


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def scope_filter(user, table):
    column = SCOPED[table]
    if user == "s001":
        return "store_id = 'S001'"
    if user == "d01":
        return "district = 'D01'" if column == "district" else \
            "store_id IN (SELECT store_id FROM stores WHERE district = 'D01')"
    if user == "central":
        return "district IN (SELECT district FROM stores WHERE region = 'Central')" if column == "district" else \
            "store_id IN (SELECT store_id FROM stores WHERE region = 'Central')"
    return "TRUE"


def settled(analyst):
    """Waits until every view holds rows and reads the same twice, a second apart."""
    probe = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in SCOPED)
    previous = None
    for _ in range(120):
        now = rows(analyst, probe)
        if now == previous and all(int(n) > 0 for t, n in now if t != "exceptions"):
            return
        previous = now
        time.sleep(1)
    sys.exit(f"the views did not settle: {previous}")


def persisted_version(analyst):
    for _ in range(60):
        try:
            rows(analyst, "SELECT count(*) FROM as_of('sku_margin', 'version', 0)")
            return 0
        except psycopg.Error:
            time.sleep(1)
    sys.exit("sku_margin was never persisted")


def main():
    analyst = connect("analyst")
    settled(analyst)
    version = persisted_version(analyst)

    # Every scoped user's SELECT * is the chain's, filtered to the scope; so is as_of.
    for user in ["s001", "d01", "central", "viewer"]:
        conn = connect(user)
        for table in SCOPED:
            want = rows(analyst, f"SELECT * FROM {table} WHERE {scope_filter(user, table)}")
            got = rows(conn, f"SELECT * FROM {table}")
            check(got == want, f"{user}: {table} equals the chain's rows in scope ({len(got)} rows)")
        want = rows(analyst, f"SELECT * FROM as_of('sku_margin', 'version', {version}) WHERE {scope_filter(user, 'sku_margin')}")
        got = rows(conn, f"SELECT * FROM as_of('sku_margin', 'version', {version})")
        check(got == want and (user == "central" or got), f"{user}: as_of equals the chain's in scope ({len(got)} rows)")
        hidden = PII + ([] if user == "viewer" else CHAIN_ONLY)
        for table in hidden:
            fails(conn, f"SELECT * FROM {table}", psycopg.errors.UndefinedTable)
        listed = {r[0] for r in rows(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        check(not listed & set(hidden), f"{user}: information_schema lists none of {hidden}")
        conn.close()
    check(rows(connect("viewer"), "SELECT count(*) FROM segment_profiles")[0][0] != "0", "viewer reads segment_profiles")

    # Hostile queries of the store manager: nothing outside store S001 can be read or inferred.
    s = connect("s001")
    mine = rows(analyst, "SELECT count(*) FROM sku_margin WHERE store_id = 'S001'")[0][0]
    def only_s001(sql, what):
        got = rows(s, sql)
        text = repr(got)
        check(not any(o in text for o in OTHER_STORES), f"hostile: {what} ({len(got)} rows, no other store)")
        return got
    only_s001("SELECT * FROM sku_margin WHERE store_id = 'S002' OR 1=1", "OR 1=1")
    check(rows(s, "SELECT * FROM sku_margin WHERE store_id = 'S002'") == [], "hostile: another store by name")
    check(rows(s, "SELECT store_id FROM sku_margin UNION SELECT store_id FROM inventory_position UNION SELECT store_id FROM exceptions") == [("S001",)], "hostile: UNION across views")
    check(rows(s, "SELECT (SELECT count(*) FROM sku_margin WHERE store_id <> 'S001')") == [("0",)], "hostile: scalar subquery")
    check(rows(s, "SELECT count(*) FROM sku_margin") == [(mine,)], "hostile: count(*) is the store's")
    check(rows(s, "SELECT store_id, count(*) OVER () FROM sku_margin LIMIT 1") == [("S001", mine)], "hostile: a window over the table")
    check(rows(s, "SELECT store_id FROM stores") == [("S001",)], "hostile: stores")
    check(rows(s, "SELECT string_agg(store_id, ',') FROM stores") == [("S001",)], "hostile: string_agg over stores")
    check(set(rows(s, "SELECT DISTINCT district FROM exceptions")) <= {("D01",)}, "hostile: districts of exceptions")
    check(rows(s, "SELECT * FROM refund_void_anomalies WHERE store_id <> 'S001'") == [], "hostile: anomalies elsewhere")
    check(rows(s, "SELECT m.store_id FROM sku_margin m JOIN stores t ON t.store_id <> m.store_id") == [], "hostile: a join looking for others")
    check(rows(s, "SELECT count(*) FROM tillflow.public.sku_margin WHERE store_id = 'S003'") == [("0",)], "hostile: a qualified name")
    check(rows(s, "SELECT count(*) FROM sku_margin WHERE store_id = %s", ("S002",)) == [("0",)], "hostile: a bound parameter")
    check(rows(s, "SELECT count(*) FROM sku_margin WHERE store_id IN (" + ",".join(f"'S00{i % 7}x{i}'" for i in range(20000)) + ", 'S002')") == [("0",)], "hostile: a 400 kB statement")
    check(len(rows(s, "SELECT 1 / (CASE WHEN store_id = 'S002' THEN 0 ELSE 1 END) FROM sku_margin")) == int(mine), "hostile: a division by zero on another store never runs")
    error = str(fails(s, "SELECT CAST(store_id AS INTEGER) FROM sku_margin"))
    check(not any(o in error for o in OTHER_STORES), f"hostile: an error quoting a value quotes S001's ({error[:80]})")
    for sql in ["EXPLAIN SELECT * FROM sku_margin", "EXPLAIN ANALYZE SELECT * FROM sku_margin", "EXPLAIN VERBOSE SELECT count(*) FROM exceptions"]:
        plan = repr(rows(s, sql))
        check("ScopedScan" in plan and not any(o in plan for o in OTHER_STORES), f"hostile: {sql[:24]} shows the scoped scan only")
    listed = {r[0] for r in rows(s, "SELECT relname FROM pg_catalog.pg_class")}
    check(not listed & set(PII + CHAIN_ONLY), "hostile: pg_class lists no hidden table")
    check(rows(s, "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer_segments'") == [], "hostile: no columns of a hidden table")
    for view in ["pipeline_stats", "customer_segments", "../sku_margin", "access_log"]:
        error = str(fails(s, f"SELECT * FROM as_of('{view}', 'version', 0)"))
        check("no such view" in error, f"hostile: as_of('{view}') is no such view")
    only_s001(f"SELECT * FROM as_of('sku_margin', 'version', {version}) WHERE store_id <> 'S001' OR true", "as_of with OR true")
    for sql in ["INSERT INTO stores VALUES ('S9', 'x', 'D9', 'R9', 'UTC')",
                "CREATE TABLE leak AS SELECT * FROM sku_margin",
                "SELECT * INTO leak FROM sku_margin",
                "COPY (SELECT * FROM sku_margin) TO '/tmp/tillflow-leak.csv'",
                "DROP TABLE sku_margin",
                "CREATE VIEW leak AS SELECT 1"]:
        error = fails(s, sql, psycopg.errors.ReadOnlySqlTransaction)
        check("read-only" in str(error), f"refused (25006): {sql[:40]}")
    wrong = None
    try:
        connect("s001", "wrong-password")
    except psycopg.OperationalError as e:
        wrong = str(e)
    check(wrong and 'password authentication failed for user "s001"' in wrong, "psycopg: a wrong password is refused")

    # Flight SQL through ADBC over TLS: the same scope.
    with open(CA) as f:
        ca = f.read()
    summary = "SELECT count(*), CAST(sum(net_sales) AS VARCHAR), min(store_id), max(store_id) FROM sku_margin"
    for user in ["s001", "d01"]:
        with flightsql.connect(f"grpc+tls://localhost:{FLIGHT}", db_kwargs={
                "username": user, "password": PASSWORDS[user],
                "adbc.flight.sql.client_option.tls_root_certs": ca}) as conn:
            with conn.cursor() as cur:
                cur.execute(summary)
                got = [tuple("" if v is None else str(v) for v in row) for row in cur.fetchall()]
        want = rows(analyst, f"{summary} WHERE {scope_filter(user, 'sku_margin')}")
        check(got == want, f"ADBC Flight SQL as {user}: {got[0]}")

    # The access log holds what happened, as the chain sees it (published with the next epoch).
    log = []
    for _ in range(50):
        log = rows(analyst, "SELECT \"user\", surface, outcome, statement, tables, CAST(rows AS VARCHAR) FROM access_log")
        if any(r[1] == "flight" and r[0] == "d01" for r in log):
            break
        time.sleep(0.2)
    def logged(predicate, what):
        check(any(predicate(r) for r in log), f"access_log: {what}")
    logged(lambda r: r[0] == "s001" and r[2] == "refused" and r[3].startswith("INSERT INTO stores"), "s001's INSERT, refused")
    logged(lambda r: r[0] == "s001" and r[2] == "refused" and r[3].startswith("login refused"), "s001's wrong password")
    logged(lambda r: r[0] == "s001" and r[2] == "ok" and r[3] == "SELECT * FROM sku_margin" and r[4] == "sku_margin" and r[5] == mine, "s001's SELECT * with its row count")
    logged(lambda r: r[0] == "s001" and r[2] == "error" and "CAST(store_id AS INTEGER)" in r[3], "s001's failed cast, an error")
    logged(lambda r: r[0] == "d01" and r[1] == "flight" and r[2] == "ok", "d01's Flight SQL statement")
    logged(lambda r: r[0] == "hq" and r[1] == "http" and r[2] == "ok" and r[3] == "POST /v1/events", "hq's posts of events")
    logged(lambda r: r[1] == "http" and r[2] == "refused" and "unknown token" in r[3], "a post with a wrong token, refused")
    logged(lambda r: r[0] == "pos-s001" and r[1] == "http" and r[5] == "3", "pos-s001's post of three records")
    check(not any("analyst-pass" in r[3] or "s001-pass" in r[3] for r in log), "access_log holds no password")


if __name__ == "__main__":
    main()
