"""The `pixlab` command: `serve` (the app and its lab), `sandbox` (the lab alone), `scenarios`,
`trainer`."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pixlab.db import DATABASE_URL_HELP
from pixlab.lab.config import DEFAULT_DOMAIN, LabConfig
from pixlab.lab.runner import Lab
from pixlab.lab.store import StoreError
from pixlab.scenarios.cli import add_commands as add_scenario_commands
from pixlab.typography import french
from pixlab.workshops.cli import add_commands as add_trainer_commands

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEFAULT_DATA_DIR = os.environ.get("PIXLAB_DATA_DIR", "instance")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="pixlab", description="PixLab, le labo de messagerie.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="l'application web et son labo de messagerie")
    serve.add_argument("--host", default=None,
                       help="adresse d'écoute, web et labo (127.0.0.1 ; avec --lan : "
                            "l'adresse de l'ordinateur sur le réseau local)")
    serve.add_argument("--lan", action="store_true",
                       help="écouter sur le réseau de la classe, pour les vrais logiciels")
    serve.add_argument("--usual-ports", action="store_true",
                       help="le labo écoute sur les ports habituels (25, 465, 587, 143, 993, "
                            "110, 995)")
    serve.add_argument("--port", type=int, default=5000, help="port de l'application web")
    serve.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR))
    serve.add_argument("--mail-port-base", type=int, default=10000,
                       help="le labo écoute sur base + port habituel (10993 pour 993)")
    serve.add_argument("--https", action="store_true",
                       help="servir en HTTPS (certificat signé par l'autorité du labo) : "
                            "les pages du formateur s'ouvrent alors depuis le réseau")
    serve.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
    serve.set_defaults(run=_serve)

    sandbox = commands.add_parser(
        "sandbox", help="le labo de messagerie seul, pour de vrais logiciels"
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port-base", type=int, default=10000)
    sandbox.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR))
    sandbox.add_argument("--domain", action="append", help=f"domaine du labo ({DEFAULT_DOMAIN})")
    sandbox.add_argument("--account", action="append", default=[], metavar="ADRESSE:MOT_DE_PASSE")
    sandbox.add_argument("--allow-cleartext", action="store_true",
                         help="accepter l'identification sans chiffrement (143, 110, 587)")
    sandbox.add_argument("--json", action="store_true", help="une ligne JSON une fois prêt")
    sandbox.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
    sandbox.set_defaults(run=_sandbox)
    add_scenario_commands(commands)
    add_trainer_commands(commands)

    db = commands.add_parser("db", help="la base de données de PixLab")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="mettre la base à jour (la créer si elle n'existe pas)"
    )
    upgrade.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR))
    upgrade.add_argument("--revision", default="head",
                         help="la version voulue (head : la dernière)")
    upgrade.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
    upgrade.set_defaults(run=_db_upgrade)

    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


def _parse_accounts(specs: list[str]) -> list[tuple[str, str]]:
    accounts = []
    for spec in specs:
        address, sep, password = spec.partition(":")
        if not sep or "@" not in address or not password:
            raise SystemExit(
                f"pixlab: --account {address or spec!r} : écrivez ADRESSE:MOT_DE_PASSE, "
                "par exemple eleve@lycee-exemple.test:Cahier-2026"
            )
        accounts.append((address, password))
    return accounts


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _sandbox(args: argparse.Namespace) -> int:
    accounts = _parse_accounts(args.account)
    config = LabConfig(
        host=args.host,
        port_base=args.port_base,
        domains=tuple(args.domain or (DEFAULT_DOMAIN,)),
        allow_cleartext=args.allow_cleartext,
    )
    lab = Lab(config, args.data_dir, url=args.database_url)
    try:
        for address, password in accounts:
            lab.store.create_account(address, password)
    except StoreError as exc:
        raise SystemExit(f"pixlab: {exc}") from None
    try:
        lab.start()
    except OSError as exc:
        raise SystemExit(bind_error(exc, usual_ports=False)) from None
    try:
        if args.json:
            print(json.dumps({
                "domain": lab.world.primary_domain,
                "ca": str(lab.ca.ca_path.resolve()),
                "postmaster": {"address": lab.postmaster_address,
                               "password_file": str(lab.postmaster_password_path.resolve())},
                "listeners": [info.as_json() for info in lab.listeners],
            }), flush=True)
        else:
            for info in lab.listeners:
                print(f"{info.spec.protocol.upper():5} {info.spec.port_canonical:>4} "
                      f"({info.security:8}) -> {info.host}:{info.port}")
            print(f"CA    {lab.ca.ca_path.resolve()}")
            print(_postmaster_line(lab))
            if not accounts:
                print("Aucun compte créé : ajoutez --account adresse:mot_de_passe.")
            print("Ctrl-C pour arrêter.", flush=True)
        _wait_for_signal()
    finally:
        lab.stop()
    return 0


def _postmaster_line(lab: Lab) -> str:
    # The password stays in its file: a terminal's scrollback is a log too.
    return (f"Postmaster : {lab.postmaster_address} (mot de passe dans "
            f"{lab.postmaster_password_path.resolve()})")


def _db_upgrade(args: argparse.Namespace) -> int:
    from pixlab.db import connect_engine, current_revision, database_url, upgrade

    args.data_dir.mkdir(parents=True, exist_ok=True)
    engine = connect_engine(database_url(args.data_dir, args.database_url))
    try:
        before = current_revision(engine)
        upgrade(engine, args.revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"La base est déjà à jour ({after}).")
    else:
        print(f"Base mise à jour : {before or 'vide'} -> {after}.")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from pixlab.web import create_app
    from pixlab.web.workshops import start_purger

    host = _serve_host(args)
    config = LabConfig(host=host, port_base=args.mail_port_base, usual_ports=args.usual_ports)
    # The lab opens (and upgrades) the database before anything is served.
    lab = Lab(config, args.data_dir, url=args.database_url)
    try:
        lab.start()
    except OSError as exc:
        raise SystemExit(bind_error(exc, args.usual_ports)) from None
    try:
        app = create_app({"DATA_DIR": str(args.data_dir)}, lab=lab)
        try:
            server = (_https_server(app, host, args.port, lab) if args.https
                      else _http_server(app, host, args.port))
        except OSError as exc:
            raise SystemExit(french(
                f"pixlab : impossible d'ouvrir le port {args.port} de l'application web "
                f"({exc.strerror or exc}). Choisissez-en un autre avec --port."
            )) from None
        scheme = "https" if args.https else "http"
        url = f"{scheme}://{_url_host(announced_host(host))}:{server.port}/"
        # The QR code of the sheet names this address, not the one a page was asked by.
        app.config["PUBLIC_URL"] = url
        # The retention purge runs now, then every hour, while PixLab serves.
        purger = start_purger(app)
        # Both signals unwind the server as Ctrl-C does, so the lab stops below.
        signal.signal(signal.SIGTERM, _interrupt)
        print(french(f"PixLab : {url}  (Ctrl-C pour arrêter)"))
        if args.lan or args.host:
            print(_reach_line(announced_host(host), url))
        print(_postmaster_line(lab), flush=True)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            purger.stop()
    finally:
        lab.stop()
    return 0


def _serve_host(args: argparse.Namespace) -> str:
    """Where `serve` listens: --host, else the laptop's LAN address with --lan, else loopback."""
    if args.host:
        return str(args.host)
    if not args.lan:
        return "127.0.0.1"
    from pixlab.lab.lan import lan_address

    address = lan_address()
    if address is None:
        raise SystemExit(french(
            "pixlab : cet ordinateur n'est relié à aucun réseau (pas de route par défaut). "
            "Connectez-le au Wi-Fi ou au réseau de la classe, ou choisissez l'adresse "
            "avec --host."
        ))
    return address


