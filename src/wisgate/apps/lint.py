"""The catalog linter: every entry's manifest and compose file judged before anyone installs it.

Errors block an entry (the tests run this on every shipped app); warnings point at something to review.
Rules: schema and required fields, compose keys the deployer implements, images pinned to a version, no
``privileged`` where the hardware needs give a device list, broad permissions (host network, capabilities,
bind mounts) only with a written reason, every ``${VAR}`` defined, host ports unique in the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from wisgate.apps import compose
from wisgate.apps.catalog import Catalog, app_folders
from wisgate.apps.errors import CatalogError
from wisgate.apps.interpolate import InterpolationError, references
from wisgate.apps.manifest import COMPOSE, MANIFEST, SERVICE_NAME, CatalogApp, load_app
from wisgate.apps.needs import KINDS, provided_variables

#: Variables every install provides.
BUILTINS: frozenset[str] = frozenset({"INSTANCE", "APP_ID", "LISTEN"})
MOVING_TAGS = frozenset({"latest", "stable", "edge", "main", "master", "nightly", "dev", "beta", "rc"})


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    app: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.app}: {self.code}: {self.message}"


def image_problem(image: str) -> str | None:
    """Why ``image`` is not pinned to a version, or None when it is (a digest, or a tag with major.minor)."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it would pull whatever 'latest' is that day)"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() in MOVING_TAGS:
        return f"image {image!r} uses the moving tag {tag!r}"
    if not re.search(r"\d+\.\d+", tag):
        return f"image {image!r}: tag {tag!r} names no version (at least major.minor, or pin a digest)"
    return None


