"""Benchmark of the mail lab: sessions per second, latency, memory and start time.

Run from the repository, with the project's virtual environment:

    .venv/bin/python benchmarks/lab.py [--seconds 10] [--only pop3s,smtp,imaps,rss,start,select10k]

The lab runs in its own process (`pixlab sandbox --json` on a temporary data
directory and a free port base), so that the load generator never shares its
interpreter lock. The load comes from several worker processes, each running
some client threads with the standard library's clients (poplib, smtplib,
imaplib), every connection going through the lab's tap on 127.0.0.1 and
verifying the lab's CA. Every loop is bounded in time and in count, and the
benchmark stops the lab and its workers by itself.

What it measures, at 1 and 16 concurrent clients for about `--seconds` each:

- pop3s: connect, TLS, USER/PASS, STAT, RETR 1, QUIT;
- smtp: connect to 587, STARTTLS, AUTH PLAIN, one 2 KB message, QUIT;
- imaps: connect, TLS, LOGIN, SELECT INBOX, FETCH 1 (FLAGS BODY.PEEK[HEADER]), LOGOUT;

and once:

- select10k: SELECT of a 10,000-message INBOX plus `UID FETCH 1:* (FLAGS)`, best of 3;
- rss: the lab's resident memory with 1,000 accounts of 20 messages, idle after
  its start and after one POP3S session on every account;
- start: from spawning `pixlab sandbox` to its JSON line, once the CA exists
  (best and median of 5).

Not run unless asked (`--only bare-smtp`), as a reference: the same SMTP
submissions against a bare aiosmtpd server (STARTTLS with the lab's
certificate, AUTH that accepts the password, a handler that stores nothing),
in its own process, with the same load generator. It shows what the library
alone costs on this machine, without the lab's tap, store and events.

Not run unless asked either (`--only dovecot`), as a reference: the pop3s and
imaps scenarios against Debian's Dovecot 2.3 (`apt-get install dovecot-core
dovecot-pop3d dovecot-imapd`), started in the foreground on a temporary
directory and free ports, implicit TLS with the lab's valid certificate, in
high-performance mode (login processes serving many connections, as many
ready as CPUs), passwords from a passwd-file in {PLAIN} with the auth cache on,
and the same accounts and messages written as Maildir files. Its CPU is that of
the whole process tree: the master, its reaped children and its living ones.
`--only dovecot-reuse` runs the same with the post-login `pop3` and `imap`
processes reused too (`service_count = 1000`) instead of one new process per
session, Dovecot's default. Without Dovecot the benchmark says so and goes on.

With `--client-cpus 1` the load processes run on CPU 1 only, so that they never
take the lab's CPU from its loop thread (by default the system puts them where
it likes, and the loop thread waits for a CPU about a fifth of the time).

With `--json` the table goes to stderr and one JSON document to stdout.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import multiprocessing
import os
import platform
import poplib
import pwd
import queue
import random
import resource
import shutil
import signal
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DOMAIN = "lycee-exemple.test"
PASSWORD = "Banc-Essai-2026"
SCENARIOS = (
    "pop3s", "smtp", "imaps", "select10k", "rss", "start", "bare-smtp", "dovecot", "dovecot-reuse",
)
DEFAULT_SCENARIOS = ("pop3s", "smtp", "imaps", "select10k", "rss", "start")
LOAD_SCENARIOS = ("pop3s", "smtp", "imaps")
CANONICAL_PORTS = (25, 110, 143, 465, 587, 993, 995)
MAX_SESSIONS_PER_CLIENT = 100_000  # a bound on every client loop, whatever the duration
CLIENT_TIMEOUT = 10.0
# The CPUs the load processes may run on (--client-cpus); empty: any, as the system likes.
CLIENT_CPUS: set[int] = set()


def log(text: str) -> None:
    """Progress on stderr, so that `--json` keeps stdout clean."""
    print(text, file=sys.stderr, flush=True)


# -- test data --------------------------------------------------------------


def sample_message(sender: str, recipient: str, number: int, body_bytes: int = 2048) -> bytes:
    """A plausible French school e-mail of about `body_bytes` of body."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"Compte rendu du conseil de classe n°{number}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=DOMAIN)
    sentence = (
        "Bonjour, voici le compte rendu de la réunion de jeudi : les notes du "
        "deuxième trimestre sont à saisir avant le 14 mars, merci. "
    )
    body = (sentence * (body_bytes // len(sentence) + 1))[:body_bytes]
    words, lines, line = body.split(" "), [], ""
    for word in words:
        if len(line) + len(word) > 70:
            lines.append(line.rstrip())
            line = ""
        line += word + " "
    lines.append(line.rstrip())
    message.set_content("\n".join(lines) + "\n")
    return message.as_bytes(policy=SMTP_POLICY)


def reader(i: int) -> str:
    """The address of the i-th reading client's account (POP3S and IMAPS)."""
    return f"lecteur{i}@{DOMAIN}"


def sender(i: int) -> str:
    """The address of the i-th sending client's account (SMTP)."""
    return f"redacteur{i}@{DOMAIN}"


BIG = f"archives@{DOMAIN}"


def seed(data_dir: Path, accounts: list[str], messages_each: int, big: int = 0) -> float:
    """Create accounts with messages through the store's Python API; returns the seconds taken."""
    from pixlab.db import make_engine, sqlite_url
    from pixlab.lab.store import MailStore

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(sqlite_url(data_dir))
    store = MailStore(engine)
    for address in accounts:
        account = store.create_account(address, PASSWORD)
        for n in range(messages_each):
            store.append(account, "INBOX", sample_message(f"direction@{DOMAIN}", address, n))
    if big:
        account = store.create_account(BIG, PASSWORD, quota_bytes=1 << 40)
        raw = sample_message(f"direction@{DOMAIN}", BIG, 0, body_bytes=600)
        for n in range(big):
            store.append(account, "INBOX", raw, flags=("\\Seen",) if n % 3 else ())
    engine.dispose()
    return time.perf_counter() - started


# -- the lab in its own process ---------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_base() -> int:
    """A port base whose seven lab ports are all free on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 64000 - 1000, 100)
        if all(_port_free(base + p) for p in CANONICAL_PORTS):
            return base
    raise RuntimeError("no free port base found")


def pixlab_command() -> list[str]:
    """The `pixlab` console script beside this interpreter, or the module."""
    script = Path(sys.executable).with_name("pixlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pixlab.cli"]


@dataclass
class Sandbox:
    """A running `pixlab sandbox` process and what its JSON line said."""

    process: subprocess.Popen[str] | None
    info: dict[str, Any]
    started_in: float
    pid_override: int | None = None  # a server that is not `pixlab sandbox` (bare-smtp)
    # For a server of several processes (Dovecot): (CPU seconds of the whole tree, CPU
    # seconds of each of its living processes by pid); None measures one process's threads.
    cpu_meter: Callable[[], tuple[float, dict[int, float]]] | None = None

    @property
    def pid(self) -> int:
        """The lab's process id."""
        if self.pid_override is not None:
            return self.pid_override
        assert self.process is not None
        return self.process.pid

    @property
    def ca(self) -> str:
        """The CA certificate's path."""
        return str(self.info["ca"])

    def port(self, name: str) -> int | None:
        """The real port of a listener, or None when the lab has no such listener."""
        for listener in self.info["listeners"]:
            if listener.get("name") == name:
                return int(listener["port"])
        return None


def start_sandbox(data_dir: Path, timeout: float = 60.0) -> Sandbox:
    """Spawn `pixlab sandbox --json` and wait for its JSON line."""
    for _attempt in range(5):
        base = free_port_base()
        command = pixlab_command() + [
            "sandbox", "--port-base", str(base), "--data-dir", str(data_dir), "--json",
        ]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        line = _read_line(process, timeout)
        elapsed = time.perf_counter() - started
        if line:
            return Sandbox(process, json.loads(line), elapsed)
        stop_sandbox_process(process)
        error = process.stderr.read() if process.stderr else ""
        if "ports" not in error:  # anything but a port taken meanwhile is fatal
            raise RuntimeError(f"pixlab sandbox did not start:\n{error}")
    raise RuntimeError("pixlab sandbox could not open its ports")


def _read_line(process: subprocess.Popen[str], timeout: float) -> str | None:
    result: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        result.append(process.stdout.readline())
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    line = result[0].strip() if result else ""
    return line or None


def stop_sandbox_process(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if the lab is still there after 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def sandbox(data_dir: Path) -> Iterator[Sandbox]:
    """A running lab for the duration of a `with` block."""
    lab = start_sandbox(data_dir)
    try:
        yield lab
    finally:
        assert lab.process is not None
        stop_sandbox_process(lab.process)


def proc_status(pid: int, key: str) -> int:
    """A kB figure from /proc/<pid>/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(whole process, busiest thread) CPU seconds so far, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(path: Path) -> float:
        fields = path.read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    total = stat(Path(f"/proc/{pid}/stat"))
    threads = [stat(p / "stat") for p in Path(f"/proc/{pid}/task").iterdir()]
    return total, max(threads)


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # up to steal; guest time is already in user
    return (total - idle) / ticks, total / ticks


def all_processes_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process of the machine, with its command name."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        fields = text.rpartition(")")[2].split()
        result[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return result


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        result[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return result


# -- the clients --------------------------------------------------------------


@dataclass
class Target:
    """Where the clients connect and what they trust."""

    port: int
    ca: str


def pop3s_session(target: Target, context: ssl.SSLContext, i: int, n: int) -> None:
    """Connect, TLS, USER/PASS, STAT, RETR 1, QUIT."""
    client = poplib.POP3_SSL(HOST, target.port, context=context, timeout=CLIENT_TIMEOUT)
    try:
        client.user(reader(i))
        client.pass_(PASSWORD)
        count, _size = client.stat()
        if count < 1:
            raise RuntimeError("empty maildrop")
        client.retr(1)
        client.quit()
    finally:
        client.close()


MESSAGE_2K: dict[int, bytes] = {}


def smtp_session(target: Target, context: ssl.SSLContext, i: int, n: int) -> None:
    """Connect to 587, STARTTLS, AUTH, one 2 KB message, QUIT."""
    address = sender(i)
    message = MESSAGE_2K.get(i)
    if message is None:
        message = MESSAGE_2K[i] = sample_message(address, address, i, body_bytes=1700)
    client = smtplib.SMTP(HOST, target.port, timeout=CLIENT_TIMEOUT)
    try:
        client.ehlo("poste-eleve")
        client.starttls(context=context)
        client.ehlo("poste-eleve")
        client.login(address, PASSWORD)
        refused = client.sendmail(address, [address], message)
        if refused:
            raise RuntimeError(f"refused: {refused}")
        client.quit()
    finally:
        client.close()


def imaps_session(target: Target, context: ssl.SSLContext, i: int, n: int) -> None:
    """Connect, TLS, LOGIN, SELECT INBOX, FETCH 1 (FLAGS BODY.PEEK[HEADER]), LOGOUT."""
    client = imaplib.IMAP4_SSL(HOST, target.port, ssl_context=context, timeout=CLIENT_TIMEOUT)
    try:
        client.login(reader(i), PASSWORD)
        status, _ = client.select("INBOX")
        if status != "OK":
            raise RuntimeError(f"SELECT: {status}")
        status, data = client.fetch("1", "(FLAGS BODY.PEEK[HEADER])")
        if status != "OK" or not data or data[0] is None:
            raise RuntimeError(f"FETCH: {status}")
        client.logout()
    finally:
        client.shutdown() if client.state != "LOGOUT" else None


SESSIONS: dict[str, Callable[[Target, ssl.SSLContext, int, int], None]] = {
    "pop3s": pop3s_session,
    "smtp": smtp_session,
    "imaps": imaps_session,
}


@dataclass
class WorkerResult:
    """What one load process measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warmup_sessions: int = 0
    cpu: float = 0.0


def load_worker(
    scenario: str,
    target: Target,
    clients: list[int],
    start_at: float,
    end_at: float,
    results: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    """One load process: a thread per client, each running sessions back to back."""
    if CLIENT_CPUS:
        os.sched_setaffinity(0, CLIENT_CPUS)
    session = SESSIONS[scenario]
    result = WorkerResult()
    lock = threading.Lock()
    cpu_at_start: list[float] = []

    def usage() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def client(i: int) -> None:
        context = ssl.create_default_context(cafile=target.ca)
        for n in range(MAX_SESSIONS_PER_CLIENT):
            began = time.time()
            if began >= end_at:
                return
            try:
                session(target, context, i, n)
            except Exception as exc:  # counted and shown, the client goes on
                with lock:
                    if began >= start_at:
                        result.errors += 1
                    if len(result.error_samples) < 3:
                        result.error_samples.append(f"{type(exc).__name__}: {exc}"[:200])
                time.sleep(0.01)
                continue
            ended = time.time()
            with lock:
                if start_at <= ended <= end_at:
                    result.latencies.append(ended - began)
                elif ended < start_at:
                    result.warmup_sessions += 1

    def measure_cpu() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        cpu_at_start.append(usage())

    meter = threading.Thread(target=measure_cpu)
    meter.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    meter.join()
    result.cpu = usage() - cpu_at_start[0]
    results.put(asdict(result))


@dataclass
class LoadFigures:
    """One scenario at one concurrency."""

    scenario: str
    clients: int
    processes: int
    seconds: float
    sessions: int
    per_second: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    errors: int
    lab_cpu_percent: float  # of one core, whole lab process
    lab_busiest_thread_percent: float  # of one core: the loop thread when it is the limit
    lab_cpu_ms_per_session: float
    client_cpu_percent: float  # of one core, all load processes together
    machine_busy_percent: float  # of all the machine's cores, everything included
    others_cpu_percent: float  # of one core: every other process of the machine (not ours)
    error_samples: list[str]


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def spread(clients: int, processes: int) -> list[list[int]]:
    """Client numbers dealt over `processes` processes, round robin."""
    groups: list[list[int]] = [[] for _ in range(min(processes, clients))]
    for i in range(clients):
        groups[i % len(groups)].append(i)
    return groups


def run_load(
    scenario: str, lab: Sandbox, port: int, clients: int, processes: int, seconds: float,
    warmup: float,
) -> LoadFigures:
    """Run `clients` concurrent clients for `seconds` and measure."""
    target = Target(port, lab.ca)
    groups = spread(clients, processes)
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    start_at = time.time() + warmup
    end_at = start_at + seconds
    workers = [
        context.Process(
            target=load_worker, args=(scenario, target, group, start_at, end_at, results)
        )
        for group in groups
    ]
    for worker in workers:
        worker.start()

    def server_cpu() -> tuple[float, dict[int, float]]:
        if lab.cpu_meter is not None:
            return lab.cpu_meter()
        return cpu_seconds(lab.pid)[0], thread_cpu(lab.pid)

    time.sleep(max(0.0, start_at - time.time()))
    (lab_cpu_0, threads_0), system_0 = server_cpu(), system_cpu()
    everyone_0 = all_processes_cpu()
    time.sleep(max(0.0, end_at - time.time()))
    (lab_cpu_1, threads_1), system_1 = server_cpu(), system_cpu()
    everyone_1 = all_processes_cpu()
    ours = {os.getpid(), lab.pid} | {w.pid for w in workers if w.pid is not None}
    if lab.cpu_meter is not None:  # the server's own processes are not "others"
        ours |= set(threads_0) | set(threads_1)
    others = sum(
        cpu - everyone_0.get(pid, (name, 0.0))[1]
        for pid, (name, cpu) in everyone_1.items()
        if pid not in ours
    )
    collected: list[dict[str, Any]] = []
    deadline = end_at + CLIENT_TIMEOUT * 3
    while len(collected) < len(workers) and time.time() < deadline:
        try:
            collected.append(results.get(timeout=1.0))
        except queue.Empty:
            continue
    for worker in workers:
        worker.join(max(0.1, deadline - time.time()))
        if worker.is_alive():
            worker.terminate()
            worker.join()
    latencies = [x for r in collected for x in r["latencies"]]
    errors = sum(r["errors"] for r in collected) + (len(workers) - len(collected))
    samples = [s for r in collected for s in r["error_samples"]][:3]
    busiest = max(
        (threads_1.get(t, 0.0) - threads_0.get(t, 0.0) for t in threads_1), default=0.0
    )
    count = len(latencies)
    return LoadFigures(
        scenario=scenario,
        clients=clients,
        processes=len(groups),
        seconds=seconds,
        sessions=count,
        per_second=count / seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        max_ms=max(latencies, default=float("nan")) * 1000,
        errors=errors,
        lab_cpu_percent=100 * (lab_cpu_1 - lab_cpu_0) / seconds,
        lab_busiest_thread_percent=100 * busiest / seconds,
        lab_cpu_ms_per_session=1000 * (lab_cpu_1 - lab_cpu_0) / count if count else float("nan"),
        client_cpu_percent=100 * sum(r["cpu"] for r in collected) / seconds,
        machine_busy_percent=100 * (system_1[0] - system_0[0]) / (system_1[1] - system_0[1]),
        others_cpu_percent=100 * others / seconds,
        error_samples=samples,
    )


# -- a bare aiosmtpd, for reference ------------------------------------------------


def _bare_smtp_server(ca_dir: str, port: int, ready: Any, stop: Any) -> None:
    """A bare aiosmtpd on 127.0.0.1:port: STARTTLS, AUTH, and a handler that keeps nothing."""
    import asyncio as aio

    from aiosmtpd.smtp import SMTP, AuthResult

    from pixlab.lab import logs
    from pixlab.lab.certs import CertificateAuthority, CertificateKind, ServedCertificate

    logs.configure()  # as the lab does: no AUTH line, no warning at every login
    ca = CertificateAuthority(Path(ca_dir))
    context = ca.server_context(ServedCertificate(CertificateKind.VALID, ("127.0.0.1",)))

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 Ok: queued"

    def accept(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=data.password == PASSWORD.encode(), auth_data=data)

    async def serve() -> None:
        loop = aio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), tls_context=context, require_starttls=True,
                         authenticator=accept, loop=loop),
            HOST, port, backlog=256,
        )
        ready.set()
        while not stop.is_set():
            await aio.sleep(0.2)
        server.close()

    aio.run(serve())


def run_bare_smtp(work: Path, ca_dir: Path, concurrencies: list[int], args: Any) -> list[Any]:
    """The SMTP scenario against a bare aiosmtpd in its own process."""
    context = multiprocessing.get_context("fork")
    ready, stop = context.Event(), context.Event()
    port = free_port_base() + 587
    server = context.Process(target=_bare_smtp_server, args=(str(ca_dir), port, ready, stop))
    server.start()
    figures = []
    try:
        if not ready.wait(30):
            raise RuntimeError("the bare aiosmtpd did not start")
        info = {"ca": str(ca_dir / "pixlab-ca.pem"), "listeners": []}
        lab = Sandbox(process=None, info=info, started_in=0.0, pid_override=server.pid)
        for clients in concurrencies:
            log(f"bare-smtp: {clients} client(s) for {args.seconds:.0f} s ...")
            result = run_load("smtp", lab, port, clients, args.processes, args.seconds,
                              args.warmup)
            result.scenario = "bare-smtp"
            figures.append(asdict(result))
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()
    return figures


# -- Dovecot, for reference ------------------------------------------------------

DOVECOT_INSTALL = "apt-get install dovecot-core dovecot-pop3d dovecot-imapd"


def dovecot_binary() -> str | None:
    """The `dovecot` program, looked for in PATH and in the sbin directories."""
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def process_tree_cpu(root: int) -> tuple[float, dict[int, float]]:
    """CPU seconds of a process tree, and of each of its living processes by pid.

    The total is, for the root and every living descendant, utime + stime +
    cutime + cstime: a child that exited and was reaped is in its parent's
    cutime/cstime, a living one in its own utime/stime, so that a session's
    process is counted once whether it is still there or not.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    own: dict[int, float] = {}
    reaped: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        own[pid] = (int(fields[11]) + int(fields[12])) / ticks
        reaped[pid] = (int(fields[13]) + int(fields[14])) / ticks
    tree, pending = {}, [root]
    while pending:
        pid = pending.pop()
        if pid in own and pid not in tree:
            tree[pid] = own[pid]
            pending.extend(children.get(pid, []))
    return sum(tree[pid] + reaped[pid] for pid in tree), tree


def seed_maildir(
    root: Path, accounts: list[str], messages_each: int, uid: int, gid: int
) -> dict[str, Path]:
    """The same accounts and messages as `seed`, as Maildir files; returns each one's home."""
    homes = {}
    stamp = int(time.time())
    for address in accounts:
        local, _, domain = address.partition("@")
        home = root / domain / local
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True)
        for n in range(messages_each):
            wire = sample_message(f"direction@{DOMAIN}", address, n)
            raw = wire.replace(b"\r\n", b"\n")  # as a local delivery agent stores it
            name = f"{stamp}.M{n}P{os.getpid()}.pixlab,S={len(raw)},W={len(wire)}:2,"
            (home / "Maildir" / "cur" / name).write_bytes(raw)
        homes[address] = home
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, gid)
    return homes


