"""Benchmark of the sandbox's "Tester" button: from the HTTP request to the rendered fragment.

Run from the repository, with the project's virtual environment:

    .venv/bin/python benchmarks/tester.py [--runs 200] [--timeout 3] [--write docs/performance.md]

It starts, in this process, a lab on free ports, the web app and waitress (as
`pixlab serve` does, with 8 threads), then behaves like one learner's browser
with htmx: it starts a sandbox learner, saves a good configuration and presses
"Tester" again and again, each time a POST of the settings form with
`HX-Request: true`, timed from sending the request to reading the last byte of
the fragment. Each press saves the settings, runs the real client against the
lab (name, TCP, TLS, greeting, capabilities, login, and for IMAP the folder
list), keeps the trace with its wire capture, and renders the result with the
server's mailbox. The per-learner limit of tests per minute is lifted for the
benchmark.

Measured: IMAP (993, SSL/TLS), POP3 (995, SSL/TLS) and SMTP (465, SSL/TLS),
`--runs` presses each, p50 and p95; a refused port (IMAP on 995), p50 and p95
over `--runs` / 4 presses; a filtered port (SMTP on 25, which the sandbox's
network filters), 3 presses, compared with the configured client timeout.
Every response is checked (a good configuration must pass, a refused port
must be refused), so the figures are those of tests that did their job.

With `--write FILE`, the "Tester" section of that Markdown file is replaced
(or appended); the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from waitress import create_server

from pixlab.lab.config import LabConfig
from pixlab.lab.runner import Lab
from pixlab.web import create_app

DOMAIN = "lycee-exemple.test"
SECTION = "## Tester"


@dataclass
class Browser:
    """One learner's browser: a keep-alive connection, the session cookie, a CSRF token."""

    host: str
    port: int
    cookie: str = ""
    token: str = ""

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                htmx: bool = False) -> tuple[int, str, float]:
        """Send a request; returns the status, the body and the seconds it took."""
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode({"csrf_token": self.token, **form})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers["HX-Request"] = "true"
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        elapsed = time.perf_counter() - started
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        token = re.search(r'name="csrf_token" value="([^"]+)"', text)
        if token:
            self.token = token.group(1)
        return response.status, text, elapsed


@contextmanager
def running_app(data_dir: Path, timeout: float) -> Iterator[tuple[str, int]]:
    """The lab, the app and waitress, as `pixlab serve` runs them, on free ports."""
    lab = Lab(LabConfig(port_base=0), data_dir / "lab").start()
    app = create_app(
        {
            "DATA_DIR": str(data_dir / "web"),
            "SANDBOX_CLIENT_TIMEOUT": timeout,
            "SANDBOX_TESTS_PER_MINUTE": 10**9,
        },
        lab=lab,
    )
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(server.effective_port)  # type: ignore[attr-defined]
    finally:
        # Let the worker threads finish their last response before the trigger closes.
        server.task_dispatcher.shutdown()  # type: ignore[attr-defined]
        server.close()
        thread.join(timeout=5)
        lab.stop()


def new_learner(browser: Browser) -> tuple[int, str, str]:
    """Start a sandbox learner; returns their computer's id, address and password."""
    browser.request("GET", "/bac-a-sable")
    status, _, _ = browser.request("POST", "/bac-a-sable/commencer", {})
    assert status == 303, status
    _, page, _ = browser.request("GET", "/bac-a-sable")
    device = re.search(r"/appareils/(\d+)/reglages", page)
    address = re.search(r"<dt>Adresse électronique</dt><dd><code>([^<]+)<", page)
    password = re.search(r'<code class="password">([^<]+)<', page)
    assert device and address and password, "the sandbox's home page changed"
    return int(device[1]), address[1], password[1]


def settings(address: str, password: str, **changes: str) -> dict[str, str]:
    """A good configuration (IMAP 993 and SMTP 465, SSL/TLS), with some changes."""
    form = {
        "password": password, "incoming_protocol": "imap", "incoming_host": f"imap.{DOMAIN}",
        "incoming_port": "993", "incoming_security": "tls", "incoming_auth": "normal",
        "incoming_username": address, "outgoing_host": f"smtp.{DOMAIN}",
        "outgoing_port": "465", "outgoing_security": "tls", "outgoing_auth": "normal",
        "outgoing_username": address, "leave_on_server": "forever", "leave_days": "14",
    }
    form.update(changes)
    return form


