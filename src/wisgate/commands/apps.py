"""``wisgate apps``: the app catalog (list, show, lint) and its deployment through the Docker Engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wisgate.commands._options import console

if TYPE_CHECKING:
    from wisgate.apps.catalog import Catalog


@click.group("apps")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="An extra catalog folder (a folder of app folders); repeat for several.")
@click.pass_context
def command(ctx: click.Context, catalogs: tuple[Path, ...]) -> None:
    """Curated Docker apps with the board's hardware mapped and checked (docs/apps.md)."""
    ctx.obj = {"catalogs": list(catalogs)}


def _catalog(ctx: click.Context) -> Catalog:
    from wisgate.apps.catalog import load_catalog

    catalog = load_catalog(ctx.obj["catalogs"])
    for error in catalog.errors:
        click.echo(f"warning: {error}", err=True)
    return catalog


@command.command("list")
@click.pass_context
def list_apps(ctx: click.Context) -> None:
    """The catalog: every app with its version, category and hardware needs."""
    from rich.table import Table

    catalog = _catalog(ctx)
    table = Table()
    table.add_column("app", no_wrap=True)
    for column in ("version", "category", "needs", "name"):
        table.add_column(column)
    for app in catalog.sorted():
        needs = ", ".join(n.kind for n in app.manifest.hardware)
        table.add_row(app.id, app.manifest.version, app.manifest.category, needs, app.manifest.name)
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
