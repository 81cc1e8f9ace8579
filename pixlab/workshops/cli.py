"""`pixlab trainer add|list|remove|set-password`: trainer accounts, from a terminal or a script."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pixlab.db import DATABASE_URL_HELP, database_url, make_engine
from pixlab.workshops import trainers


def add_commands(commands: Any) -> None:
    """Add `trainer …` to the `pixlab` command's subparsers."""
    trainer = commands.add_parser("trainer", help="les comptes des formateurs")
    actions = trainer.add_subparsers(dest="trainer_command", required=True)
    data_dir = Path(os.environ.get("PIXLAB_DATA_DIR", "instance"))

    def action(name: str, help_text: str, run: Any, with_name: bool = True,
               with_password: bool = False) -> None:
        parser = actions.add_parser(name, help=help_text)
        if with_name:
            parser.add_argument("name", metavar="NOM")
        if with_password:
            parser.add_argument("--password-stdin", action="store_true",
                                help="lire le mot de passe sur une ligne de l'entrée (scripts)")
        parser.add_argument("--data-dir", type=Path, default=data_dir)
        parser.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
        parser.set_defaults(run=run)

    action("add", "créer un compte formateur", _add, with_password=True)
    action("list", "les comptes formateurs", _list, with_name=False)
    action("remove", "supprimer un compte formateur", _remove)
    action("set-password", "changer le mot de passe d'un formateur", _set_password,
           with_password=True)


def _engine(args: argparse.Namespace) -> Engine:
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # Made or upgraded by the migrations.
    return make_engine(database_url(data_dir, args.database_url))


def _read_password(args: argparse.Namespace) -> str:
    """One line from stdin with --password-stdin, else asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise SystemExit("pixlab: pas de terminal : utilisez --password-stdin.")
    first = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Encore une fois : ") != first:
        raise SystemExit("pixlab: les deux mots de passe ne sont pas les mêmes.")
    return first


def _run(work: Any) -> int:
    try:
        work()
    except trainers.TrainerError as exc:
        print(f"pixlab: {exc}", file=sys.stderr)
        return 1
    return 0


def _add(args: argparse.Namespace) -> int:
    engine = _engine(args)
    name = args.name
    try:
        trainers.check_name(name)
    except trainers.TrainerError as exc:
        print(f"pixlab: {exc}", file=sys.stderr)
        return 1
    password = _read_password(args)
    status = _run(lambda: trainers.add(engine, name, password))
    if status == 0:
        print(f"Formateur « {name} » créé. Connexion : /formateur/connexion")
    return status


def _list(args: argparse.Namespace) -> int:
    found = trainers.listing(_engine(args))
    for trainer in found:
        print(trainer.name)
    if not found:
        print("Aucun formateur. Créez-en un : pixlab trainer add NOM", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    engine = _engine(args)
    status = _run(lambda: trainers.remove(engine, args.name))
    if status == 0:
        print(f"Formateur « {args.name} » supprimé.")
    return status


def _set_password(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if args.name not in {t.name for t in trainers.listing(engine)}:
        print(f"pixlab: Aucun formateur ne s'appelle « {args.name} ».", file=sys.stderr)
        return 1
    password = _read_password(args)
    status = _run(lambda: trainers.set_password(engine, args.name, password))
    if status == 0:
        print(f"Mot de passe de « {args.name} » changé.")
    return status
