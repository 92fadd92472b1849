"""The Docker Engine side: create, start, stop, remove and read installs through the ``docker`` SDK.

Docker's labels are the only state: an install is the set of containers labelled with its name, and what
it holds (slots, devices, ports), its settings and what it requires are read back from those labels. A
crash leaves nothing that ``installed()`` cannot see: a half-created install shows as incomplete, and
``install`` itself removes what it created when any step fails.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from wisgate.apps import plan as labels
from wisgate.apps.errors import AppError, EngineError, NotInstalledError
from wisgate.apps.hardware import CONCENTRATOR_SLOTS, Claim, Holder, port_claim, slot_claim
from wisgate.apps.plan import FileCopy, InstallPlan, ServicePlan

DEPENDS = "io.wisgate.depends"
#: A dependency with ``condition: service_healthy`` gets this long (a first PostgreSQL start on a CM4 is slow).
HEALTH_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 10
#: After an install starts its containers, one that dies within this long makes the install fail.
SETTLE_S = 1.0
_ERRORS = (DockerException, requests.RequestException)


def _reason(exc: BaseException) -> str:
    text = str(exc.explanation) if isinstance(exc, APIError) and exc.explanation else str(exc)
    return " ".join(text.split())


def connect(timeout_s: float = 120.0) -> Engine:
    """The engine at DOCKER_HOST (default the local socket); EngineError if it does not answer."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except _ERRORS as exc:
        raise EngineError(f"cannot reach the Docker Engine at {where}: {_reason(exc)}; is dockerd running, and may "
                          "this user use it (root or the docker group)?") from None
    return Engine(client)


@dataclass(frozen=True)
class ContainerState:
    service: str
    name: str
    image: str
    status: str
    health: str | None
    exit_code: int | None


@dataclass
class Installed:
    instance: str
    app: str
    version: str
    expected: int
    install_ids: set[str]
    containers: list[ContainerState]
    claims: list[Claim]
    settings: dict[str, str]
    requires: list[str]
    listen: str

    @property
    def complete(self) -> bool:
        return len(self.install_ids) == 1 and len(self.containers) == self.expected

    @property
    def state(self) -> str:
        if not self.complete:
            return "incomplete"
        running = sum(c.status == "running" for c in self.containers)
        if running == len(self.containers):
            return "running"
        return "stopped" if running == 0 else "partly running"


def _state(container: Container) -> ContainerState:
    attrs = container.attrs
    state = attrs.get("State", {})
    health = state.get("Health", {}).get("Status") if isinstance(state.get("Health"), dict) else None
    status = str(state.get("Status", container.status))
    exit_code = state.get("ExitCode") if status == "exited" else None
    config_labels = attrs.get("Config", {}).get("Labels") or {}
    return ContainerState(config_labels.get(labels.SERVICE, ""), container.name or "",
                          str(attrs.get("Config", {}).get("Image", "")), status, health, exit_code)


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def _tar(files: list[FileCopy]) -> bytes:
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for item in files:
            info = tarfile.TarInfo(item.target.lstrip("/"))
            info.size, info.mode, info.mtime = len(item.content), item.mode, now
            archive.addfile(info, io.BytesIO(item.content))
    return buffer.getvalue()


