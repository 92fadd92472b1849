"""``wisgate apps``: the app catalog and its deployment through the Docker Engine (docs/apps.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wisgate.commands._options import console

if TYPE_CHECKING:
    from wisgate.apps.catalog import Catalog
    from wisgate.apps.manager import AppManager


@click.group("apps")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="An extra catalog folder (a folder of app folders); repeat for several.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), envvar="WISGATE_CONFIG",
              help="The configuration `wisgate run` uses: its gateway's slots and ports are kept free, and its "
                   "[apps] section applies. [env WISGATE_CONFIG]")
@click.option("--board", "board_path", type=click.Path(dir_okay=False, path_type=Path), envvar="WISGATE_BOARD",
              help="Board description (wisgate check's TOML): what sits in each slot. [env WISGATE_BOARD]")
@click.pass_context
def command(ctx: click.Context, catalogs: tuple[Path, ...], config_path: Path | None, board_path: Path | None) -> None:
    """Curated Docker apps with the board's hardware mapped and checked."""
    ctx.obj = {"catalogs": list(catalogs), "config": config_path, "board": board_path}


def _manager(ctx: click.Context) -> AppManager:
    from wisgate.apps.manager import build_manager
    from wisgate.config import load_config

    if "manager" not in ctx.obj:
        config = load_config(ctx.obj["config"]) if ctx.obj["config"] else None
        manager = build_manager(config, catalogs=ctx.obj["catalogs"], board=ctx.obj["board"])
        for error in manager.catalog.errors:
            click.echo(f"warning: {error}", err=True)
        ctx.obj["manager"] = manager
    manager_: AppManager = ctx.obj["manager"]
    return manager_


def _catalog(ctx: click.Context) -> Catalog:
    return _manager(ctx).catalog


def _progress(message: str) -> None:
    console.print(f"[dim]{message}...[/]")


@command.command("list")
@click.pass_context
def list_apps(ctx: click.Context) -> None:
    """The catalog: every app with its version, category, hardware needs and installs."""
    from rich.markup import escape
    from rich.table import Table

    from wisgate.apps.errors import EngineError

    manager = _manager(ctx)
    installs: dict[str, list[str]] | None = None
    try:
        found: dict[str, list[str]] = {}
        for entry in manager.status():
            found.setdefault(entry.app, []).append(f"{entry.instance} ({entry.state})")
        installs = found
    except EngineError as exc:
        console.print(f"[dim]installs not shown: {escape(str(exc))}[/]", soft_wrap=True)
    table = Table()
    table.add_column("app", no_wrap=True)
    for column in ("version", "category", "needs", "name"):
        table.add_column(column)
    if installs is not None:
        table.add_column("installed")
    for app in manager.catalog.sorted():
        row = [app.id, app.manifest.version, app.manifest.category, ", ".join(n.kind for n in app.manifest.hardware),
               app.manifest.name]
        if installs is not None:
            row.append(", ".join(installs.get(app.id, [])))
        table.add_row(*row)
    console.print(table)


@command.command("show")
@click.argument("app_id")
@click.pass_context
def show(ctx: click.Context, app_id: str) -> None:
    """One app: description, images, settings with defaults, ports, volumes and hardware needs."""
    from rich.markup import escape

    from wisgate.apps.needs import KINDS

    app = _catalog(ctx).get(app_id)
    m = app.manifest
    console.print(f"[bold]{escape(m.name)}[/] ({app.id} {escape(m.version)}, {m.category}) {escape(m.website)}")
    console.print(escape(m.description), soft_wrap=True)
    if app.origin != "shipped":
        console.print(f"from {escape(app.origin)}")
    if m.requires:
        console.print(f"requires: {', '.join(m.requires)}")
    console.print("services:")
    for name, service in app.services.items():
        console.print(f"  {name}: {escape(str(service.get('image', '')))}")
    settings = app.settings()
    if settings:
        console.print("settings (--set NAME=VALUE):")
        for name, setting in settings.items():
            default = "(generated)" if setting.type == "secret" else setting.default
            default = "(required)" if setting.required else default
            choices = f" [{'|'.join(setting.choices)}]" if setting.choices else ""
            console.print(f"  {name}={escape(str(default or ''))}{escape(choices)}  {escape(setting.description)}",
                          soft_wrap=True)
    for port in m.ports:
        console.print(f"port {port.name}: host {port.host} -> {port.service} {port.protocol}/{port.container}"
                      f"{' (web)' if port.web else ''}")
    for volume, info in m.volumes.items():
        console.print(f"volume {volume}: {escape(info.description)}")
    for need in m.hardware:
        count = f" x{need.count}" if need.count > 1 else ""
        console.print(f"needs {need.kind}{count} ({need.service}): {escape(KINDS[need.kind].summary)}", soft_wrap=True)


