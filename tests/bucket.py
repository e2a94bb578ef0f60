"""tillflow with its views and its ingest log in an S3 bucket, against a real S3-compatible server
(moto in server mode, started here on a free port), configured the way S3 users expect: the
standard AWS_* variables, AWS_ENDPOINT_URL and AWS_ALLOW_HTTP included.

- a run over files writes to the bucket the same views it writes to a folder (every row of every
  view), which `tillflow sql`, `as_of`, `report` and `vacuum` read there;
- an outside reader (Python `deltalake`) reads the tables from the bucket;
- live mode logs every acknowledged record in the bucket: killed (-9) mid-run and started again,
  it recovers them, counts a redelivered file once, and ends with the views of the batch run;
  `tillflow replay --log s3://…` of that log gives the same views;
- a second process writing the same bucket's log is refused: the first write after the other's
  fails and is not acknowledged, and the log holds both runs' acknowledged records once.

Usage: python3 tests/bucket.py PATH_TO_TILLFLOW_BINARY
Needs: moto[server], boto3, deltalake (PyPI).
"""

import csv
import logging
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer

BUCKET = "tillflow-views"
VIEWS = ["sku_margin", "inventory_position", "rule_breaks", "refund_void_anomalies", "register_anomalies", "labor_demand", "store_daily",
         "category_daily", "basket_affinity", "promotion_performance",
         "promotion_summary", "replenishment", "purchase_suggestions", "exceptions", "customer_segments", "segment_profiles", "stores", "products", "promotions",
         "dead_letters"]
