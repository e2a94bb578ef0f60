"""Live ingest with the ingest log in a folder and in an S3 bucket (moto's server on this machine),
in the same run: senders post small deliveries concurrently, each answered only once its records
are in the log. Reports acknowledged deliveries and events per second and the answer latency,
then the restart time for each: from starting tillflow to the answer to a first delivery,
which comes once the log is recovered.

Usage: python3 benches/bucket.py PATH_TO_TILLFLOW_BINARY [--senders 16] [--deliveries 2000]
Needs: moto[server], boto3 (PyPI).
"""

import argparse
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary: str, out: str, env: dict, log: Path) -> tuple:
    port = free_port()
    process = subprocess.Popen([binary, "run", "--follow", "--listen", f"127.0.0.1:{port}", "--out", out,
                                "--tick", "100ms", "--persist-every", "1h"], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    began = time.perf_counter()
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, port, time.perf_counter() - began
        except OSError:
            assert process.poll() is None, log.read_text()
            time.sleep(0.02)


def post(port: int, body: bytes) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def deliveries(n: int) -> list:
    reference = [{"type": "store", "store_id": "S1", "name": "S1", "district": "D1", "region": "R",
                  "timezone": "America/New_York"},
                 {"type": "product", "sku": "K1", "name": "K1", "category": "c", "department": "d",
                  "unit_cost": "5.00", "list_price": "11.99"}]
    bodies = ["\n".join(json.dumps(r) for r in reference).encode()]
    for i in range(n):
        sales = [{"type": "sale", "event_id": f"e{i}-{j}", "ts": f"2026-03-07T{10 + j}:{i % 60:02d}:00-05:00",
                  "store_id": "S1", "transaction_id": f"t{i}-{j}", "register_id": "R1", "cashier_id": "C1",
                  "lines": [{"line_no": 1, "sku": "K1", "qty": 1, "unit_price": "11.99", "discount": "0.00"}],
                  "tenders": [{"kind": "card", "amount": "11.99"}]} for j in range(5)]
        bodies.append("\n".join(json.dumps(s) for s in sales).encode())
    return bodies


def measure(binary: str, out: str, env: dict, bodies: list, senders: int, tmp: Path, name: str) -> dict:
    process, port, _ = start(binary, out, env, tmp / f"{name}-1.log")
    post(port, bodies[0])
    latencies, lock, queue = [], threading.Lock(), list(bodies[1:])

    def sender():
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            began = time.perf_counter()
            answer = post(port, body)
            assert answer["accepted"] == 5, answer
            with lock:
                latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    began = time.perf_counter()
    restarted, port, _ = start(binary, out, env, tmp / f"{name}-2.log")
    post(port, bodies[1])  # answered once the log is recovered: a duplicate now
    ready = time.perf_counter() - began
    restarted.send_signal(signal.SIGTERM)
    restarted.wait(timeout=120)
    latencies.sort()
    return {"deliveries/s": len(latencies) / wall, "events/s": 5 * len(latencies) / wall,
            "p50 ms": 1000 * statistics.median(latencies), "p99 ms": 1000 * latencies[int(0.99 * len(latencies))],
            "restart s": ready}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--deliveries", type=int, default=2000)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="bench",
                 aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket="bench")
    env = {**os.environ, **credentials, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true",
           "TILLFLOW_PSEUDONYM_KEY": "5" * 64}
    bodies = deliveries(args.deliveries)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            results = {"folder": measure(args.binary, str(tmp / "views"), env, bodies, args.senders, tmp, "folder"),
                       "bucket": measure(args.binary, "s3://bench/views", env, bodies, args.senders, tmp, "bucket")}
    finally:
        server.stop()
    print(f"{args.deliveries} deliveries of 5 events, {args.senders} senders at once")
    print(f"{'log in':8} {'deliveries/s':>13} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'restart s':>10}")
    for name, r in results.items():
        print(f"{name:8} {r['deliveries/s']:13.0f} {r['events/s']:10.0f} {r['p50 ms']:8.1f} {r['p99 ms']:8.1f} "
              f"{r['restart s']:10.2f}")


if __name__ == "__main__":
    main()