def announced_host(host: str) -> str:
    """The address to give the class: a server bound to every address (0.0.0.0, ::)
    is reached by the laptop's address on the network, or its name when it has none."""
    if not _everywhere(host):
        return host
    from pixlab.lab.lan import lan_address

    return lan_address() or socket.gethostname()


def _reach_line(host: str, url: str) -> str:
    from pixlab.lab.lan import is_loopback

    if is_loopback(host):
        return french(f"{host} est une adresse de bouclage : seul cet ordinateur l'atteint, "
                      "pas les appareils des élèves.")
    return french(f"À donner à la classe : {url}")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def bind_error(exc: OSError, usual_ports: bool) -> str:
    """What to say, in French, when the lab cannot open its ports (never a traceback)."""
    found = re.search(r"(\d+)\)", str(exc))
    where = f" (port {found.group(1)})" if found else ""
    start = f"pixlab : impossible d'ouvrir les ports du labo{where}."
    if isinstance(exc, PermissionError) or exc.errno == errno.EACCES:
        python = os.path.realpath(sys.executable)
        return french(
            f"{start} Il faut le droit d'utiliser les ports sous 1024, comme 993. Deux "
            "solutions : donnez ce droit à Python une fois pour toutes (sudo setcap "
            f"cap_net_bind_service=+ep {python}), ou lancez sans --usual-ports : le labo "
            "prend alors les ports 10000 + le port habituel (10993 pour 993)."
        )
    if exc.errno == errno.EADDRINUSE:
        advice = (
            "Arrêtez le serveur de courrier qui l'occupe, ou lancez sans --usual-ports."
            if usual_ports else "Choisissez une autre base avec --mail-port-base ou --port-base."
        )
        return french(f"{start} Un autre programme l'utilise déjà. {advice}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return french(f"{start} Cette adresse n'appartient pas à cet ordinateur : vérifiez --host "
                "(la commande « ip address » les liste).")
    return french(f"{start} ({exc.strerror or exc})")


