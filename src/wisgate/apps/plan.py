"""Render one install: the catalog entry, its values and resolved hardware become the exact containers,
volumes and network the engine creates, with every label that records the install in Docker.

Pure: no Docker calls here, so what an install will do can be shown and tested without an engine.
Containers, volumes and the network carry Compose's project labels, so ``docker compose -p NAME ps``
shows an install as a project; the ``io.wisgate.*`` labels are the install's whole state.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from wisgate.apps import compose
from wisgate.apps.errors import AppError
from wisgate.apps.hardware import Claim, Resolution
from wisgate.apps.interpolate import interpolate, values_lookup
from wisgate.apps.manifest import CatalogApp, Port
from wisgate.apps.values import Values

INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
APP = "io.wisgate.app"
INSTANCE = "io.wisgate.instance"
VERSION = "io.wisgate.version"
INSTALL_ID = "io.wisgate.install"
SERVICE_COUNT = "io.wisgate.services"
CLAIMS = "io.wisgate.claims"
SETTINGS = "io.wisgate.settings"
REQUIRES = "io.wisgate.requires"
LISTEN = "io.wisgate.listen"


@dataclass(frozen=True)
class FileCopy:
    target: str
    content: bytes
    mode: int


@dataclass(frozen=True)
class PortBinding:
    service: str
    protocol: str
    container: int
    host: int
    address: str
    name: str
    web: bool


@dataclass
class ServicePlan:
    service: str
    container_name: str
    image: str
    #: Keyword arguments for the SDK's ``containers.create`` (besides image, name and networking).
    create: dict[str, Any]
    depends_on: dict[str, str]
    host_network: bool
    files: list[FileCopy] = field(default_factory=list)


@dataclass
class InstallPlan:
    app: CatalogApp
    instance: str
    network: str
    #: Networks of the installs this one requires (joined by every non-host-network service).
    join: list[str]
    #: compose volume name -> Docker volume name
    volumes: dict[str, str]
    #: in start order
    services: list[ServicePlan]
    ports: list[PortBinding]
    claims: list[Claim]
    values: Values
    warnings: list[str]
    note: str
    volume_labels: dict[str, str]
    network_labels: dict[str, str]


def check_instance_name(name: str) -> str:
    if not INSTANCE_NAME.fullmatch(name):
        raise AppError(f"install name {name!r}: lower-case letters, digits and '-', at most 40, starting with a "
                       "letter or digit (it becomes the Compose project name)")
    return name


def host_port(port: Port, values: dict[str, str]) -> int:
    return int(values[port.setting]) if port.setting and values.get(port.setting) else port.host


def variables(app: CatalogApp, instance: str, values: Values, resolution: Resolution, listen: str) -> dict[str, str]:
    out = dict(values.values)
    out.update(resolution.variables)
    out.update(INSTANCE=instance, APP_ID=app.id, LISTEN=listen)
    return out


def _container_kwargs(service: dict[str, Any], labels: dict[str, str], volumes: dict[str, str],
                      devices: list[str], groups: list[int], ports: dict[str, tuple[str, int]]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"labels": {**compose.labels(service.get("labels")), **labels}}
    for key in ("command", "entrypoint"):
        value = compose.argv(service.get(key), key)
        if value is not None:
            kwargs[key] = value
    env = compose.environment(service.get("environment"))
    if env:
        kwargs["environment"] = env
    mounts = []
    for mount in compose.mounts(service.get("volumes")):
        source = volumes[mount.source] if mount.kind == "volume" else mount.source
        mounts.append({"Target": mount.target, "Source": source, "Type": mount.kind, "ReadOnly": mount.read_only})
    if mounts:
        kwargs["mounts"] = mounts
    if ports:
        kwargs["ports"] = ports
    if devices:
        kwargs["devices"] = devices
    if groups:
        kwargs["group_add"] = [str(g) for g in groups]
    restart = compose.restart_policy(service.get("restart"))
    if restart:
        kwargs["restart_policy"] = restart
    health = compose.healthcheck(service.get("healthcheck"))
    if health:
        kwargs["healthcheck"] = health
    tmpfs = compose.tmpfs(service.get("tmpfs"))
    if tmpfs:
        kwargs["tmpfs"] = tmpfs
    for key in ("user", "working_dir", "hostname", "stop_signal"):
        if service.get(key) is not None:
            kwargs[key] = str(service[key])
    for key in ("read_only", "init", "privileged"):
        if service.get(key) is not None:
            kwargs[key] = bool(service[key])
    for key in ("cap_add", "cap_drop"):
        if service.get(key):
            kwargs[key] = [str(c) for c in service[key]]
    if service.get("network_mode") == "host":
        kwargs["network_mode"] = "host"
    return kwargs


def build_plan(app: CatalogApp, instance: str, values: Values, resolution: Resolution, *, listen: str,
               requires: dict[str, str]) -> InstallPlan:
    """``requires``: required app id -> the instance name that provides it."""
    check_instance_name(instance)
    names = variables(app, instance, values, resolution, listen)
    lookup = values_lookup(names)
    services = {name: compose.map_strings(spec, lambda text: interpolate(text, lookup))
                for name, spec in app.services.items()}
    install_id = uuid.uuid4().hex[:12]
    ports = [PortBinding(p.service, p.protocol, p.container, host_port(p, values.values),
                         "0.0.0.0" if services[p.service].get("network_mode") == "host" else listen, p.name, p.web)
             for p in app.manifest.ports]
    claims = [*resolution.claims, *(Claim("port", f"{p.protocol}/{p.host}", f"{p.protocol} port {p.host}")
                                    for p in ports)]
    common = {
        PROJECT: instance, APP: app.id, INSTANCE: instance, VERSION: app.manifest.version, INSTALL_ID: install_id,
        SERVICE_COUNT: str(len(services)), LISTEN: listen,
        CLAIMS: json.dumps([[c.kind, c.key, c.label] for c in claims]),
        SETTINGS: json.dumps(values.public(), sort_keys=True),
        REQUIRES: json.dumps(sorted(requires.values())),
    }
    volumes = {name: f"{instance}_{name}" for name in (app.compose.get("volumes") or {})}
    deps = {name: compose.depends_on(spec.get("depends_on")) for name, spec in services.items()}
    order = compose.start_order(deps)
    files: dict[str, list[FileCopy]] = {}
    for shipped in app.manifest.files:
        raw = (app.folder / shipped.source).read_bytes()
        if shipped.template:
            raw = interpolate(raw.decode("utf-8"), lookup).encode("utf-8")
        files.setdefault(shipped.service, []).append(FileCopy(shipped.target, raw, shipped.mode))
    plans: list[ServicePlan] = []
    for name in order:
        spec = services[name]
        host_net = spec.get("network_mode") == "host"
        published = {f"{p.container}/{p.protocol}": (p.address, p.host) for p in ports
                     if p.service == name and not host_net}
        devices = [f"{d.host}:{d.container}:rwm" for d in resolution.devices.get(name, [])]
        labels = {**common, SERVICE: name, "com.docker.compose.container-number": "1",
                  "com.docker.compose.oneoff": "False"}
        kwargs = _container_kwargs(spec, labels, volumes, devices, resolution.groups.get(name, []), published)
        plans.append(ServicePlan(name, f"{instance}-{name}-1", str(spec["image"]), kwargs, deps[name], host_net,
                                 files.get(name, [])))
    base = {PROJECT: instance, APP: app.id, INSTANCE: instance}
    return InstallPlan(
        app=app, instance=instance, network=f"{instance}_default",
        join=[f"{dep}_default" for dep in requires.values()], volumes=volumes, services=plans, ports=ports,
        claims=claims, values=values, warnings=list(resolution.warnings),
        note=interpolate(app.manifest.note, lookup),
        volume_labels=base, network_labels={**base, "com.docker.compose.network": "default"},
    )
