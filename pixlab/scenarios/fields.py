"""Typed, documented TOML tables: read a table into a dataclass and say precisely what is wrong.

Every field of a scenario's dataclasses carries a one-line `doc` in its
metadata; the reader uses it in its messages and the guide lists it. A
problem names the field path as a trainer reads the file, counting blocks from
1 (`objectives[2].when.event` is the `when` of the second `[[objectives]]`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look, when `warning`) in a scenario file."""

    field: str  # the field path, "" for the whole file
    message: str
    warning: bool = False

    def format(self, source: str) -> str:
        """`source: field: message`, the line `pixlab scenarios check` prints."""
        parts = [source]
        if self.field:
            parts.append(self.field)
        parts.append(("warning: " if self.warning else "") + self.message)
        return ": ".join(parts)


class Problems(list[Problem]):
    """The problems found so far in one file."""

    def error(self, field: str, message: str) -> None:
        """Note an error: the file cannot be played as it is."""
        self.append(Problem(field, message))

    def warn(self, field: str, message: str) -> None:
        """Note a warning: the file works, but something looks unintended."""
        self.append(Problem(field, message, warning=True))

    @property
    def errors(self) -> list[Problem]:
        """Only the errors."""
        return [p for p in self if not p.warning]


def doc(text: str, *, key: str | None = None, missing: str | None = None) -> dict[str, str]:
    """Field metadata: its one-line documentation, its TOML key if not the field's name."""
    meta = {"doc": text}
    if key is not None:
        meta["key"] = key
    if missing is not None:
        meta["missing"] = missing
    return meta


# Words trainers write for the lab's own ones: "auth.ok" is "auth.succeeded".
SYNONYMS = {"ok": "succeeded", "success": "succeeded", "successful": "succeeded",
            "error": "failed", "fail": "failed", "failure": "failed", "login": "auth",
            "sent": "delivered", "received": "delivered", "refused": "rejected"}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" — did you mean 'x'?" when a choice is close to `word`, else ""."""
    options = list(choices)
    translated = re.sub(r"[a-z]+", lambda m: SYNONYMS.get(m.group(0), m.group(0)), word.lower())
    if translated != word.lower() and translated in options:
        return f" — did you mean '{translated}'?"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        # "auth.ok" is far from "auth.succeeded" letter by letter, but it starts the same way.
        head = re.split(r"[._-]", word, maxsplit=1)[0]
        family = [o for o in options if re.split(r"[._-]", o, maxsplit=1)[0] == head]
        close = difflib.get_close_matches(word, family, n=1, cutoff=0.4)
    return f" — did you mean '{close[0]}'?" if close else ""


def toml_key(field: dataclasses.Field[Any]) -> str:
    """The key a field has in a TOML file."""
    return str(field.metadata.get("key", field.name))


def field_doc(field: dataclasses.Field[Any]) -> str:
    """A field's one-line documentation."""
    return str(field.metadata.get("doc", ""))


def join(path: str, key: str) -> str:
    """`path.key`, or `key` at the top."""
    return f"{path}.{key}" if path else key


def _choices(tp: Any) -> tuple[str, ...] | None:
    """The words a field may take: a Literal's, or a vocabulary's (a StrEnum); None for others."""
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return tuple(member.value for member in tp)
    return None


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a text"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is dt.datetime:
        return "a date and time (2026-03-02T08:15:00+01:00)"
    choices = _choices(tp)
    if choices is not None:
        return "one of " + ", ".join(f"'{a}'" for a in choices)
    if origin is tuple:
        return "a list [ … ]"
    if origin is dict:
        return "a table { … }"
    if dataclasses.is_dataclass(tp):
        return "a table { … }"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return "a value"