def press(browser: Browser, device: int, form: dict[str, str], runs: int,
          expect: str) -> list[float]:
    """Press a test button `runs` times; returns the milliseconds of each."""
    path = f"/bac-a-sable/appareils/{device}/reglages"
    times = []
    for _ in range(runs):
        status, text, elapsed = browser.request("POST", path, form, htmx=True)
        if status != 200 or expect not in text:
            raise SystemExit(f"unexpected answer ({status}) for {form.get('action')}: "
                             f"{expect!r} missing")
        times.append(elapsed * 1000)
    return times


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def measure(runs: int, timeout: float) -> list[tuple[str, int, float, float, str]]:
    """Every case: (name, runs, p50 ms, p95 ms, what it shows)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="pixlab-tester-") as tmp, \
            running_app(Path(tmp), timeout) as (host, port):
        browser = Browser(host, port)
        device, address, password = new_learner(browser)
        cases = [
            ("IMAP, 993 SSL/TLS", settings(address, password, action="test-incoming"),
             "trace trace-ok", runs),
            ("POP3, 995 SSL/TLS", settings(address, password, action="test-incoming",
                                           incoming_protocol="pop3",
                                           incoming_host=f"pop.{DOMAIN}",
                                           incoming_port="995"),
             "trace trace-ok", runs),
            ("SMTP, 465 SSL/TLS", settings(address, password, action="test-outgoing"),
             "trace trace-ok", runs),
            ("Refused port (IMAP on 995)", settings(address, password, action="test-incoming",
                                                    incoming_port="995"),
             "ConnectionRefusedError", max(1, runs // 4)),
        ]
        for name, form, expect, count in cases:
            press(browser, device, form, 5, expect)  # warm-up: caches, first TLS contexts
            times = press(browser, device, form, count, expect)
            rows.append((name, count, statistics.median(times), percentile(times, 0.95), ""))
        filtered = settings(address, password, action="test-outgoing", outgoing_port="25",
                            outgoing_security="starttls")
        times = press(browser, device, filtered, 3, "TimeoutError")
        rows.append(("Filtered port (SMTP on 25)", 3, statistics.median(times), max(times),
                     f"configured timeout {timeout * 1000:.0f} ms"))
        browser.conn.close()  # before waitress stops, so no keep-alive channel is left behind
    return rows


def table(rows: list[tuple[str, int, float, float, str]]) -> str:
    """The figures as a Markdown table."""
    lines = ["| case | runs | p50 (ms) | p95 (ms) | note |", "| --- | ---: | ---: | ---: | --- |"]
    for name, count, p50, p95, note in rows:
        if name.startswith("Filtered"):
            lines.append(f"| {name} | {count} | {p50:.0f} | max {p95:.0f} | {note} |")
        else:
            lines.append(f"| {name} | {count} | {p50:.1f} | {p95:.1f} | {note} |")
    return "\n".join(lines)


def section(rows: list[tuple[str, int, float, float, str]], runs: int, timeout: float) -> str:
    """The "Tester" section of docs/performance.md."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (f"{platform.machine()}, {os.cpu_count()} CPU, Python "
               f"{platform.python_version()}, {platform.system()} {platform.release()}; "
               f"load average at the end {load}")
    return f"""{SECTION}

What a learner waits for after pressing "Tester" in the sandbox, measured by
`benchmarks/tester.py` (`--runs {runs} --timeout {timeout:g}`): from sending the
htmx POST of the settings form to reading the last byte of the result
fragment, one learner at a time, on a running app (lab, Flask app and waitress
with 8 threads in one process, as `pixlab serve` runs them). Each press saves
the settings, makes the real connections through the lab's tap (name, TCP, TLS,
greeting, capabilities, login; for IMAP the folder list), keeps the trace with
its wire capture and renders it with the server's mailbox.

Machine: {machine}.

{table(rows)}

Targets (issue 4): p95 under 100 ms for a good configuration, under 50 ms for a
refused port, and a filtered port taking the configured timeout, no more and no
less (a real program would wait up to 100 s: the page says so).
"""


def write_section(path: Path, text: str) -> None:
    """Replace the Tester section of a Markdown file, or append it; keep everything else."""
    content = path.read_text() if path.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(content):
        content = pattern.sub(lambda _: text.rstrip() + "\n\n", content).rstrip() + "\n"
    else:
        content = content.rstrip() + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and maybe write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200, help="presses per protocol")
    parser.add_argument("--timeout", type=float, default=3.0, help="the client's timeout (s)")
    parser.add_argument("--write", type=Path, help="Markdown file whose Tester section to update")
    args = parser.parse_args(argv)
    rows = measure(args.runs, args.timeout)
    print(table(rows))
    if args.write:
        write_section(args.write, section(rows, args.runs, args.timeout))
        print(f"written to {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
