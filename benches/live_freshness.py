#!/usr/bin/env python3
"""Live-mode benchmark: freshness (HTTP POST accepted -> visible in a SQL query) under sustained
load, and point / aggregate query latency on live views, through Arrow Flight SQL.

    python3 benches/live_freshness.py target/debug/tillflow --rates 1000 5000 50000 --seconds 20
    python3 benches/live_freshness.py target/debug/tillflow --rates --view-rows 1000000

`--view-rows N` first drops a file into a followed folder that gives `sku_margin` N rows (one per
store, SKU and day), waits until they are all live, then measures the queries on that view.

The load comes from several threads, each on its own HTTP connection, posting request bodies
built before the clock starts, so that the generator is not what limits the rate; the table
shows the rate asked, the rate actually posted and the rate tillflow accepted.

Needs `pip install adbc-driver-flightsql adbc-driver-manager pyarrow`. Prints a Markdown table.
"""

import argparse
import http.client as http_client
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

import adbc_driver_flightsql.dbapi as flightsql

BASE_MS = 1_772_841_600_000 + 14 * 3_600_000  # 2026-03-07 14:00 UTC
STORES = [f"S{i:02}" for i in range(1, 11)]
SKUS = [f"K{i:03}" for i in range(1, 201)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, lines):
    body = ("\n".join(lines) + "\n").encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def reference():
    events = [json.dumps({"type": "store", "store_id": s, "name": s, "district": "D01", "region": "East",
                          "timezone": "America/New_York"}) for s in STORES]
    events += [json.dumps({"type": "product", "sku": k, "name": k, "department": "Grocery",
                           "category": "Pantry", "unit_cost": 1.0, "list_price": 2.5}) for k in SKUS]
    return events


def sale(n, sku=None):
    store = STORES[n % len(STORES)]
    return json.dumps({
        "type": "sale", "event_id": f"e{n}", "transaction_id": f"t{n}", "store_id": store,
        "register_id": "r1", "cashier_id": "c1", "ts": BASE_MS + n,
        "lines": [{"line_no": 1, "sku": sku or SKUS[n % len(SKUS)], "qty": 1, "unit_price": 2.5,
                   "discount": 0.0}],
        "tenders": [{"kind": "card", "amount": 2.5}],
    })


