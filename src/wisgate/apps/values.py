"""An install's setting values: ``--set`` checked against the app's settings, defaults filled, secrets generated."""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from wisgate.apps.errors import SettingError
from wisgate.apps.manifest import CatalogApp, Setting

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
#: 24 URL-safe characters: 144 bits, and no character a config file or URL would need escaped.
SECRET_BYTES = 18


@dataclass
class Values:
    values: dict[str, str]
    #: Secrets generated for this install (shown once; never written to labels or logs).
    generated: list[str] = field(default_factory=list)
    secret_names: frozenset[str] = frozenset()

    def public(self) -> dict[str, str]:
        """What may be shown and kept in Docker labels: everything but secrets."""
        return {k: v for k, v in self.values.items() if k not in self.secret_names}


def parse_assignments(items: list[str] | tuple[str, ...], *, option: str = "--set") -> dict[str, str]:
    """``KEY=VALUE`` strings (``--set``) as a mapping; the first ``=`` splits."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingError(f"{option} {item!r}: write KEY=VALUE")
        out[key.strip()] = value
    return out


def _check(app_id: str, name: str, setting: Setting, value: str) -> str:
    where = f"{app_id}: {name}={value!r}"
    if setting.type in ("int", "port"):
        try:
            number = int(value)
        except ValueError:
            raise SettingError(f"{where}: not a whole number") from None
        if setting.type == "port" and not 1 <= number <= 65535:
            raise SettingError(f"{where}: a port is 1-65535")
        return str(number)
    if setting.type == "bool":
        lowered = value.lower()
        if lowered in _TRUE:
            return "true"
        if lowered in _FALSE:
            return "false"
        raise SettingError(f"{where}: use true or false")
    if setting.type == "choice" and value not in setting.choices:
        raise SettingError(f"{where}: choose one of {', '.join(setting.choices)}")
    if "\n" in value or "\x00" in value:
        raise SettingError(f"{where}: a setting is one line")
    return value


def settle(app: CatalogApp, given: Mapping[str, str]) -> Values:
    """The complete values of an install; raises SettingError naming the first unknown or invalid one."""
    settings = app.settings()
    for name in given:
        if name not in settings:
            close = difflib.get_close_matches(name, list(settings), n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(settings) or 'none'}"
            raise SettingError(f"{app.id}: no setting {name!r}{hint}")
    out: dict[str, str] = {}
    generated: list[str] = []
    for name, setting in settings.items():
        value = given.get(name)
        if value is None or value == "":
            if setting.required:
                raise SettingError(f"{app.id}: {name} is required ({setting.description}): --set {name}=...")
            if setting.type == "secret" and not setting.default:
                out[name] = secrets.token_urlsafe(SECRET_BYTES)
                generated.append(name)
                continue
            value = setting.default or ""
            if value == "":
                out[name] = ""
                continue
        out[name] = _check(app.id, name, setting, value)
    secret_names = frozenset(n for n, s in settings.items() if s.type == "secret")
    return Values(out, generated, secret_names)
