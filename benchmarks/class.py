"""A class against a running `pixlab serve`: N learners and their trainer, for S seconds.

Start PixLab, make a trainer, then run from the repository (loopback only):

    .venv/bin/pixlab serve --data-dir /tmp/bench &        # note its process id
    printf 'Banc-2026!\\n' | .venv/bin/pixlab trainer add banc --password-stdin \\
        --data-dir /tmp/bench
    .venv/bin/python benchmarks/class.py --learners 60 --seconds 60 --pid PID \\
        [--url http://127.0.0.1:5000] [--search]

Several processes on one PostgreSQL: one --url and one --pid for each, learners
dealt over them in turn. `benchmarks/processes.py` starts them itself (one, then
two, on a throwaway PostgreSQL) and reports the ratio two/one.

The trainer logs in and creates a workshop of the first scenario. Each learner,
in a thread of its own and from a loopback address of its own (127.0.1.N, as the
pupils' machines have their own addresses on a classroom network, so the per-
address throttles see a class and not one machine), joins with the code, opens
their workshop page and the scenario, then every 5 s presses « Tester » with a
good or a bad configuration (two in three good; the bad one is SSL/TLS on port
143), and opens the player page, whose mail pane reads their mailbox over IMAP.
The trainer's class view polls every 4 s, as htmx does. Every response is checked.

Reported: p50 and p95 per kind of page, p95 « Tester », errors, and the server's
RSS (peak) and CPU (share of one core) read from /proc/PID. With `--search`, N
grows by 10 from `--learners` while the run keeps p95 page < 300 ms, p95
« Tester » < 1 s, no error and RSS < 300 MB, and the largest such N is given.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

DOMAIN = "lycee-exemple.test"
SLUG = "premiers-pas-imap"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Figures:
    """Latencies per kind, errors."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.times[kind].append(seconds)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


class Browser:
    """One browser: its own source address, a keep-alive connection, its session cookie."""

    def __init__(self, url: str, source: str, figures: Figures) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.source, self.figures = source, figures
        self.cookie = ""
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30,
                                          source_address=(self.source, 0))

    def request(self, kind: str, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, expect: tuple[int, ...] = (200,)) -> str:
        body = urlencode(form).encode() if form is not None else None
        sent = {"Cookie": self.cookie, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=sent)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = self._connect()
            self.figures.fail(f"{kind}: {exc!r}")
            return ""
        self.figures.add(kind, time.perf_counter() - started)
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        if response.status not in expect:
            self.figures.fail(f"{kind}: HTTP {response.status}")
        return text


def token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return found.group(1) if found else ""


def trainer_workshop(url: str, name: str, password: str,
                     figures: Figures) -> tuple[Browser, str, str]:
    """Log the trainer in and create a workshop; its path and join code."""
    trainer = Browser(url, "127.0.0.1", figures)
    page = trainer.request("login", "GET", "/formateur/connexion")
    trainer.request("login", "POST", "/formateur/connexion",
                    {"csrf_token": token(page), "nom": name, "mot_de_passe": password},
                    expect=(303,))
    page = trainer.request("trainer", "GET", "/formateur")
    trainer.conn.request("POST", "/formateur/ateliers", body=urlencode(
        {"csrf_token": token(page), "nom": "Banc d'essai", "scenarios": SLUG}).encode(),
        headers={"Cookie": trainer.cookie,
                 "Content-Type": "application/x-www-form-urlencoded"})
    response = trainer.conn.getresponse()
    response.read()
    path = response.getheader("Location") or ""
    if response.status != 303 or not path:
        raise SystemExit(f"class.py: could not create the workshop (HTTP {response.status}): "
                         "is the trainer's name and password right?")
    page = trainer.request("trainer", "GET", path)
    code = re.search(r'class="join-code">([A-Z0-9]+)<', page)
    assert code, "no join code on the workshop page"
    return trainer, path, code.group(1)


def learner(url: str, n: int, code: str, until: float, figures: Figures) -> None:
    """One learner: join, open the scenario, test every 5 s, look at the mail."""
    browser = Browser(url, f"127.0.1.{n + 1}", figures)
    page = browser.request("join", "GET", "/atelier")
    browser.request("join", "POST", "/atelier",
                    {"csrf_token": token(page), "code": code, "pseudonyme": f"Eleve {n}"},
                    expect=(303,))
    browser.request("page", "GET", "/atelier/mon-atelier")
    page = browser.request("page", "GET", f"/scenarios/{SLUG}")
    browser.request("start", "POST", f"/scenarios/{SLUG}/commencer",
                    {"csrf_token": token(page)}, expect=(303,))
    page = browser.request("player", "GET", f"/scenarios/{SLUG}")
    password = re.search(r'<code class="password">([^<]+)</code>', page)
    address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page)
    if not password or not address:
        figures.fail("player: no sheet")
        return
    rng = random.Random(n)
    time.sleep(rng.random() * 5)  # the class does not press at the same instant
    while time.time() < until:
        good = rng.random() < 2 / 3
        form = {"csrf_token": token(page), "password": password.group(1),
                "incoming_protocol": "imap", "incoming_host": f"imap.{DOMAIN}",
                # The bad one: SSL/TLS on port 143, a mistake that fails at once (STARTTLS
                # on 993 would wait for the client's whole timeout, by design).
                "incoming_port": "993" if good else "143", "incoming_security": "tls",
                "incoming_auth": "normal", "incoming_username": address.group(1),
                "action": "test-incoming"}
        started = time.time()
        browser.request("tester", "POST", f"/scenarios/{SLUG}/appareils/ordinateur/reglages",
                        form, headers={"HX-Request": "true"})
        page = browser.request("player", "GET", f"/scenarios/{SLUG}")
        time.sleep(max(0.0, 5 - (time.time() - started)))


