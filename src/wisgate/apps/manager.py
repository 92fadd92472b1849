"""What ``wisgate apps`` and the HTTP API do: the catalog, the host's hardware and the engine, checked together.

An install is refused before anything is created when its name is taken, an app it requires is missing, a
setting is invalid, a hardware need cannot be met or is held (by wisgate's gateway or another app), or a
host port is used by wisgate, another app, another container or another program.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wisgate.apps.catalog import Catalog, load_catalog
from wisgate.apps.engine import Engine, Installed, connect
from wisgate.apps.errors import AppError, ConflictError
from wisgate.apps.export import Export, export_app
from wisgate.apps.hardware import Holder, HostView, gateway_holders, resolve
from wisgate.apps.manifest import CatalogApp
from wisgate.apps.plan import InstallPlan, PortBinding, build_plan, check_instance_name
from wisgate.apps.values import settle
from wisgate.config import Config

#: Apps publish on loopback unless the user says otherwise (--listen 0.0.0.0).
DEFAULT_LISTEN = "127.0.0.1"


def port_in_use(protocol: str, port: int, address: str) -> bool:
    """Whether another program holds ``port`` on ``address`` (a listener there or on the wildcard)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:  # ignore TIME_WAIT leftovers; a listener still makes bind fail
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            if exc.errno == errno.EADDRNOTAVAIL:
                raise AppError(f"listen address {address} is not an address of this machine") from None
            return False  # e.g. EACCES below 1024 for a non-root user: Docker binds as root
    return False


@dataclass
class InstallResult:
    instance: str
    app: str
    version: str
    values: dict[str, str]
    #: Secrets generated for this install, shown once.
    generated: dict[str, str]
    ports: list[PortBinding]
    devices: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)
    note: str = ""
    started: bool = True


