"""A device's settings during an attempt: flat fields the learner may change, and the client's view.

Settings are a flat mapping from a field path ("incoming.port", "password")
to a value, so a page can show one input per field and a scenario can list
which ones the learner may change. Blank fields (None or "") are the ones the
learner still has to fill in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixlab.client.settings import AccountSettings, Auth, LeaveOnServer, Security, ServerSettings
from pixlab.scenarios.schema import DeviceSpec, fill

_SECURITY = ("none", "starttls", "tls")
_AUTH = ("normal", "encrypted", "none")

# Every setting: its allowed values (a tuple), or its type.
SETTING_FIELDS: dict[str, tuple[str, ...] | type] = {
    "incoming.protocol": ("imap", "pop3"),
    "incoming.host": str,
    "incoming.port": int,
    "incoming.security": _SECURITY,
    "incoming.auth": _AUTH,
    "incoming.username": str,
    "outgoing.host": str,
    "outgoing.port": int,
    "outgoing.security": _SECURITY,
    "outgoing.auth": _AUTH,
    "outgoing.username": str,
    "password": str,
    "leave_on_server": ("no", "forever", "days", "until-deleted"),
    "leave_days": int,
    "accepted_cleartext": bool,
    "accepted_risks": list,
}
# Names for several settings at once in a device's `editable`.
SETTING_GROUPS: dict[str, tuple[str, ...]] = {
    "incoming": tuple(f for f in SETTING_FIELDS if f.startswith("incoming.")),
    "outgoing": tuple(f for f in SETTING_FIELDS if f.startswith("outgoing.")),
    "all": tuple(SETTING_FIELDS),
}
# What a test of each side needs filled in.
REQUIRED = {
    "incoming": ("incoming.protocol", "incoming.host", "incoming.port", "incoming.security",
                 "incoming.auth"),
    "outgoing": ("outgoing.host", "outgoing.port", "outgoing.security", "outgoing.auth"),
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
    return {
        "incoming.protocol": spec.incoming.protocol,
        "incoming.host": fill(spec.incoming.host, values),
        "incoming.port": spec.incoming.port,
        "incoming.security": spec.incoming.security,
        "incoming.auth": spec.incoming.auth,
        "incoming.username": fill(spec.incoming.username, values),
        "outgoing.host": fill(spec.outgoing.host, values),
        "outgoing.port": spec.outgoing.port,
        "outgoing.security": spec.outgoing.security,
        "outgoing.auth": spec.outgoing.auth,
        "outgoing.username": fill(spec.outgoing.username, values),
        "password": fill(spec.password, values),
        "leave_on_server": spec.leave_on_server,
        "leave_days": spec.leave_days,
        "accepted_cleartext": spec.accepted_cleartext,
        "accepted_risks": [fill(h, values).lower() for h in spec.accepted_risks],
    }


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


def missing(settings: Mapping[str, Any], side: str) -> list[str]:
    """The settings a test of one side ("incoming", "outgoing") needs and that are blank."""
    return [f for f in REQUIRED[side] if settings.get(f) in (None, "")]


def _server(settings: Mapping[str, Any], side: str) -> ServerSettings:
    if missing(settings, side):
        # Never used: the engine refuses to test a side that is not filled in.
        return ServerSettings("pop3", "", 0, Security.NONE, Auth.NONE, "")
    return ServerSettings(
        "smtp" if side == "outgoing" else settings["incoming.protocol"],
        settings[f"{side}.host"],
        int(settings[f"{side}.port"]),
        Security(settings[f"{side}.security"]),
        Auth(settings[f"{side}.auth"]),
        settings.get(f"{side}.username") or "",
    )


def account_settings(settings: Mapping[str, Any], address: str) -> AccountSettings:
    """What the simulated mail client gets; the learner's typos are kept as they are."""
    return AccountSettings(
        address=address,
        incoming=_server(settings, "incoming"),
        outgoing=_server(settings, "outgoing"),
        password=settings.get("password") or "",
        leave_on_server=LeaveOnServer(settings.get("leave_on_server") or "no"),
        leave_days=int(settings.get("leave_days") or 0),
        accepted_risks=frozenset(settings.get("accepted_risks") or ()),
        accepted_cleartext=bool(settings.get("accepted_cleartext")),
    )
