"""The scenario format's guard: `pixlab scenarios check` and `list`, the loader, the schema."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from pixlab.client.errors import CATALOGUE
from pixlab.lab.events import EVENT_KINDS
from pixlab.scenarios import schema
from pixlab.scenarios.fields import Problems, did_you_mean, read_table, toml_key
from pixlab.scenarios.loader import ENV_DIRS, configured_dirs, load_catalogue, load_file
from pixlab.scenarios.matchers import EVENT_DATA
from pixlab.scenarios.settings import SETTING_FIELDS, SettingError, coerce
from pixlab.typography import NBSP

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BROKEN = FIXTURES / "scenarios_broken"
PIXLAB = str(Path(sys.executable).with_name("pixlab"))

# Each deliberately broken file, and the one error it must give: the field, then what to do.
EXPECTED_ERRORS: dict[str, str | re.Pattern[str]] = {
    "after-unknown": "objectives[1].when.after[1]: unknown objective 'conexion' — did you mean "
                     "'connexion'?",
    "blank-not-editable": "devices[1].incoming.port: blank and not editable: the learner could "
                          "never fill it in — set it, or add \"incoming.port\" to editable",
    "closed-port": "objectives[1].when: this objective can never be met: no device can ever do "
                   "this in this scenario's lab (port 143 is closed or filtered on every host "
                   "name)",
    "data-typo": "objectives[1].when.data.mecanism: 'auth.succeeded' events have no 'mecanism' "
                 "— did you mean 'mechanism'? (they have mechanism, cleartext, command, "
                 "app_login, app)",
    "field-for-traces": "objectives[1].when.ok: 'ok' does not apply to event matchers — remove "
                        "it",
    "host-outside-lab": "lab.hosts[1].name: 'imap.autre-lycee.test' cannot be in this lab: use "
                        "mail., imap., pop., smtp. followed by one of lab.domains (the lab's "
                        "certificate names them)",
    "level-without-accent": "level: 'independant' is not allowed: use one of 'novice', "
                            "'indépendant', 'avancé', 'expert' — did you mean 'indépendant'?",
    "mailbox-with-device": "objectives[1].when.device: a mailbox is checked as it is, whoever "
                           "changed it: remove device",
    "missing-french": "title.fr: missing French text — add fr = \"…\" (French comes first)",
    "missing-objectives": "objectives: missing — add objectives (what the learner must achieve)",
    "newer-format": "format_version: this file is in format 2; this PixLab reads format 1 — "
                    "update PixLab",
    "not-editable": "walkthrough.solution[1].set.password: the learner may not change "
                    "'password' on 'ordinateur' — add it to that device's editable",
    # tomllib's own words (and where it stopped) come between the two parts.
    "not-toml": re.compile(r"not valid TOML: .+ \(at line 8, column \d+\) — check quotes, "
                           r"brackets and = signs"),
    "program-of-another-device": "devices[1].program: 'iphone' is not a program of a "
                                 "computer: choose thunderbird, outlook",
    "security-not-offered": "devices[1].incoming.security: 'tls-any-cert' is not a choice of "
                            "outlook's form: choose one of none, tls, starttls, auto",
    "protocol-no-device": "objectives[1].when: this objective can never be met: no device can "
                          "ever do this in this scenario's lab (no device can use IMAP with the "
                          "settings it may change)",
    "slug-not-file-name": "slug: 'un-autre-nom' must equal the file name 'slug-not-file-name' "
                          "— rename the file to un-autre-nom.toml or write slug = "
                          "\"slug-not-file-name\"",
    "two-right-answers": "quiz[1].choices: a single-choice question has exactly one correct = "
                         "true (found 2)",
    "unknown-device": "mistakes[1].when.device: unknown device 'ordinateurs' — did you mean "
                      "'ordinateur'?",
    "unknown-error": "mistakes[1].when.error: unknown error 'wrong_credential' — did you mean "
                     "'wrong_credentials'?",
    "unknown-event": "objectives[1].when.event: unknown event 'auth.ok' — did you mean "
                     "'auth.succeeded'?",
    "unknown-key": "lab.quota: unknown key 'quota' — did you mean 'quota_kb'?",
    "unknown-placeholder": "story.fr: unknown placeholder '{adresse}' — did you mean 'address'? "
                           "(known: {learner}, {address}, {password}, {domain})",
    "wrong-type": "minutes: expected a whole number, found the text '5'",
    "wrong-quotation": "story.fr: «\u00a0délai dépassé\u00a0» is quoted as what a program or a "
                       "server shows, but PixLab never shows it — copy the exact words of "
                       "Thunderbird (pixlab/client/thunderbird.toml) or of the lab's server "
                       "(pixlab/lab/replies.py), or write it without quotation marks",
}


def run_pixlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pixlab …` from the top of the repository, as a trainer types it."""
    environment = {k: v for k, v in os.environ.items() if k != ENV_DIRS}
    environment.update(env or {})
    return subprocess.run([PIXLAB, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=environment)


# -- the command ------------------------------------------------------------------------


def test_check_passes_on_the_shipped_folder() -> None:
    done = run_pixlab("scenarios", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    shipped = sorted((ROOT / "scenarios").glob("*.toml"))
    assert len(shipped) >= 2
    assert done.stdout.splitlines()[-1] == (
        f"{len(shipped)} scénario(s) vérifié(s) : {len(shipped)} valide(s), 0 en erreur."
    )
    assert "error" not in done.stdout and "warning" not in done.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_each_broken_fixture_gives_its_exact_error(name: str) -> None:
    path = BROKEN / f"{name}.toml"
    scenario, problems = load_file(path)
    assert scenario is None
    source = f"tests/fixtures/scenarios_broken/{name}.toml"
    (line,) = [p.format(source) for p in problems.errors]
    expected = EXPECTED_ERRORS[name]
    if isinstance(expected, str):
        assert line == f"{source}: {expected}"
    else:
        assert line.startswith(f"{source}: ") and expected.fullmatch(line[len(source) + 2:])


def test_every_broken_fixture_is_in_the_table() -> None:
    assert sorted(p.stem for p in BROKEN.glob("*.toml")) == sorted(EXPECTED_ERRORS)


def test_check_names_file_and_field_and_exits_non_zero() -> None:
    done = run_pixlab("scenarios", "check", "tests/fixtures/scenarios_broken/unknown-event.toml",
                      "scenarios")
    assert done.returncode == 1
    assert ("tests/fixtures/scenarios_broken/unknown-event.toml: objectives[1].when.event: "
            "unknown event 'auth.ok' — did you mean 'auth.succeeded'?") in done.stdout.splitlines()
    shipped = len(list((ROOT / "scenarios").glob("*.toml")))
    assert done.stdout.splitlines()[-1].endswith(f": {shipped} valide(s), 1 en erreur.")


def test_check_of_a_missing_path_fails() -> None:
    done = run_pixlab("scenarios", "check", "scenarios/nulle-part.toml")
    assert done.returncode == 1
    assert "scenarios/nulle-part.toml: no such file or folder" in done.stderr


def test_a_duplicate_slug_in_an_extra_folder_is_an_error() -> None:
    done = run_pixlab("scenarios", "check",
                      env={ENV_DIRS: "tests/fixtures/scenarios_duplicate"})
    assert done.returncode == 1
    assert ("tests/fixtures/scenarios_duplicate/premiers-pas-imap.toml: slug: duplicate slug "
            "'premiers-pas-imap': scenarios/premiers-pas-imap.toml already has it — rename one "
            "of the two files and its slug") in done.stdout.splitlines()


def test_list_json_gives_slug_titles_level_minutes_competences_in_catalogue_order() -> None:
    done = run_pixlab("scenarios", "list", "--json",
                      env={ENV_DIRS: "tests/fixtures/scenarios_ok"})
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    slugs = [item["slug"] for item in listed]
    assert slugs[:2] == ["premiers-pas-imap", "ordinateur-et-telephone"]
    assert slugs[-1] == "labo-essai"  # order = 99, from the extra folder
    first = listed[0]
    assert first == {
        "slug": "premiers-pas-imap",
        "title": {"fr": "Premiers pas en IMAP", "en": "First steps with IMAP"},
        "level": "novice",
        "minutes": 10,
        "competences": ["2.1", "4.1"],
        "tags": first["tags"],
    }


def test_list_leaves_broken_scenarios_out_and_says_so() -> None:
    done = run_pixlab("scenarios", "list", env={ENV_DIRS: "tests/fixtures/scenarios_broken"})
    assert done.returncode == 0
    assert done.stdout.splitlines()[0].startswith("premiers-pas-imap ")
    assert "unknown-event" not in done.stdout
    assert f"{len(EXPECTED_ERRORS)} scénario(s) en erreur" in done.stderr


# -- the loader -------------------------------------------------------------------------


def test_a_broken_scenario_never_stops_loading(tmp_path: Path) -> None:
    (tmp_path / "vide.toml").write_text("")
    (tmp_path / "binaire.toml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "liste.toml").write_text("objectives = 3\n")
    catalogue = load_catalogue([ROOT / "scenarios", tmp_path, BROKEN])
    assert sorted(catalogue.loaded) == sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))
    broken = {b.slug: b for b in catalogue.broken}
    assert {"vide", "binaire", "liste", "unknown-event"} <= set(broken)
    assert broken["vide"].errors[0].field == "format_version"
    assert broken["binaire"].errors[0].message.startswith("cannot read the file")
    assert catalogue.get("unknown-event") is None and "unknown-event" not in catalogue


def test_configured_dirs_are_shipped_then_setting_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DIRS, os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    dirs = configured_dirs([tmp_path / "setting"])
    assert dirs == [ROOT / "scenarios", tmp_path / "setting", tmp_path / "a", tmp_path / "b"]


def test_french_texts_get_no_break_spaces_when_loaded(tmp_path: Path) -> None:
    source = (BROKEN / "unknown-event.toml").read_text()
    fixed = source.replace('event = "auth.ok"', 'event = "auth.succeeded"').replace(
        'fr = "Relève ton courrier."', 'fr = "Prêt ? Relève ton courrier : « vite » !"'
    )
    path = tmp_path / "unknown-event.toml"
    path.write_text(fixed)
    scenario, problems = load_file(path)
    assert scenario is not None, problems
    assert scenario.story.fr == f"Prêt{NBSP}? Relève ton courrier{NBSP}: «{NBSP}vite{NBSP}»{NBSP}!"


def test_a_mailbox_objective_true_from_the_start_is_flagged(tmp_path: Path) -> None:
    source = (BROKEN / "mailbox-with-device.toml").read_text()
    path = tmp_path / "mailbox-with-device.toml"
    path.write_text(source.replace(', device = "ordinateur", after = ["connexion"]', "").replace(
        '[lab]\ndomains = ["lycee-exemple.test"]\n',
        '[lab]\ndomains = ["lycee-exemple.test"]\n\n[[lab.messages]]\nfrom = "a@b.test"\n'
        'subject = "Bonjour"\nbody = "."\n'))
    scenario, problems = load_file(path)
    assert scenario is not None, problems.errors
    assert [p.format("f.toml") for p in problems] == [
        "f.toml: objectives[1].when: warning: the seeded mailbox already matches: this is met "
        "as soon as the attempt starts — add after = [\"…\"]"
    ]


def test_a_failure_can_be_watched_on_a_port_nobody_answers() -> None:
    # labo-essai watches sending through port 25, which its lab filters for the learner.
    scenario, problems = load_file(FIXTURES / "scenarios_ok" / "labo-essai.toml")
    assert scenario is not None and problems.errors == []
    assert scenario.mistake("port-25").when.port == 25


def test_the_shipped_french_and_the_guide_are_already_typeset() -> None:
    for path in [*(ROOT / "scenarios").glob("*.toml"), ROOT / "docs" / "scenarios.md"]:
        text = path.read_text()
        assert not re.search(r" [:;?!»]|« ", text), path.name


def test_the_project_writes_one_apostrophe_the_straight_one() -> None:
    # Thunderbird's strings (pixlab/client/thunderbird.toml) keep their own: they are quoted.
    ours = [*(ROOT / "scenarios").glob("*.toml"), *(ROOT / "templates").rglob("*.html"),
            *(ROOT / "docs").glob("*.md"), ROOT / "README.md",
            ROOT / "translations" / "messages.pot",
            *(ROOT / "translations").rglob("*.po"),
            *(p for p in (ROOT / "pixlab").rglob("*.py")
              if p.name not in ("typography.py", "quotes.py"))]
    for path in ours:
        assert "\u2019" not in path.read_text(), f"{path.name}: write ' (the straight apostrophe)"


def test_a_typographic_apostrophe_becomes_the_straight_one_on_loading() -> None:
    text = schema.Text(fr="L’adresse n’existe pas : vérifie-la.", en="It’s wrong.")
    assert text.fr == "L'adresse n'existe pas\u00a0: vérifie-la." and text.en == "It's wrong."


# -- the schema ---------------------------------------------------------------------------


def _dataclasses() -> list[type]:
    found: list[type] = []
    todo: list[type] = [schema.Scenario]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.append(cls)
        for hint in typing.get_type_hints(cls).values():
            for part in (hint, *typing.get_args(hint), *[a for h in typing.get_args(hint)
                                                         for a in typing.get_args(h)]):
                if dataclasses.is_dataclass(part) and isinstance(part, type):
                    todo.append(part)
    return found


def test_every_field_is_documented_in_its_class_and_in_the_guide() -> None:
    guide = (ROOT / "docs" / "scenarios.md").read_text()
    classes = _dataclasses()
    assert schema.Matcher in classes and schema.Step in classes
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"
            assert f"`{toml_key(f)}`" in guide, f"the guide does not explain `{toml_key(f)}`"
    for key in (*SETTING_FIELDS, *EVENT_KINDS, *schema.PLACEHOLDERS):
        assert f"`{key}`" in guide or f"`{{{key}}}`" in guide, f"the guide misses `{key}`"


def test_event_data_knows_every_event_the_lab_records() -> None:
    assert set(EVENT_DATA) == set(EVENT_KINDS)


def test_unknown_keys_are_errors_and_types_are_checked() -> None:
    problems = Problems()
    assert read_table(schema.Text, {"fr": "Oui", "de": "Ja"}, "title", problems) is not None
    assert [(p.field, p.message) for p in problems] == [
        ("title.de", "unknown key 'de'")
    ]
    problems = Problems()
    read_table(schema.Choice, {"text": {"fr": "a"}, "correct": 1}, "quiz[1].choices[2]", problems)
    assert problems.errors[0].format("x.toml") == (
        "x.toml: quiz[1].choices[2].correct: expected true or false, found 1"
    )


def test_did_you_mean_knows_trainers_words() -> None:
    assert did_you_mean("auth.success", EVENT_KINDS) == " — did you mean 'auth.succeeded'?"
    assert did_you_mean("message.sent", EVENT_KINDS) == " — did you mean 'message.delivered'?"
    assert did_you_mean("quota_kbs", ["quota_kb"]) == " — did you mean 'quota_kb'?"
    assert did_you_mean("zzz", CATALOGUE) == ""


@pytest.mark.parametrize(("field", "value", "stored"), (
    ("incoming.port", "993", 993),
    ("incoming.port", 587, 587),
    ("incoming.security", "tls", "tls"),
    ("incoming.security", "", None),
    ("accepted_cleartext", "on", True),
    ("accepted_risks", "Mail.Lycee-Exemple.test  imap.x.test", ["mail.lycee-exemple.test",
                                                               "imap.x.test"]),
    ("incoming.host", "  imap.lycee-exemple.test ", "imap.lycee-exemple.test"),
    ("password", " Avec espaces ", " Avec espaces "),
))
def test_settings_are_stored_as_typed(field: str, value: object, stored: object) -> None:
    assert coerce(field, value) == stored


@pytest.mark.parametrize(("field", "value"), (
    ("incoming.port", "99999"),
    ("incoming.port", True),
    ("incoming.security", "ssl"),
    ("incoming.protocol", "smtp"),
    ("outgoing.protocol", "smtp"),
))
def test_settings_refuse_what_a_program_would_not_accept(field: str, value: object) -> None:
    with pytest.raises(SettingError):
        coerce(field, value)