def _shape_fits(tp: Any, value: Any) -> bool:
    """Whether a value has the shape of a type (for choosing a union's alternative)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) or origin is dict:
        return isinstance(value, dict)
    if origin is tuple:
        return isinstance(value, list)
    if _choices(tp) is not None or tp is str:
        return isinstance(value, str)
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is dt.datetime:
        return isinstance(value, dt.datetime)
    return tp is Any


class _Invalid:
    """The reading of a value failed (already reported)."""


INVALID = _Invalid()


def read(tp: Any, value: Any, path: str, problems: Problems) -> Any:
    """Read a TOML value as type `tp`; reports problems and returns INVALID when it cannot."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        alternatives = [a for a in typing.get_args(tp) if a is not type(None)]
        for alternative in alternatives:
            if _shape_fits(alternative, value):
                return read(alternative, value, path, problems)
        problems.error(path, f"expected {_type_name(tp)}, found {_found(value)}")
        return INVALID
    if dataclasses.is_dataclass(tp):
        return read_table(tp, value, path, problems)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            problems.error(path, f"expected a list [ … ], found {_found(value)}")
            return INVALID
        (item_type, _) = typing.get_args(tp)
        items = [read(item_type, item, f"{path}[{n}]", problems) for n, item in
                 enumerate(value, 1)]
        return INVALID if any(i is INVALID for i in items) else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            problems.error(path, f"expected a table {{ … }}, found {_found(value)}")
            return INVALID
        _, value_type = typing.get_args(tp)
        values = {str(k): read(value_type, v, join(path, str(k)), problems)
                  for k, v in value.items()}
        return INVALID if any(v is INVALID for v in values.values()) else values
    allowed = _choices(tp)
    if allowed is not None:
        if value in allowed and isinstance(value, str):
            return value if origin is Literal else tp(value)
        if isinstance(value, str):
            problems.error(
                path,
                f"'{value}' is not allowed: use {_type_name(tp)}" + did_you_mean(value, allowed),
            )
        else:
            problems.error(path, f"expected {_type_name(tp)}, found {_found(value)}")
        return INVALID
    if _shape_fits(tp, value):
        return float(value) if tp is float else value
    problems.error(path, f"expected {_type_name(tp)}, found {_found(value)}")
    return INVALID


def _found(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text '{value[:40]}'"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def read_table(cls: type[T], value: Any, path: str, problems: Problems) -> T | _Invalid:
    """Read a TOML table into dataclass `cls`: unknown keys and missing fields are errors."""
    if not isinstance(value, dict):
        problems.error(path, f"expected a table {{ … }}, found {_found(value)}")
        return INVALID
    hints = typing.get_type_hints(cls)
    fields = {toml_key(f): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in value:
        if key not in fields:
            problems.error(
                join(path, key), f"unknown key '{key}'" + did_you_mean(key, fields)
            )
    kwargs: dict[str, Any] = {}
    broken = False
    for key, field in fields.items():
        if key not in value:
            required = (field.default is dataclasses.MISSING
                        and field.default_factory is dataclasses.MISSING)
            if required:
                message = field.metadata.get("missing") or (
                    f"missing — add {key} ({field_doc(field)})"
                )
                problems.error(join(path, key), message)
                broken = True
            continue
        result = read(hints[field.name], value[key], join(path, key), problems)
        if result is INVALID:
            broken = True
        else:
            kwargs[field.name] = result
    return INVALID if broken else cls(**kwargs)


def documented_fields(cls: type[Any]) -> list[tuple[str, str, str]]:
    """(TOML key, type, doc) of each field of a dataclass, for the guide and its test."""
    hints = typing.get_type_hints(cls)
    return [
        (toml_key(f), _type_name(hints[f.name]), field_doc(f))
        for f in dataclasses.fields(cls)
    ]


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (field path, value) below a scenario's dataclass, texts included."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name), f"{path}.{toml_key(f)}" if path else
                            toml_key(f))
    elif isinstance(value, tuple):
        for n, item in enumerate(value, 1):
            yield from walk(item, f"{path}[{n}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    else:
        yield path, value