def poll_class(trainer: Browser, path: str, until: float) -> None:
    while time.time() < until:
        started = time.time()
        trainer.request("class view", "GET", f"{path}/classe", headers={"HX-Request": "true"})
        time.sleep(max(0.0, 4 - (time.time() - started)))


def proc(pid: int) -> tuple[float, int]:
    """CPU seconds and RSS bytes of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * PAGE
    return (int(fields[11]) + int(fields[12])) / CLK, rss


def run(args: argparse.Namespace, learners: int,
        database_cpu: Callable[[], float] | None = None) -> dict[str, object]:
    """One run of N learners. Several --url/--pid: processes sharing one PostgreSQL, each
    learner on one of them in turn (a proxy's sticky sessions); their CPU is summed."""
    figures = Figures()
    urls, pids = list(args.url), list(args.pid)
    trainer, path, code = trainer_workshop(urls[0], args.trainer, args.password, figures)
    cpu0 = [proc(pid)[0] for pid in pids]
    db0 = database_cpu() if database_cpu else 0.0
    wall0 = time.time()
    until = wall0 + args.seconds
    threads = [threading.Thread(target=learner,
                                args=(urls[n % len(urls)], n, code, until, figures))
               for n in range(learners)]
    threads.append(threading.Thread(target=poll_class, args=(trainer, path, until)))
    peak = 0
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # a class arrives over a few seconds
    while any(t.is_alive() for t in threads):
        peak = max(peak, max(proc(pid)[1] for pid in pids))
        time.sleep(0.5)
    cpu1 = [proc(pid)[0] for pid in pids]
    db1 = database_cpu() if database_cpu else 0.0
    wall = time.time() - wall0

    def pct(kind: str, q: float) -> float:
        values = sorted(figures.times.get(kind, []))
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0

    pages = sorted(v for k, vs in figures.times.items() if k != "tester" for v in vs)
    result = {
        "learners": learners, "requests": sum(len(v) for v in figures.times.values()),
        "kinds": {k: (pct(k, 0.5), pct(k, 0.95), len(v)) for k, v in figures.times.items()},
        "p95_page": pages[int(0.95 * len(pages))] * 1000 if pages else 0.0,
        "p95_tester": pct("tester", 0.95), "errors": list(figures.errors),
        "rss_mb": peak / 1e6, "cpu": sum(cpu1) / wall - sum(cpu0) / wall,
        "cpu_each": [(b - a) / wall for a, b in zip(cpu0, cpu1, strict=True)],
        "db_cpu": (db1 - db0) / wall,
    }
    result["ok"] = (result["p95_page"] < 300 and result["p95_tester"] < 1000  # type: ignore[operator]
                    and not figures.errors and result["rss_mb"] < 300)  # type: ignore[operator]
    return result


def show(result: dict[str, object]) -> None:
    print(f"\n{result['learners']} learners, {result['requests']} requests")
    for kind, (p50, p95, count) in sorted(result["kinds"].items()):  # type: ignore[attr-defined]
        print(f"  {kind:12} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   ({count})")
    errors = result["errors"]
    print(f"  p95 page {result['p95_page']:.1f} ms, p95 Tester {result['p95_tester']:.1f} ms, "
          f"errors {len(errors)}, RSS peak {result['rss_mb']:.0f} MB, "  # type: ignore[arg-type]
          f"CPU {result['cpu']:.2f} core -> {'OK' if result['ok'] else 'over a target'}")
    if len(result["cpu_each"]) > 1 or result["db_cpu"]:  # type: ignore[arg-type]
        each = " + ".join(f"{c:.2f}" for c in result["cpu_each"])  # type: ignore[attr-defined]
        print(f"  CPU of each process {each} core; the database {result['db_cpu']:.2f} core")
    for error in sorted(set(errors))[:5]:  # type: ignore[call-overload]
        print("   ", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", action="append",
                        help="a pixlab serve (repeat for several on one PostgreSQL)")
    parser.add_argument("--pid", type=int, action="append", required=True,
                        help="the pixlab serve process (repeat, in the order of --url)")
    parser.add_argument("--learners", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--trainer", default="banc")
    parser.add_argument("--password", default="Banc-2026!")
    parser.add_argument("--search", action="store_true", help="grow N by 10 while targets hold")
    args = parser.parse_args()
    args.url = args.url or ["http://127.0.0.1:5000"]
    if any(urlsplit(url).hostname not in ("127.0.0.1", "localhost") for url in args.url):
        raise SystemExit("class.py: loopback only (--url http://127.0.0.1:PORT)")
    if len(args.pid) != len(args.url):
        raise SystemExit("class.py: one --pid for each --url")
    n, best = args.learners, 0
    while True:
        result = run(args, n)
        show(result)
        if not args.search:
            break
        if not result["ok"]:
            break
        best, n = n, n + 10
    if args.search:
        print(f"\nLargest N within the targets: {best or 'none'}")


if __name__ == "__main__":
    main()