def big_view(rows):
    """NDJSON events giving sku_margin `rows` rows: 10 stores x 5,000 SKUs x enough days, 50 lines a sale."""
    skus = [f"B{i:04}" for i in range(5000)]
    events = [json.dumps({"type": "product", "sku": k, "name": k, "department": "Grocery",
                          "category": "Pantry", "unit_cost": 1.0, "list_price": 2.5}) for k in skus]
    days = -(-rows // (len(STORES) * len(skus)))
    start = BASE_MS - days * 86_400_000
    n = 0
    for day in range(days):
        for store in STORES:
            for chunk in range(0, len(skus), 50):
                if n * 50 >= rows:
                    return events
                lines = [{"line_no": i + 1, "sku": sku, "qty": 1, "unit_price": 2.5, "discount": 0.0}
                         for i, sku in enumerate(skus[chunk:chunk + 50])]
                events.append(json.dumps({
                    "type": "sale", "event_id": f"b{n}", "transaction_id": f"b{n}", "store_id": store,
                    "register_id": "r1", "cashier_id": "c1", "ts": start + day * 86_400_000 + n,
                    "lines": lines, "tenders": [{"kind": "card", "amount": 2.5 * len(lines)}],
                }))
                n += 1
    return events


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


POSTERS = 4  # threads posting at once, each on its own connection: the load generator is not the cap
SLICE_S = 0.02  # one request per poster every POSTERS × 20 ms


def run_rate(http, flight, rate, seconds, start_n):
    """Posts `rate` events/s for `seconds` from POSTERS threads, the request bodies built before
    the clock starts; a marker sale every 100 ms. Returns freshness samples (ms), the accepted
    rate, the offered rate achieved, and the markers never seen."""
    per_slice = max(1, int(rate * SLICE_S))
    slices = int(seconds / SLICE_S)
    marker_every = max(1, int(0.1 / SLICE_S))
    bodies, names = [], []
    n = start_n
    for i in range(slices):
        lines = [sale(n + j) for j in range(per_slice)]
        n += per_slice
        marker = None
        if i % marker_every == 0:
            marker = f"M{rate}_{i}"
            lines.append(sale(n, marker))
            n += 1
        bodies.append(("\n".join(lines) + "\n").encode())
        names.append(marker)
    markers = {}  # marker sku -> time its POST was answered
    accepted = [0] * POSTERS
    posted = [0] * POSTERS
    began = time.perf_counter()

    def poster(k):
        connection = http_client.HTTPConnection("127.0.0.1", http)
        for i in range(k, slices, POSTERS):
            time.sleep(max(0.0, began + i * SLICE_S - time.perf_counter()))
            connection.request("POST", "/v1/events", body=bodies[i])
            answer = json.loads(connection.getresponse().read())
            accepted[k] += answer["accepted"]
            posted[k] += per_slice + (1 if names[i] else 0)
            if names[i]:
                markers[names[i]] = time.perf_counter()
        connection.close()

    samples = []
    conn = flightsql.connect(f"grpc://127.0.0.1:{flight}")
    cursor = conn.cursor()
    threads = [threading.Thread(target=poster, args=(k,)) for k in range(POSTERS)]
    for thread in threads:
        thread.start()
    pending = []
    while any(t.is_alive() for t in threads) or pending:
        if time.perf_counter() - began > seconds + 10:
            break
        seen = dict(samples)
        pending += [m for m in list(markers) if m not in pending and m not in seen]
        if not pending:
            time.sleep(0.001)
            continue
        marker = pending[0]
        cursor.execute(f"SELECT COUNT(*) FROM sku_margin WHERE sku = '{marker}'")
        if cursor.fetchone()[0] > 0:
            samples.append((marker, (time.perf_counter() - markers[marker]) * 1000))
            pending.pop(0)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    conn.close()
    missing = sum(1 for m in names if m) - len(samples)
    return [ms for _, ms in samples], sum(accepted) / elapsed, sum(posted) / elapsed, missing


def query_latency(flight, sql, runs):
    conn = flightsql.connect(f"grpc://127.0.0.1:{flight}")
    cursor = conn.cursor()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        cursor.execute(sql)
        cursor.fetch_arrow_table()
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--rates", type=int, nargs="*", default=[1000, 5000, 50000])
    parser.add_argument("--view-rows", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tick", default="100ms")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()
    http, flight = free_port(), free_port()
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [args.binary, "run", "--follow", "--listen", f"127.0.0.1:{http}", "--flight", f"127.0.0.1:{flight}",
             "--tick", args.tick, "--workers", args.workers, "--out", out, "--input", folder],
            stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    post(http, reference())
                    break
                except OSError:
                    time.sleep(0.1)
            print(f"tick {args.tick}, {args.workers} workers, {args.seconds:.0f} s per rate\n")
            print("| asked events/s | posted events/s | accepted events/s | freshness p50 | p99 | markers not seen |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: |")
            n = 0
            for rate in args.rates:
                samples, achieved, offered, missing = run_rate(http, flight, rate, args.seconds, n)
                n += 10_000_000
                print(f"| {rate:,} | {offered:,.0f} | {achieved:,.0f} | {percentile(samples, 50):.0f} ms | "
                      f"{percentile(samples, 99):.0f} ms | {missing} |", flush=True)
                time.sleep(2)
            conn = flightsql.connect(f"grpc://127.0.0.1:{flight}")
            cursor = conn.cursor()
            if args.view_rows:
                events = big_view(args.view_rows)
                with open(f"{folder}/big.tmp", "w") as f:
                    f.write("\n".join(events) + "\n")
                began = time.perf_counter()
                subprocess.run(["mv", f"{folder}/big.tmp", f"{folder}/big.ndjson"], check=True)
                while True:
                    cursor.execute("SELECT COUNT(*) FROM sku_margin WHERE sku LIKE 'B%'")
                    if cursor.fetchone()[0] >= args.view_rows:
                        break
                    time.sleep(0.2)
                took = time.perf_counter() - began
                print(f"\n{len(events):,} events ({args.view_rows:,} sale lines) from a followed file, live in "
                      f"{took:.1f} s ({args.view_rows / took:,.0f} sale lines/s)")
            cursor.execute("SELECT COUNT(*) FROM sku_margin")
            rows = cursor.fetchone()[0]
            conn.close()
            point = query_latency(flight, "SELECT * FROM sku_margin WHERE store_id = 'S01' AND sku = 'K001'", 200)
            agg = query_latency(flight, "SELECT store_id, SUM(net_sales), SUM(units_sold) FROM sku_margin GROUP BY 1", 50)
            print(f"\n| query on the live view (sku_margin, {rows:,} rows) | p50 | p99 |")
            print("| --- | ---: | ---: |")
            print(f"| point: one (store, sku) | {percentile(point, 50):.1f} ms | {percentile(point, 99):.1f} ms |")
            print(f"| aggregate: net sales per store | {percentile(agg, 50):.1f} ms | {percentile(agg, 99):.1f} ms |")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
