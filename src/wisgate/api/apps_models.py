"""Response bodies of the app catalog's endpoints, field by field."""

from __future__ import annotations

from pydantic import Field

from wisgate.api.body import Body


class PortOut(Body):
    name: str
    host: int
    protocol: str
    web: bool = Field(description="a web interface")


class AppSummaryOut(Body):
    id: str
    name: str
    version: str
    category: str
    description: str
    image: str = Field(description="the upstream image of the main service")
    requires: list[str] = Field(description="apps that must be installed first")
    needs: list[str] = Field(description="hardware it needs (slot, serial port...)")
    ports: list[PortOut]
    origin: str = Field(description="'shipped' or the user catalog folder it came from")


class CatalogOut(Body):
    apps: list[AppSummaryOut]
    errors: list[str] = Field(description="one line per catalog entry that could not be loaded")


class SettingOut(Body):
    description: str
    type: str
    required: bool
    default: str | None = Field(description="null for a secret (generated per install) or no default")
    choices: list[str]


class NeedOut(Body):
    kind: str
    service: str
    count: int
    why: str


class AppDetailsOut(AppSummaryOut):
    website: str
    note: str
    services: dict[str, str] = Field(description="service -> image")
    settings: dict[str, SettingOut]
    volumes: dict[str, str]
    hardware: list[NeedOut]


class ClaimOut(Body):
    kind: str = Field(description="slot, device or port")
    what: str


class ContainerOut(Body):
    service: str
    name: str
    image: str
    status: str
    health: str | None
    exit_code: int | None


class InstalledOut(Body):
    name: str
    app: str
    version: str
    state: str = Field(description="running, stopped, partly running or incomplete")
    listen: str
    settings: dict[str, str]
    requires: list[str]
    claims: list[ClaimOut]
    containers: list[ContainerOut]


class InstalledListOut(Body):
    installed: list[InstalledOut]


class LogLineOut(Body):
    service: str
    line: str


class LogsOut(Body):
    lines: list[LogLineOut]


class BoundPortOut(Body):
    name: str
    address: str
    host: int
    protocol: str


class InstallOut(Body):
    name: str
    app: str
    version: str
    settings: dict[str, str]
    generated_secrets: dict[str, str] = Field(description="secrets generated for this install, shown once")
    devices: dict[str, list[str]]
    warnings: list[str]
    note: str
    started: bool
    ports: list[BoundPortOut]


class AppStateOut(Body):
    name: str
    state: str = Field(description="started or stopped")


class RemovedOut(Body):
    name: str
    removed: list[str] = Field(description="what was removed: containers, networks, volumes")
