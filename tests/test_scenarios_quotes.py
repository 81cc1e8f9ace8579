"""Quotations in lessons: what a lesson says PixLab shows is what PixLab shows."""

from __future__ import annotations

import pytest

from pixlab.client.errors import CATALOGUE
from pixlab.scenarios.quotes import LABEL, SAYS, problems_in, quotations
from pixlab.typography import NBSP, french


@pytest.mark.parametrize(
    ("text", "kind"),
    (
        ("Thunderbird affiche « Temps limite » puis abandonne.", SAYS),
        ("Le serveur répond : « Authentication failed. »", SAYS),
        ("Une erreur tout de suite (« impossible »)", SAYS),
        ("« Identifiant incorrect » : le serveur ne dit pas lequel.", SAYS),
        ("Clique sur « Tester ».", LABEL),
        ("Dans « Méthode d'authentification », choisis « Mot de passe normal ».", LABEL),
        ("Ouvre le message « Bienvenue ».", ""),
        ("Range-le dans le dossier « Voyage ».", ""),
        ("Une alerte veut dire : « je ne peux pas le prouver ».", ""),
        ("C'est un cousin qui l'a réglé, « pour que ça marche vite ».", ""),
    ),
)
def test_the_words_before_a_quotation_say_what_it_is(text: str, kind: str) -> None:
    *_, last = quotations(french(text), "fr")
    assert last.kind == kind


@pytest.mark.parametrize(
    ("text", "lang"),
    (
        # Thunderbird's words, with a host where it has a blank, and its curly apostrophe.
        ("Il affiche « Temps limite de connexion au serveur imap.lycee-exemple.test dépassé. »",
         "fr"),
        ("Il affiche « Une erreur TLS non récupérable s'est produite. »", "fr"),
        ("Il écrit que la connexion « a expiré ».", "fr"),
        ("Le téléphone affiche « Échec de la connexion depuis le serveur … avec le nom "
         "d'utilisateur {learner}. »", "fr"),
        # The lab's server, in its own words.
        ("Le serveur répond « Relay access denied ».", "fr"),
        ("It shows \"Connection to server imap.lycee-exemple.test timed out.\"", "en"),
        # Labels of PixLab's pages, whole, a trailing colon aside.
        ("Choisis « Aucun » dans « Sécurité de la connexion ».", "fr"),
        ("Clique sur « Archiver sur l'appareil : Archives sur l'ordinateur ».", "fr"),
        ("Press \"Test\".", "en"),
        # The words a connection sheet shows for a setting's value are labels too.
        ("Sur la fiche, la sécurité est « Aucun chiffrement ».", "fr"),
        ("On the sheet, the security is \"No encryption\".", "en"),
        # Thunderbird's words, as the settings form shows them.
        ("Le réglage « Serveur sortant » se remplit comme l'entrant.", "fr"),
    ),
)
def test_what_pixlab_shows_passes(text: str, lang: str) -> None:
    assert list(problems_in(french(text) if lang == "fr" else text, lang)) == []


@pytest.mark.parametrize(
    ("text", "lang", "start"),
    (
        ("Puis il affiche « délai dépassé ».", "fr",
         "«\u00a0délai dépassé\u00a0» is quoted as what"),
        ("Le téléphone répond : « identification refusée ».", "fr", "«\u00a0identification"),
        # A blank takes a value, not ordinary words: "délai" does not fill Thunderbird's %S.
        ("Il affiche « délai dépassé. »", "fr", "«\u00a0délai dépassé."),
        # The menu says "Aucun"; a whole label must match, not a part of a longer one.
        ("Choisis « Aucune » comme sécurité.", "fr",
         "«\u00a0Aucune\u00a0» is quoted as a button"),
        ("Un bouton propose « Accepter le risque et continuer ».", "fr", "«\u00a0Accepter"),
        ("Tick \"leave messages on the server\".", "en", "\"leave messages on the server\""),
    ),
)
def test_a_quotation_pixlab_never_shows_is_named_with_what_to_do(
    text: str, lang: str, start: str
) -> None:
    (problem,) = problems_in(french(text) if lang == "fr" else text, lang)
    assert problem.startswith(start)
    assert "or write it without quotation marks" in problem


def test_a_wrong_label_suggests_the_closest_one() -> None:
    (problem,) = problems_in(french("Choisis « Aucune » comme sécurité."), "fr")
    assert problem.endswith("(closest: «\u00a0Aucun\u00a0»)")


@pytest.mark.parametrize("key", sorted(CATALOGUE))
@pytest.mark.parametrize("lang", ("fr", "en"))
def test_the_error_catalogue_quotes_only_what_pixlab_shows(key: str, lang: str) -> None:
    entry = CATALOGUE[key]
    for text in (entry.explanation[lang], entry.hint[lang]):
        assert list(problems_in(text, lang)) == [], (key, text)


@pytest.mark.parametrize(
    ("typed", "shown"),
    (
        ("une boîte de 600 Ko", f"une boîte de 600{NBSP}Ko"),
        ("à 8 h 30", f"à 8{NBSP}h{NBSP}30"),
        ("-30 % sur tout", f"-30{NBSP}% sur tout"),
        ("3 hommes", "3 hommes"),
    ),
)
def test_a_number_stays_with_its_unit(typed: str, shown: str) -> None:
    assert french(typed) == shown