class _WebServer:
    """The web server `pixlab serve` runs: its port, run() until interrupted, close()."""

    def __init__(self, port: int, run: Callable[[], object], close: Callable[[], object]) -> None:
        self.port = port
        self.run = run
        self.close = close


def _http_server(app: WSGIApplication, host: str, port: int) -> _WebServer:
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=8)
    return _WebServer(int(server.effective_port), server.run, server.close)


def _https_server(app: WSGIApplication, host: str, port: int, lab: Lab) -> _WebServer:
    """Cheroot behind TLS, with a certificate for the bound address signed by the lab's CA.

    Waitress speaks no TLS (its documentation sends you to a proxy in front);
    a second process such as nginx or stunnel is one more thing for a
    trainer to install and start. Cheroot (CherryPy's WSGI server, pure
    Python, threads like waitress) serves TLS from the standard ssl module in
    the same process, next to the lab's loop thread.
    """
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from pixlab.lab.certs import CertificateKind, ServedCertificate

    names = _certificate_names(host)
    served = ServedCertificate(CertificateKind.VALID, names)
    cert_path, key_path = lab.ca.issue(served)
    server = wsgi.Server((host, port), app, numthreads=8)
    adapter = BuiltinSSLAdapter(str(cert_path), str(key_path))
    adapter.context = lab.ca.server_context(served)  # TLS 1.2 at least, as the lab's servers
    server.ssl_adapter = adapter
    server.prepare()  # binds now, so that a taken port is said before "ready"

    def run() -> None:
        # Cheroot is stopped from another thread, never by a KeyboardInterrupt
        # raised inside its connection loop (which can leave stop() waiting).
        threading.Thread(target=server.serve, name="pixlab-https", daemon=True).start()
        _wait_for_signal()

    return _WebServer(int(server.bind_addr[1]), run, server.stop)


def _everywhere(host: str) -> bool:
    """Whether a server bound to `host` listens on every address (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        return False


def _certificate_names(host: str) -> tuple[str, ...]:
    """The names a browser may type to reach this server: the bound address first."""
    from pixlab.web.security import own_addresses

    names = [host, "localhost", "127.0.0.1", "::1"]
    if _everywhere(host):
        # Listening on every address: the trainer may give the class any of them.
        names[0] = socket.gethostname()
        names += [str(a) for a in sorted(own_addresses(), key=str) if not a.is_link_local]
    return tuple(dict.fromkeys(names))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
