"""Compose-style variable interpolation: ``${NAME}``, ``${NAME:-default}``, ``$NAME`` and ``$$`` for a dollar.

The same syntax runs in compose files and in the config files an app ships, so an exported compose file
can hand the unresolved text to ``docker compose`` and get the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(rf"\$(?:(\$)|\{{({NAME})(?::-([^}}]*))?\}}|({NAME})|(\{{[^}}]*\}}?)|)")


class InterpolationError(ValueError):
    """A ``$`` expression this syntax does not know."""


@dataclass(frozen=True)
class Reference:
    name: str
    default: str | None


def _tokens(text: str) -> Iterator[tuple[re.Match[str], Reference | None]]:
    for match in _TOKEN.finditer(text):
        dollar, braced, default, bare, bad = match.groups()
        if dollar:
            yield match, None
        elif braced or bare:
            yield match, Reference(braced or bare, default)
        else:
            shown = f"${bad}" if bad else text[match.start():match.start() + 2]
            raise InterpolationError(
                f"unsupported {shown!r} in {text!r}: write ${{NAME}}, ${{NAME:-default}}, or $$ for a dollar"
            )


def references(text: str) -> list[Reference]:
    """Every variable ``text`` refers to, in order."""
    return [ref for _match, ref in _tokens(text) if ref is not None]


Lookup = Callable[[Reference], str | None]


def interpolate(text: str, lookup: Lookup, *, keep_escapes: bool = False) -> str:
    """``text`` with each reference replaced by ``lookup(ref)``; a None from lookup keeps the reference as
    written (for a compose file that resolves it later). ``keep_escapes`` leaves ``$$`` for the same reason."""
    out: list[str] = []
    position = 0
    for match, ref in _tokens(text):
        out.append(text[position:match.start()])
        position = match.end()
        if ref is None:
            out.append("$$" if keep_escapes else "$")
            continue
        value = lookup(ref)
        out.append(match.group(0) if value is None else value)
    out.append(text[position:])
    return "".join(out)


def values_lookup(values: dict[str, str]) -> Lookup:
    """A lookup over plain values; an unknown or empty name falls back to its ``:-`` default, else ''."""

    def lookup(ref: Reference) -> str:
        value = values.get(ref.name, "")
        if value == "" and ref.default is not None:
            return ref.default
        return value

    return lookup
