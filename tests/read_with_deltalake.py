"""A reader that is not tillflow: the Python `deltalake` package reads the persisted sku_margin
table, and its rows must equal what `tillflow sql` prints for the same table; every other view
must open with as many rows as tillflow counts.

Usage: python3 tests/read_with_deltalake.py PATH_TO_TILLFLOW_BINARY
"""

import csv
import io
import subprocess
import sys
import tempfile
from pathlib import Path

from deltalake import DeltaTable

VIEWS = ["inventory_position", "rule_breaks", "refund_void_anomalies", "register_anomalies", "labor_demand", "store_daily", "category_daily",
         "basket_affinity", "promotion_performance", "promotion_summary", "replenishment", "purchase_suggestions", "exceptions", "customer_segments", "segment_profiles", "stores", "products", "promotions",
         "dead_letters"]
COLUMNS = ["store_id", "sku", "business_date", "units_sold", "net_sales", "cogs", "gross_margin"]


def main() -> None:
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        chain, out = Path(tmp, "g"), Path(tmp, "o")
        run = lambda *args: subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
        run("generate", "--out", str(chain), "--stores", "2", "--days", "3", "--seed", "5")
        run("run", "--input", str(chain), "--out", str(out))
        printed = run("sql", "--out", str(out), "--format", "csv",
                      f"SELECT {', '.join(COLUMNS)} FROM sku_margin ORDER BY 1, 2, 3")
        expected = [tuple(row) for row in csv.reader(io.StringIO(printed))][1:]

        table = DeltaTable(str(out / "sku_margin")).to_pyarrow_table()
        columns = [table.column(name).to_pylist() for name in COLUMNS]
        rows = sorted(zip(*columns), key=lambda r: (r[0], r[1], r[2]))
        actual = [tuple(f"{v:.2f}" if hasattr(v, "quantize") else str(v) for v in row) for row in rows]

        assert len(actual) > 50, f"too few rows read: {len(actual)}"
        assert actual == expected, f"deltalake read {len(actual)} rows, tillflow printed {len(expected)}; first difference: " + \
            next((f"{a} != {e}" for a, e in zip(actual, expected) if a != e), "in length")
        print(f"deltalake (Python) read the same {len(actual)} sku_margin rows tillflow printed")

        for view in VIEWS:
            counted = int(run("sql", "--out", str(out), "--format", "csv", f"SELECT COUNT(*) AS n FROM {view}").split()[-1])
            read = DeltaTable(str(out / view)).to_pyarrow_table().num_rows
            assert read == counted, f"{view}: deltalake read {read} rows, tillflow counts {counted}"
        print(f"deltalake (Python) read every view with tillflow's row counts: {len(VIEWS) + 1} passed, 0 failed")


if __name__ == "__main__":
    main()
