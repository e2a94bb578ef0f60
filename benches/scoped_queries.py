#!/usr/bin/env python3
"""What a scope costs a query: the same statements over the Postgres wire (TLS, SCRAM) as a
chain user, as the chain user filtering to one store by hand, and as that store's manager, whose
scope tillflow applies inside every scan (docs/access.md). Medians of N runs each, alternated.

    python3 benches/scoped_queries.py target/debug/tillflow --stores 10 --days 30 --runs 30

Needs openssl and `pip install psycopg[binary]`. Prints a Markdown table.
"""

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time

import psycopg

QUERIES = {
    "count(*) of sku_margin": "SELECT count(*) FROM sku_margin{where}",
    "net sales by sku": "SELECT sku, sum(net_sales) FROM sku_margin{where} GROUP BY sku",
    "one sku's days": "SELECT * FROM sku_margin{where_and} sku = 'SKU-0001' ORDER BY business_date",
    "exceptions": "SELECT kind, count(*) FROM exceptions{where} GROUP BY kind",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certificates(work):
    run = lambda *args: subprocess.run(args, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/ca.key", "-out",
        f"{work}/ca.pem", "-days", "2", "-subj", "/CN=bench CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/server.key", "-out",
        f"{work}/server.csr", "-subj", "/CN=localhost")
    with open(f"{work}/ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", f"{work}/server.csr", "-CA", f"{work}/ca.pem", "-CAkey",
        f"{work}/ca.key", "-CAcreateserial", "-out", f"{work}/server.pem", "-days", "2", "-extfile", f"{work}/ext.cnf")


def timed(conn, sql):
    start = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql)
        n = len(cur.fetchall())
    return time.perf_counter() - start, n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tillflow")
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    certificates(work)
    chain = f"{work}/chain"
    generated = subprocess.run([args.tillflow, "generate", "--out", chain, "--stores", str(args.stores), "--days",
                                str(args.days)], check=True, capture_output=True, text=True).stdout
    events = int(generated.split("wrote ")[1].split(" events")[0])
    with open(f"{work}/tillflow.toml", "w") as f:
        f.write(f'[tls]\ncert = "{work}/server.pem"\nkey = "{work}/server.key"\n\n'
                '[[users]]\nname = "analyst"\npassword = "analyst-pass"\nscope = "chain"\n\n'
                '[[users]]\nname = "s001"\npassword = "s001-pass"\nscope = "store:S001"\n')
    pg = free_port()
    server = subprocess.Popen([args.tillflow, "run", "--follow", "--input", chain, "--config", f"{work}/tillflow.toml",
                               "--pg", f"127.0.0.1:{pg}", "--out", f"{work}/views"], stderr=subprocess.DEVNULL)
    try:
        def connect(user, password):
            for _ in range(300):
                try:
                    return psycopg.connect(host="localhost", port=pg, dbname="tillflow", user=user, password=password,
                                           sslmode="verify-full", sslrootcert=f"{work}/ca.pem", autocommit=True)
                except psycopg.OperationalError:
                    time.sleep(0.2)
            raise SystemExit("the server did not start")
        chain_user, store_user = connect("analyst", "analyst-pass"), connect("s001", "s001-pass")
        # Loaded when every generated event has been received and a few epochs have passed since.
        for _ in range(1200):
            received = chain_user.execute("SELECT COALESCE(sum(events_in), 0) FROM pipeline_stats").fetchone()[0]
            if received >= events:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"only {received} of {events} events were received")
        time.sleep(3)
        rows = chain_user.execute("SELECT count(*) FROM sku_margin").fetchone()[0]
        print(f"{args.stores} stores × {args.days} days; sku_margin {rows:,} rows; medians of {args.runs} runs (ms)\n")
        print("| query | chain user, whole chain | chain user, WHERE store_id = 'S001' | store manager (scope store:S001) | store manager / hand filter |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, template in QUERIES.items():
            whole = template.format(where="", where_and=" WHERE")
            filtered = template.format(where=" WHERE store_id = 'S001'", where_and=" WHERE store_id = 'S001' AND")
            times = {"whole": [], "filtered": [], "scoped": []}
            answers = {}
            for _ in range(args.runs):
                for key, conn, sql in [("whole", chain_user, whole), ("filtered", chain_user, filtered),
                                       ("scoped", store_user, whole)]:
                    seconds, n = timed(conn, sql)
                    times[key].append(seconds * 1000)
                    answers[key] = n
            assert answers["filtered"] == answers["scoped"], (name, answers)
            m = {k: statistics.median(v) for k, v in times.items()}
            print(f"| {name} | {m['whole']:.2f} | {m['filtered']:.2f} | {m['scoped']:.2f} | {m['scoped'] / m['filtered']:.2f}× |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
