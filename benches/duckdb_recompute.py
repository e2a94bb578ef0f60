#!/usr/bin/env python3
"""DuckDB recomputing every reference view from scratch, for the e2e benchmark.

Usage: duckdb_recompute.py TABLES_DIR

TABLES_DIR holds one Parquet file per event table (written by benches/e2e.rs). The event tables
are loaded into memory first (not timed); then queries/shared.sql and every view's reference SQL
run as CREATE TABLE, in the order tillflow's DataFusion reference runs them, with DuckDB macros
for tillflow's three SQL functions. Prints the seconds the views took.
"""

import pathlib
import sys
import time

import duckdb

QUERIES = pathlib.Path(__file__).resolve().parent.parent / "queries"
VIEWS = ["stores", "products", "promotions", "sku_margin", "inventory_position", "rule_breaks", "refund_void_anomalies", "register_anomalies", "labor_demand",
         "store_daily", "category_daily", "basket_affinity", "promotion_performance",
         "promotion_summary", "replenishment", "purchase_suggestions", "exceptions"]

# tillflow's functions (queries/src/functions.rs): store-local day, hour, and the hour slices of a span.
MACROS = """
CREATE MACRO local_time(ts, tz) AS timezone(tz, CAST(ts AS TIMESTAMPTZ));
CREATE MACRO business_date(ts, tz) AS CAST(local_time(ts, tz) AS DATE);
CREATE MACRO local_hour(ts, tz) AS hour(local_time(ts, tz));
CREATE MACRO hour_slices(s, e, tz) AS list_transform(
    generate_series(date_trunc('hour', local_time(s, tz)), local_time(e, tz), INTERVAL 1 HOUR),
    lambda h: {'day': CAST(h AS DATE), 'hour': hour(h),
          'ms': epoch_ms(least(h + INTERVAL 1 HOUR, local_time(e, tz))) - epoch_ms(greatest(h, local_time(s, tz)))});
"""

# Where DuckDB's SQL differs from DataFusion's in the reference SQL: `/` of integers divides
# exactly in DuckDB (`//` is integer division; exceptions.sql divides integers only), a DATE
# does not cast to INT (days since 1970 are a subtraction), hex is upper case and `encode`
# takes no format, and `arrow_cast` is DataFusion's own (every use is to Utf8).
DIALECT = {
    "exceptions": [
        (" / ", " // "),
        ("CAST(r.business_date AS INT)", "(r.business_date - DATE '1970-01-01')"),
        ("encode(hash_key, 'hex')", "lower(hex(hash_key))"),
        ("to_hex(hi)", "lower(hex(hi))"),
        ("to_hex(lo)", "lower(hex(lo))"),
    ],
}
DIALECT["promotion_performance"] = [
    ("CAST(business_date AS INT)", "(business_date - DATE '1970-01-01')"),
    ("COALESCE(12 / t.days, 0)", "COALESCE(12 // t.days, 0)"),
    ("CAST(business_date(l.ts, s.timezone) AS INT)", "(business_date(l.ts, s.timezone) - DATE '1970-01-01')"),
    ('CAST(business_date(r."start", s.timezone) AS INT)', "(business_date(r.\"start\", s.timezone) - DATE '1970-01-01')"),
    (" + 7) / 7)", " + 7) // 7)"),
    (" / (12 * pu)", " // (12 * pu)"),
]
DIALECT["basket_affinity"] = [
    ("CAST(business_date(l.ts, s.timezone) AS INT)", "(business_date(l.ts, s.timezone) - DATE '1970-01-01')"),
    ("CAST(t.day AS INT)", "(t.day - DATE '1970-01-01')"),
]
DIALECT["replenishment"] = [
    ("CAST(i.as_of_date AS INT)", "(i.as_of_date - DATE '1970-01-01')"),
    ("CAST(business_date(l.ts, s.timezone) AS INT)", "(business_date(l.ts, s.timezone) - DATE '1970-01-01')"),
    ("CAST(business_date(r.ts, s.timezone) AS INT)", "(business_date(r.ts, s.timezone) - DATE '1970-01-01')"),
    ('CAST(business_date(r."start", s.timezone) AS INT)', "(business_date(r.\"start\", s.timezone) - DATE '1970-01-01')"),
    ("CAST(business_date(r.\"end\" - INTERVAL '1 millisecond', s.timezone) AS INT)",
     "(business_date(r.\"end\" - INTERVAL '1 millisecond', s.timezone) - DATE '1970-01-01')"),
    (" / 120000", " // 120000"),
    (" * (12 / w.days)", " * (12 // w.days)"),
    (" / k.case_pack", " // k.case_pack"),
    ("CAST(CAST(today + out_days AS INT) AS DATE)", "(as_of_date + CAST(out_days AS INTEGER))"),
]
DIALECT["purchase_suggestions"] = [(" / case_pack", " // case_pack")]
# The settings of the definitions (queries/src/reference.rs), at their defaults.
SETTINGS = ("CREATE TABLE settings AS SELECT 20 AS affinity_min_baskets, 28 AS affinity_window_days, "
            "14 AS slow_judged_days")
ARROW_CAST = "CREATE MACRO arrow_cast(x, t) AS CAST(x AS VARCHAR);"


def view_sql(view):
    """A view's reference SQL as DuckDB runs it: one statement, DIALECT's rewrites applied."""
    body = "\n".join(statements((QUERIES / f"{view}.sql").read_text()))
    for before, after in DIALECT.get(view, []):
        assert before in body, f"{view}.sql no longer holds {before!r}: update DIALECT"
        body = body.replace(before, after)
    return body


def statements(sql):
    """The statements of a SQL file, comments and blanks left out (`;` and `--` inside a quoted
    string are text)."""
    statement, quoted, i = [], False, 0
    while i < len(sql):
        c = sql[i]
        if quoted:
            statement.append(c)
            quoted = c != "'"
        elif c == "'":
            statement.append(c)
            quoted = True
        elif sql.startswith("--", i):
            i = sql.find("\n", i)
            i = len(sql) if i < 0 else i
            continue
        elif c == ";":
            text = "".join(statement)
            if text.strip():
                yield text
            statement = []
        else:
            statement.append(c)
        i += 1
    text = "".join(statement)
    if text.strip():
        yield text


def main():
    tables = pathlib.Path(sys.argv[1])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for statement in statements(MACROS + ARROW_CAST):
        con.execute(statement)
    for parquet in sorted(tables.glob("*.parquet")):
        con.execute(f"CREATE TABLE {parquet.stem} AS SELECT * FROM read_parquet('{parquet}')")
    started = time.perf_counter()
    con.execute(SETTINGS)
    for statement in statements((QUERIES / "shared.sql").read_text()):
        con.execute(statement)
    for view in VIEWS:
        con.execute(f"CREATE TABLE {view} AS {view_sql(view)}")
    elapsed = time.perf_counter() - started
    for view in VIEWS:
        rows = con.execute(f"SELECT COUNT(*) FROM {view}").fetchone()[0]
        print(f"{view}: {rows} rows", file=sys.stderr)
    print(f"{elapsed:.4f}")


if __name__ == "__main__":
    main()
