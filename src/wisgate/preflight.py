"""What ``wisgate run`` checks before it starts anything: the files, directories and ports the config names.

The schema (:mod:`wisgate.config`) judges values; this judges them against the machine, so that a
store directory under /proc, a missing CA file or a taken port is one line naming the key at start,
not a service that fails and retries forever. Nothing here writes outside what the daemon would write
anyway (it creates the store directory, as the LoRa service would).
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from wisgate.config import Config
from wisgate.errors import ConfigError

#: Kernel pseudo-filesystems: writable-looking, but nothing stored there survives or works.
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))

P = ParamSpec("P")


def check_config(config: Config, *, source: str = "config") -> None:
    """Raise :class:`ConfigError` (one line per problem, each naming its key) if the machine cannot do it."""
    problems: list[str] = []

    def check(key: str, error: str | None) -> None:
        if error:
            problems.append(f"{key}: {error}")

    lora = config.lora
    if lora.enabled:
        if lora.udp or lora.mqtt.enabled:
            check("lora.store_dir", writable_dir(lora.store_dir, create=True))
        for n, server in enumerate(lora.udp):
            if server.store_path is not None:
                check(f"lora.udp[{n}].store_path", writable_file(server.store_path))
        if lora.mqtt.enabled:
            for name in ("ca_file", "cert_file", "key_file"):
                path = getattr(lora.mqtt, name)
                if path is not None:
                    check(f"lora.mqtt.{name}", readable_file(path))
        check("lora.traffic_url", endpoint_free(lora.traffic_url))
    if config.mqtt.enabled:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(config.mqtt, name)
            if path is not None:
                check(f"mqtt.{name}", readable_file(path))
    if config.display.enabled and config.display.png is not None:
        check("display.png", writable_file(config.display.png))
    if config.power.enabled and config.power.outage_record is not None:
        check("power.outage_record", writable_file(config.power.outage_record))
    if config.history.enabled and config.history.path is not None:
        check("history.path", writable_file(config.history.path))
    if config.api.enabled:
        check("api.host", port_free(config.api.host, config.api.port, what="api.port"))
    if len(problems) == 1:
        raise ConfigError(f"{source}: {problems[0]}")
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems))


def _os_errors_told(check: Callable[P, str | None]) -> Callable[P, str | None]:
    """A check that meets an OS error on the path itself (name too long, a loop) says so instead of raising."""

    @functools.wraps(check)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str | None:
        try:
            return check(*args, **kwargs)
        except OSError as exc:
            return f"unusable path: {exc.strerror or exc}"

    return wrapper


def _pseudo(path: Path) -> str | None:
    resolved = path.expanduser().resolve()
    for root in PSEUDO_FILESYSTEMS:
        if resolved == root or root in resolved.parents:
            return f"{path} is on the kernel's {root} filesystem; give a directory on a disk"
    return None


@_os_errors_told
def writable_dir(path: Path, *, create: bool = False) -> str | None:
    """None if files can be created in ``path`` (made first when ``create``), else why not."""
    path = path.expanduser()
    reason = _pseudo(path)
    if reason:
        return reason
    if path.exists() and not path.is_dir():
        return f"{path} exists and is not a directory"
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            return f"directory {path} does not exist"
        # access() says yes to root on a read-only filesystem; creating a file is the real test
        with tempfile.NamedTemporaryFile(dir=path, prefix=".wisgate-check-"):
            pass
    except OSError as exc:
        return f"cannot write in {path}: {exc.strerror or exc}"
    return None


@_os_errors_told
def writable_file(path: Path) -> str | None:
    """None if ``path`` can be written (an existing regular file, or a new one in a writable directory)."""
    path = path.expanduser()
    reason = _pseudo(path)
    if reason:
        return reason
    if path.is_dir():
        return f"{path} is a directory; give a file name"
    if path.exists():
        if not path.is_file():
            return f"{path} is not a regular file"
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            return f"cannot write {path}: {exc.strerror or exc}"
        return None
    return writable_dir(path.parent) if path.parent != path else f"{path} is not a file name"


@_os_errors_told
def readable_file(path: Path) -> str | None:
    path = path.expanduser()
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_file():
        return f"{path} is not a regular file"
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def port_free(host: str, port: int, *, what: str) -> str | None:
    """None if a TCP server could listen on ``host:port`` now, else what stops it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return f"cannot resolve {host!r}: {exc}"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use by another program ({what})"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine"
            if exc.errno == errno.EACCES:
                return f"port {port} needs privileges ({what}); use 1024 or above"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def endpoint_free(url: str) -> str | None:
    """A ZeroMQ endpoint the daemon binds: a TCP port must be free, an ipc path writable."""
    scheme, _, rest = url.partition("://")
    if scheme == "tcp":
        host, _, port = rest.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        return port_free("0.0.0.0" if host == "*" else host, int(port), what="lora.traffic_url")
    if scheme == "ipc":
        path = Path(rest)
        if len(os.fsencode(rest)) > 107:
            return f"ipc path {rest!r} is longer than a Unix socket path may be (107 bytes)"
        return writable_dir(path.parent) if not path.is_dir() else f"{path} is a directory"
    return None
