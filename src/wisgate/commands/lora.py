"""``wisgate lora``: channel-plan splits and configs, and the live uplinks of a running gateway."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click

from wisgate.commands._options import console

DEFAULT_TRAFFIC_URL = "tcp://127.0.0.1:5591"


@click.group("lora")
def command() -> None:
    """LoRaWAN gateway tools (plans, configs, live traffic)."""


def _mhz(hz: int | None) -> str:
    return "-" if hz is None else f"{hz / 1e6:.3f}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Nested tables as [a.b] headers; lists and leaf dicts inline (enough for Concentratord configs)."""
    scalars = {
        k: v for k, v in data.items() if not isinstance(v, dict) or not any(isinstance(x, dict) for x in v.values())
    }
    tables = {k: v for k, v in data.items() if k not in scalars}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, table in tables.items():
        lines.append(to_toml(table, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines)


@command.command("plan")
@click.argument("region")
@click.option("--modules", type=click.IntRange(1, 4), help="Concentrator modules to split over (default: fewest).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "concentratord", "semtech"]), default="text", show_default=True,
    help="Print the split, each module's Concentratord TOML, or each module's Semtech global_conf.json section.",
)
def plan(region: str, modules: int | None, fmt: str) -> None:
    """Split REGION's channel plan over the installed modules (EU868, EU868-16, US915-FSB1+2, ISM2400...).

    A region named alone fills every module given: US915 --modules 2 is FSB1+2.
    """
    from wisgate.lora.errors import PlanError
    from wisgate.lora.plans.allocation import allocate
    from wisgate.lora.plans.module_conf import concentratord_section, describe_wiring, semtech_global_conf, wiring
    from wisgate.lora.plans.regions import idle_modules, modules_for, plan_for_modules, plan_named, smallest_split

    try:
        channel_plan = plan_named(region) if modules is None else plan_for_modules(region, modules)
        count = modules or smallest_split(channel_plan)
        allocations = allocate(channel_plan, modules_for(channel_plan, count))
    except PlanError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in idle_modules(channel_plan, allocations):
        click.echo(f"note: {warning}", err=True)
    if fmt == "concentratord":
        for a in allocations:
            where = describe_wiring(a.module)
            click.echo(f"# module {a.module.board} ({a.module.spec.chip}, {where}): concentratord.toml")
            click.echo(to_toml(concentratord_section(a, channel_plan.region)) + "\n")
        return
    if fmt == "semtech":
        for a in allocations:
            w = wiring(a.module)
            reset = f"; reset GPIO{w.reset_gpio} (reset_lgw.sh)" if w.reset_gpio is not None else ""
            click.echo(f"// module {a.module.board} ({a.module.spec.chip}) in {w.slot}{reset}: global_conf.json")
            click.echo(json.dumps(semtech_global_conf(a), indent=2) + "\n")
        return
    console.print(f"{channel_plan.name}: {len(channel_plan.channels)} channels over {count} module(s)")
    for a in allocations:
        radios = [f"radio {i} {_mhz(c)} MHz" for i, c in enumerate(a.radio_centres_hz) if c is not None]
        used = ", ".join(radios) if radios or a.channels_2g4 else "no channels"
        console.print(f"module {a.module.board} ({a.module.spec.chip}, {describe_wiring(a.module)}): {used}",
                      soft_wrap=True)
        for placed in a.if_channels:
            ch = placed.channel
            console.print(f"  {_mhz(ch.frequency_hz):>9} MHz  {_kind(ch)}  radio {placed.radio} IF "
                          f"{placed.if_hz / 1000:+5.0f} kHz", soft_wrap=True)
        for ch in a.channels_2g4:
            console.print(f"  {_mhz(ch.frequency_hz):>9} MHz  {_kind(ch)}", soft_wrap=True)


def _kind(channel: Any) -> str:
    sf = f" SF{channel.spreading_factor}" if channel.spreading_factor else ""
    return f"{channel.kind.value:<12} {channel.bandwidth_hz // 1000:>4} kHz{sf}"


@command.command("traffic")
@click.option("--url", default=DEFAULT_TRAFFIC_URL, show_default=True, help="The gateway's traffic socket.")
@click.option("--count", type=int, help="Stop after this many uplinks.")
@click.option("--json", "as_json", is_flag=True, help="Print each uplink as a JSON line.")
@click.option("--timeout", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="SECONDS",
              help="Give up after this many seconds without an uplink; 0 waits forever.")
def traffic(url: str, count: int | None, as_json: bool, timeout: float) -> None:
    """Follow the live uplinks (decoded headers) of a running gateway (wisgate run)."""
    import zmq

    from wisgate.lora.core.describe import one_line

    socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(url)
    seen = 0
    limit = f"giving up after {timeout:g} s without one" if timeout else "until Ctrl-C"
    click.echo(f"waiting for uplinks from the gateway of `wisgate run` on {url} ({limit})", err=True)
    try:
        while count is None or seen < count:
            if not socket.poll(int(timeout * 1000) if timeout else None):
                raise click.ClickException(f"no uplink from {url} within {timeout} s (is `wisgate run` running?)")
            raw = socket.recv()
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            seen += 1
            click.echo(json.dumps(record) if as_json else one_line(record))
    finally:
        socket.close(linger=0)


@command.command("import")
@click.argument("global_conf", type=click.Path(path_type=Path))
@click.argument("local_conf", required=False, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the TOML here instead of printing it.")
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
def import_conf(global_conf: Path, local_conf: Path | None, output: Path | None, force: bool) -> None:
    """Turn lora_pkt_fwd's global_conf.json (+ local_conf.json) into wisgate's [lora] configuration."""
    from wisgate.config import parse_config
    from wisgate.lora.plans.importer import import_semtech
    from wisgate.lora.plans.importer import to_toml as imported_toml

    imported = import_semtech(global_conf, local_conf)
    text = imported_toml(imported)
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)
    parse_config(tomllib.loads(text), source="imported configuration")  # what we write must load
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; add --force to overwrite it")
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}; run: wisgate run --config {output}")
