"""One `pixlab serve`, then two, on one PostgreSQL: how many learners each holds, and what
every « Tester » and every page costs the database.

    .venv/bin/python benchmarks/processes.py                  # 1 then 2 processes, search N
    .venv/bin/python benchmarks/processes.py --learners 40 --step 20 --seconds 30
    .venv/bin/python benchmarks/processes.py --cost           # queries and rows per action

Starts a throwaway PostgreSQL cluster (as the tests do, with pg_ctl: see
tests/postgres.py; as root it runs as the `postgres` user), with
pg_stat_statements loaded. For one process, then for two on a fresh database,
it starts the `pixlab serve` processes on free ports, with the same secret
key, CA and postmaster password (as docs/deploiement.md says), adds the trainer,
opens a few pages on each (a cold process is slow on its first requests), and
runs benchmarks/class.py's class with N learners, N growing by --step while
p95 page < 300 ms, p95 « Tester » < 1 s, no error and RSS < 300 MB. The learners
are dealt over the processes in turn. Reported: the largest N for each, the
ratio two/one, the CPU of each process and of PostgreSQL (all its processes),
in cores. On a machine of C cores, the processes, PostgreSQL and the load
generator share them: the ratio is capped by the cores, not by PixLab.

`--cost` runs one process and one learner: pg_stat_statements is reset, the
learner presses « Tester » 20 times (then opens the player page 20 times, then
the trainer's class view 20 times), and the statements and rows each cost are
read back (BEGIN/COMMIT counted apart).
"""

from __future__ import annotations

import argparse
import importlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]
klass: Any = importlib.import_module("class")  # benchmarks/class.py
postgres: Any = importlib.import_module("postgres")  # tests/postgres.py

PIXLAB = str(Path(sys.executable).with_name("pixlab"))
CANONICAL = (25, 110, 143, 465, 587, 993, 995)
TRAINER, PASSWORD = "banc", "Banc-2026!"
REHEARSAL_LEARNERS, REHEARSAL_SECONDS = 20, 15.0  # per process


def free_base() -> int:
    for _ in range(100):
        base = random.randrange(20000, 60000, 1000)
        try:
            for port in CANONICAL:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + port))
            return base
        except OSError:
            continue
    raise SystemExit("processes.py: no free port base")


