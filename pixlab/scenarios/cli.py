"""`pixlab scenarios check [PATH ...]` and `pixlab scenarios list [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pixlab.scenarios.loader import (
    configured_dirs,
    display_path,
    load_catalogue,
    scenario_files,
)


def add_commands(commands: Any) -> None:
    """Add `scenarios check` and `scenarios list` to the `pixlab` command's subparsers."""
    scenarios = commands.add_parser("scenarios", help="vérifier et lister les scénarios")
    actions = scenarios.add_subparsers(dest="scenarios_command", required=True)
    check = actions.add_parser(
        "check", help="vérifier des fichiers de scénario (par défaut : tous ceux configurés)"
    )
    check.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                       help="un fichier .toml ou un dossier")
    check.set_defaults(run=run_check)
    listing = actions.add_parser("list", help="les scénarios jouables")
    listing.add_argument("--json", action="store_true", help="en JSON, pour un script")
    listing.set_defaults(run=run_list)


def run_check(args: argparse.Namespace) -> int:
    """Check files; prints each problem as `file: field: message`, exits 1 on any error."""
    paths = list(args.paths) or configured_dirs()
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{display_path(path)}: no such file or folder", file=sys.stderr)
    catalogue = load_catalogue([p for p in paths if p.exists()])
    files = scenario_files([p for p in paths if p.exists()])
    for broken in catalogue.broken:
        for line in broken.lines(display_path(broken.path)):
            print(line)
    for item in catalogue.loaded.values():
        for problem in item.warnings:
            print(problem.format(display_path(item.path)))
    errors = len(catalogue.broken)
    print(f"{len(files)} scénario(s) vérifié(s) : {len(catalogue.loaded)} valide(s), "
          f"{errors} en erreur.")
    return 1 if errors or missing or not files else 0


def run_list(args: argparse.Namespace) -> int:
    """List the playable scenarios of the configured folders."""
    catalogue = load_catalogue()
    if args.json:
        print(json.dumps([
            {
                "slug": s.slug,
                "title": {"fr": s.title.fr, "en": s.title.en or s.title.fr},
                "level": s.level,
                "minutes": s.minutes,
                "competences": list(s.competences),
                "tags": list(s.tags),
            }
            for s in catalogue.scenarios
        ], ensure_ascii=False, indent=2))
    else:
        for s in catalogue.scenarios:
            print(f"{s.slug:32} {s.level:12} {s.minutes:>3} min  "
                  f"{', '.join(s.competences):10} {s.title.fr}")
    if catalogue.broken:
        names = ", ".join(display_path(b.path) for b in catalogue.broken)
        print(f"{len(catalogue.broken)} scénario(s) en erreur, laissé(s) de côté : {names} "
              "(pixlab scenarios check)", file=sys.stderr)
    return 0
