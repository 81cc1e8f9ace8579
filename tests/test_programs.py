"""The mail programs a device imitates: their forms, their words, their behaviours in the lab.

The same client, lab, traces and spy view behind every program; what changes is
the form (its labels, choices and order), a few behaviours (iPhone's "go on
without SSL?", Android's "(si disponible)" choices that accept any certificate,
Outlook's "Automatique"), and the words of the program's own messages.
"""

from __future__ import annotations

import re

import pytest
from test_sandbox import Learner, learner, make_app, parse, sandbox  # noqa: F401 (fixtures)

from pixlab.client.programs import CHOICES, PROGRAMS, STRINGS, program_string, program_words


def add_phone(pupil: Learner, program: str) -> int:
    response = pupil.client.post("/bac-a-sable/appareils",
                                 data={"csrf_token": pupil.token(), "program": program})
    assert response.status_code == 303
    pupil.read_home()
    return pupil.devices[-1]


def install(pupil: Learner, device: int, program: str) -> None:
    response = pupil.client.post(f"/bac-a-sable/appareils/{device}/logiciel",
                                 data={"csrf_token": pupil.token(), "program": program})
    assert response.status_code == 303


def form_page(pupil: Learner, device: int) -> str:
    page = pupil.page(f"/bac-a-sable/appareils/{device}/reglages")
    parsed = parse(page)
    unlabelled = [c for c in parsed.controls if c.get("id") not in parsed.labels]
    assert not unlabelled, unlabelled
    assert len(parsed.ids) == len(set(parsed.ids)), "ids are unique"
    return page


# -- choosing a program ----------------------------------------------------------------------


def test_the_phone_is_added_with_the_program_chosen_and_a_computer_can_install_outlook(
    learner: Learner,  # noqa: F811

) -> None:
    home = learner.read_home()
    assert "Mail sur iPhone" in home and "Thunderbird pour Android" in home
    phone = add_phone(learner, "android")
    assert "Type de sécurité" in form_page(learner, phone)
    install(learner, learner.devices[0], "outlook")
    assert "Méthode de chiffrement" in form_page(learner, learner.devices[0])
    # A program of another kind of device is refused, and so is an unknown one.
    for device, program in ((learner.devices[0], "iphone"), (phone, "outlook"),
                            (phone, "eudora")):
        response = learner.client.post(f"/bac-a-sable/appareils/{device}/logiciel",
                                       data={"csrf_token": learner.token(), "program": program})
        assert response.status_code == 400


def test_each_program_runs_on_its_kinds_of_device() -> None:
    assert CHOICES == {"computer": ("thunderbird", "outlook"), "phone": ("iphone", "android")}
    for kind, programs in CHOICES.items():
        for program in programs:
            assert kind in PROGRAMS[program].kinds


# -- each program's form, in its words -----------------------------------------------------


def test_the_android_form_has_k9_mails_words_and_the_accept_any_certificate_choices(
    learner: Learner,  # noqa: F811

) -> None:
    page = form_page(learner, add_phone(learner, "android"))
    for key in ("incoming.title", "outgoing.title", "security", "security.none",
                "security.tls_any_cert", "security.tls", "security.starttls_any_cert",
                "security.starttls", "server.imap", "server.smtp", "auth", "port",
                "delete_policy", "delete_policy.never", "delete_policy.delete"):
        assert program_words("android", key, "fr") in page, key
    assert "SSL/TLS (si disponible)" in page and "STARTTLS (si disponible)" in page
    assert "tirés de sa traduction française publique" in page


@pytest.mark.parametrize("program", ("outlook", "iphone"))
def test_a_program_whose_words_are_unknown_says_they_are_pixlabs(
    learner: Learner, program: str,  # noqa: F811
) -> None:
    device = add_phone(learner, "iphone") if program == "iphone" else learner.devices[0]
    install(learner, device, program)
    page = form_page(learner, device)
    for key, entry in STRINGS[program].items():
        if not key.startswith(("fallback.", "security.", "auth.", "ssl.")):
            assert entry.fr in page, key
        assert not entry.quoted
    assert "écrits par PixLab" in page and "nous ne les inventons pas" in page


# -- the programs' words, as data ----------------------------------------------------------

SOURCE = re.compile(r"^thunderbird/thunderbird-android@[0-9a-f]{40}:[\w/.-]+/values-fr/"
                    r"strings\.xml#[a-z0-9_]+$")


@pytest.mark.parametrize(("program", "key"),
                         [(p, k) for p, entries in STRINGS.items() for k in entries])
def test_each_entry_has_both_languages_and_a_source_or_says_it_is_ours(
    program: str, key: str,
) -> None:
    entry = program_string(program, key)
    assert entry.fr.strip() and entry.en.strip()
    assert entry.fr.count("%s") == entry.en.count("%s")
    if entry.quoted:
        assert SOURCE.match(entry.source or ""), entry.source
    else:
        assert program in ("outlook", "iphone")
    # PixLab's own French follows the house typography; a quotation keeps its own.
    if not entry.quoted:
        assert not re.search(r" [:;?!]", entry.fr), entry.fr


def test_every_string_of_a_program_is_used_by_a_template_or_the_code() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sources = "".join(p.read_text() for p in (root / "templates").rglob("*.html"))
    sources += "".join(p.read_text() for p in (root / "pixlab" / "web").glob("*.py"))
    for program, entries in STRINGS.items():
        for key in entries:
            assert f'"{key}"' in sources, f"{program}: {key} is not used"


