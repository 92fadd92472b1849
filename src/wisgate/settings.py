"""The base of every settings schema: each setting is defined once, next to the code that uses it.

The daemon's configuration (:mod:`wisgate.config`) is composed of these schemas and passes the validated
objects through unchanged, so a default written here is the one that runs. Validation is strict: a
string is never taken as a number (``interval_s = "5"`` is refused), infinities and NaN are refused, and
unknown keys are errors. Durations are in seconds unless the unit is in the name.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict

log = logging.getLogger("wisgate.config")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


#: TOML writes paths as strings.
PathSetting = Annotated[Path, Strict(False)]

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_host(value: str) -> str:
    """An IP address or a DNS name (RFC 1123); anything else is refused before it is resolved."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    if (
        not value
        or len(value) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # 999.1.1.1 is neither an address nor a name
    ):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
    return value


Host = Annotated[str, AfterValidator(check_host)]


def check_endpoint(value: str) -> str:
    """A ZeroMQ endpoint: ``tcp://HOST:PORT``, ``ipc:///path`` or ``inproc://name``."""
    scheme, sep, rest = value.partition("://")
    if sep and scheme in ("ipc", "inproc") and rest and "\x00" not in rest:
        return value
    if sep and scheme == "tcp":
        host, colon, port = rest.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if colon and port.isdigit() and 1 <= int(port) <= 65535 and (host == "*" or _is_host(host)):
            return value
    raise ValueError(f"{value!r} is not a ZeroMQ endpoint like tcp://127.0.0.1:5591 or ipc:///run/wisgate.sock")


def _is_host(value: str) -> bool:
    try:
        check_host(value)
    except ValueError:
        return False
    return True


Endpoint = Annotated[str, AfterValidator(check_endpoint)]


def renamed(data: Any, old: str, new: str, convert: Any = None, *, where: str = "") -> Any:
    """Accept a setting's old name (with a warning naming the new one), as the new one."""
    if not isinstance(data, dict) or old not in data:
        return data
    if new in data:
        raise ValueError(f"give {new} or the old {old}, not both")
    data = dict(data)
    value = data.pop(old)
    # only convert what the new field would take, so a wrong type is still reported (as the new name)
    if convert is not None and isinstance(value, int | float) and not isinstance(value, bool):
        value = convert(value)
    data[new] = value
    log.warning("%s%s is deprecated; write %s", f"{where}." if where else "", old, new)
    return data
