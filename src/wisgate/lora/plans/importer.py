"""Import a Semtech packet-forwarder configuration (``global_conf.json`` + ``local_conf.json``).

lora_pkt_fwd users switch with one command: the gateway ID, the server(s) and ports, keepalive and
push timeout, CRC forwarding flags, and the channel plan (recognised from the radios' centres plus
the IF offsets of the enabled channels) become a ``[lora]`` section of wisgate's configuration.
The files may carry C comments, as lora_pkt_fwd's parser allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wisgate.errors import ConfigError
from wisgate.lora.errors import PlanError
from wisgate.lora.plans.channels import ChannelKind
from wisgate.lora.plans.regions import plan_named

CANDIDATE_PLANS = (
    ["EU868", "EU868-16", "AS923", "IN865", "KR920"]
    + [f"US915-FSB{n}" for n in range(1, 9)]
    + [f"AU915-FSB{n}" for n in range(1, 9)]
)


class SemtechImportError(ConfigError):
    """The file cannot be imported; the message names the file and the key."""


def strip_comments(text: str) -> str:
    """Remove // and /* */ comments outside JSON strings."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise SemtechImportError("unterminated /* comment")
            i = end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(strip_comments(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise SemtechImportError(f"{path}: no such file") from None
    except (ValueError, SemtechImportError) as exc:
        raise SemtechImportError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SemtechImportError(f"{path}: the top level must be an object")
    return data


@dataclass
class ImportedServer:
    host: str
    port_up: int
    port_down: int


@dataclass
class Imported:
    gateway_id: str
    region: str
    servers: list[ImportedServer] = field(default_factory=list)
    keepalive_s: float = 10.0
    push_timeout_ms: int = 100
    stat_interval_s: float = 30.0
    forward_crc_bad: bool = False
    notes: list[str] = field(default_factory=list)


def channel_frequencies(conf: dict[str, Any], source: str) -> set[int]:
    """Absolute frequencies (Hz) of the enabled multi-SF channels, or the 2.4 GHz channels."""
    if "radio_conf" in conf:
        radio = conf["radio_conf"]
        return {int(radio[k]["freq"]) for k in radio if k.startswith("chan_") and radio[k].get("enable", True)}
    sx = conf.get("SX130x_conf") or conf.get("SX1301_conf")
    if not isinstance(sx, dict):
        raise SemtechImportError(f"{source}: no SX130x_conf / SX1301_conf / radio_conf section")
    freqs = set()
    for key, chan in sx.items():
        if not key.startswith("chan_multiSF_") or key == "chan_multiSF_All" or not chan.get("enable"):
            continue
        radio = sx.get(f"radio_{chan.get('radio', 0)}")
        if not isinstance(radio, dict) or "freq" not in radio:
            raise SemtechImportError(f"{source}: {key} uses radio_{chan.get('radio')} which has no freq")
        freqs.add(int(radio["freq"]) + int(chan.get("if", 0)))
    return freqs


def recognise_plan(freqs: set[int], source: str) -> str:
    if freqs and min(freqs) >= 2_400_000_000:
        return "ISM2400"
    for name in CANDIDATE_PLANS:
        plan = plan_named(name)
        if {c.frequency_hz for c in plan.of_kind(ChannelKind.MULTI_SF)} == freqs:
            return name
    listing = ", ".join(f"{f / 1e6:.3f}" for f in sorted(freqs)) or "none"
    raise SemtechImportError(f"{source}: channels {listing} MHz match no known plan; set lora.region by hand")


def import_semtech(global_conf: Path, local_conf: Path | None = None) -> Imported:
    conf = load_json(global_conf)
    gateway = dict(conf.get("gateway_conf") or {})
    if local_conf is not None:
        gateway.update(load_json(local_conf).get("gateway_conf") or {})
    source = str(global_conf)
    try:
        region = recognise_plan(channel_frequencies(conf, source), source)
    except PlanError as exc:
        raise SemtechImportError(f"{source}: {exc}") from None
    gateway_id = str(gateway.get("gateway_ID", "")).lower()
    if len(gateway_id) != 16 or any(c not in "0123456789abcdef" for c in gateway_id):
        raise SemtechImportError(f"{source}: gateway_conf.gateway_ID {gateway_id!r} is not 16 hex digits")
    imported = Imported(gateway_id=gateway_id, region=region)
    if "server_address" in gateway:
        imported.servers.append(ImportedServer(
            str(gateway["server_address"]), int(gateway.get("serv_port_up", 1700)),
            int(gateway.get("serv_port_down", 1700)),
        ))
    for extra in gateway.get("servers", []) or []:  # mp_pkt_fwd style server lists
        if extra.get("serv_enabled", True):
            imported.servers.append(ImportedServer(
                str(extra["server_address"]), int(extra.get("serv_port_up", 1700)),
                int(extra.get("serv_port_down", 1700)),
            ))
    imported.keepalive_s = float(gateway.get("keepalive_interval", 10))
    imported.push_timeout_ms = int(gateway.get("push_timeout_ms", 100))
    imported.stat_interval_s = float(gateway.get("stat_interval", 30))
    imported.forward_crc_bad = bool(gateway.get("forward_crc_error", False))
    for key in ("gps_tty_path", "beacon_period", "fake_gps"):
        if gateway.get(key):
            imported.notes.append(f"gateway_conf.{key} is not imported (no GPS / class B yet)")
    imported.notes += _board_values_left_out(conf)
    return imported


def _board_values_left_out(conf: dict[str, Any]) -> list[str]:
    """Calibration and radio options wisgate does not take from this file, each named with where it was."""
    sx = conf.get("SX130x_conf") or conf.get("SX1301_conf") or conf.get("radio_conf")
    if not isinstance(sx, dict):
        return []
    name = next(k for k in ("SX130x_conf", "SX1301_conf", "radio_conf") if conf.get(k) is sx)
    notes = []
    for key, value in sx.items():
        if key in ("lbt", "sx1261_conf") and isinstance(value, dict) and (value.get("enable") or "lbt" in value):
            notes.append(f"{name}.{key} (listen-before-talk) is not imported: set it in the module's Concentratord")
        if not isinstance(value, dict) or not key.startswith(("radio_", "chan_")):
            continue
        for item in ("rssi_offset", "rssi_tcomp", "tx_gain_lut"):
            if item in value:
                what = "TX gain table" if item == "tx_gain_lut" else "RSSI calibration"
                notes.append(f"{name}.{key}.{item} ({what}) is not imported: it belongs to the module's Concentratord")
    return notes


def to_toml(imported: Imported) -> str:
    lines = [
        "# imported from a Semtech packet-forwarder configuration",
        "[lora]",
        f'gateway_id = "{imported.gateway_id}"',
        f'region = "{imported.region}"',
        "",
        "[lora.filters]",
        f"forward_crc_bad = {'true' if imported.forward_crc_bad else 'false'}",
    ]
    for n, server in enumerate(imported.servers):
        lines += [
            "",
            "[[lora.udp]]",
            f'name = "server{n + 1}"',
            f'host = "{server.host}"',
            f"port_up = {server.port_up}",
            f"port_down = {server.port_down}",
            f"keepalive_s = {imported.keepalive_s:g}",
            f"push_timeout_s = {imported.push_timeout_ms / 1000:g}",
            f"stat_interval_s = {imported.stat_interval_s:g}",
        ]
    lines += [f"# note: {note}" for note in imported.notes]
    return "\n".join(lines) + "\n"