@command.command("install")
@click.argument("app_id")
@click.option("--name", help="Name of this install (default: the app id); install an app twice under two names.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A setting (`wisgate apps show APP` lists "
              "them); repeat for several.")
@click.option("--listen", help="Address the app's ports are published on (default 127.0.0.1, or [apps] listen); "
              "0.0.0.0 opens them to the network.")
@click.option("--no-start", is_flag=True, help="Create the containers without starting them.")
@click.option("--with", "using", multiple=True, metavar="APP=NAME", help="The install of a required app to use, "
              "when several are installed.")
@click.pass_context
def install(ctx: click.Context, app_id: str, name: str | None, sets: tuple[str, ...], listen: str | None,
            no_start: bool, using: tuple[str, ...]) -> None:
    """Install an app: check its settings, hardware and ports, create its containers and start them."""
    from rich.markup import escape

    from wisgate.apps.values import parse_assignments

    manager = _manager(ctx)
    result = manager.install(app_id, name=name, sets=parse_assignments(sets), listen=listen or manager.listen,
                             start=not no_start, using=parse_assignments(using, option="--with"),
                             progress=_progress)
    state = "running" if result.started else "created (not started)"
    console.print(f"[green]installed[/] {result.instance} ({result.app} {escape(result.version)}): {state}")
    for port in result.ports:
        link = f"  http://{port.address}:{port.host}/" if port.web else ""
        console.print(f"  port {port.name}: {port.address}:{port.host} {port.protocol}{link}")
    for service, devices in result.devices.items():
        console.print(f"  {service} devices: {', '.join(d.rsplit(':', 2)[1] for d in devices)}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning[/]: {escape(warning)}", soft_wrap=True)
    for key, value in result.generated.items():
        console.print(f"  generated {key}: {value}  (shown once; it is in the container's environment)")
    if result.note:
        console.print(escape(result.note), soft_wrap=True)


@command.command("start")
@click.argument("name")
@click.pass_context
def start(ctx: click.Context, name: str) -> None:
    """Start an installed app (each service after what it depends on)."""
    _manager(ctx).start(name)
    console.print(f"started {name}")


@command.command("stop")
@click.argument("name")
@click.pass_context
def stop(ctx: click.Context, name: str) -> None:
    """Stop an installed app; it stays installed with its data."""
    _manager(ctx).stop(name)
    console.print(f"stopped {name}")


@command.command("remove")
@click.argument("name")
@click.option("--purge", is_flag=True, help="Delete its volumes (its data) too.")
@click.pass_context
def remove(ctx: click.Context, name: str, purge: bool) -> None:
    """Remove an installed app's containers and network; its volumes stay unless --purge."""
    manager = _manager(ctx)
    for item in manager.remove(name, purge=purge):
        console.print(f"removed {item}")
    kept = manager.engine.kept_volumes(name)
    if kept:
        console.print(f"kept volumes {', '.join(kept)} (a new install named {name} uses them; --purge deletes them)")