def dovecot_users() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid) for Dovecot.

    As root, Debian's `dovecot` and `dovenull` users and the mail owned by
    `nobody` (Dovecot refuses uid 0 for mail); otherwise the current user for all.
    """
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid

    def exists(name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    nobody = pwd.getpwnam("nobody")
    internal = "dovecot" if exists("dovecot") else "nobody"
    login = "dovenull" if exists("dovenull") else "nobody"
    return internal, login, nobody.pw_uid, nobody.pw_gid


def dovecot_config(
    directory: Path, cert: Path, key: Path, pop3s: int, imaps: int, passwd: Path,
    reuse: bool = False,
) -> str:
    """A Dovecot 2.3 configuration in high-performance mode, everything under `directory`.

    With `reuse`, the post-login processes serve up to 1,000 sessions each too
    (all the mail belongs to one uid, which process reuse needs).
    """
    internal, login, uid, _gid = dovecot_users()
    cpus = os.cpu_count() or 1
    post_login = "".join(
        f"service {name} {{\n  service_count = 1000\n  process_min_avail = {cpus}\n}}\n"
        for name in ("pop3", "imap")
    ) if reuse else ""
    return f"""# Generated by benchmarks/lab.py: a reference Dovecot for the benchmark.
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
protocols = pop3 imap
listen = {HOST}
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {min(uid, 500)}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
auth_cache_size = 10M
auth_cache_ttl = 1 hour
auth_cache_negative_ttl = 1 hour
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
mail_location = maildir:~/Maildir
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = {HOST}
    port = {pop3s}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = {cpus}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {imaps}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = {cpus}
}}
""" + post_login


def _wait_for_ports(process: subprocess.Popen[str], ports: list[int], timeout: float) -> bool:
    deadline = time.time() + timeout
    waiting = list(ports)
    while waiting and time.time() < deadline and process.poll() is None:
        try:
            with socket.create_connection((HOST, waiting[0]), timeout=1.0):
                waiting.pop(0)
        except OSError:
            time.sleep(0.05)
    return not waiting and process.poll() is None


def run_dovecot(
    work: Path, ca_dir: Path, concurrencies: list[int], args: Any, notes: list[str],
    reuse: bool = False,
) -> list[Any]:
    """The pop3s and imaps scenarios against Dovecot in the foreground, in its own directory."""
    name = "dovecot-reuse" if reuse else "dovecot"
    binary = dovecot_binary()
    if binary is None:
        line = f"{name}: Dovecot is not installed, reference skipped (install: {DOVECOT_INSTALL})"
        log(line)
        notes.append(line)
        return []
    from pixlab.lab.certs import CertificateAuthority, CertificateKind, ServedCertificate

    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    notes.append(f"{name}: {binary} {version.strip()}, high-performance login processes"
                 + (", post-login processes reused" if reuse else "")
                 + "; its rows: lab CPU is Dovecot's whole process tree, loop thr its busiest"
                 " process")
    directory = work / name
    directory.mkdir()
    if os.geteuid() == 0:  # the mail user must reach its Maildir under the temporary dir
        work.chmod(0o711)
        directory.chmod(0o711)
    cert, key = CertificateAuthority(ca_dir).issue(
        ServedCertificate(CertificateKind.VALID, ("localhost", HOST))
    )
    _internal, _login, uid, gid = dovecot_users()
    homes = seed_maildir(directory / "mail", [reader(i) for i in range(max(concurrencies))],
                         20, uid, gid)
    passwd = directory / "passwd"
    passwd.write_text("".join(
        f"{address}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{home}::\n"
        for address, home in homes.items()
    ))
    base = free_port_base()
    ports = {"pop3s": base + 995, "imaps": base + 993}
    config = directory / "dovecot.conf"
    config.write_text(dovecot_config(directory, cert, key, ports["pop3s"], ports["imaps"], passwd,
                                     reuse))
    with (directory / "stderr.log").open("w") as stderr:
        process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                                   stderr=stderr, text=True)
    figures = []
    try:
        if not _wait_for_ports(process, list(ports.values()), 30):
            logs = [directory / "stderr.log", directory / "dovecot.log"]
            text = "".join(p.read_text() for p in logs if p.exists())
            raise RuntimeError(f"dovecot did not start:\n{text[-3000:]}")
        info = {"ca": str(ca_dir / "pixlab-ca.pem"), "listeners": []}
        server = Sandbox(process=process, info=info, started_in=0.0,
                         cpu_meter=lambda: process_tree_cpu(process.pid))
        for scenario, port in ports.items():
            for clients in concurrencies:
                log(f"{name}-{scenario}: {clients} client(s) for {args.seconds:.0f} s ...")
                result = run_load(scenario, server, port, clients, args.processes, args.seconds,
                                  args.warmup)
                result.scenario = f"{name}-{scenario}"
                figures.append(asdict(result))
    finally:
        stop_sandbox_process(process)
    errors = [line for line in (directory / "dovecot.log").read_text(errors="replace")
              .splitlines() if "Error" in line or "Fatal" in line]
    for line in errors[:3]:
        notes.append(f"{name} log: {line[:200]}")
    return figures


# -- the one-off measurements ---------------------------------------------------


def select_10k(lab: Sandbox, port: int, runs: int = 3) -> dict[str, Any]:
    """SELECT INBOX of BIG plus `UID FETCH 1:* (FLAGS)`: the best and every run, in seconds."""
    context = ssl.create_default_context(cafile=lab.ca)
    times = []
    count = 0
    for _ in range(runs):
        client = imaplib.IMAP4_SSL(HOST, port, ssl_context=context, timeout=60)
        try:
            client.login(BIG, PASSWORD)
            began = time.perf_counter()
            status, data = client.select("INBOX")
            status2, flags = client.uid("FETCH", "1:*", "(FLAGS)")
            times.append(time.perf_counter() - began)
            if status != "OK" or status2 != "OK":
                raise RuntimeError(f"SELECT {status} / UID FETCH {status2}")
            count = len([f for f in flags if f])
            client.logout()
        finally:
            client.shutdown() if client.state != "LOGOUT" else None
    return {"best_s": min(times), "runs_s": times, "messages": int(data[0] or 0), "fetched": count}


def measure_rss(
    work: Path, ca_dir: Path, accounts: int, messages_each: int, processes: int
) -> dict[str, Any]:
    """The lab's RSS with `accounts` accounts of `messages_each` messages."""
    data_dir = work / "rss"
    shutil.copytree(ca_dir, data_dir / "tls")
    log(f"  seeding {accounts} accounts x {messages_each} messages ...")
    seeded = seed(data_dir, [reader(i) for i in range(accounts)], messages_each)
    log(f"  seeded in {seeded:.1f} s")
    with sandbox(data_dir) as lab:
        time.sleep(1.0)
        idle = proc_status(lab.pid, "VmRSS")
        port = lab.port("pop3s")
        assert port is not None
        # One POP3S session (with RETR 1) on every account, 16 at a time.
        context = multiprocessing.get_context("fork")
        results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        groups = spread(accounts, processes)
        workers = [
            context.Process(target=_touch_accounts, args=(Target(port, lab.ca), g, results))
            for g in groups
        ]
        for worker in workers:
            worker.start()
        failures = 0
        for _ in workers:
            try:
                failures += results.get(timeout=300)
            except queue.Empty:
                failures += 1
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.terminate()
        time.sleep(1.0)
        touched = proc_status(lab.pid, "VmRSS")
        peak = proc_status(lab.pid, "VmHWM")
    return {
        "accounts": accounts,
        "messages_each": messages_each,
        "idle_mb": idle / 1024,
        "after_every_account_mb": touched / 1024,
        "peak_mb": peak / 1024,
        "session_failures": failures,
    }


