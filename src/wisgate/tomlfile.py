"""Reading a TOML settings file, and wording what is wrong with it: one line per problem, never a traceback.

Shared by the daemon's configuration (``wisgate run --config``) and the board description
(``wisgate check``), so a mistake reads the same in both: ``monitor.intervl_s: unknown field (misspelt?);
did you mean 'interval_s'?``.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from wisgate.errors import ConfigError

#: Far above any real configuration; refuses /dev/zero-like inputs and mistakes such as a log file.
MAX_BYTES = 1024 * 1024


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML table in ``path``; every way it can be unreadable becomes one :class:`ConfigError` line."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # /dev/zero or a FIFO would never end
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ConfigError(f"cannot read {path}: {kind}; give a TOML file")
        with open(path, "rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"cannot read {path}: larger than {MAX_BYTES // 1024} KiB; not a configuration file")
    return parse_toml(raw, source=str(path))


def parse_toml(raw: bytes | str, *, source: str) -> dict[str, Any]:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); TOML files are UTF-8"
            ) from None
    else:
        text = raw
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # e.g. an integer beyond Python's 4300-digit conversion limit
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Annotated, Optional and unions opened up)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _step(annotation: Any, part: int | str) -> Any:
    for option in _unwrap(annotation):
        origin = typing.get_origin(option)
        args = typing.get_args(option)
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
            field = option.model_fields.get(part)
            if field is not None:
                return field.annotation
        elif origin in (list, set, frozenset) and isinstance(part, int) and args:
            return args[0]
        elif origin is tuple and isinstance(part, int) and args:
            return args[0] if args[-1] is Ellipsis else args[min(part, len(args) - 1)]
        elif origin is dict and len(args) == 2:
            return args[1]
    return None


def _fields_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model at ``loc`` (empty if the path does not lead to a model)."""
    annotation: Any = root
    for part in loc:
        if isinstance(part, str) and ("[" in part or "(" in part):
            continue  # pydantic's name for a union branch or a validator, not a field
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return list(option.model_fields)
    return []


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" in part or "(" in part:
            continue
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


def did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(known)}" if known else ""


def _problem(error: Any, root: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        message = "unknown field (misspelt?)" + did_you_mean(str(loc[-1]), _fields_at(root, loc[:-1]))
    elif kind == "missing":
        message = "missing (required)"
    else:
        message = message.removeprefix("Value error, ").replace("Input should be", "should be", 1)
        message = re.sub(r"^(?:String|Tuple|List|Dictionary) should", "should", message)
        message = re.sub(r" or instance of \w+$", "", message)  # pydantic's class names mean nothing to a user
        if kind.endswith(("_type", "_parsing")) or kind == "literal_error":
            got = error.get("input")
            if isinstance(got, str | int | float):
                message += f" (got {got!r})"
    return f"{field_path(loc)}: {message}"


def problems(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem, each naming its field; duplicates (union branches) collapsed."""
    lines: list[str] = []
    for error in exc.errors():
        line = _problem(error, root)
        if line not in lines:
            lines.append(line)
    return lines


def validation_error(exc: ValidationError, root: type[BaseModel], source: str) -> ConfigError:
    lines = problems(exc, root)
    if len(lines) == 1:
        return ConfigError(f"{source}: {lines[0]}")
    return ConfigError(f"{source}: {len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines))
