#!/usr/bin/env python3
"""The manager's latencies in live mode: a sale that breaks a rule, posted over HTTP, until
(1) the console's exceptions list it, (2) the console's stream announced the epoch that has it,
(3) a webhook receiver got its alert; and an acknowledgement posted from the console until the
console lists it acknowledged.

    python3 benches/manager_latency.py target/debug/tillflow --tick 1s --rounds 20
    python3 benches/manager_latency.py target/debug/tillflow --tick 100ms --rounds 20

Each round sells a new SKU below its cost (a new `negative_margin` exception); the rounds run one
after the other. Standard library only. Prints a Markdown table of medians and 95th percentiles.
"""

import argparse
import http.server
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, path, body=None):
    data = None if body is None else body.encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    if data and path.endswith("actions"):
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


class Receiver(http.server.BaseHTTPRequestHandler):
    arrivals = {}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.arrivals.setdefault(body.get("subject"), time.monotonic())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tillflow")
    parser.add_argument("--tick", default="1s")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp(prefix="tillflow-manager-")
    config = f"{work}/tillflow.toml"
    with open(config, "w") as f:
        f.write(f'[[alerts]]\nname = "bench"\nkind = "webhook"\nurl = "http://127.0.0.1:{receiver.server_port}/"\n')
    port = free_port()
    process = subprocess.Popen([args.tillflow, "run", "--follow", "--listen", f"127.0.0.1:{port}", "--tick", args.tick,
                                "--out", f"{work}/out", "--config", config],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        skus = [f"B{i:03}" for i in range(args.rounds)]
        reference = [{"type": "store", "store_id": "S1", "name": "S1", "district": "D1", "region": "R",
                      "timezone": "America/New_York"}]
        reference += [{"type": "product", "sku": k, "name": k, "category": "c", "department": "d",
                       "unit_cost": 7.5, "list_price": 9.0} for k in skus]
        call(port, "/v1/events", "\n".join(json.dumps(r) for r in reference))
        # The stream's epochs, as they arrive.
        announced = []

        def listen():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/console/stream") as stream:
                for line in stream:
                    if line.startswith(b"data:"):
                        announced.append((time.monotonic(), json.loads(line[5:])["epoch"]))

        threading.Thread(target=listen, daemon=True).start()
        console, pushed, alerted, acknowledged = [], [], [], []
        for i, sku in enumerate(skus):
            sale = {"type": "sale", "event_id": f"b{i}", "ts": f"2026-03-07T15:{i % 60:02}:00Z", "store_id": "S1",
                    "transaction_id": f"bt{i}", "register_id": "R1", "cashier_id": "K1",
                    "lines": [{"line_no": 1, "sku": sku, "qty": 2, "unit_price": 4.0, "discount": 0}],
                    "tenders": [{"kind": "card", "amount": 8.0}]}
            start = time.monotonic()
            call(port, "/v1/events", json.dumps(sale))
            while True:
                listed = call(port, "/v1/console/exceptions")
                found = [e for e in listed["exceptions"] if e["subject"] == sku and e["kind"] == "negative_margin"]
                if found:
                    seen = time.monotonic()
                    break
                time.sleep(0.005)
            console.append(seen - start)
            epoch_seen = listed["epoch"]
            waited = time.monotonic() + 5
            while not any(e >= epoch_seen for _, e in announced) and time.monotonic() < waited:
                time.sleep(0.005)
            first = next((t for t, e in announced if e >= epoch_seen), None)
            if first is not None:
                pushed.append(max(0.0, first - start))
            while sku not in Receiver.arrivals:
                time.sleep(0.005)
            alerted.append(Receiver.arrivals[sku] - start)
            act = json.dumps({"exception_id": found[0]["exception_id"], "action": "acknowledge", "user": "bench"})
            start = time.monotonic()
            call(port, "/v1/console/actions", act)
            while True:
                listed = call(port, "/v1/console/exceptions")
                if any(e["exception_id"] == found[0]["exception_id"] and e["status"] == "acknowledged"
                       for e in listed["exceptions"]):
                    break
                time.sleep(0.005)
            acknowledged.append(time.monotonic() - start)
        print(f"tick {args.tick}, {args.rounds} rounds (seconds)\n")
        print("| from → to | median | p95 |\n| --- | --- | --- |")
        for name, values in [("sale posted → listed by the console", console),
                             ("sale posted → the stream announced its epoch", pushed),
                             ("sale posted → its alert at the webhook", alerted),
                             ("acknowledgement posted → listed acknowledged", acknowledged)]:
            if values:
                print(f"| {name} | {statistics.median(values):.3f} | {percentile(values, 95):.3f} |")
    finally:
        process.terminate()
        process.wait()
        receiver.shutdown()


if __name__ == "__main__":
    main()