def _touch_accounts(target: Target, numbers: list[int], results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    context = ssl.create_default_context(cafile=target.ca)
    failures = 0
    lock = threading.Lock()
    pending = list(numbers)

    def run() -> None:
        nonlocal failures
        while True:
            with lock:
                if not pending:
                    return
                i = pending.pop()
            try:
                pop3s_session(target, context, i, 0)
            except Exception:
                with lock:
                    failures += 1

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(failures)


def measure_start(work: Path, ca_dir: Path, runs: int = 5) -> dict[str, Any]:
    """Spawn to JSON line of `pixlab sandbox`, with the CA already made."""
    data_dir = work / "start"
    shutil.copytree(ca_dir, data_dir / "tls")
    seed(data_dir, [reader(0)], 1)
    times = []
    for _ in range(runs):
        lab = start_sandbox(data_dir)
        times.append(lab.started_in)
        assert lab.process is not None
        stop_sandbox_process(lab.process)
    return {"best_s": min(times), "median_s": statistics.median(times), "runs_s": times}


# -- the report -------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def print_report(report: dict[str, Any]) -> None:
    """The readable table."""
    m = report["machine"]
    log("")
    log(f"PixLab lab benchmark: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"load average before {m['load_average'][0]:.2f}, after {report['load_after'][0]:.2f}")
    log(f"Load: {report['load_method']}")
    loads = report["load"]
    if loads:
        log("")
        width = max(10, *(len(f["scenario"]) for f in loads))
        header = (f"{'scenario':{width}} {'clients':>7} {'sessions/s':>10} {'p50 ms':>8} "
                  f"{'p95 ms':>8} {'max ms':>8} {'errors':>6} {'lab CPU':>8} "
                  f"{'loop thr':>8} {'lab ms/s':>8} {'clients CPU':>11} {'others':>6} "
                  f"{'machine':>7}")
        log(header)
        log("-" * len(header))
        for f in loads:
            log(f"{f['scenario']:{width}} {f['clients']:>7} {f['per_second']:>10.1f} "
                f"{f['p50_ms']:>8.1f} {f['p95_ms']:>8.1f} {f['max_ms']:>8.1f} "
                f"{f['errors']:>6} {f['lab_cpu_percent']:>7.0f}% "
                f"{f['lab_busiest_thread_percent']:>7.0f}% {f['lab_cpu_ms_per_session']:>8.2f} "
                f"{f['client_cpu_percent']:>10.0f}% {f['others_cpu_percent']:>5.0f}% "
                f"{f['machine_busy_percent']:>6.0f}%")
            for sample in f["error_samples"]:
                log(f"    error: {sample}")
        log("(lab CPU: the lab process, % of one core; loop thr: its busiest thread; "
            "lab ms/s: lab CPU ms per session; clients CPU: all load processes, "
            "% of one core; others: every other process of the machine; "
            "machine: all cores busy, % of the machine)")
    for note in report["notes"]:
        log(note)
    if "select10k" in report:
        s = report["select10k"]
        log(f"\nSELECT INBOX ({s['messages']} messages) + UID FETCH 1:* (FLAGS): "
            f"best {s['best_s'] * 1000:.0f} ms "
            f"(runs: {', '.join(f'{t * 1000:.0f}' for t in s['runs_s'])} ms)")
    if "rss" in report:
        r = report["rss"]
        log(f"\nRSS with {r['accounts']} accounts x {r['messages_each']} messages: "
            f"{r['idle_mb']:.0f} MB idle after start, {r['after_every_account_mb']:.0f} MB "
            f"after a POP3S session on every account (peak {r['peak_mb']:.0f} MB, "
            f"{r['session_failures']} failed sessions)")
    if "start" in report:
        s = report["start"]
        log(f"\nStart of pixlab sandbox (CA already made), spawn to JSON line: "
            f"best {s['best_s'] * 1000:.0f} ms, median {s['median_s'] * 1000:.0f} ms "
            f"(runs: {', '.join(f'{t * 1000:.0f}' for t in s['runs_s'])} ms)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured time before it")
    parser.add_argument("--only", default=",".join(DEFAULT_SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--clients", default="1,16", help="concurrencies to measure")
    parser.add_argument("--client-cpus", default="",
                        help="CPUs the load processes are kept on, e.g. 1 (default: any)")
    parser.add_argument("--processes", type=int, default=4,
                        help="load processes (clients are dealt over them as threads)")
    parser.add_argument("--rss-accounts", type=int, default=1000)
    parser.add_argument("--rss-messages", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    concurrencies = [int(c) for c in args.clients.split(",")]
    most = max(concurrencies)
    CLIENT_CPUS.update(int(c) for c in args.client_cpus.split(",") if c)

    report: dict[str, Any] = {
        "machine": machine(),
        "load_method": (
            f"clients dealt round robin over up to {args.processes} processes "
            "(multiprocessing, fork), one thread per client, stdlib poplib/smtplib/imaplib, "
            f"TLS verifying the lab CA, 127.0.0.1 through the tap; {args.warmup:.1f} s warm-up, "
            f"then {args.seconds:.0f} s measured; the lab runs alone in a `pixlab sandbox` process"
            + (f"; load processes kept on CPU {args.client_cpus}" if CLIENT_CPUS else "")
        ),
        "load": [],
        "notes": [],
    }
    work = Path(tempfile.mkdtemp(prefix="pixlab-bench-"))
    try:
        main_dir = work / "lab"
        wants_load = [s for s in LOAD_SCENARIOS if s in only]
        log(f"seeding {most} reader accounts x 20 messages, {most} sender accounts"
            + (" and one 10,000-message INBOX" if "select10k" in only else "") + " ...")
        seed(main_dir, [reader(i) for i in range(most)], 20,
             big=10_000 if "select10k" in only else 0)
        seed(main_dir, [sender(i) for i in range(most)], 0)
        with sandbox(main_dir) as lab:
            log(f"lab started (first start, CA made) in {lab.started_in:.2f} s, pid {lab.pid}")
            for scenario in wants_load:
                port = lab.port({"pop3s": "pop3s", "smtp": "submission",
                                 "imaps": "imaps"}[scenario])
                if port is None:
                    report["notes"].append(f"{scenario}: not available yet")
                    log(f"{scenario}: not available yet")
                    continue
                for clients in concurrencies:
                    log(f"{scenario}: {clients} client(s) for {args.seconds:.0f} s ...")
                    figures = run_load(scenario, lab, port, clients, args.processes,
                                       args.seconds, args.warmup)
                    report["load"].append(asdict(figures))
            if "select10k" in only:
                port = lab.port("imaps")
                if port is None:
                    report["notes"].append("select10k: not available yet (no imaps listener)")
                    log("select10k: not available yet")
                else:
                    log("select10k ...")
                    report["select10k"] = select_10k(lab, port)
        ca_dir = main_dir / "tls"
        if "bare-smtp" in only:
            report["load"] += run_bare_smtp(work, ca_dir, concurrencies, args)
        if "dovecot" in only:
            report["load"] += run_dovecot(work, ca_dir, concurrencies, args, report["notes"])
        if "dovecot-reuse" in only:
            report["load"] += run_dovecot(work, ca_dir, concurrencies, args, report["notes"],
                                          reuse=True)
        if "start" in only:
            log("start time ...")
            report["start"] = measure_start(work, ca_dir)
        if "rss" in only:
            log("rss ...")
            report["rss"] = measure_rss(work, ca_dir, args.rss_accounts, args.rss_messages,
                                        args.processes)
    finally:
        if args.keep:
            log(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    print_report(report)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
