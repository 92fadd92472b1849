"""One catalog entry: ``app.toml`` (what the app is, its settings, ports, volumes and hardware needs) next to
``compose.yaml`` (plain compose-spec service definitions) and optional ``files/`` shipped into containers.

The manifest is validated once here; ``lint.py`` judges what it means (ports unique, images pinned, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from wisgate.apps.errors import CatalogError
from wisgate.apps.names import APP_ID, SETTING_NAME
from wisgate.apps.needs import KINDS, NeedKind
from wisgate.errors import ConfigError
from wisgate.tomlfile import problems, read_toml

MANIFEST = "app.toml"
COMPOSE = "compose.yaml"

SERVICE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"

Category = Literal["lorawan", "messaging", "automation", "database", "dashboard", "network", "other"]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]


def _text(value: Any) -> Any:
    """TOML writes defaults as numbers or booleans; settings are strings (they land in environment)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Setting(_Strict):
    description: str = Field(min_length=1)
    type: Literal["string", "int", "bool", "choice", "secret", "port"] = "string"
    #: None: no default (required settings must be given; secrets without one are generated per install).
    default: Annotated[str | None, BeforeValidator(_text)] = None
    choices: list[Annotated[str, BeforeValidator(_text)]] = []
    required: bool = False


class Port(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
    service: Annotated[str, Field(pattern=SERVICE_NAME)]
    container: Annotated[int, Field(ge=1, le=65535)]
    #: The host port by default; ``setting`` lets a user move it (``--set NAME=PORT``).
    host: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["tcp", "udp"] = "tcp"
    setting: Annotated[str, Field(pattern=SETTING_NAME)] | None = None
    description: str = ""
    #: A web interface (shown as a link after install).
    web: bool = False


class VolumeInfo(_Strict):
    description: str = Field(min_length=1)


class Need(_Strict):
    kind: NeedKind
    service: Annotated[str, Field(pattern=SERVICE_NAME)]
    #: How many of the kind (WisBlock serial ports: 1 or 2).
    count: Annotated[int, Field(ge=1, le=2)] = 1
    why: str = ""


class ShippedFile(_Strict):
    service: Annotated[str, Field(pattern=SERVICE_NAME)]
    #: Relative to the app folder.
    source: str
    #: Absolute path in the container.
    target: str
    #: Interpolate ``${NAME}`` as the compose file does (write ``$$`` for a literal dollar).
    template: bool = True
    mode: Annotated[int, Field(ge=0, le=0o777)] = 0o644

    @field_validator("source")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or not value:
            raise ValueError("must be a path inside the app folder (relative, no '..')")
        return value

    @field_validator("target")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not PurePosixPath(value).is_absolute():
            raise ValueError("must be an absolute path in the container")
        return value


class Justify(_Strict):
    """Why an app needs a broad permission; the linter refuses these without a reason."""

    privileged: str | None = None
    host_network: str | None = None
    cap_add: str | None = None
    bind_mounts: str | None = None


class Manifest(_Strict):
    id: Annotated[str, Field(pattern=APP_ID)]
    name: str = Field(min_length=1)
    #: The version this entry installs (the main image's version); a change is the update signal.
    version: str = Field(min_length=1)
    description: str = Field(min_length=1)
    category: Category
    website: Annotated[str, Field(pattern=r"^https?://\S+$")]
    #: The service users talk to (its image is "the upstream image"); optional with one service.
    main: Annotated[str, Field(pattern=SERVICE_NAME)] | None = None
    #: Other apps (catalog ids) that must be installed first; this app joins their network.
    requires: list[Annotated[str, Field(pattern=APP_ID)]] = []
    #: Shown after install: what to open, default credentials to change...
    note: str = ""
    settings: dict[Annotated[str, Field(pattern=SETTING_NAME)], Setting] = {}
    ports: list[Port] = []
    volumes: dict[str, VolumeInfo] = {}
    hardware: list[Need] = []
    files: list[ShippedFile] = []
    justify: Justify = Justify()


@dataclass(frozen=True)
class CatalogApp:
    folder: Path
    manifest: Manifest
    compose: dict[str, Any]
    #: "shipped" or the user catalog folder it came from.
    origin: str

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        services = self.compose.get("services")
        return services if isinstance(services, dict) else {}

    @property
    def main_service(self) -> str:
        return self.manifest.main or next(iter(self.services), "")

    @property
    def image(self) -> str:
        """The upstream image of the main service."""
        return str(self.services.get(self.main_service, {}).get("image", ""))

    def settings(self) -> dict[str, Setting]:
        """Every ``--set`` name: declared settings, movable host ports and hardware choices."""
        out = dict(self.manifest.settings)
        for port in self.manifest.ports:
            if port.setting:
                out.setdefault(port.setting, Setting(
                    description=f"host port for {port.description or port.name} ({port.protocol}/{port.container})",
                    type="port", default=str(port.host)))
        for need in self.manifest.hardware:
            info = KINDS[need.kind]
            if info.choice:
                out.setdefault(info.choice, Setting(description=info.choice_help, default=info.choice_default))
        return out


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.exists():
        raise CatalogError(f"{path}: missing (every app folder holds {MANIFEST} and {COMPOSE})")
    try:
        data = read_toml(path)
    except ConfigError as exc:
        raise CatalogError(str(exc)) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: " + "; ".join(problems(exc, Manifest))) from None


def read_compose(folder: Path) -> dict[str, Any]:
    import yaml  # only for the catalog's compose files, not for every module that needs the models

    path = folder / COMPOSE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: missing (every app folder holds {MANIFEST} and {COMPOSE})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not data["services"]:
        raise CatalogError(f"{path}: must be a compose file with a 'services' mapping")
    for name, service in data["services"].items():
        if not isinstance(service, dict):
            raise CatalogError(f"{path}: services.{name}: must be a mapping")
    return data


def load_app(folder: Path, origin: str = "shipped") -> CatalogApp:
    """The app in ``folder``; raises CatalogError naming the file and field on any problem."""
    manifest = read_manifest(folder)
    if manifest.id != folder.name:
        raise CatalogError(f"{folder / MANIFEST}: id {manifest.id!r} differs from the folder name {folder.name!r}")
    return CatalogApp(folder, manifest, read_compose(folder), origin)