@command.command("status")
@click.argument("name", required=False)
@click.pass_context
def status(ctx: click.Context, name: str | None) -> None:
    """Installed apps: state, containers, what each holds. Exit 1 if one is not fully running."""
    from rich.markup import escape
    from rich.table import Table

    manager = _manager(ctx)
    entries = [manager.engine.get(name)] if name else manager.status()
    if not entries:
        console.print("no apps installed (`wisgate apps list` shows the catalog)")
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    for column in ("app", "state", "containers", "holds"):
        table.add_column(column)
    colours = {"running": "green", "stopped": "yellow"}
    for entry in entries:
        containers = "\n".join(f"{c.service}: {c.status}" + (f" ({c.health})" if c.health else "")
                               + (f" exit {c.exit_code}" if c.exit_code else "") for c in entry.containers)
        holds = "\n".join(c.label for c in entry.claims)
        state = f"[{colours.get(entry.state, 'red')}]{entry.state}[/]"
        table.add_row(entry.instance, f"{entry.app} {escape(entry.version)}", state, escape(containers), escape(holds))
    console.print(table)
    if any(e.state != "running" for e in entries):
        sys.exit(1)


@command.command("logs")
@click.argument("name")
@click.option("--service", help="Only this service.")
@click.option("--tail", default=100, show_default=True, type=click.IntRange(1, 100_000), help="Lines per service.")
@click.pass_context
def logs(ctx: click.Context, name: str, service: str | None, tail: int) -> None:
    """The last lines of an installed app's logs, each prefixed by its service."""
    lines = _manager(ctx).logs(name, service=service, tail=tail)
    width = max((len(s) for s, _line in lines), default=0)
    for svc, line in lines:
        click.echo(f"{svc:<{width}} | {line}")


@command.command("export")
@click.argument("app_id")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Settings, as for install.")
@click.option("--name", help="The Compose project name (default: the app id).")
@click.option("--listen", help="Address the ports are published on (default 127.0.0.1).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), help="Folder to write to "
              "(default: ./APP-export).")
@click.option("--repository", metavar="URL", help="Git repository the compose file will be pushed to (Portainer "
              "stack templates load it from there).")
@click.pass_context
def export(ctx: click.Context, app_id: str, sets: tuple[str, ...], name: str | None, listen: str | None,
           output: Path | None, repository: str | None) -> None:
    """Write a plain compose file and a Portainer v3 template of an app, with this board's devices."""
    from rich.markup import escape

    from wisgate.apps.export import STACKFILE, portainer_json
    from wisgate.apps.values import parse_assignments

    manager = _manager(ctx)
    result = manager.export(app_id, sets=parse_assignments(sets), name=name, listen=listen, repository=repository)
    folder = output or Path(f"{app_id}-export")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STACKFILE).write_text(result.compose_text, encoding="utf-8")
    path = escape(str(folder / STACKFILE))
    console.print(f"wrote {path} (docker compose -f {path} up -d)")
    if result.portainer is not None:
        (folder / "portainer-template.json").write_text(portainer_json(result.portainer), encoding="utf-8")
        console.print(f"wrote {escape(str(folder / 'portainer-template.json'))} (Portainer v3 app template)")
    else:
        console.print(f"[yellow]no Portainer template[/]: {escape(str(result.portainer_skipped))}", soft_wrap=True)
    for note in result.notes:
        console.print(f"[yellow]note[/]: {escape(note)}", soft_wrap=True)


@command.command("lint")
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def lint(ctx: click.Context, folders: tuple[Path, ...]) -> None:
    """Check catalog entries: the given catalog folders, or the shipped and user catalogs. Exit 1 on errors."""
    from rich.markup import escape

    from wisgate.apps.catalog import SHIPPED_DIR, user_dirs
    from wisgate.apps.lint import lint_folders

    dirs = list(folders) or [SHIPPED_DIR, *user_dirs(ctx.obj["catalogs"])]
    catalog, findings = lint_folders(dirs)
    styles = {"error": "bold red", "warning": "yellow"}
    for finding in findings:
        console.print(f"[{styles[finding.level]}]{finding.level}[/] {finding.app} [dim]{finding.code}[/]: "
                      f"{escape(finding.message)}", soft_wrap=True)
    errors = sum(f.level == "error" for f in findings)
    console.print(f"{len(catalog.apps)} apps, {errors} errors, {len(findings) - errors} warnings")
    if errors:
        sys.exit(1)
