"""The part of the compose specification wisgate's deployer implements, read into plain values.

A catalog service may use exactly the keys in ``SUPPORTED``; ``FORBIDDEN`` ones have a wisgate-managed
equivalent (the reason says which). Each reader raises ValueError with a message naming the problem, which
the linter reports and the planner turns into an install error.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

SUPPORTED: frozenset[str] = frozenset({
    "image", "command", "entrypoint", "environment", "volumes", "depends_on", "restart", "user", "working_dir",
    "healthcheck", "cap_add", "cap_drop", "network_mode", "hostname", "tmpfs", "read_only", "stop_signal",
    "labels", "init", "privileged",
})

FORBIDDEN: dict[str, str] = {
    "ports": "declare ports in app.toml [[ports]]: wisgate checks them for clashes and publishes them",
    "devices": "declare [[hardware]] needs in app.toml: wisgate resolves them to this board's device nodes",
    "group_add": "groups come from the owners of the resolved device nodes",
    "container_name": "containers are named per install (an app can be installed several times)",
    "build": "catalog apps run published images pinned to a version",
    "networks": "each install gets its own network and joins the networks of the apps it requires",
    "links": "services reach each other by service name on the install's network",
    "expose": "declare ports in app.toml [[ports]]",
}

TOP_LEVEL: frozenset[str] = frozenset({"services", "volumes"})

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
DEPENDS_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume" or "bind"
    source: str
    target: str
    read_only: bool


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_s(value: Any) -> float:
    """Compose durations: ``1m30s``, ``500ms``, ``10s`` (a bare number is seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 1m30s, 500ms)")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def argv(value: Any, key: str) -> list[str] | None:
    """``command``/``entrypoint``: a list, or a string split like a shell would (no shell runs it)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    if isinstance(value, list) and all(isinstance(a, str | int | float) for a in value):
        return [str(a) for a in value]
    raise ValueError(f"{key}: must be a string or a list of strings")


def environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            if item is None:
                continue
            out[str(key)] = ("true" if item else "false") if isinstance(item, bool) else str(item)
        return out
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError("environment: list items must be NAME=value strings")
            name, sep, text = item.partition("=")
            if sep:
                out[name] = text
        return out
    raise ValueError("environment: must be a mapping or a list of NAME=value")


def is_bind_source(source: str) -> bool:
    return source.startswith(("/", ".", "~"))


def mounts(value: Any) -> list[Mount]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("volumes: must be a list")
    out: list[Mount] = []
    for item in value:
        if isinstance(item, str):
            parts = item.split(":")
            if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
                raise ValueError(f"volumes: {item!r} is not SOURCE:TARGET[:ro|rw]")
            mode = parts[2] if len(parts) == 3 else "rw"
            if mode not in ("ro", "rw"):
                raise ValueError(f"volumes: {item!r}: mode must be ro or rw")
            kind = "bind" if is_bind_source(parts[0]) else "volume"
            out.append(Mount(kind, parts[0], parts[1], mode == "ro"))
        elif isinstance(item, dict):
            kind = item.get("type", "volume")
            if kind not in ("volume", "bind") or not item.get("source") or not item.get("target"):
                raise ValueError(f"volumes: {item!r}: needs type volume|bind, source and target")
            out.append(Mount(str(kind), str(item["source"]), str(item["target"]), bool(item.get("read_only"))))
        else:
            raise ValueError(f"volumes: {item!r} is neither SOURCE:TARGET nor a mapping")
    for mount in out:
        if not mount.target.startswith("/"):
            raise ValueError(f"volumes: target {mount.target!r} must be an absolute path")
    return out


def depends_on(value: Any) -> dict[str, str]:
    """Service -> condition."""
    if value is None:
        return {}
    if isinstance(value, list):
        return {str(name): "service_started" for name in value}
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for name, spec in value.items():
            condition = spec.get("condition", "service_started") if isinstance(spec, dict) else "service_started"
            if condition not in DEPENDS_CONDITIONS:
                raise ValueError(f"depends_on.{name}: condition must be one of {', '.join(DEPENDS_CONDITIONS)}")
            out[str(name)] = str(condition)
        return out
    raise ValueError("depends_on: must be a list or a mapping")


def restart_policy(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    text = str(value)
    name, _sep, count = text.partition(":")
    if name not in RESTART_POLICIES or (count and (name != "on-failure" or not count.isdigit())):
        raise ValueError(f"restart: {text!r}; use no, always, unless-stopped or on-failure[:N]")
    if name == "no":
        return None
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


_NS = 1_000_000_000


def healthcheck(value: Any) -> dict[str, Any] | None:
    """The Engine API's HealthConfig (durations in nanoseconds)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("healthcheck: must be a mapping")
    if value.get("disable"):
        return {"test": ["NONE"]}
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ValueError("healthcheck.test: a string, or a list starting with CMD, CMD-SHELL or NONE")
    out: dict[str, Any] = {"test": [str(t) for t in test]}
    for key in ("interval", "timeout", "start_period"):
        if key in value:
            out[key] = int(duration_s(value[key]) * _NS)
    if "retries" in value:
        out["retries"] = int(value["retries"])
    return out


def tmpfs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("tmpfs: a path or a list of paths")
    out: dict[str, str] = {}
    for item in items:
        path, _sep, options = str(item).partition(":")
        out[path] = options
    return out


def labels(value: Any) -> dict[str, str]:
    return environment(value) if value is not None else {}


def string_leaves(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a YAML tree with its dotted path (for interpolation checks)."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out += string_leaves(item, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(value, list):
        out = []
        for index, item in enumerate(value):
            out += string_leaves(item, f"{path}[{index}]")
        return out
    return []


def map_strings(value: Any, func: Any) -> Any:
    """A copy of a YAML tree with ``func`` applied to every string (interpolation)."""
    if isinstance(value, str):
        return func(value)
    if isinstance(value, dict):
        return {key: map_strings(item, func) for key, item in value.items()}
    if isinstance(value, list):
        return [map_strings(item, func) for item in value]
    return value


def start_order(deps: dict[str, dict[str, str]]) -> list[str]:
    """Services in an order where each comes after what it depends on; raises ValueError on a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError(f"depends_on cycle: {' -> '.join((*trail, name))}")
        state[name] = 1
        for dep in deps.get(name, {}):
            visit(dep, (*trail, name))
        state[name] = 2
        order.append(name)

    for name in deps:
        visit(name, ())
    return order
