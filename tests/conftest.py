"""Shared fixtures: a running lab on ephemeral ports, the Flask app, a browser."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import postgres
import pytest

from pixlab.db import DATABASE_URL_VARIABLE
from pixlab.lab.config import LabConfig
from pixlab.lab.runner import Lab

DOMAIN = "lycee-exemple.test"
ADDRESS = f"eleve@{DOMAIN}"
PASSWORD = "Cahier-2026"


def lab_config(**overrides: object) -> LabConfig:
    """A test lab: ephemeral ports, short timeouts."""
    values: dict[str, object] = {
        "port_base": 0,
        "preauth_timeout": 5.0,
        "tls_handshake_timeout": 2.0,
        # Failed logins from network peers wait, but only milliseconds here: tests fail often.
        "auth_failure_delay": 0.002,
        "auth_failure_delay_max": 0.016,
    }
    values.update(overrides)
    return LabConfig(**values)  # type: ignore[arg-type]


# -- the database: SQLite, and PostgreSQL for the tests marked both_databases ----------

DATABASES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    """The marker that runs a module or a test on both databases."""
    config.addinivalue_line(
        "markers", "both_databases: runs once on SQLite and once on a throwaway PostgreSQL")


def pytest_report_header(config: pytest.Config) -> str:
    """One line saying whether the PostgreSQL half of the suite can run."""
    reason = postgres.why_not()
    return f"postgresql: {reason}" if reason else f"postgresql: {postgres.find_pg_ctl()}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked both_databases that touches the database runs on each engine."""
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_databases"
    ):
        metafunc.parametrize("database_url", DATABASES, indirect=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where PostgreSQL is missing: one line that says how many tests it skipped, and why."""
    reason = postgres.why_not()
    skipped = terminalreporter.stats.get("skipped", [])
    mine = [r for r in skipped if "postgresql" in getattr(r, "nodeid", "")]
    if reason and mine:
        terminalreporter.write_line(f"{len(mine)} tests on PostgreSQL skipped: {reason}",
                                    yellow=True)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[postgres.PostgresServer]:
    """A PostgreSQL cluster for the whole run (skipped, with the reason, where there is none)."""
    reason = postgres.why_not()
    if reason:
        pytest.skip(reason)
    server, stop = postgres.start_cluster()
    yield server
    stop()


@pytest.fixture
def database_url(request: pytest.FixtureRequest,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """The database of this test's labs: None (SQLite in the data directory) or a fresh
    PostgreSQL database at the newest schema, dropped after the test.

    PIXLAB_DATABASE_URL names it too, so that a lab the test restarts itself and a
    `pixlab` command it runs open the same database.
    """
    if getattr(request, "param", "sqlite") == "sqlite":
        monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
        yield None
        return
    server: postgres.PostgresServer = request.getfixturevalue("postgresql_server")
    name, url = server.new_database()
    monkeypatch.setenv(DATABASE_URL_VARIABLE, url)
    yield url
    server.drop_database(name)


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the whole run: making certificates is the slow part of a lab's start."""
    return tmp_path_factory.mktemp("ca")


@pytest.fixture
def make_lab(tmp_path: Path, ca_dir: Path, database_url: str | None) -> Iterator:
    """Start labs with a given configuration; they are stopped after the test."""
    labs: list[Lab] = []

    def start(data_dir: Path | None = None, **overrides: object) -> Lab:
        data_dir = data_dir or tmp_path / f"lab{len(labs)}"
        if not (data_dir / "tls").exists():
            shutil.copytree(ca_dir / "tls", data_dir / "tls") if (ca_dir / "tls").exists() else None
        lab = Lab(lab_config(**overrides), data_dir, url=database_url).start()
        if not (ca_dir / "tls").exists():
            shutil.copytree(data_dir / "tls", ca_dir / "tls")
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()
        # A test may read the database after stopping its lab: close what it opened.
        lab.engine.dispose()


@pytest.fixture
def lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    """A running lab with the secure defaults and one account, eleve@lycee-exemple.test."""
    lab = make_lab()
    lab.store.create_account(ADDRESS, PASSWORD)
    return lab


@pytest.fixture
def tls_context(lab: Lab) -> ssl.SSLContext:
    """What a well-configured mail program trusts: the lab's CA, nothing else."""
    return ssl.create_default_context(cafile=str(lab.ca.ca_path))


@pytest.fixture
def app(lab: Lab, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The web app wired to the running lab."""
    from pixlab.web import create_app

    return create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True}, lab=lab)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """A Flask test client (CSRF on, as in production)."""
    return app.test_client()


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app served by waitress on an ephemeral port, as `pixlab serve` does; yields its URL."""
    import threading

    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium when it is there (Playwright cannot download its own here)."""
    chromium = shutil.which("chromium")
    args = {**browser_type_launch_args, "args": ["--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]}
    if chromium:
        args["executable_path"] = chromium
    return args


# -- every page a browser test opens: no CSP violation, no console error -------

# Runs before any page script. Playwright injects it through the DevTools
# protocol, which the page's Content-Security-Policy does not govern.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.pixlabCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` in ${e.sourceFile || e.documentURI}:${e.lineNumber} ${e.sample || ""}`);
});
"""


class PageWatch:
    """Collects, for every page of a browser context, CSP violations and console errors."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, context) -> None:  # type: ignore[no-untyped-def]
        """Watch every page this context opens (a context without JavaScript reports only
        what the browser prints, which includes its CSP refusals)."""
        def violation(source: dict, text: str) -> None:
            self.problems.append(f"CSP violation on {source['frame'].url}: {text}")

        context.expose_binding("pixlabCspViolation", violation)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        context.on("page", self._watch_page)
        for page in context.pages:
            self._watch_page(page)

    def _watch_page(self, page) -> None:  # type: ignore[no-untyped-def]
        page.on("console", lambda message: message.type == "error" and self.problems.append(
            f"console error on {page.url}: {message.text} ({message.location.get('url')})"))
        page.on("pageerror", lambda error: self.problems.append(
            f"uncaught error on {page.url}: {error}"))


@pytest.fixture
def page_watch() -> Iterator[PageWatch]:
    """Fails the test at teardown when a watched page broke the CSP or printed an error."""
    watch = PageWatch()
    yield watch
    assert watch.problems == [], "\n".join(watch.problems)


@pytest.fixture
def context(context, page_watch: PageWatch):  # type: ignore[no-untyped-def]
    """pytest-playwright's context (and so every test's `page`), watched by `page_watch`."""
    page_watch.attach(context)
    return context