class Serve:
    """One `pixlab serve` on a free web port and a free mail port base."""

    def __init__(self, data_dir: Path, url: str) -> None:
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [PIXLAB, "serve", "--port", "0", "--mail-port-base", str(free_base()),
             "--data-dir", str(data_dir), "--database-url", url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if found:
                self.url = found.group(1)
                return
        raise SystemExit("processes.py: pixlab serve did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def start(count: int, url: str, work: Path) -> list[Serve]:
    """`count` processes on one database, sharing the settings every process must share."""
    dirs = [work / f"p{n}" for n in range(count)]
    for data_dir in dirs:
        data_dir.mkdir(parents=True)
        (data_dir / "secret_key").write_text("une-cle-pour-tous-les-processus\n")
    first = Serve(dirs[0], url)
    for data_dir in dirs[1:]:
        shutil.copytree(dirs[0] / "tls", data_dir / "tls")
        shutil.copy(dirs[0] / "postmaster-password.txt", data_dir)
    processes = [first, *(Serve(d, url) for d in dirs[1:])]
    subprocess.run([PIXLAB, "trainer", "add", TRAINER, "--password-stdin", "--data-dir",
                    str(dirs[0]), "--database-url", url], input=PASSWORD + "\n",
                   text=True, check=True, capture_output=True)
    warm_up(processes)
    return processes


def warm_up(processes: list[Serve]) -> None:
    """A few pages on every process first: a cold process compiles its templates and loads
    its translations on its first requests, which is not what a class meets later."""
    figures = klass.Figures()
    for process in processes:
        browser = klass.Browser(process.url, "127.0.0.1", figures)
        for _ in range(3):
            for path in ("/", "/atelier", "/formateur/connexion", f"/scenarios/{klass.SLUG}"):
                browser.request("warm-up", "GET", path)


def database_cpu(server: Any) -> float:
    """CPU seconds of the whole cluster: the postmaster, its processes, and those that ended."""
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    total = postmaster.cpu_times().children_user + postmaster.cpu_times().children_system
    for process in [postmaster, *postmaster.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return float(total)


def search(args: argparse.Namespace, count: int, server: Any, work: Path) -> dict[str, Any]:
    name, url = server.new_database()
    processes = start(count, url, work / f"run{count}")
    run_args = argparse.Namespace(url=[p.url for p in processes],
                                  pid=[p.process.pid for p in processes],
                                  seconds=args.seconds, trainer=TRAINER, password=PASSWORD)
    best: dict[str, Any] = {"learners": 0}
    try:
        # A rehearsal first, not counted: a small class for a few seconds fills the pools of
        # database connections and the caches a process builds on its first workshop. Without
        # it, whichever size came first met a cold process and failed (one process: p95 page
        # 379 ms at 40 learners first; 154 ms at 60 in a run that had started at 30).
        klass.run(argparse.Namespace(**{**vars(run_args), "seconds": REHEARSAL_SECONDS}),
                  REHEARSAL_LEARNERS * count)
        n = args.learners
        while n <= args.max:
            print(f"\n== {count} process(es), {n} learners", flush=True)
            result = klass.run(run_args, n, lambda: database_cpu(server))
            klass.show(result)
            if not result["ok"]:
                break
            best = result
            n += args.step
        best["capped"] = n > args.max  # held every size up to --max: a floor, not a limit
    finally:
        for process in processes:
            process.stop()
        server.drop_database(name)
    return best


def cost(args: argparse.Namespace, server: Any, work: Path) -> None:
    import psycopg

    name, url = server.new_database()
    processes = start(1, url, work / "cost")
    base = processes[0].url
    figures = klass.Figures()
    try:
        trainer, path, code = klass.trainer_workshop(base, TRAINER, PASSWORD, figures)
        learner = klass.Browser(base, "127.0.1.1", figures)
        page = learner.request("join", "GET", "/atelier")
        learner.request("join", "POST", "/atelier", {"csrf_token": klass.token(page),
                        "code": code, "pseudonyme": "Eleve"}, expect=(303,))
        page = learner.request("page", "GET", f"/scenarios/{klass.SLUG}")
        learner.request("start", "POST", f"/scenarios/{klass.SLUG}/commencer",
                        {"csrf_token": klass.token(page)}, expect=(303,))
        page = learner.request("player", "GET", f"/scenarios/{klass.SLUG}")
        password = re.search(r'<code class="password">([^<]+)</code>', page)
        address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page)
        assert password and address, "no connection sheet"
        form = {"csrf_token": klass.token(page), "password": password.group(1),
                "incoming_protocol": "imap", "incoming_host": f"imap.{klass.DOMAIN}",
                "incoming_port": "993", "incoming_security": "tls", "incoming_auth": "normal",
                "incoming_username": address.group(1), "action": "test-incoming"}
        actions = {
            "« Tester » (IMAP, SSL/TLS, 993)": lambda: learner.request(
                "tester", "POST", f"/scenarios/{klass.SLUG}/appareils/ordinateur/reglages",
                form, headers={"HX-Request": "true"}),
            "player page": lambda: learner.request("player", "GET", f"/scenarios/{klass.SLUG}"),
            "class view (1 learner)": lambda: trainer.request(
                "class view", "GET", f"{path}/classe", headers={"HX-Request": "true"}),
        }
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            print("\n| action | statements | of which BEGIN/COMMIT | rows |")
            print("| --- | ---: | ---: | ---: |")
            for label, action in actions.items():
                time.sleep(1.0)  # the events of the last action are committed (0.25 s batches)
                db.execute("SELECT pg_stat_statements_reset()")
                for _ in range(20):
                    action()
                time.sleep(1.0)
                calls, rows, tx = db.execute(
                    "SELECT coalesce(sum(calls), 0), coalesce(sum(rows), 0), coalesce(sum(calls)"
                    " FILTER (WHERE query ~* '^(BEGIN|COMMIT|ROLLBACK)'), 0)"
                    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database()) AND query !~ 'pg_stat_statements'"
                ).fetchone()
                print(f"| {label} | {calls / 20:.1f} | {tx / 20:.1f} | {rows / 20:.1f} |")
                if args.top:
                    for query, n in db.execute(
                        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 110), calls"
                        " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database()) ORDER BY calls DESC LIMIT %s",
                        (args.top,)
                    ):
                        print(f"    {n / 20:6.1f}  {query}")
        if figures.errors:
            print("errors:", sorted(set(figures.errors))[:5])
    finally:
        processes[0].stop()
        server.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=20, help="N to start from")
    parser.add_argument("--step", type=int, default=20)
    parser.add_argument("--max", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--cost", action="store_true", help="queries and rows per action")
    parser.add_argument("--top", type=int, default=0,
                        help="with --cost: also the statements run most often")
    args = parser.parse_args()
    reason = postgres.why_not()
    if reason:
        raise SystemExit(f"processes.py: {reason}")
    server, stop = postgres.start_cluster("-c shared_preload_libraries=pg_stat_statements")
    work = Path(tempfile.mkdtemp(prefix="pixlab-bench-"))
    try:
        if args.cost:
            cost(args, server, work)
            return
        one = search(args, 1, server, work)
        two = search(args, 2, server, work)
        def held(best: dict[str, Any]) -> str:
            return f"{best['learners']}{' or more (--max)' if best.get('capped') else ''}"

        ratio = (f"{two['learners'] / one['learners']:.2f}"
                 f"{' at least' if two.get('capped') and not one.get('capped') else ''}"
                 if one["learners"] and not one.get("capped") else
                 "unknown (start lower, or raise --max)")
        print(f"\nCores: {psutil.cpu_count()}. Learners held within the targets: "
              f"one process {held(one)}, two processes {held(two)}, ratio two/one {ratio}")
        for label, best in (("one", one), ("two", two)):
            if best["learners"]:
                each = " + ".join(f"{c:.2f}" for c in best["cpu_each"])
                print(f"  {label}: PixLab CPU {each} core, PostgreSQL {best['db_cpu']:.2f} core "
                      f"({100 * best['db_cpu'] / max(1e-9, best['cpu'] + best['db_cpu']):.0f} % "
                      f"of the servers' CPU), p95 page {best['p95_page']:.0f} ms")
    finally:
        stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
