#!/usr/bin/env python3
"""DuckDB computing every reference view from the NDJSON files themselves, parse included.

Usage: duckdb_from_ndjson.py CHAIN_DIR [--threads N]

CHAIN_DIR holds the chain as `tillflow generate` writes it (reference.ndjson, events-*.ndjson;
every *.ndjson below it is read, ground_truth.json and anything else is not). Where
benches/duckdb_recompute.py starts from the Parquet event tables that tillflow's Rust code wrote
(and does not time loading them), this script replaces that Rust step with DuckDB's own JSON
reader, so that the end-to-end comparison with `tillflow run` over NDJSON counts the same work:

1. one read_json over every file, with a declared schema covering every field of every record
   type (nested `lines[]` and `tenders[]` as LIST of STRUCT), then the event tables of
   schemas/src/tables.rs (EventTables) built from it, with the same names, columns and types;
2. the macros of duckdb_recompute.py (imported, not copied);
3. queries/shared.sql, then each view's reference SQL as CREATE TABLE, in duckdb_recompute.py's
   order.

Timed from the first byte read to the last view computed (`seconds`), then the views written as
Parquet files (`write_seconds`, as tillflow persists them). Prints one JSON object on stdout:
seconds, parse_seconds, views_seconds, write_seconds, the rows of every view, a few column
totals and digests.
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time

import duckdb

sys.dont_write_bytecode = True  # no benches/__pycache__ from the import below
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import duckdb_recompute as recompute  # noqa: E402  (MACROS, statements, VIEWS, QUERIES)

MONEY = "DECIMAL(18, 2)"

# The wire shape of a record (schemas/src/raw.rs, RawEvent): the union of the fields of every type,
# so one schema reads a file mixing them; a field a record lacks is NULL. Declared rather than
# auto-detected: detection would type money as DOUBLE (and `ts` as a mix of text and integers),
# where tillflow reads money exactly. DuckDB casts while reading: money given as a JSON number or
# as a decimal string ("4.50") lands in DECIMAL(18,2) (numbers rounded to the cent, as
# Cents::from_f64 does), quantities given as integers or integer strings in BIGINT. `ts`, `start`
# and `end` are read as text and converted below, since they may be RFC 3339 or integer ms.
# (With a declared schema every file is read with the same columns, which is what union_by_name
# would give.) Unknown fields are ignored, as tillflow ignores them.
LINE = (
    f"STRUCT(line_no BIGINT, sku VARCHAR, qty BIGINT, unit_price {MONEY}, discount {MONEY}, "
    f"promo_id VARCHAR, amount {MONEY})[]"
)
TENDER = f"STRUCT(kind VARCHAR, amount {MONEY})[]"
COLUMNS = {
    "type": "VARCHAR",
    "event_id": "VARCHAR",
    "ts": "VARCHAR",
    "store_id": "VARCHAR",
    "transaction_id": "VARCHAR",
    "register_id": "VARCHAR",
    "cashier_id": "VARCHAR",
    "customer_ref": "VARCHAR",
    "refund_id": "VARCHAR",
    "original_transaction_id": "VARCHAR",
    "tender_kind": "VARCHAR",
    "reason": "VARCHAR",
    "scope": "VARCHAR",
    "lines": LINE,
    "tenders": TENDER,
    "customer_id": "VARCHAR",
    "consent": "BOOLEAN",
    "sku": "VARCHAR",
    "kind": "VARCHAR",
    "qty": "BIGINT",
    "unit_cost": MONEY,
    "staff_id": "VARCHAR",
    "role": "VARCHAR",
    "name": "VARCHAR",
    "category": "VARCHAR",
    "department": "VARCHAR",
    "list_price": MONEY,
    "supplier": "VARCHAR",
    "lead_time_days": "BIGINT",
    "case_pack": "BIGINT",
    "district": "VARCHAR",
    "region": "VARCHAR",
    "timezone": "VARCHAR",
    "promo_id": "VARCHAR",
    "start": "VARCHAR",
    "end": "VARCHAR",
    # a percentage with two places: tables.rs types it DECIMAL(5,2)
    "discount_pct": "DECIMAL(5, 2)",
}

# An instant as tables.rs types it (Timestamp(ms, UTC), which DuckDB reads from tillflow's Parquet
# as TIMESTAMP WITH TIME ZONE): integer milliseconds (text of digits and '-', schemas/src/time.rs;
# it never holds a ':', which RFC 3339 always does) or RFC 3339 with an offset, floored to the
# millisecond as chrono's timestamp_millis() does (date_trunc floors; epoch_ms would round). The
# session's TimeZone is UTC, so the truncation does not depend on a zone.
INSTANT = """
CREATE MACRO tf_instant(t) AS CASE
    WHEN strpos(t, ':') = 0 THEN make_timestamptz(CAST(t AS BIGINT) * 1000)
    ELSE date_trunc('millisecond', CAST(t AS TIMESTAMPTZ)) END;
