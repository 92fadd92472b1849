"""``wisgate install-service``: the systemd unit, written for this installation, reloaded and enabled."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from wisgate.commands._options import console
from wisgate.systemd.unit import UNIT_NAME, render_unit

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


def user_unit_dir() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"


def systemctl_steps(user: bool, now: bool) -> list[list[str]]:
    scope = ["--user"] if user else []
    return [["systemctl", *scope, "daemon-reload"], ["systemctl", *scope, "enable", *(["--now"] if now else []),
                                                     UNIT_NAME]]


@click.command("install-service")
@click.option("--user", "user", is_flag=True, help="A user unit (~/.config/systemd/user) instead of a system one.")
@click.option("--dry-run", is_flag=True, help="Show the unit and the commands; change nothing.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The configuration file the daemon runs with.")
@click.option("--sim", "use_sim", is_flag=True, help="Run the daemon on the simulated board.")
@click.option("--now", is_flag=True, help="Start the service as well as enabling it.")
@click.option("--unit-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write the unit here instead (default /etc/systemd/system, or ~/.config/systemd/user).")
def command(user: bool, dry_run: bool, config_path: Path | None, use_sim: bool, now: bool,
            unit_dir: Path | None) -> None:
    """Write the systemd unit for `wisgate run`, then `systemctl daemon-reload` and `enable`."""
    arguments = ["run", *(["--sim"] if use_sim else [])]
    if config_path is not None:
        config_path = config_path.resolve()
        if not config_path.is_file():
            raise click.ClickException(f"--config: {config_path} does not exist")
        arguments += ["--config", str(config_path)]
    unit = render_unit([sys.executable, "-m", "wisgate", *arguments], user=user)
    directory = unit_dir or (user_unit_dir() if user else SYSTEM_UNIT_DIR)
    path = directory / UNIT_NAME
    steps = systemctl_steps(user, now)
    if dry_run:
        click.echo(f"# would write {path}:")
        click.echo(unit, nl=False)
        for step in steps:
            click.echo(f"# would run: {' '.join(step)}")
        return
    if not user and unit_dir is None and os.geteuid() != 0:
        raise click.ClickException(f"writing {path} needs root: run it with sudo, or use --user")
    previous = path.read_text() if path.is_file() else None
    if previous == unit:
        console.print(f"{path} is already up to date", soft_wrap=True)
    else:
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(unit)
        partial.chmod(0o644)
        partial.replace(path)
        console.print(f"{'replaced' if previous is not None else 'wrote'} {path}", soft_wrap=True)
    if shutil.which("systemctl") is None:
        raise click.ClickException("systemctl not found (no systemd here?): the unit is written, nothing enabled")
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        said = (done.stderr or done.stdout).strip().replace("\n", " ")
        if done.returncode != 0:
            raise click.ClickException(f"{' '.join(step)} failed (exit {done.returncode}): {said}")
        console.print(f"ran {' '.join(step)}" + (f": {said}" if said else ""), soft_wrap=True)
    scope = " --user" if user else ""
    follow = "started" if now else f"enabled; start it with: systemctl{scope} start {UNIT_NAME}"
    console.print(f"wisgate {follow}; logs: journalctl{scope} -u {UNIT_NAME} -f", soft_wrap=True)