def _remove_network(network: Any, timeout_s: float = 10.0) -> None:
    """Remove a network; the engine may still be releasing a just-removed container's endpoint."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            network.remove()
            return
        except APIError as exc:
            if "active endpoints" not in _reason(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class _Created:
    containers: list[Container] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    network: str | None = None


class Engine:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    # --- reading -------------------------------------------------------------------------------------------

    def _list(self, label: str | None = None) -> list[Container]:
        """Containers (all states), inspected; one removed between the listing and its inspection (another
        client at work) is left out rather than failing the whole call."""
        filters = {"label": label} if label else {}
        try:
            ids = [str(c["Id"]) for c in self.client.api.containers(all=True, filters=filters)]
            out = []
            for container_id in ids:
                try:
                    out.append(self.client.containers.get(container_id))
                except NotFound:
                    continue
            return out
        except _ERRORS as exc:
            raise EngineError(f"Docker Engine: cannot list containers: {_reason(exc)}") from None

    def _containers(self, instance: str | None = None) -> list[Container]:
        return self._list(f"{labels.INSTANCE}={instance}" if instance else labels.INSTANCE)

    def installed(self) -> dict[str, Installed]:
        out: dict[str, Installed] = {}
        for container in self._containers():
            tags = container.labels
            name = tags.get(labels.INSTANCE, "")
            entry = out.get(name)
            if entry is None:
                claims = [Claim(k, key, label) for k, key, label in _json(tags.get(labels.CLAIMS), [])]
                entry = out[name] = Installed(
                    name, tags.get(labels.APP, ""), tags.get(labels.VERSION, ""),
                    int(tags.get(labels.SERVICE_COUNT, "0") or 0), set(), [], claims,
                    _json(tags.get(labels.SETTINGS), {}), _json(tags.get(labels.REQUIRES), []),
                    tags.get(labels.LISTEN, ""))
            entry.install_ids.add(tags.get(labels.INSTALL_ID, ""))
            entry.containers.append(_state(container))
        for entry in out.values():
            entry.containers.sort(key=lambda c: c.service)
        return out

    def get(self, instance: str) -> Installed:
        found = self.installed().get(instance)
        if found is None:
            raise NotInstalledError(f"no installed app named {instance!r}; `wisgate apps status` lists them")
        return found

    def holders(self, *, exclude: str | None = None) -> list[Holder]:
        """What installed apps and other containers hold: slots, devices and published ports."""
        out: list[Holder] = []
        for name, entry in self.installed().items():
            if name != exclude:
                out += [Holder(f"app {name!r} ({entry.app})", claim) for claim in entry.claims]
        others = [c for c in self._list() if labels.INSTANCE not in c.labels]
        spi = {Path(w.spi_device).name: w.slot for w in CONCENTRATOR_SLOTS.values()}
        for container in others:
            who = f"container {container.name!r} (not installed by wisgate)"
            host = container.attrs.get("HostConfig", {})
            for spec, bindings in (host.get("PortBindings") or {}).items():
                port, _sep, protocol = spec.partition("/")
                for binding in bindings or []:
                    host_port = str(binding.get("HostPort") or port)
                    if host_port.isdigit():
                        out.append(Holder(who, port_claim(protocol or "tcp", int(host_port))))
            for device in host.get("Devices") or []:
                path = str(device.get("PathOnHost", ""))
                if Path(path).name in spi:
                    out.append(Holder(who, slot_claim(spi[Path(path).name], Path(path).parent)))
                out.append(Holder(who, Claim("device", os.path.realpath(path), path)))
        return out

    def foreign_project(self, name: str) -> bool:
        """Whether containers of a Compose project ``name`` exist that wisgate did not install."""
        found = self._list(f"{labels.PROJECT}={name}")
        return any(labels.INSTANCE not in c.labels for c in found)

    # --- installing ----------------------------------------------------------------------------------------

    def ensure_image(self, image: str, progress: Callable[[str], None] = lambda _m: None) -> None:
        try:
            self.client.images.get(image)
            return
        except ImageNotFound:
            pass
        except _ERRORS as exc:
            raise EngineError(f"Docker Engine: cannot look up image {image}: {_reason(exc)}") from None
        progress(f"pulling {image}")
        repository, _sep, tag = image.rpartition(":") if "@" not in image else (image, "", "")
        if "/" in tag:  # a registry port, not a tag
            repository, tag = image, ""
        try:
            self.client.images.pull(repository or image, tag=tag or None)
        except _ERRORS as exc:
            raise EngineError(f"cannot pull image {image}: {_reason(exc)}") from None

    def install(self, plan: InstallPlan, *, start: bool = True,
                progress: Callable[[str], None] = lambda _m: None) -> None:
        """Create (and start) everything of ``plan``; on any failure remove what this call created."""
        for image in dict.fromkeys(s.image for s in plan.services):
            self.ensure_image(image, progress)
        created = _Created()
        step = "creating the network"
        try:
            self._network(plan, created)
            step = "creating volumes"
            self._volumes(plan, created)
            for service in plan.services:
                step = f"creating {service.container_name}"
                container = self._create(plan, service, created)
                if service.files:
                    step = f"copying files into {service.container_name}"
                    container.put_archive("/", _tar(service.files))
                if not service.host_network:
                    for network in plan.join:
                        step = f"joining {network}"
                        self.client.networks.get(network).connect(container)
            if start:
                step = "starting"
                self.start(plan.instance, progress)
                self._settled(created.containers)
        except BaseException as exc:
            undone = self._rollback(created)
            reason = str(exc) if isinstance(exc, AppError) else _reason(exc)
            if isinstance(exc, (*_ERRORS, AppError)):
                raise EngineError(f"install of {plan.instance!r} failed while {step}: {reason}; rolled back "
                                  f"({undone})") from None
            raise

    def _network(self, plan: InstallPlan, created: _Created) -> None:
        try:
            existing = self.client.networks.get(plan.network)
        except NotFound:
            self.client.networks.create(plan.network, driver="bridge", labels=plan.network_labels)
            created.network = plan.network
            return
        if existing.attrs.get("Labels", {}).get(labels.INSTANCE) != plan.instance:
            raise AppError(f"a network {plan.network} exists that this install did not create")

    def _volumes(self, plan: InstallPlan, created: _Created) -> None:
        for compose_name, name in plan.volumes.items():
            try:
                existing = self.client.volumes.get(name)
            except NotFound:
                self.client.volumes.create(name, labels={**plan.volume_labels,
                                                         "com.docker.compose.volume": compose_name})
                created.volumes.append(name)
                continue
            owner = (existing.attrs.get("Labels") or {}).get(labels.INSTANCE)
            if owner != plan.instance:
                raise AppError(f"a volume {name} exists that belongs to {owner or 'something else'}")
            # kept from an earlier install of this name (remove without --purge): its data carries over

    def _create(self, plan: InstallPlan, service: ServicePlan, created: _Created) -> Container:
        kwargs = dict(service.create)
        kwargs["labels"] = {**kwargs["labels"], DEPENDS: json.dumps(service.depends_on)}
        if not service.host_network:
            kwargs["network"] = plan.network
            kwargs["networking_config"] = {
                plan.network: self.client.api.create_endpoint_config(aliases=[service.service])}
        container = self.client.containers.create(service.image, name=service.container_name, **kwargs)
        created.containers.append(container)
        return container

    def _rollback(self, created: _Created) -> str:
        done: list[str] = []
        for container in reversed(created.containers):
            try:
                container.remove(force=True)
                done.append(f"container {container.name}")
            except _ERRORS:
                done.append(f"container {container.name} NOT removed")
        if created.network:
            try:
                _remove_network(self.client.networks.get(created.network))
                done.append(f"network {created.network}")
            except _ERRORS:
                done.append(f"network {created.network} NOT removed")
        for name in created.volumes:
            try:
                self.client.volumes.get(name).remove(force=True)
                done.append(f"volume {name}")
            except _ERRORS:
                done.append(f"volume {name} NOT removed")
        return "removed " + ", ".join(done) if done else "nothing had been created"

    # --- life cycle ----------------------------------------------------------------------------------------

    def _ordered(self, instance: str) -> list[tuple[Container, dict[str, str]]]:
        containers = self._containers(instance)
        if not containers:
            raise NotInstalledError(f"no installed app named {instance!r}; `wisgate apps status` lists them")
        by_service = {c.labels.get(labels.SERVICE, ""): c for c in containers}
        deps = {s: {d: cond for d, cond in _json(c.labels.get(DEPENDS), {}).items() if d in by_service}
                for s, c in by_service.items()}
        from wisgate.apps.compose import start_order

        return [(by_service[s], deps[s]) for s in start_order(deps)]

    def start(self, instance: str, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Start every service after what it depends on is started, healthy or completed, as compose does."""
        ordered = self._ordered(instance)
        by_service = {c.labels.get(labels.SERVICE, ""): c for c, _d in ordered}
        for container, deps in ordered:
            for dep, condition in deps.items():
                self._wait(by_service[dep], condition, progress)
            container.reload()
            if container.status != "running":
                try:
                    container.start()
                except _ERRORS as exc:
                    raise EngineError(f"cannot start {container.name}: {_reason(exc)}") from None

    def _wait(self, container: Container, condition: str, progress: Callable[[str], None]) -> None:
        if condition == "service_started":
            return
        progress(f"waiting for {container.name} ({condition.removeprefix('service_')})")
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs.get("State", {})
            if condition == "service_healthy":
                health = (state.get("Health") or {}).get("Status")
                if health == "healthy":
                    return
                if health == "unhealthy" or state.get("Status") == "exited":
                    raise EngineError(f"{container.name} is {health or state.get('Status')}, and others need it "
                                      "healthy; see wisgate apps logs")
            elif state.get("Status") == "exited":
                if state.get("ExitCode") == 0:
                    return
                raise EngineError(f"{container.name} exited with status {state.get('ExitCode')}")
            time.sleep(0.5)
        raise EngineError(f"{container.name}: not {condition.removeprefix('service_')} after {HEALTH_TIMEOUT_S:g} s")

    def _settled(self, containers: list[Container]) -> None:
        """Raise if a container died (or is restarting) shortly after its start: e.g. a program not found."""
        time.sleep(SETTLE_S)
        for container in containers:
            container.reload()
            state = container.attrs.get("State", {})
            status, code = state.get("Status"), state.get("ExitCode")
            if (status in ("exited", "dead") and code != 0) or status == "restarting":
                tail = container.logs(tail=3).decode("utf-8", errors="replace").strip().replace("\n", " | ")
                raise EngineError(f"{container.name} stopped right after its start (exit status {code})"
                                  + (f": {tail}" if tail else ""))

    def stop(self, instance: str) -> None:
        for container, _deps in reversed(self._ordered(instance)):
            try:
                container.stop(timeout=STOP_TIMEOUT_S)
            except _ERRORS as exc:
                raise EngineError(f"cannot stop {container.name}: {_reason(exc)}") from None

    def remove(self, instance: str, *, purge: bool = False) -> list[str]:
        """Remove the containers and network; with ``purge`` the volumes too. Returns what was removed."""
        removed: list[str] = []
        containers = self._containers(instance)
        volumes = self._instance_volumes(instance)
        if not containers and not (purge and volumes):
            raise NotInstalledError(f"no installed app named {instance!r}; `wisgate apps status` lists them")
        try:
            for container in containers:
                container.remove(force=True)
                removed.append(f"container {container.name}")
            for network in self.client.networks.list(filters={"label": f"{labels.INSTANCE}={instance}"}):
                _remove_network(network)
                removed.append(f"network {network.name}")
            if purge:
                for volume in volumes:
                    volume.remove(force=True)
                    removed.append(f"volume {volume.name}")
        except _ERRORS as exc:
            raise EngineError(f"removing {instance!r}: {_reason(exc)} (removed so far: {', '.join(removed)})") from None
        return removed

    def _instance_volumes(self, instance: str) -> list[Any]:
        try:
            return list(self.client.volumes.list(filters={"label": f"{labels.INSTANCE}={instance}"}))
        except _ERRORS as exc:
            raise EngineError(f"Docker Engine: cannot list volumes: {_reason(exc)}") from None

    def kept_volumes(self, instance: str) -> list[str]:
        return sorted(str(v.name) for v in self._instance_volumes(instance))

    def logs(self, instance: str, *, service: str | None = None, tail: int = 100) -> list[tuple[str, str]]:
        """(service, line) pairs, each service's last ``tail`` lines, in start order."""
        out: list[tuple[str, str]] = []
        ordered = self._ordered(instance)
        services = [c.labels.get(labels.SERVICE, "") for c, _d in ordered]
        if service is not None and service not in services:
            raise AppError(f"{instance}: no service {service!r}; it has {', '.join(services)}")
        for container, _deps in ordered:
            name = container.labels.get(labels.SERVICE, "")
            if service is not None and name != service:
                continue
            try:
                raw = container.logs(tail=tail)
            except _ERRORS as exc:
                raise EngineError(f"cannot read the logs of {container.name}: {_reason(exc)}") from None
            out += [(name, line) for line in raw.decode("utf-8", errors="replace").splitlines()]
        return out