"""

# The event tables of schemas/src/tables.rs (TABLES and EventTables::push): same names, same
# columns in the same order, same types. Which records go in: tillflow dead-letters records that
# break a rule (missing fields, bad values, unknown stores, a clock_out without clock_in, ...) and
# applies a repeated event_id once; a chain written by `tillflow generate` has neither bad records
# nor duplicates, so every record is loaded as it is, with no validation and no dedup. What the
# validation does to good records is reproduced: a sale line without `line_no` takes its position
# (1-based), a missing discount is 0, an empty customer_ref / promo_id / original_transaction_id /
# reason is absent (NULL); refund lines are numbered by position; void lines keep their optional
# line_no and unit_price as given (both scopes: a post void may list lines too).
TABLES = {
    "store_records": """
        SELECT store_id, name, district, region, timezone, event_id, ts
        FROM raw WHERE type = 'store'""",
    "product_records": """
        SELECT sku, name, category, department, unit_cost, list_price, supplier, lead_time_days, case_pack,
               event_id, ts
        FROM raw WHERE type = 'product'""",
    "promotion_records": """
        SELECT promo_id, sku, category, tf_instant("start") AS "start", tf_instant("end") AS "end",
               discount_pct, event_id, ts
        FROM raw WHERE type = 'promotion'""",
    "sale_lines": f"""
        SELECT event_id, ts, store_id, transaction_id, register_id, cashier_id, customer_ref,
               COALESCE(l.line_no, i) AS line_no, l.sku AS sku, l.qty AS qty,
               l.unit_price AS unit_price, COALESCE(l.discount, CAST(0 AS {MONEY})) AS discount,
               NULLIF(l.promo_id, '') AS promo_id
        FROM (SELECT event_id, ts, store_id, transaction_id, register_id, cashier_id,
                     NULLIF(customer_ref, '') AS customer_ref,
                     unnest(lines) AS l, generate_subscripts(lines, 1) AS i
              FROM raw WHERE type = 'sale')""",
    "sale_tenders": """
        SELECT event_id, ts, store_id, transaction_id, t.kind AS kind, t.amount AS amount
        FROM (SELECT event_id, ts, store_id, transaction_id, unnest(tenders) AS t
              FROM raw WHERE type = 'sale')""",
    "refund_lines": """
        SELECT event_id, ts, store_id, refund_id, register_id, cashier_id, original_transaction_id,
               tender_kind, reason, i AS line_no, l.sku AS sku, l.qty AS qty, l.amount AS amount
        FROM (SELECT event_id, ts, store_id, refund_id, register_id, cashier_id,
                     NULLIF(original_transaction_id, '') AS original_transaction_id, tender_kind,
                     NULLIF(reason, '') AS reason,
                     unnest(lines) AS l, generate_subscripts(lines, 1) AS i
              FROM raw WHERE type = 'refund')""",
    "voids": """
        SELECT event_id, ts, store_id, transaction_id, register_id, cashier_id, scope
        FROM raw WHERE type = 'void'""",
    "void_lines": """
        SELECT event_id, ts, store_id, transaction_id, l.line_no AS line_no, l.sku AS sku,
               l.qty AS qty, l.unit_price AS unit_price
        FROM (SELECT event_id, ts, store_id, transaction_id, unnest(lines) AS l
              FROM raw WHERE type = 'void')""",
    "loyalty_links": """
        SELECT event_id, ts, store_id, customer_ref, customer_id, consent
        FROM raw WHERE type = 'loyalty_link'""",
    "erasures": """
        SELECT event_id, ts, store_id, customer_id
        FROM raw WHERE type = 'erasure'""",
    "inventory": """
        SELECT event_id, ts, store_id, sku, kind, qty, unit_cost
        FROM raw WHERE type = 'inventory'""",
    "shifts": """
        SELECT event_id, ts, store_id, staff_id, role, kind
        FROM raw WHERE type = 'shift'""",
}

# Totals of view columns, a quick check that two runs computed the same thing.
TOTALS = {
    "sku_margin.net_sales": "SELECT CAST(COALESCE(SUM(net_sales), 0) AS DECIMAL(38, 2)) FROM sku_margin",
    "sku_margin.units_sold": "SELECT COALESCE(SUM(units_sold), 0) FROM sku_margin",
    "inventory_position.on_hand": "SELECT COALESCE(SUM(on_hand), 0) FROM inventory_position",
    "labor_demand.transactions": "SELECT COALESCE(SUM(transactions), 0) FROM labor_demand",
    "refund_void_anomalies.refunds": "SELECT COALESCE(SUM(refunds), 0) FROM refund_void_anomalies",
    "exceptions.amount": "SELECT CAST(COALESCE(SUM(amount), 0) AS DECIMAL(38, 2)) FROM exceptions",
}

# Digests of whole columns, compared with the same SQL over tillflow's views (benches/e2e.rs):
# every exception, with its id, severity and evidence text.
DIGESTS = {
    "exceptions": "SELECT md5(string_agg(concat(exception_id, ':', severity, ':', evidence), '\n' "
                  "ORDER BY concat(exception_id, ':', severity, ':', evidence))) FROM exceptions",
}


def ndjson_files(chain):
    """Every *.ndjson file under the chain folder, hidden ones left out, in name order."""
    return sorted(
        p for p in chain.rglob("*.ndjson")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(chain).parts)
    )


def sql_text(value):
    return "'" + str(value).replace("'", "''") + "'"


def read_raw_sql(files):
    columns = ", ".join(f"{sql_text(name)}: {sql_text(kind)}" for name, kind in COLUMNS.items())
    file_list = "[" + ", ".join(sql_text(f) for f in files) + "]"
    selected = ", ".join(
        f'tf_instant("{name}") AS "{name}"' if name == "ts" else f'"{name}"' for name in COLUMNS
    )
    return (
        f"CREATE TEMP TABLE raw AS SELECT {selected} FROM read_json({file_list}, "
        f"format = 'newline_delimited', columns = {{{columns}}})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chain_dir", type=pathlib.Path)
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: DuckDB's, the cores)")
    args = parser.parse_args()
    files = ndjson_files(args.chain_dir)
    if not files:
        sys.exit(f"no .ndjson files under {args.chain_dir}")

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    for statement in recompute.statements(recompute.MACROS + recompute.ARROW_CAST + INSTANT):
        con.execute(statement)

    started = time.perf_counter()
    con.execute(read_raw_sql(files))
    for table, select in TABLES.items():
        con.execute(f"CREATE TABLE {table} AS {select}")
    con.execute("DROP TABLE raw")
    parsed = time.perf_counter()
    con.execute(recompute.SETTINGS)
    for statement in recompute.statements((recompute.QUERIES / "shared.sql").read_text()):
        con.execute(statement)
    for view in recompute.VIEWS:
        con.execute(f"CREATE TABLE {view} AS {recompute.view_sql(view)}")
    finished = time.perf_counter()
    # The views written out, as tillflow persists them: one Parquet file per view.
    with tempfile.TemporaryDirectory() as out:
        for view in recompute.VIEWS:
            con.execute(f"COPY {view} TO '{out}/{view}.parquet' (FORMAT PARQUET)")
        written = time.perf_counter()

    rows = {view: con.execute(f"SELECT COUNT(*) FROM {view}").fetchone()[0] for view in recompute.VIEWS}
    totals = {}
    for name, query in TOTALS.items():
        value = con.execute(query).fetchone()[0]
        totals[name] = f"{value:.2f}" if name.endswith(("net_sales", "amount")) else int(value)
    digests = {view: con.execute(query).fetchone()[0] for view, query in DIGESTS.items()}
    print(json.dumps({
        "seconds": round(finished - started, 4),
        "parse_seconds": round(parsed - started, 4),
        "views_seconds": round(finished - parsed, 4),
        "write_seconds": round(written - finished, 4),
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        "files": len(files),
        "rows": rows,
        "totals": totals,
        "digests": digests,
        "digest_sql": DIGESTS,
    }))


if __name__ == "__main__":
    main()
