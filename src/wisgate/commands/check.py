"""``wisgate check BOARD.toml [--config CONFIG.toml]``: judge a board description against the RAK7391
datasheet (docs/board.md), and the daemon configuration's ``[industrial]`` against its slots (docs/industrial.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wisgate.commands._options import console


@click.command("check")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--example", is_flag=True, help="Print a commented example board description and exit.")
@click.option("--config", "daemon_config", type=click.Path(dir_okay=False, path_type=Path),
              help="The daemon's configuration: check its [industrial] (WisBlock modules, RS485 buses) too.")
def command(config: Path | None, example: bool, daemon_config: Path | None) -> None:
    """Check a board description (TOML): slots, I2C addresses, power budget; with --config, the
    [industrial] section's slot needs and serial ports. Exit 1 on any error."""
    from rich.markup import escape

    from wisgate.board.check import Finding, check_board, power_budget
    from wisgate.board.description import BoardDescription, load_description
    from wisgate.board.power import format_watts
    from wisgate.errors import ConfigError

    if example:
        from wisgate.board.example import EXAMPLE_TOML

        click.echo(EXAMPLE_TOML, nl=False)
        return
    if config is None and daemon_config is None:
        raise click.UsageError("give a board description (CONFIG.toml) and/or --config, or --example")
    description: BoardDescription | None = None
    findings: list[Finding] = []
    try:
        if config is not None:
            description = load_description(config)
        if daemon_config is not None:
            from wisgate.config import load_config
            from wisgate.industrial.check import check_industrial, industrial_needs

            industrial = load_config(daemon_config).industrial
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    if description is not None:
        findings = check_board(description)
        budget = power_budget(description)
        limit = f" of {format_watts(budget.limit)}" if budget.limit is not None else ""
        console.print(
            f"{escape(str(config))}: estimated draw {format_watts(budget.total)}{limit} ({budget.limit_source})",
            soft_wrap=True,
        )
    if daemon_config is not None:
        needs = industrial_needs(industrial)
        said = "uses" if needs else "configures no WisBlock module or serial bus"
        console.print(f"{escape(str(daemon_config))}: {escape('[industrial]')} {said}", soft_wrap=True)
        by_owner: dict[str, list[str]] = {}
        for need in needs:
            by_owner.setdefault(need.owner, []).append(str(need))
        for owner, what in by_owner.items():
            console.print(f"  {escape(owner)}: {escape(', '.join(what))}", soft_wrap=True)
        findings = findings + check_industrial(industrial, description)
    styles = {"error": "bold red", "warning": "yellow"}
    for finding in findings:
        style = styles[finding.level]
        console.print(f"[{style}]{finding.level}[/] [dim]{finding.code}[/]: {escape(finding.message)}", soft_wrap=True)
        if finding.fix:
            console.print(f"  [green]fix[/]: {escape(finding.fix)}", soft_wrap=True)
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    if not findings:
        console.print("[green]OK[/]: no problems found")
    else:
        console.print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    if errors:
        sys.exit(1)
