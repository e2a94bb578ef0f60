"""The district manager's console (`GET /` of `tillflow run --listen`), in a real browser: Debian's
chromium, driven by Selenium.

- the page loads, with no error in the browser's console, and says its stream is live;
- a product sold below its cost, posted to /v1/events while the page is open, reaches the page by
  the server's push (no reload) as a `negative_margin` exception;
- acknowledging it from the page shows it acknowledged, by the name typed in;
- tillflow killed (-9): the page says it is reconnecting; started again on the same port and
  --out, the page is live again by itself, and after a reload the exception is still acknowledged;
- the browser logged no error (the network errors of the requests made while tillflow was down
  aside).

Usage: python3 tests/console.py PATH_TO_TILLFLOW_BINARY
Needs: selenium (PyPI); chromium and chromium-driver (Debian).
Saves a screenshot outside the repository: $CONSOLE_SCREENSHOT, else tillflow-console.png in the
temporary folder.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 30  # seconds for anything the browser waits for
NAME = "district-manager"
SKU = "SKU-CONSOLE-LOSS"
STORE = {"type": "store", "store_id": "S-CONSOLE", "name": "Console #1", "district": "D-CONSOLE", "region": "East",
         "timezone": "America/New_York"}
# Costs 7.50, sold at 4.00: three units make net sales 12.00 against a cost of 22.50.
PRODUCT = {"type": "product", "sku": SKU, "name": "Loss leader", "category": "Pantry", "department": "Grocery",
           "unit_cost": 7.50, "list_price": 5.00}
SALE = {"type": "sale", "event_id": "console-sale-1", "ts": "2026-03-02T15:00:00Z", "store_id": "S-CONSOLE",
        "transaction_id": "console-T1", "register_id": "S-CONSOLE-R1", "cashier_id": "S-CONSOLE-K1",
        "lines": [{"line_no": 1, "sku": SKU, "qty": 3, "unit_price": 4.00, "discount": 0}],
        "tenders": [{"kind": "card", "amount": 12.00}]}


def say(text: str) -> None:
    print(f"console: {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tillflow:
    """`tillflow run --follow --listen` on one port and one --out, started again after a kill."""

    def __init__(self, binary: str, out: Path, port: int, logs: Path):
        self.binary, self.out, self.port, self.logs_dir = binary, out, port, logs
        self.url = f"http://127.0.0.1:{port}"
        self.process, self.stderr, self.logs = None, None, []

    def start(self) -> None:
        log = self.logs_dir / f"tillflow-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self.stderr = open(log, "w")
        self.process = subprocess.Popen(
            [self.binary, "run", "--follow", "--listen", f"127.0.0.1:{self.port}", "--out", str(self.out),
             "--tick", "200ms"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tillflow exited with {self.process.returncode} before answering /healthz")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"tillflow did not answer {self.url}/healthz within 120 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=30)
        if self.stderr is not None:
            self.stderr.close()
        self.process = self.stderr = None

    def post(self, records: list) -> dict:
        body = "".join(json.dumps(record) + "\n" for record in records).encode()
        request = urllib.request.Request(f"{self.url}/v1/events", data=body, method="POST",
                                         headers={"Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            raise AssertionError(f"POST /v1/events answered {refused.code}: {refused.read().decode(errors='replace')}")

    def print_stderr_tails(self, lines: int = 40) -> None:
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            print(f"--- the last {min(lines, len(text))} lines of tillflow's stderr ({log.name}) ---", file=sys.stderr)
            for line in text[-lines:]:
                print(line, file=sys.stderr)


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1024,1366"):
        options.add_argument(argument)
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path="/usr/bin/chromedriver") if os.path.exists("/usr/bin/chromedriver") else Service()
    return webdriver.Chrome(service=service, options=options)


def page_text(driver) -> str:
    try:
        return " | ".join(driver.find_element(By.TAG_NAME, "body").text.split("\n"))[:1500]
    except WebDriverException as e:
        return f"(unreadable: {e.msg})"


def wait_for(driver, what: str, condition):
    """Polls `condition` until it returns something truthy, which is returned."""
    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)) \
            .until(lambda _: condition())
    except TimeoutException:
        raise AssertionError(f"waited {TIMEOUT} s for {what}; the page says: {page_text(driver)}") from None


def connection(driver) -> str:
    return driver.find_element(By.ID, "conn-line").text.strip()


def article(driver, exception_id: str):
    for element in driver.find_elements(By.CSS_SELECTOR, "[data-exception-id]"):
        if element.get_attribute("data-exception-id") == exception_id:
            return element
    return None


def negative_margin(driver):
    for element in driver.find_elements(By.CSS_SELECTOR, "[data-exception-id]"):
        if "negative_margin" in element.text and SKU in element.text:
            return element.get_attribute("data-exception-id")
    return None


def status(driver, exception_id: str):
    element = article(driver, exception_id)
    if element is None:
        return None
    return element.find_element(By.CSS_SELECTOR, ".status").text.strip(), element.get_attribute("data-status")


def severe(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python3 tests/console.py PATH_TO_TILLFLOW_BINARY", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tillflow-console-"))
    tillflow = Tillflow(os.path.abspath(sys.argv[1]), tmp / "out", free_port(), tmp)
    driver, checks = None, 0
    try:
        tillflow.start()
        say(f"tillflow is up on {tillflow.url} (--out {tillflow.out})")
        driver = browser()
        driver.get(f"{tillflow.url}/")
        wait_for(driver, "the page to say its stream is live", lambda: connection(driver).startswith("live"))
        assert driver.title == "tillflow — exceptions", f"the page's title is {driver.title!r}"
        checks += 1
        say(f"the console loaded and says: {connection(driver)}")

        answer = tillflow.post([STORE, PRODUCT, SALE])
        assert answer.get("accepted") == 3, f"POST /v1/events accepted {answer}"
        say(f"posted a store, a product costing more than its price and a sale of it below cost: {answer}")
        exception_id = wait_for(driver, "a negative_margin exception pushed to the open page",
                                lambda: negative_margin(driver))
        checks += 1
        say(f"the page shows negative_margin exception {exception_id}, pushed without a reload")

        names = driver.find_elements(By.ID, "user-name")
        typed = bool(names) and names[0].is_displayed()
        if typed:
            names[0].clear()
            names[0].send_keys(NAME)
        article(driver, exception_id).find_element(By.CSS_SELECTOR, ".action-acknowledge").click()
        wait_for(driver, f"{exception_id} to show status acknowledged",
                 lambda: status(driver, exception_id) == ("acknowledged", "acknowledged"))
        if typed:
            wait_for(driver, f"{exception_id} to show who acknowledged it ({NAME})",
                     lambda: NAME in article(driver, exception_id).text)
        checks += 1
        say(f"acknowledged from the page{f' by {NAME}' if typed else ' (the server names the user)'}")
        errors = severe(driver)
        assert not errors, f"the browser logged errors: {errors}"
        checks += 1
        say("no error in the browser's console so far")

        tillflow.kill()
        say("tillflow killed (-9)")
        wait_for(driver, "the page to say it is reconnecting", lambda: "reconnecting" in connection(driver))
        tillflow.start()
        say("tillflow started again on the same port and --out")
        wait_for(driver, "the page to be live again by itself", lambda: connection(driver).startswith("live"))
        outage = severe(driver)
        unexpected = [entry for entry in outage if "net::ERR_" not in entry.get("message", "")]
        assert not unexpected, f"the browser logged errors while tillflow was down: {unexpected}"
        checks += 1
        say(f"the page said it was reconnecting, then was live again by itself "
            f"({len(outage)} network errors of requests made while tillflow was down)")

        driver.refresh()
        wait_for(driver, f"{exception_id} to show acknowledged after the restart and a reload",
                 lambda: status(driver, exception_id) == ("acknowledged", "acknowledged"))
        checks += 1
        say(f"after the crash and a reload, {exception_id} is still acknowledged")
        errors = severe(driver)
        assert not errors, f"the browser logged errors after the reload: {errors}"
        checks += 1
        say("no error in the browser's console after the reload")

        shot = Path(os.environ.get("CONSOLE_SCREENSHOT") or Path(tempfile.gettempdir()) / "tillflow-console.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(shot.resolve())), f"could not save a screenshot to {shot}"
        say(f"screenshot: {shot.resolve()}")
        print(f"console: {checks} passed, 0 failed", flush=True)
        return 0
    except (AssertionError, WebDriverException, OSError, subprocess.SubprocessError) as failure:
        print(f"console: FAILED: {failure}", file=sys.stderr, flush=True)
        tillflow.print_stderr_tails()
        print(f"console: {checks} passed, 1 failed", flush=True)
        return 1
    finally:
        if driver is not None:
            try:
                driver.quit()
            except WebDriverException:
                pass
        tillflow.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