KEY = "7" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tillflow:
    def __init__(self, binary: str, env: dict):
        self.binary, self.env = binary, env

    def run(self, *args: str) -> str:
        done = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, f"tillflow {' '.join(args)} failed: {done.stderr}"
        return done.stdout

    def rows(self, out: str, view: str) -> list:
        printed = self.run("sql", "--out", out, "--format", "csv", f"SELECT * FROM {view}")
        return sorted(tuple(row) for row in csv.reader(io.StringIO(printed)))

    def live(self, out: str, port: int, log: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [self.binary, "run", "--follow", "--listen", f"127.0.0.1:{port}", "--out", out, "--tick", "100ms",
             "--persist-every", "1h"], env=self.env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return process
            except OSError:
                assert process.poll() is None, f"tillflow live stopped: {log.read_text()}"
                time.sleep(0.1)
        raise AssertionError(f"tillflow live did not answer on {port}")


def post(port: int, path: Path) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=path.read_bytes(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def stop(process: subprocess.Popen, log: Path) -> str:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0, f"tillflow live did not stop cleanly: {log.read_text()}"
    return log.read_text()


def main() -> None:
    binary = sys.argv[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "tillflow", "AWS_SECRET_ACCESS_KEY": "tillflow-secret",
                   "AWS_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in credentials.items() if k != "AWS_REGION"},
                 region_name="us-east-1").create_bucket(Bucket=BUCKET)
    env = {**os.environ, **credentials, "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
           "TILLFLOW_PSEUDONYM_KEY": KEY}
    tillflow = Tillflow(binary, env)
    checks = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            chain, folder, batch = tmp / "chain", str(tmp / "folder"), f"s3://{BUCKET}/batch"
            tillflow.run("generate", "--out", str(chain), "--stores", "3", "--days", "4", "--seed", "3")
            tillflow.run("run", "--input", str(chain), "--out", folder)
            tillflow.run("run", "--input", str(chain), "--out", batch)

            # The same views in the bucket as in the folder, row for row.
            expected = {view: tillflow.rows(folder, view) for view in VIEWS}
            assert len(expected["sku_margin"]) > 100, len(expected["sku_margin"])
            for view in VIEWS:
                assert tillflow.rows(batch, view) == expected[view], f"{view}: the bucket's rows differ from the folder's"
                checks += 1
            print(f"a run over files wrote the same {len(VIEWS)} views to the bucket as to a folder")

            # Another reader of the bucket's tables.
            options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", **credentials}
            for view in VIEWS:
                read = DeltaTable(f"{batch}/{view}", storage_options=options).to_pyarrow_table().num_rows
                assert read == len(expected[view]) - 1, f"{view}: deltalake read {read} rows from the bucket"
                checks += 1
            print("deltalake (Python) read every view from the bucket with tillflow's row counts")

            # as_of, report and vacuum on the bucket.
            first = tillflow.run("sql", "--out", batch, "--format", "csv",
                                 "SELECT COUNT(*) AS n FROM as_of('sku_margin', 'version', 0)").split()[-1]
            assert int(first) == len(expected["sku_margin"]) - 1, first
            report = tillflow.run("report", "--out", batch, "--district", "D01", "--format", "md")
            assert report == tillflow.run("report", "--out", folder, "--district", "D01", "--format", "md"), \
                "the reports of the bucket and the folder differ"
            assert "S001" in report, report[:300]
            vacuumed = tillflow.run("vacuum", "--out", batch, "--keep-history", "1ms")
            assert vacuumed.startswith("vacuumed "), vacuumed
            assert tillflow.rows(batch, "sku_margin") == expected["sku_margin"], "vacuum changed the current rows"
            checks += 4
            print("as_of, report and vacuum work on the bucket")

            # Live mode: the ingest log in the bucket, a crash, a restart, a redelivery.
            live, logs = f"s3://{BUCKET}/live", [tmp / f"live-{i}.log" for i in range(4)]
            days = sorted(chain.glob("events-*.ndjson"))
            port = free_port()
            process = tillflow.live(live, port, logs[0])
            sent = 0
            for path in [chain / "reference.ndjson", *days[:2]]:
                answer = post(port, path)
                sent += answer["received"]
            process.kill()  # -9: nothing is persisted (--persist-every 1h); only the log survives
            process.wait()
            process = tillflow.live(live, port, logs[1])
            for path in days[1:]:  # the day in flight at the crash is sent again
                answer = post(port, path)
                sent += answer["received"]
            said = stop(process, logs[1])
            redelivered = sum(1 for line in days[1].read_text().splitlines() if line.strip())
            assert f"+ {redelivered} duplicates" in said, said
            for view in VIEWS:
                assert tillflow.rows(live, view) == expected[view], f"{view}: the live run's rows differ after the crash"
                checks += 1
            replayed = str(tmp / "replayed")
            tillflow.run("replay", "--log", live, "--out", replayed)
            assert tillflow.rows(replayed, "sku_margin") == expected["sku_margin"], "replaying the bucket's log differs"
            checks += 1
            print(f"live mode killed mid-run recovered every acknowledged record from the bucket's log; "
                  f"the {redelivered} records sent again counted once; the views equal the batch run's")

            # Two writers of one log: the one that writes second is refused and stops.
            two, port_a, port_b = f"s3://{BUCKET}/two", free_port(), free_port()
            first = tillflow.live(two, port_a, logs[2])
            post(port_a, chain / "reference.ndjson")
            second = tillflow.live(two, port_b, logs[3])
            post(port_b, days[0])
            try:
                answer = post(port_a, days[1])
                raise AssertionError(f"the first writer acknowledged after the second wrote: {answer}")
            except (urllib.error.HTTPError, urllib.error.URLError, ConnectionError) as refused:
                print(f"the first writer, after the second wrote, answered: {refused}")
            assert first.wait(timeout=60) != 0, "the first writer went on"
            assert "two tillflow runs share this ingest log" in logs[2].read_text(), logs[2].read_text()
            stop(second, logs[3])
            counted = tillflow.run("sql", "--out", two, "--format", "csv",
                                   "SELECT COUNT(*) AS n FROM stores").split()[-1]
            assert int(counted) == 3, counted
            checks += 3
            print("a second writer of the bucket's log was refused; each run's acknowledged records are in it once")
    finally:
        server.stop()
    print(f"bucket: {checks} passed, 0 failed")


if __name__ == "__main__":
    main()