class _Checker:
    def __init__(self, app: CatalogApp) -> None:
        self.app = app
        self.manifest = app.manifest
        self.findings: list[Finding] = []

    def error(self, code: str, message: str) -> None:
        self.findings.append(Finding("error", self.app.id, code, message))

    def warn(self, code: str, message: str) -> None:
        self.findings.append(Finding("warning", self.app.id, code, message))

    def run(self) -> list[Finding]:
        self.top_level()
        self.settings()
        self.main_service()
        deps: dict[str, dict[str, str]] = {}
        for name, service in self.app.services.items():
            deps[name] = self.service(name, service)
        try:
            compose.start_order(deps)
        except ValueError as exc:
            self.error("depends-on", str(exc))
        self.ports()
        self.hardware()
        self.volumes()
        self.files()
        self.variables()
        self.justifications()
        return self.findings

    def top_level(self) -> None:
        for key in self.app.compose:
            if key not in compose.TOP_LEVEL:
                self.error("compose-key", f"{COMPOSE}: top-level {key!r} is not supported (only services, volumes)")

    def settings(self) -> None:
        hardware_vars = provided_variables([n.kind for n in self.manifest.hardware])
        for name, setting in self.manifest.settings.items():
            where = f"settings.{name}"
            if name in BUILTINS or name in hardware_vars:
                self.error("setting-name", f"{where}: {name} is provided by wisgate (builtin or hardware need)")
            default = setting.default
            if setting.type == "choice":
                if not setting.choices:
                    self.error("setting-choice", f"{where}: a choice needs 'choices'")
                elif default is not None and default not in setting.choices:
                    self.error("setting-choice", f"{where}: default {default!r} is not one of its choices")
            elif setting.choices:
                self.error("setting-choice", f"{where}: 'choices' only goes with type = \"choice\"")
            if default is not None and setting.type in ("int", "port") and not _is_int(default, setting.type):
                self.error("setting-default", f"{where}: default {default!r} is not a valid {setting.type}")
            if default is not None and setting.type == "bool" and default not in ("true", "false"):
                self.error("setting-default", f"{where}: default must be true or false")
            if setting.type == "secret" and default:
                self.warn("secret-default", f"{where}: a default secret is the same on every board; "
                          "leave it out and wisgate generates one per install")
        for port in self.manifest.ports:
            if port.setting and port.setting in self.manifest.settings:
                self.error("setting-name", f"ports.{port.name}: setting {port.setting} is also declared in "
                           "[settings] (a port's setting is implicit)")

    def main_service(self) -> None:
        services = self.app.services
        main = self.manifest.main
        if main is None and len(services) > 1:
            self.error("main", f"{MANIFEST}: several services; name the one users talk to with main = \"...\"")
        if main is not None and main not in services:
            self.error("main", f"{MANIFEST}: main service {main!r} is not in {COMPOSE}")

    def service(self, name: str, service: dict[str, Any]) -> dict[str, str]:
        where = f"services.{name}"
        if not re.fullmatch(SERVICE_NAME.strip("^$"), name):
            self.error("service-name", f"{where}: service names are lower-case letters, digits, - and _")
        for key in service:
            if key in compose.FORBIDDEN:
                self.error("compose-key", f"{where}.{key}: not allowed: {compose.FORBIDDEN[key]}")
            elif key not in compose.SUPPORTED:
                self.error("compose-key", f"{where}.{key}: not supported by wisgate's deployer")
        image = service.get("image")
        if not isinstance(image, str) or not image:
            self.error("image", f"{where}: no image")
        elif "$" in image:
            self.error("image", f"{where}: the image must be written out, not interpolated ({image!r})")
        else:
            problem = image_problem(image)
            if problem:
                self.error("image-unpinned", f"{where}: {problem}")
        readers = {
            "command": lambda v: compose.argv(v, "command"), "entrypoint": lambda v: compose.argv(v, "entrypoint"),
            "environment": compose.environment, "volumes": compose.mounts, "restart": compose.restart_policy,
            "healthcheck": compose.healthcheck, "tmpfs": compose.tmpfs, "labels": compose.labels,
        }
        for key, reader in readers.items():
            try:
                reader(service.get(key))
            except (ValueError, TypeError) as exc:
                self.error("compose-value", f"{where}: {exc}")
        deps: dict[str, str] = {}
        try:
            deps = compose.depends_on(service.get("depends_on"))
        except ValueError as exc:
            self.error("compose-value", f"{where}: {exc}")
        for dep in deps:
            if dep not in self.app.services:
                self.error("depends-on", f"{where}.depends_on: no service {dep!r}")
        self.permissions(name, service)
        return {d: c for d, c in deps.items() if d in self.app.services}

    def permissions(self, name: str, service: dict[str, Any]) -> None:
        where = f"services.{name}"
        justify = self.manifest.justify
        if service.get("privileged"):
            if self.manifest.hardware:
                self.error("privileged", f"{where}: privileged where a device list suffices: the app's [[hardware]] "
                           "needs resolve to device nodes; drop privileged")
            elif not justify.privileged:
                self.error("privileged", f"{where}: privileged needs [justify] privileged = \"why\" (prefer "
                           "[[hardware]] needs or cap_add)")
        mode = service.get("network_mode")
        if mode is not None:
            if mode != "host":
                self.error("network-mode", f"{where}.network_mode: only \"host\" is supported")
            elif not justify.host_network:
                self.error("host-network", f"{where}: network_mode host needs [justify] host_network = \"why\"")
        if service.get("cap_add") and not justify.cap_add:
            self.error("cap-add", f"{where}: cap_add needs [justify] cap_add = \"why\"")
        try:
            binds = [m for m in compose.mounts(service.get("volumes")) if m.kind == "bind"]
        except ValueError:
            binds = []
        for mount in binds:
            if not mount.source.startswith("/"):
                self.error("bind-mount", f"{where}: bind source {mount.source!r} must be an absolute host path "
                           "(ship files with [[files]] instead)")
            elif not justify.bind_mounts:
                self.error("bind-mount", f"{where}: host path {mount.source} needs [justify] bind_mounts = \"why\"")
            elif not mount.read_only:
                self.warn("bind-mount", f"{where}: host path {mount.source} is mounted writable")

    def ports(self) -> None:
        seen_names: set[str] = set()
        seen_host: dict[tuple[str, int], str] = {}
        seen_container: set[tuple[str, str, int]] = set()
        for port in self.manifest.ports:
            where = f"ports.{port.name}"
            if port.name in seen_names:
                self.error("port-name", f"{where}: name used twice")
            seen_names.add(port.name)
            if port.service not in self.app.services:
                self.error("port-service", f"{where}: no service {port.service!r} in {COMPOSE}")
            key = (port.protocol, port.host)
            if key in seen_host:
                self.error("port-unique", f"{where}: host port {port.protocol}/{port.host} also used by "
                           f"ports.{seen_host[key]}")
            seen_host[key] = port.name
            ckey = (port.service, port.protocol, port.container)
            if ckey in seen_container:
                self.error("port-unique", f"{where}: {port.service} {port.protocol}/{port.container} published twice")
            seen_container.add(ckey)
            service = self.app.services.get(port.service, {})
            if service.get("network_mode") == "host" and port.container != port.host:
                self.error("port-host-network", f"{where}: a host-network service listens on the host directly, "
                           f"so host and container port must match ({port.host} != {port.container})")

    def hardware(self) -> None:
        kinds_seen: set[str] = set()
        for need in self.manifest.hardware:
            where = f"hardware.{need.kind}"
            if need.kind in kinds_seen:
                self.error("hardware", f"{where}: declared twice (one need per kind; use count)")
            kinds_seen.add(need.kind)
            if need.service not in self.app.services:
                self.error("hardware", f"{where}: no service {need.service!r} in {COMPOSE}")
            if need.count > 1 and KINDS[need.kind].choice != "SERIAL_SLOTS":
                self.error("hardware", f"{where}: count only applies to wisblock-serial")

    def volumes(self) -> None:
        declared = self.app.compose.get("volumes") or {}
        if not isinstance(declared, dict):
            self.error("compose-value", f"{COMPOSE}: top-level volumes must be a mapping")
            declared = {}
        used: set[str] = set()
        for name, service in self.app.services.items():
            try:
                named = [m for m in compose.mounts(service.get("volumes")) if m.kind == "volume"]
            except ValueError:
                continue
            for mount in named:
                used.add(mount.source)
                if mount.source not in declared:
                    self.error("volume", f"services.{name}: volume {mount.source!r} is not in the top-level volumes")
        for volume in declared:
            if volume not in self.manifest.volumes:
                self.error("volume", f"volumes.{volume}: describe it in {MANIFEST} [volumes.{volume}] "
                           "(what data it keeps)")
            if volume not in used:
                self.warn("volume", f"volumes.{volume}: declared but no service mounts it")
        for volume in self.manifest.volumes:
            if volume not in declared:
                self.error("volume", f"{MANIFEST} volumes.{volume}: no such volume in {COMPOSE}")

    def files(self) -> None:
        for shipped in self.manifest.files:
            where = f"files.{shipped.source}"
            if shipped.service not in self.app.services:
                self.error("file", f"{where}: no service {shipped.service!r}")
            path = self.app.folder / shipped.source
            if not path.is_file():
                self.error("file", f"{where}: missing in the app folder")

    def known_variables(self) -> set[str]:
        return set(BUILTINS) | set(self.app.settings()) | provided_variables([n.kind for n in self.manifest.hardware])

    def variables(self) -> None:
        known = self.known_variables()
        texts = [(f"services.{n}.{p}" if p else f"services.{n}", t)
                 for n, s in self.app.services.items() for p, t in compose.string_leaves(s)]
        texts.append((f"{MANIFEST} note", self.manifest.note))
        for shipped in self.manifest.files:
            path = self.app.folder / shipped.source
            if shipped.template and path.is_file():
                try:
                    texts.append((f"files.{shipped.source}", path.read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError) as exc:
                    self.error("file", f"files.{shipped.source}: a template must be UTF-8 text ({exc})")
        for where, text in texts:
            try:
                refs = references(text)
            except InterpolationError as exc:
                self.error("interpolation", f"{where}: {exc}")
                continue
            for ref in refs:
                if ref.name not in known:
                    self.error("unknown-variable", f"{where}: ${{{ref.name}}} is neither a setting, a port setting, "
                               "a hardware variable nor a builtin (INSTANCE, APP_ID, LISTEN)")

    def justifications(self) -> None:
        services = self.app.services.values()
        justify = self.manifest.justify
        used = {
            "privileged": any(s.get("privileged") for s in services),
            "host_network": any(s.get("network_mode") == "host" for s in services),
            "cap_add": any(s.get("cap_add") for s in services),
            "bind_mounts": any(_has_bind(s) for s in services),
        }
        for key, needed in used.items():
            if getattr(justify, key) and not needed:
                self.warn("justify-unused", f"[justify] {key}: nothing in {COMPOSE} needs it")


def _has_bind(service: dict[str, Any]) -> bool:
    try:
        return any(m.kind == "bind" for m in compose.mounts(service.get("volumes")))
    except ValueError:
        return False


def _is_int(text: str, kind: str) -> bool:
    try:
        value = int(text)
    except ValueError:
        return False
    return 1 <= value <= 65535 if kind == "port" else True


def lint_app(app: CatalogApp) -> list[Finding]:
    return _Checker(app).run()


def lint_catalog(catalog: Catalog) -> list[Finding]:
    """Every entry, then what spans entries: unique host ports, requirements that exist and do not loop."""
    findings: list[Finding] = []
    owners: dict[tuple[str, int], str] = {}
    for app in catalog.sorted():
        findings += lint_app(app)
        for port in app.manifest.ports:
            key = (port.protocol, port.host)
            if key in owners and owners[key] != app.id:
                findings.append(Finding("error", app.id, "port-unique",
                                        f"ports.{port.name}: host port {port.protocol}/{port.host} is also "
                                        f"{owners[key]}'s default"))
            owners.setdefault(key, app.id)
        for required in app.manifest.requires:
            if required not in catalog.apps:
                findings.append(Finding("error", app.id, "requires", f"requires {required!r}: not in the catalog"))
            elif required == app.id:
                findings.append(Finding("error", app.id, "requires", "an app cannot require itself"))
    deps = {a.id: {r: "" for r in a.manifest.requires if r in catalog.apps} for a in catalog.sorted()}
    try:
        compose.start_order(deps)
    except ValueError as exc:
        findings.append(Finding("error", "catalog", "requires", str(exc).replace("depends_on", "requires")))
    return findings


def lint_folders(folders: Iterable[Path]) -> tuple[Catalog, list[Finding]]:
    """Lint catalog folders as a user's catalog: unreadable entries are errors too."""
    catalog = Catalog()
    findings: list[Finding] = []
    for directory in folders:
        try:
            entries = app_folders(directory)
        except CatalogError as exc:
            findings.append(Finding("error", str(directory), "catalog", str(exc)))
            continue
        for folder in entries:
            try:
                app = load_app(folder, str(directory))
            except CatalogError as exc:
                findings.append(Finding("error", folder.name, "schema", str(exc)))
                continue
            catalog.apps[app.id] = app
    return catalog, findings + lint_catalog(catalog)
