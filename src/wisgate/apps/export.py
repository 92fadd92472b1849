"""An app as files for other tools: a plain compose file, and a Portainer v3 app template.

The compose file is what wisgate would deploy, with the hardware already resolved to this board's devices
and each setting left as ``${NAME:-value}`` so ``docker compose`` (or Portainer's stack editor) can still
change it; secrets are ``${NAME:?...}`` and must be set. Shipped files become compose ``configs`` with inline
``content``. A Portainer template cannot declare devices, groups or files (issue 15): for a one-service app
it is a container template (type 1) whose note lists what to add by hand; a stack (type 3) needs the
compose file in a git repository, so it is written only when that repository's URL is given.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from wisgate.apps import compose
from wisgate.apps.hardware import HostView, Resolution, resolve
from wisgate.apps.interpolate import Reference, interpolate
from wisgate.apps.manifest import CatalogApp
from wisgate.apps.plan import host_port, variables
from wisgate.apps.values import Values

PORTAINER_VERSION = "3"
STACKFILE = "compose.yaml"


@dataclass
class Export:
    compose: dict[str, Any]
    compose_text: str
    portainer: dict[str, Any] | None
    #: Why no Portainer template was written (None when it was).
    portainer_skipped: str | None
    notes: list[str]


def _setting_ref(name: str, value: str, secret: bool) -> str:
    if secret:
        return f"${{{name}:?set {name} (a secret) in the environment or .env}}"
    if "}" in value:  # compose cannot hold a brace in a default: write the value itself
        return value.replace("$", "$$")
    return f"${{{name}:-{value.replace('$', '$$')}}}"


def _lookup(values: Values, declared: set[str], fixed: dict[str, str]) -> Any:
    def lookup(ref: Reference) -> str:
        if ref.name in declared:
            return _setting_ref(ref.name, values.values.get(ref.name, ""), ref.name in values.secret_names)
        return fixed.get(ref.name, "").replace("$", "$$")

    return lookup


def export_app(app: CatalogApp, values: Values, *, instance: str, listen: str, host: HostView | None = None,
               requires: dict[str, str] | None = None, repository: str | None = None) -> Export:
    """The compose file and Portainer template of ``app``; hardware resolved as the board is wired
    (device nodes are not looked up, nothing is claimed)."""
    requires = requires if requires is not None else {r: r for r in app.manifest.requires}
    resolution = resolve(app, values.values, host or HostView(), check_nodes=False)
    # settings stay variables for compose; hardware, its choices and builtins are fixed by now
    declared = set(app.manifest.settings) | {p.setting for p in app.manifest.ports if p.setting}
    fixed = {k: v for k, v in variables(app, instance, values, resolution, listen).items() if k not in declared}
    lookup = _lookup(values, declared, fixed)
    notes: list[str] = []
    services: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    for name, spec in app.services.items():
        service = compose.map_strings(spec, lambda text: interpolate(text, lookup, keep_escapes=True))
        host_net = spec.get("network_mode") == "host"
        ports = [p for p in app.manifest.ports if p.service == name]
        if ports and not host_net:
            service["ports"] = [
                f"{listen}:{_setting_ref(p.setting, str(host_port(p, values.values)), False) if p.setting else p.host}"
                f":{p.container}/{p.protocol}" for p in ports]
        devices = resolution.devices.get(name, [])
        if devices:
            service["devices"] = [f"{d.host}:{d.container}:rwm" for d in devices]
        groups = resolution.groups.get(name, [])
        if groups:
            service["group_add"] = [str(g) for g in groups]
        elif devices:
            notes.append(f"{name}: add group_add with the group ids owning {', '.join(d.host for d in devices)} "
                         "on the board (not known here)")
        if requires and not host_net:
            service["networks"] = ["default", *(f"{dep}_default" for dep in requires.values())]
        mounts = []
        for shipped in (f for f in app.manifest.files if f.service == name):
            key = f"{name}-{PurePosixPath(shipped.target).name}"
            raw = (app.folder / shipped.source).read_text(encoding="utf-8")
            content = interpolate(raw, lookup, keep_escapes=True) if shipped.template else raw.replace("$", "$$")
            configs[key] = {"content": content}
            mounts.append({"source": key, "target": shipped.target, "mode": shipped.mode})
        if mounts:
            service["configs"] = mounts
        services[name] = service
    document: dict[str, Any] = {"name": instance, "services": services}
    if app.compose.get("volumes"):
        document["volumes"] = {name: {} for name in app.compose["volumes"]}
    if requires and any(s.get("network_mode") != "host" for s in app.services.values()):
        document["networks"] = {"default": {}, **{f"{dep}_default": {"external": True} for dep in requires.values()}}
    if configs:
        document["configs"] = configs
    document["x-wisgate"] = {"app": app.id, "version": app.manifest.version, "warnings": resolution.warnings}
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
    portainer, skipped = portainer_template(app, values, services, resolution, repository)
    return Export(document, text, portainer, skipped, notes)


def portainer_template(app: CatalogApp, values: Values, services: dict[str, Any], resolution: Resolution,
                       repository: str | None) -> tuple[dict[str, Any] | None, str | None]:
    m = app.manifest
    template: dict[str, Any] = {
        "id": 1, "title": m.name, "description": m.description, "categories": [m.category], "platform": "linux",
        "name": app.id,
    }
    missing = []
    devices = [f"{d.host}:{d.container}" for maps in resolution.devices.values() for d in maps]
    if devices:
        missing.append("devices " + ", ".join(devices))
    groups = sorted({g for gs in resolution.groups.values() for g in gs})
    if groups:
        missing.append("extra groups " + ", ".join(map(str, groups)))
    if m.files:
        missing.append("the configuration files of compose.yaml's configs (" +
                       ", ".join(f.target for f in m.files) + ")")
    note = m.description
    if len(services) == 1 and not m.requires:
        name, service = next(iter(services.items()))
        template["type"] = 1
        template["image"] = service["image"]
        env = compose.environment(service.get("environment"))
        template["env"] = [{"name": key, "label": key, "default": _plain(value)} for key, value in env.items()]
        if service.get("ports"):
            template["ports"] = [f"{host_port(p, values.values)}:{p.container}/{p.protocol}"
                                 for p in m.ports if p.service == name]
        mounts = compose.mounts(service.get("volumes"))
        if mounts:
            template["volumes"] = [{"container": mount.target} for mount in mounts]
        command = compose.argv(service.get("command"), "command")
        if command:
            template["command"] = shlex.join(command)
        if service.get("network_mode") == "host":
            template["network"] = "host"
        if missing:
            note += " Portainer templates cannot declare " + "; ".join(missing) + ": add them under the container's " \
                "advanced settings, or deploy compose.yaml as a stack instead."
    elif repository:
        template["type"] = 3
        template["repository"] = {"url": repository, "stackfile": STACKFILE}
        note += f" Push {STACKFILE} (from wisgate apps export {app.id}) to {repository}."
    else:
        return None, ("a Portainer stack template (several services) loads its compose file from a git repository: "
                      "give --repository URL to write one")
    template["note"] = note
    return {"version": PORTAINER_VERSION, "templates": [template]}, None


def _plain(value: str) -> str:
    """A compose ``${NAME:-value}`` as the value Portainer pre-fills (it does not interpolate)."""
    if value.startswith("${") and value.endswith("}") and ":-" in value:
        return value[value.index(":-") + 2:-1].replace("$$", "$")
    if value.startswith("${") and ":?" in value:
        return ""
    return value.replace("$$", "$")


def portainer_json(template: dict[str, Any]) -> str:
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