class AppManager:
    def __init__(self, catalog: Catalog, host: HostView, engine: Engine | Callable[[], Engine], *,
                 listen: str = DEFAULT_LISTEN, catalog_loader: Callable[[], Catalog] | None = None) -> None:
        self.catalog = catalog
        self.host = host
        self._engine = engine
        #: Where installs publish their ports unless they say otherwise.
        self.listen = listen
        self._loader = catalog_loader
        self._lock = threading.Lock()

    def reload_catalog(self) -> Catalog:
        """Read the catalog folders again (a user may have added an app)."""
        if self._loader is not None:
            self.catalog = self._loader()
        return self.catalog

    @property
    def engine(self) -> Engine:
        if not isinstance(self._engine, Engine):
            self._engine = self._engine()
        return self._engine

    # --- install -------------------------------------------------------------------------------------------

    def plan_install(self, app_id: str, *, name: str | None = None, sets: Mapping[str, str] | None = None,
                     listen: str = DEFAULT_LISTEN, using: Mapping[str, str] | None = None) -> InstallPlan:
        """Every check of an install, without creating anything."""
        app = self.catalog.get(app_id)
        instance = check_instance_name(name or app.id)
        try:
            ipaddress.ip_address(listen)
        except ValueError:
            raise AppError(f"--listen {listen!r}: give an IP address (127.0.0.1, 0.0.0.0, ...)") from None
        installed = self.engine.installed()
        if instance in installed:
            existing = installed[instance]
            if not existing.complete:
                raise ConflictError(f"an incomplete install named {instance!r} exists (interrupted); "
                                    f"`wisgate apps remove {instance}` cleans it up")
            raise ConflictError(f"{instance!r} is already installed ({existing.app} {existing.version}); remove it "
                                "first, or install another copy with --name")
        if self.engine.foreign_project(instance):
            raise ConflictError(f"a Compose project named {instance!r} exists that wisgate did not install; "
                                "choose another name with --name")
        requires = self._requires(app, installed, using or {})
        values = settle(app, sets or {})
        holders = gateway_holders(self.host.config, self.host.dev_dir) + self.engine.holders(exclude=instance)
        resolution = resolve(app, values.values, self.host, holders)
        plan = build_plan(app, instance, values, resolution, listen=listen, requires=requires)
        self._check_ports(app, plan.ports, holders)
        return plan

    def _requires(self, app: CatalogApp, installed: dict[str, Installed], using: Mapping[str, str]) -> dict[str, str]:
        """Required app id -> the install that provides it: the one named in ``using``, else the one named like
        the app, else the only one."""
        unknown = sorted(set(using) - set(app.manifest.requires))
        if unknown:
            raise AppError(f"{app.id} does not require {', '.join(unknown)} (it requires "
                           f"{', '.join(app.manifest.requires) or 'nothing'})")
        out: dict[str, str] = {}
        for required in app.manifest.requires:
            candidates = sorted(i.instance for i in installed.values() if i.app == required and i.complete)
            chosen = using.get(required)
            if chosen is not None and chosen not in candidates:
                raise AppError(f"{app.id}: {chosen!r} is not an installed {required} (installed: "
                               f"{', '.join(candidates) or 'none'})")
            if chosen is None:
                if not candidates:
                    raise AppError(f"{app.id} needs {required}: install it first (wisgate apps install {required})")
                if required in candidates or len(candidates) == 1:
                    chosen = required if required in candidates else candidates[0]
                else:
                    raise AppError(f"{app.id} needs {required} and several are installed ({', '.join(candidates)}): "
                                   f"choose one with --with {required}=NAME")
            out[required] = chosen
        return out

    def _check_ports(self, app: CatalogApp, ports: list[PortBinding], holders: list[Holder]) -> None:
        held = {h.claim.key: h for h in holders if h.claim.kind == "port"}
        settings = {p.name: p.setting for p in app.manifest.ports}
        seen: dict[str, str] = {}
        for port in ports:
            key = f"{port.protocol}/{port.host}"
            move = f"; move it with --set {settings[port.name]}=PORT" if settings.get(port.name) else ""
            what = f"{app.id}: {port.protocol} port {port.host} ({port.name})"
            if key in seen:
                raise ConflictError(f"{what} is also given to {seen[key]}")
            seen[key] = port.name
            holder = held.get(key)
            if holder is not None:
                raise ConflictError(f"{what} is already used by {holder.who}{move}")
            if port_in_use(port.protocol, port.host, port.address):
                raise ConflictError(f"{what} is in use on {port.address} by another program on this machine{move}")

    def install(self, app_id: str, *, name: str | None = None, sets: Mapping[str, str] | None = None,
                listen: str = DEFAULT_LISTEN, start: bool = True, using: Mapping[str, str] | None = None,
                progress: Callable[[str], None] = lambda _m: None) -> InstallResult:
        """``using``: required app id -> the install to use (when several are installed)."""
        with self._lock:
            plan = self.plan_install(app_id, name=name, sets=sets, listen=listen, using=using)
            self.engine.install(plan, start=start, progress=progress)
        return InstallResult(
            plan.instance, plan.app.id, plan.app.manifest.version, plan.values.public(),
            {k: plan.values.values[k] for k in plan.values.generated}, plan.ports,
            {s.service: list(s.create.get("devices", [])) for s in plan.services if s.create.get("devices")},
            plan.warnings, plan.note, start)

    def export(self, app_id: str, *, sets: Mapping[str, str] | None = None, name: str | None = None,
               listen: str | None = None, repository: str | None = None) -> Export:
        """The compose file and Portainer template of an app (nothing is installed or claimed)."""
        app = self.catalog.get(app_id)
        values = settle(app, sets or {})
        return export_app(app, values, instance=check_instance_name(name or app.id), listen=listen or self.listen,
                          host=self.host, repository=repository)

    # --- life cycle ----------------------------------------------------------------------------------------

    def status(self) -> list[Installed]:
        return [entry for _name, entry in sorted(self.engine.installed().items())]

    def start(self, name: str) -> None:
        with self._lock:
            self.engine.start(name)

    def stop(self, name: str) -> None:
        with self._lock:
            self.engine.stop(name)

    def remove(self, name: str, *, purge: bool = False) -> list[str]:
        with self._lock:
            installed = self.engine.installed()
            dependents = sorted(i.instance for i in installed.values() if name in i.requires and i.instance != name)
            if dependents:
                them = "them" if len(dependents) > 1 else "it"
                raise AppError(f"{name} is required by {', '.join(dependents)}: remove {them} first")
            return self.engine.remove(name, purge=purge)

    def logs(self, name: str, *, service: str | None = None, tail: int = 100) -> list[tuple[str, str]]:
        return self.engine.logs(name, service=service, tail=tail)


def build_manager(config: Config | None, *, catalogs: Sequence[Path] = (), board: Path | None = None) -> AppManager:
    """The manager for this host: shipped + user + ``[apps] catalogs`` folders, the board description from
    ``board`` or ``[apps] board``, wisgate's running ``config``, and the local Docker Engine (connected on
    first use)."""
    from wisgate.board.description import load_description

    settings = (config or Config()).apps
    folders = [*settings.catalogs, *catalogs]

    def loader() -> Catalog:
        return load_catalog(folders)

    path = board or settings.board
    description = load_description(path) if path is not None else None
    return AppManager(loader(), HostView(board=description, config=config), connect, listen=settings.listen,
                      catalog_loader=loader)
