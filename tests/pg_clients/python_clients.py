#!/usr/bin/env python3
"""tillflow's Postgres surface as Python notebooks reach it: SQLAlchemy's Inspector,
pandas.read_sql over a SQLAlchemy engine, and psycopg with binary parameters.

Usage: python_clients.py PORT EXPECTED_CSV

EXPECTED_CSV is `tillflow sql --format csv` of QUERY (below) against the same live run; every
client must read the same rows.
"""

import csv
import decimal
import sys

import pandas
import psycopg
import sqlalchemy

QUERY = "SELECT store_id, sku, business_date, units_sold, net_sales, margin_pct FROM sku_margin ORDER BY store_id, sku, business_date"
PARAMETERISED = (
    "SELECT store_id, sku, business_date, units_sold, net_sales, margin_pct FROM sku_margin "
    "WHERE store_id = %s AND units_sold >= %s ORDER BY store_id, sku, business_date"
)


def expected_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[1:]


def text(value):
    """A value as `tillflow sql --format csv` writes it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def same(got, want, what):
    got = [[text(v) for v in row] for row in got]
    if len(got) != len(want):
        sys.exit(f"{what}: {len(got)} rows, `tillflow sql` reads {len(want)}")
    for g, w in zip(got, want):
        # Floats are compared as numbers (text forms of the same double may differ).
        for a, b in zip(g, w):
            if a != b and not (a and b and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))):
                sys.exit(f"{what}: row {g} differs from `tillflow sql`'s {w}")
    print(f"ok: {what} ({len(got)} rows)")


def main():
    port, expected_csv = int(sys.argv[1]), sys.argv[2]
    want = expected_rows(expected_csv)
    url = f"postgresql+psycopg://tillflow@127.0.0.1:{port}/tillflow"

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        version = connection.dialect.server_version_info
        assert version[0] == 16, version
        assert connection.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "tillflow"
    inspector = sqlalchemy.inspect(engine)
    tables = inspector.get_table_names()
    for view in ["sku_margin", "inventory_position", "exceptions", "dead_letters"]:
        assert view in tables, f"{view} not listed by Inspector.get_table_names(): {tables}"
    columns = {c["name"]: c for c in inspector.get_columns("sku_margin")}
    types = {name: type(c["type"]).__name__ for name, c in columns.items()}
    for name, kind in [("store_id", "TEXT"), ("business_date", "DATE"), ("net_sales", "NUMERIC"),
                       ("units_sold", "BIGINT"), ("margin_pct", "DOUBLE_PRECISION")]:
        assert types.get(name) == kind, f"sku_margin.{name}: Inspector says {types.get(name)}, not {kind}"
    assert columns["net_sales"]["comment"] == "gross_sales − discounts − refunds", columns["net_sales"]
    comment = inspector.get_table_comment("sku_margin")["text"] or ""
    assert comment.startswith("One row per (store_id, sku, business_date)."), comment
    print(f"ok: SQLAlchemy Inspector ({len(tables)} tables; sku_margin's {len(columns)} columns, types and comments)")

    frame = pandas.read_sql(QUERY, engine)
    same(frame.astype(object).where(frame.notna(), None).values.tolist(), want, "pandas.read_sql")

    with psycopg.connect(f"host=127.0.0.1 port={port} user=tillflow dbname=tillflow") as connection:
        store = want[0][0]
        rows = connection.execute(PARAMETERISED, (store, 1), binary=True).fetchall()
        same(rows, [w for w in want if w[0] == store and int(w[3]) >= 1], "psycopg, binary parameters and results")
        rows = connection.execute(QUERY).fetchall()
        assert all(isinstance(r[4], decimal.Decimal) for r in rows), "net_sales arrives as NUMERIC"
        same(rows, want, "psycopg, text")
        try:
            connection.execute("SELECT * FROM no_such_view")
            sys.exit("an unknown table was answered")
        except psycopg.Error as e:
            assert e.sqlstate == "42P01", f"unknown table: SQLSTATE {e.sqlstate}: {e}"
        connection.rollback()
        try:
            connection.execute("SELEC 1")
            sys.exit("a syntax error was answered")
        except psycopg.Error as e:
            assert e.sqlstate == "42601", f"syntax error: SQLSTATE {e.sqlstate}: {e}"
        print("ok: psycopg errors carry SQLSTATE 42P01 and 42601")
        types = dict(connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sku_margin'").fetchall())
        expected = {"store_id": "text", "business_date": "date", "units_sold": "bigint", "net_sales": "numeric",
                    "margin_pct": "double precision"}
        assert all(types.get(k) == v for k, v in expected.items()), f"information_schema.columns types: {types}"
        print("ok: information_schema.columns in Postgres's type names")


if __name__ == "__main__":
    main()
