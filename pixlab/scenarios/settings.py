"""A device's settings during an attempt: flat fields the learner may change, and the client's view.

Settings are a flat mapping from a field path ("incoming.port", "password")
to a value, so a page can show one input per field and a scenario can list
which ones the learner may change. Blank fields (None or "") are the ones the
learner still has to fill in.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pixlab.client.settings import SETTING_KINDS, SIDES, AccountSettings, side_fields
from pixlab.client.settings import account_settings as client_account_settings
from pixlab.scenarios.schema import DeviceSpec, fill

# Every setting: its allowed values (a tuple), or its type (the client's vocabulary).
SETTING_FIELDS = SETTING_KINDS
# Names for several settings at once in a device's `editable`.
SETTING_GROUPS: dict[str, tuple[str, ...]] = {
    **{side: tuple(f"{side}.{name}" for name in side_fields(side)) for side in SIDES},
    "all": tuple(SETTING_FIELDS),
}

Settings = dict[str, Any]


class SettingError(ValueError):
    """A value a setting cannot take, or a setting the learner may not change."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def expand_editable(names: tuple[str, ...]) -> frozenset[str]:
    """The settings a device's `editable` list names, groups expanded."""
    fields: set[str] = set()
    for name in names:
        fields.update(SETTING_GROUPS.get(name, (name,)))
    return frozenset(fields)


def starting_settings(spec: DeviceSpec, values: dict[str, str]) -> Settings:
    """A device's settings at the start of an attempt, placeholders filled."""
    settings: Settings = {}
    for side in SIDES:
        server = getattr(spec, side)
        for name in side_fields(side):
            value = getattr(server, name)
            text = name in ("host", "username")
            settings[f"{side}.{name}"] = fill(value, values) if text else _plain(value)
    return {
        **settings,
        "password": fill(spec.password, values),
        "leave_on_server": _plain(spec.leave_on_server),
        "leave_days": spec.leave_days,
        "accepted_cleartext": spec.accepted_cleartext,
        "accepted_risks": [fill(h, values).lower() for h in spec.accepted_risks],
    }


def _plain(value: Any) -> Any:
    """A choice as stored in an attempt's state: its text, not the vocabulary's enum."""
    return str(value) if isinstance(value, StrEnum) else value


def coerce(field: str, value: Any) -> Any:
    """A setting's value as stored, from what a form or a file gave.

    Raises:
        SettingError: unknown setting, or a value it cannot take.
    """
    kind = SETTING_FIELDS.get(field)
    if kind is None:
        raise SettingError(field, "unknown setting")
    if isinstance(kind, tuple):
        if value in (None, ""):
            return None
        if value not in kind:
            raise SettingError(field, f"must be one of {', '.join(kind)}")
        return value
    if kind is int:
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            raise SettingError(field, "must be a number from 1 to 65535")
        return value
    if kind is bool:
        if isinstance(value, str):
            return value.lower() in ("1", "true", "on", "yes", "oui")
        return bool(value)
    if kind is list:
        items = value.split() if isinstance(value, str) else list(value or ())
        return [str(item).strip().lower() for item in items if str(item).strip()]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SettingError(field, "must be a text")
    return value.strip() if field != "password" else value


def account_settings(settings: Mapping[str, Any], address: str) -> AccountSettings:
    """What the simulated mail client gets; a side left incomplete is never usable."""
    return client_account_settings(settings, address, incomplete="unusable")