def test_an_unknown_key_or_a_missing_argument_is_an_error() -> None:
    with pytest.raises(KeyError):
        program_words("android", "no.such.key", "fr")
    with pytest.raises(ValueError):
        program_words("android", "failed.auth", "fr")
    with pytest.raises(ValueError):
        program_words("android", "port", "de")


# -- the connection sheet says how to fill each program's form -------------------------------


def test_the_sheet_says_how_to_set_its_security_in_each_programs_form(
    learner: Learner,  # noqa: F811
) -> None:
    add_phone(learner, "android")
    install(learner, learner.devices[0], "outlook")
    home = learner.read_home()
    assert "Dans Thunderbird pour Android, pour IMAP (port 993)" in home
    assert "Type de sécurité\u00a0: «\u00a0SSL/TLS (toujours)\u00a0»" in home
    assert "Méthode de chiffrement\u00a0: «\u00a0SSL/TLS\u00a0»" in home
    install(learner, learner.devices[1], "iphone")
    assert "Utiliser SSL\u00a0: activé" in learner.read_home()


# -- a scenario sets the program; its debrief says which behaviour mattered --------------------


@pytest.mark.parametrize(("slug", "label", "behaviour"), (
    ("iphone-sans-ssl", "Utiliser SSL", "l'iPhone propose de continuer sans SSL"),
    ("outlook-chiffrement-automatique", "Méthode de chiffrement", "« Automatique »"),
    ("android-tous-les-certificats", "Type de sécurité", "accepte tous les certificats"),
))
def test_a_scenarios_device_shows_its_programs_form_and_the_debrief_names_its_behaviour(
    learner: Learner, slug: str, label: str, behaviour: str,  # noqa: F811
) -> None:
    behaviour = behaviour.replace("« ", "«\u00a0").replace(" »", "\u00a0»")
    assert learner.client.post(f"/scenarios/{slug}/commencer",
                               data={"csrf_token": learner.token()}).status_code == 303
    page = learner.page(f"/scenarios/{slug}")
    assert label in page
    assert learner.client.post(f"/scenarios/{slug}/abandonner",
                               data={"csrf_token": learner.token()}).status_code == 303
    page = learner.page(f"/scenarios/{slug}")
    assert "Le bilan" in page and "qui a compté" in page and behaviour in page


def test_in_the_iphone_scenario_the_player_asks_and_yes_is_recorded_as_the_mistake(
    learner: Learner,  # noqa: F811
) -> None:
    slug = "iphone-sans-ssl"
    assert learner.client.post(f"/scenarios/{slug}/commencer",
                               data={"csrf_token": learner.token()}).status_code == 303
    url = f"/scenarios/{slug}/appareils/telephone/reglages"
    page = learner.page(f"/scenarios/{slug}")
    form = {name: value for name, value in re.findall(
        r'<input id="([a-z_]+)" name="[a-z_]+" type="text" value="([^"]*)"', page)}
    tested = learner.client.post(url, headers={"HX-Request": "true"}, data={
        **form, "csrf_token": learner.token(), "incoming_protocol": "imap",
        "incoming_security": "tls", "incoming_auth": "normal", "action": "test-incoming"})
    text = tested.get_data(as_text=True)
    assert "Impossible de se connecter via SSL" in text and "ssl-fallback-incoming" in text
    answered = learner.client.post(url, headers={"HX-Request": "true"}, data={
        "csrf_token": learner.token(), "action": "ssl-fallback-incoming"})
    assert answered.status_code == 200
    assert "Ton mot de passe est passé en clair" in answered.get_data(as_text=True)  # the spy
    assert learner.client.post(f"/scenarios/{slug}/abandonner",
                               data={"csrf_token": learner.token()}).status_code == 303
    page = learner.page(f"/scenarios/{slug}")
    assert "le mot de passe est passé en clair" in page  # the mistake, seen by the lab


def test_a_new_iphone_starts_with_ssl_on_and_an_unoffered_choice_is_not_kept(
    learner: Learner,  # noqa: F811
) -> None:
    phone = add_phone(learner, "iphone")
    assert 'value="tls" role="switch" checked' in form_page(learner, phone)
    learner.settings(phone, action="save", incoming_security="none")
    install(learner, phone, "android")  # "none" is one of Android's choices: kept
    assert '<option value="none" selected>' in form_page(learner, phone)
    learner.settings(phone, action="save", incoming_security="tls-any-cert")
    install(learner, phone, "iphone")  # not an iPhone choice: back to SSL on
    assert 'value="tls" role="switch" checked' in form_page(learner, phone)
    # A choice the program does not offer is refused by its form.
    refused = learner.settings(phone, action="save", incoming_security="starttls")
    assert refused.status_code == 422


def test_installing_a_program_needs_the_csrf_token_and_ones_own_device(
    learner: Learner, sandbox,  # noqa: F811
) -> None:
    device = learner.devices[0]
    response = learner.client.post(f"/bac-a-sable/appareils/{device}/logiciel",
                                   data={"program": "outlook"})
    assert response.status_code == 400
    other = Learner(sandbox.test_client()).start()
    response = other.client.post(f"/bac-a-sable/appareils/{device}/logiciel",
                                 data={"csrf_token": other.token(), "program": "outlook"})
    assert response.status_code == 404
    assert "Méthode de chiffrement" not in form_page(learner, device)
