"""``wisgate check CONFIG.toml``: judge a board description against the RAK7391 datasheet (docs/board.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wisgate.commands._options import console


@click.command("check")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--example", is_flag=True, help="Print a commented example board description and exit.")
def command(config: Path | None, example: bool) -> None:
    """Check a board description (TOML): slots, I2C addresses, power budget. Exit 1 on any error."""
    from rich.markup import escape

    from wisgate.board.check import check_board, power_budget
    from wisgate.board.description import load_description
    from wisgate.board.power import format_watts
    from wisgate.errors import ConfigError

    if example:
        from wisgate.board.example import EXAMPLE_TOML

        click.echo(EXAMPLE_TOML, nl=False)
        return
    if config is None:
        raise click.UsageError("give a board description (CONFIG.toml), or --example to print one")
    try:
        description = load_description(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    findings = check_board(description)
    budget = power_budget(description)
    limit = f" of {format_watts(budget.limit)}" if budget.limit is not None else ""
    console.print(
        f"{escape(str(config))}: estimated draw {format_watts(budget.total)}{limit} ({budget.limit_source})",
        soft_wrap=True,
    )
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
