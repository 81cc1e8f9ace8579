"""The `pixlab` command: `serve` (the app and its lab), `sandbox` (the lab alone), `scenarios`,
`trainer`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from pixlab.lab.config import DEFAULT_DOMAIN, LabConfig
from pixlab.lab.runner import Lab
from pixlab.lab.store import StoreError
from pixlab.scenarios.cli import add_commands as add_scenario_commands
from pixlab.workshops.cli import add_commands as add_trainer_commands

DEFAULT_DATA_DIR = os.environ.get("PIXLAB_DATA_DIR", "instance")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="pixlab", description="PixLab, le labo de messagerie.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="l'application web et son labo de messagerie")
    serve.add_argument("--host", default="127.0.0.1", help="adresse d'écoute (web et labo)")
    serve.add_argument("--port", type=int, default=5000, help="port de l'application web")
    serve.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR))
    serve.add_argument("--mail-port-base", type=int, default=10000,
                       help="le labo écoute sur base + port habituel (10993 pour 993)")
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
    sandbox.set_defaults(run=_sandbox)
    add_scenario_commands(commands)
    add_trainer_commands(commands)

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
    lab = Lab(config, args.data_dir)
    try:
        for address, password in accounts:
            lab.store.create_account(address, password)
    except StoreError as exc:
        raise SystemExit(f"pixlab: {exc}") from None
    try:
        lab.start()
    except OSError as exc:
        raise SystemExit(f"pixlab: impossible d'ouvrir les ports du labo ({exc}).") from None
    try:
        if args.json:
            print(json.dumps({
                "domain": lab.world.primary_domain,
                "ca": str(lab.ca.ca_path.resolve()),
                "listeners": [info.as_json() for info in lab.listeners],
            }), flush=True)
        else:
            for info in lab.listeners:
                print(f"{info.spec.protocol.upper():5} {info.spec.port_canonical:>4} "
                      f"({info.security:8}) -> {info.host}:{info.port}")
            print(f"CA    {lab.ca.ca_path.resolve()}")
            if not accounts:
                print("Aucun compte créé : ajoutez --account adresse:mot_de_passe.")
            print("Ctrl-C pour arrêter.", flush=True)
        _wait_for_signal()
    finally:
        lab.stop()
    return 0


def _serve(args: argparse.Namespace) -> int:
    from waitress import create_server

    from pixlab.web import create_app
    from pixlab.web.workshops import start_purger

    lab = Lab(LabConfig(host=args.host, port_base=args.mail_port_base), args.data_dir)
    try:
        lab.start()
    except OSError as exc:
        raise SystemExit(f"pixlab: impossible d'ouvrir les ports du labo ({exc}).") from None
    try:
        app = create_app({"DATA_DIR": str(args.data_dir)}, lab=lab)
        # The retention purge runs now, then every hour, while PixLab serves.
        purger = start_purger(app)
        server = create_server(app, host=args.host, port=args.port, threads=8)
        # Both signals unwind server.run() as Ctrl-C does, so the lab stops below.
        signal.signal(signal.SIGTERM, _interrupt)
        print(f"PixLab : http://{args.host}:{args.port}/  (Ctrl-C pour arrêter)", flush=True)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
