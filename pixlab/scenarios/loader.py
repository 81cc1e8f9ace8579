"""Finding and loading scenario files: the shipped folder, then the trainers' extra folders.

A file that does not validate never stops the app: it comes back as a
`BrokenScenario` with its problems, for the trainer's view, and is left out
of what learners can play.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pixlab.scenarios.fields import INVALID, Problem, Problems, read_table
from pixlab.scenarios.schema import Scenario
from pixlab.scenarios.validate import check

ENV_DIRS = "PIXLAB_SCENARIOS_DIRS"  # extra folders, separated by os.pathsep (":" or ";")


def shipped_dir() -> Path:
    """The scenarios that come with PixLab: in the wheel, or at the top of a checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "scenarios_data"  # the wheel carries them inside the package
    return installed if installed.is_dir() else package.parent / "scenarios"


def configured_dirs(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """The shipped folder, then `extra` (the app's setting), then PIXLAB_SCENARIOS_DIRS."""
    dirs = [shipped_dir(), *(Path(d) for d in extra)]
    dirs += [Path(d) for d in os.environ.get(ENV_DIRS, "").split(os.pathsep) if d.strip()]
    unique: list[Path] = []
    for directory in dirs:
        if directory not in unique:
            unique.append(directory)
    return unique


def display_path(path: Path) -> str:
    """A path as a trainer typed it: relative to the current folder when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class BrokenScenario:
    """A file that cannot be played, and why."""

    path: Path
    slug: str
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        """Only the errors."""
        return [p for p in self.problems if not p.warning]

    def lines(self, source: str | None = None) -> list[str]:
        """The problems as `pixlab scenarios check` prints them."""
        return [p.format(source or str(self.path)) for p in self.problems]


@dataclass(frozen=True)
class LoadedScenario:
    """A valid scenario, where it came from, and its warnings."""

    scenario: Scenario
    path: Path
    warnings: tuple[Problem, ...] = ()


@dataclass
class Catalogue:
    """Every scenario found: the playable ones by slug, and the broken ones."""

    loaded: dict[str, LoadedScenario] = field(default_factory=dict)
    broken: list[BrokenScenario] = field(default_factory=list)

    @property
    def scenarios(self) -> list[Scenario]:
        """The playable scenarios, in catalogue order (`order`, then slug)."""
        return sorted((item.scenario for item in self.loaded.values()),
                      key=lambda s: (s.order, s.slug))

    def get(self, slug: str) -> Scenario | None:
        """A playable scenario by slug."""
        item = self.loaded.get(slug)
        return item.scenario if item else None

    def __contains__(self, slug: object) -> bool:
        return slug in self.loaded


def load_file(path: Path) -> tuple[Scenario | None, Problems]:
    """Read and check one file; the scenario is None when it has errors."""
    problems = Problems()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        problems.error("", f"not valid TOML: {exc} — check quotes, brackets and = signs")
        return None, problems
    except (OSError, UnicodeDecodeError) as exc:
        problems.error("", f"cannot read the file: {exc}")
        return None, problems
    scenario = read_table(Scenario, data, "", problems)
    if scenario is INVALID or problems.errors:
        return None, problems
    assert isinstance(scenario, Scenario)
    check(scenario, problems, expected_slug=path.stem)
    return (None if problems.errors else scenario), problems


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The .toml files of some folders and files, folders sorted by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.glob("*.toml") if p.is_file())
        elif path.exists():
            files.append(path)
    return files


def load_catalogue(paths: Sequence[Path] | None = None) -> Catalogue:
    """Load every scenario of some folders (default: the configured ones); never raises."""
    catalogue = Catalogue()
    for path in scenario_files(configured_dirs() if paths is None else paths):
        scenario, problems = load_file(path)
        slug = scenario.slug if scenario else path.stem
        if scenario is not None and slug in catalogue.loaded:
            first = display_path(catalogue.loaded[slug].path)
            problems.error("slug", f"duplicate slug '{slug}': {first} already has it — rename "
                           "one of the two files and its slug")
            scenario = None
        if scenario is None:
            catalogue.broken.append(BrokenScenario(path, slug, tuple(problems)))
        else:
            catalogue.loaded[slug] = LoadedScenario(scenario, path, tuple(problems))
    return catalogue
