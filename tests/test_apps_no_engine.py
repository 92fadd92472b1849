"""Without a reachable Docker Engine the catalog still lists, and every deploy command says what is wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from wisgate.apps.catalog import CATALOG_ENV
from wisgate.apps.engine import connect
from wisgate.apps.errors import EngineError
from wisgate.cli import cli

NOWHERE = "unix:///nonexistent/docker.sock"


def test_connect_names_the_engine_and_the_likely_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NOWHERE)
    with pytest.raises(EngineError, match=rf"cannot reach the Docker Engine at {NOWHERE}: .*is dockerd running"):
        connect(timeout_s=5)


def test_list_works_without_an_engine_and_install_fails_in_one_line() -> None:
    runner = CliRunner(env={"DOCKER_HOST": NOWHERE, CATALOG_ENV: ""})
    listed = runner.invoke(cli, ["apps", "list"])
    assert listed.exit_code == 0 and "mosquitto" in listed.output and "installs not shown" in listed.output
    env = {"DOCKER_HOST": NOWHERE, CATALOG_ENV: "", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "wisgate", "apps", "install", "mosquitto"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: cannot reach the Docker Engine") and proc.stderr.count("\n") == 1
