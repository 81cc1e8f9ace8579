"""Quotations a lesson presents as what PixLab shows must be what PixLab really shows.

A scenario (or the error catalogue) often quotes a program: "Thunderbird
affiche « … »", "le serveur répond « … »", "clique sur « Tester »". A pupil
copies those words into a notebook and looks for them on the screen, so they
must be exact. This module finds such quotations from the words just before
them, and checks them against the texts PixLab really shows:

- what a program or a server says (after « affiche », « répond », « dit »,
  « indique », « écrit », « erreur », « alerte »…): Thunderbird's strings
  (`pixlab/client/thunderbird.toml`, through its loader), the lab's replies
  (`pixlab.lab.replies`), the client's error catalogue, and every text of
  PixLab's own pages;
- a button, menu, box or field label (after « bouton », « menu », « case »,
  « clique sur », « coche », « choisis », « dans »…): the labels of PixLab's
  templates (Thunderbird's own words where the settings form shows them) and
  the words a connection sheet shows for a setting's value (« Aucun
  chiffrement »), whole (« Aucun » is not « Aucune »).

A quotation may leave out words with « … », and may hold the scenario's
placeholders ({address}, {learner}…) or a host name where the original has a
blank (%S). Anything else in « » (a message's subject, a folder's name, a
saying) is not checked: the words just before it say which it is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pixlab.scenarios.fields import Problems, walk

SAYS = "says"
LABEL = "label"

# The word just before a quotation says what it is; the last such word before it wins.
_CUES = {
    "fr": (
        (SAYS, r"affich(?:e|ent|er|era|é)|s'affiche|répond(?:ent|re|ra|u)?|dit|disent|"
               r"indiqu(?:e|ent)|écrit|annonce|signale|erreurs?|alertes?|avertissements?"),
        (LABEL, r"boutons?|menus?|cases?|onglets?|champs?|réglages?|options?|liens?|"
                r"cliqu(?:e|es|er) sur|appui(?:e|es|er) sur|coch(?:e|es|er|é|ée)|"
                r"choisi(?:s|r)?|sélectionn(?:e|es|er)|dans|sécurité"),
        ("other", r"dossiers?|messages?|objet|sujet|fiches?|identifiant|veut dire|appelle|"
                  r"noms?|adresses?|lignes?|mots?|pages?"),
    ),
    "en": (
        (SAYS, r"shows?|displays?|says|answers|answered|replies|replied|writes|errors?|"
               r"warnings?|alerts?"),
        (LABEL, r"buttons?|menus?|box|tabs?|fields?|settings?|options?|links?|click(?: on)?|"
                r"press(?:es)?|tick(?:s|ed)?|choose|chooses|select|in|security"),
        ("other", r"folders?|messages?|subject|sheets?|user name|means|called|names?|"
                  r"address(?:es)?|lines?|words?|pages?"),
    ),
}
_CUE_RE = {
    lang: re.compile("|".join(f"(?P<{kind}>\\b(?:{words})\\b)" for kind, words in cues),
                     re.IGNORECASE)
    for lang, cues in _CUES.items()
}
# A quotation's context starts after the previous sentence, line or quotation.
_BOUNDARY = re.compile(r"[.!?](?=\s)|\n|»|[\"“”]")

# Blanks in the shown texts: %S, %1$S, %d, { $name }, {name}, %(name)s.
_BLANK = re.compile(r"%(?:\d\$)?[sSd]|\{ ?\$[\w-]+ ?\}|%\([\w]+\)[sd]|\{[a-z_]+\}")
_MARKUP = re.compile(r"<[^>]+>")
# Thunderbird's brand terms ({ -brand-short-name }…) are all "Thunderbird" ([terms]).
_BRAND = re.compile(r"\{ ?-brand[\w-]* ?\}")
# Sample values for a scenario's placeholders, so that a quotation holding one can match a blank.
_SAMPLES = {"learner": "eleve", "address": "eleve@lycee-exemple.test",
            "password": "Cahier-2026", "domain": "lycee-exemple.test"}


def normalise(text: str) -> str:
    """One spelling for spaces, apostrophes and quotation marks, as the eye reads them."""
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    text = text.replace("’", "'").replace("‘", "'")
    text = _BRAND.sub("Thunderbird", text)
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


@dataclass(frozen=True)
class Quotation:
    """One quotation in a text: its words, and what the words before it make of it."""

    words: str
    kind: str  # SAYS, LABEL or "" (not checked)


def quotations(text: str, lang: str) -> Iterator[Quotation]:
    """The quotations of a text: « … » in French, "…" or “…” in English."""
    for start, end in _spans(text, lang):
        before = text[:start]
        boundary = max((m.end() for m in _BOUNDARY.finditer(before)), default=0)
        context = before[boundary:]
        cues = list(_CUE_RE[lang].finditer(context))
        kind = cues[-1].lastgroup if cues else ""
        if not kind:
            # « … » : le serveur ne dit pas lequel — the verb may come just after.
            after = text[end + 1:]
            stop = min((m.start() for m in _BOUNDARY.finditer(after)), default=len(after))
            following = list(_CUE_RE[lang].finditer(after[:stop]))
            if following and following[0].lastgroup == SAYS:
                kind = SAYS
        yield Quotation(text[start + 1:end].strip(), kind if kind in (SAYS, LABEL) else "")


def _spans(text: str, lang: str) -> Iterator[tuple[int, int]]:
    if lang == "fr":
        depth, opened = 0, 0
        for n, char in enumerate(text):
            if char == "«":
                if depth == 0:
                    opened = n
                depth += 1
            elif char == "»" and depth:
                depth -= 1
                if depth == 0:
                    yield opened, n
        return
    yield from ((m.start(), m.end() - 1) for m in re.finditer(r"\"[^\"\n]*\"|“[^”\n]*”", text))


class Shown:
    """A set of texts PixLab shows, searchable by a quotation of them."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = sorted({t for t in (normalise(text) for text in texts) if t})
        self._pieces = {t: _BLANK.split(t) for t in self.texts}
        self._patterns: dict[str, list[re.Pattern[str]]] = {}

    def holds_label(self, quoted: str) -> bool:
        """A whole label, from its first word to its last (a trailing colon aside)."""
        quoted = _filled(quoted)
        return any(self._fullmatch(text.rstrip(" :."), quoted) for text in self.texts)

    def holds_words(self, quoted: str) -> bool:
        """Words said somewhere in one text; « … » stands for words left out."""
        fragments = [f.strip() for f in _filled(quoted).split("…") if f.strip(" .")]
        return bool(fragments) and any(
            all(self._contains(text, fragment) for fragment in fragments) for text in self.texts
        )

    def closest(self, quoted: str) -> str | None:
        """The shown text nearest to a wrong quotation, to suggest it."""
        quoted = normalise(quoted)
        candidates = [t for t in self.texts if len(t) < 4 * len(quoted) + 40]
        close = difflib.get_close_matches(quoted, candidates, n=1, cutoff=0.5)
        return close[0] if close else None

    def _fullmatch(self, text: str, quoted: str) -> bool:
        pieces = _BLANK.split(text)
        if len(pieces) == 1:
            return text == quoted
        pattern = "(.+?)".join(re.escape(p) for p in pieces)
        return re.fullmatch(pattern, quoted) is not None

    def _contains(self, text: str, fragment: str) -> bool:
        pieces = self._pieces[text]
        if any(_has_words(piece, fragment) for piece in pieces):
            return True
        if len(pieces) == 1:
            return False
        patterns = self._patterns.get(text)
        if patterns is None:
            patterns = self._patterns[text] = _spanning(pieces)
        for pattern in patterns:
            match = pattern.fullmatch(fragment)
            # Most of the quotation must be the text's own words, not what fills its blanks.
            if match is not None and all(_is_value(g) for g in match.groups() if g):
                blanks = sum(len(g) for g in match.groups() if g)
                if len(fragment) - blanks >= max(4, len(fragment) // 2):
                    return True
        return False


def _is_value(filler: str) -> bool:
    """What fills a blank is a value (a host, an address, a reply, a date), not plain words."""
    return filler in _SAMPLES.values() or re.search(r"[.@<>\d]", filler) is not None


def _filled(quoted: str) -> str:
    quoted = normalise(quoted)
    return re.sub(r"\{(\w+)\}", lambda m: _SAMPLES.get(m.group(1), m.group(0)), quoted)


def _has_words(text: str, fragment: str) -> bool:
    """`fragment` in `text`, starting and ending on word boundaries."""
    start = text.find(fragment)
    while start != -1:
        end = start + len(fragment)
        if (start == 0 or not (text[start - 1].isalnum() and fragment[0].isalnum())) and (
            end == len(text) or not (text[end].isalnum() and fragment[-1].isalnum())
        ):
            return True
        start = text.find(fragment, start + 1)
    return False


def _spanning(pieces: list[str]) -> list[re.Pattern[str]]:
    """A quotation that runs over blanks: the end of a piece, blanks and pieces, a beginning."""
    options = []
    for first in range(len(pieces) - 1):
        for last in range(first + 1, len(pieces)):
            middle = "(.+?)".join(re.escape(p) for p in pieces[first + 1:last])
            inner = f"(.+?){middle}(.+?)" if last > first + 1 else "(.+?)"
            options.append(_suffixes(pieces[first]) + inner + _prefixes(pieces[last]))
    return [re.compile(option, re.DOTALL) for option in options]


def _suffixes(text: str) -> str:
    """A pattern for any end of `text` (the empty one too)."""
    pattern = ""
    for char in text:
        pattern = f"(?:{pattern})?{re.escape(char)}" if pattern else re.escape(char)
    return f"(?:{pattern})?" if pattern else ""


def _prefixes(text: str) -> str:
    """A pattern for any beginning of `text` (the empty one too)."""
    pattern = ""
    for char in reversed(text):
        pattern = f"{re.escape(char)}(?:{pattern})?" if pattern else re.escape(char)
    return f"(?:{pattern})?" if pattern else ""


# -- what PixLab shows -------------------------------------------------------------------


def _top_level(name: str) -> Path:
    package = Path(__file__).resolve().parent.parent
    installed = package / name  # the wheel carries them inside the package
    return installed if installed.is_dir() else package.parent / name


_TEMPLATE_TEXT = re.compile(r"""\b_\(\s*"((?:[^"\\]|\\.)*)"|\b_\(\s*'((?:[^'\\]|\\.)*)'""")
# A key of Thunderbird's strings, as the templates' tb() calls name it ("setup.security.none").
_TEMPLATE_TB = re.compile(r"""["']([a-z]\w*(?:\.\w+)+)["']""")
# The words the pages show for a setting's value (« Aucun chiffrement » on a connection sheet)
# live in this file of the web layer; the catalogue names it, so nothing here imports it.
_VOCABULARY_LABELS = "pixlab/web/labels.py"


@cache
def shown_texts() -> tuple[dict[str, Shown], dict[str, Shown]]:
    """(what PixLab says, PixLab's labels), each by language."""
    from babel.messages.pofile import read_po

    from pixlab.client import errors
    from pixlab.client.programs import STRINGS as PROGRAM_STRINGS
    from pixlab.client.thunderbird import STRINGS
    from pixlab.lab import replies

    english: dict[str, str] = {}
    labels: dict[str, list[str]] = {"fr": [], "en": []}
    po = _top_level("translations") / "en" / "LC_MESSAGES" / "messages.po"
    if po.is_file():
        with po.open("rb") as file:
            for message in read_po(file):
                if message.id and isinstance(message.id, str) and isinstance(message.string, str):
                    english[message.id] = message.string
                    if any(place == _VOCABULARY_LABELS for place, _ in message.locations):
                        labels["fr"].append(message.id)
                        labels["en"].append(message.string)
    for template in sorted(_top_level("templates").rglob("*.html")):
        source = template.read_text(encoding="utf-8")
        for match in _TEMPLATE_TEXT.finditer(source):
            text = match.group(1) or match.group(2) or ""
            labels["fr"].append(text)
            labels["en"].append(english.get(text, ""))
        for key in _TEMPLATE_TB.findall(source):
            if key in STRINGS:
                labels["fr"].append(STRINGS[key]["fr"])
                labels["en"].append(STRINGS[key]["en"])
    # The other programs' words (pixlab/client/*.toml): their forms and dialogs show them all.
    for words in PROGRAM_STRINGS.values():
        for word in words.values():
            labels["fr"].append(word.fr)
            labels["en"].append(word.en)
    server = [v for k, v in vars(replies).items() if k.isupper() and isinstance(v, str)]
    said: dict[str, list[str]] = {"fr": list(server), "en": list(server)}
    for entry in STRINGS.values():
        said["fr"].append(entry["fr"])
        said["en"].append(entry["en"])
    for catalogued in errors.CATALOGUE.values():
        for lang in ("fr", "en"):
            said[lang] += [catalogued.explanation[lang], catalogued.hint[lang]]
    said["fr"] += list(english)
    said["en"] += list(english.values())
    return (
        {lang: Shown(texts + labels[lang]) for lang, texts in said.items()},
        {lang: Shown(texts) for lang, texts in labels.items()},
    )


def problems_in(text: str, lang: str) -> Iterator[str]:
    """What is wrong with the quotations of one text, each as the message an author reads."""
    said, labels = shown_texts()
    mark = ("«\u00a0{}\u00a0»" if lang == "fr" else "\"{}\"").format
    for quotation in quotations(text, lang):
        if quotation.kind == SAYS and not said[lang].holds_words(quotation.words):
            near = said[lang].closest(quotation.words)
            yield (f"{mark(quotation.words)} is quoted as what a program or a server shows, "
                   "but PixLab never shows it — copy the exact words of Thunderbird "
                   "(pixlab/client/thunderbird.toml) or of the lab's server "
                   "(pixlab/lab/replies.py), or write it without quotation marks"
                   + (f" (closest: {mark(near)})" if near else ""))
        elif quotation.kind == LABEL and not labels[lang].holds_label(quotation.words):
            near = labels[lang].closest(quotation.words)
            yield (f"{mark(quotation.words)} is quoted as a button, menu or field label, but "
                   "no page of PixLab has that label — copy it exactly as the page shows it "
                   "(templates/), or write it without quotation marks"
                   + (f" (closest: {mark(near)})" if near else ""))


def check_quotations(scenario: object, problems: Problems) -> None:
    """What a scenario quotes as a program's words or a page's label must be what PixLab shows."""
    for path, value in walk(scenario):
        lang = path.rpartition(".")[2]
        if isinstance(value, str) and lang in ("fr", "en"):
            for message in problems_in(value, lang):
                problems.error(path, message)
