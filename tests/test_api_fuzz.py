"""Schemathesis against the API's own OpenAPI document, over loopback to the whole daemon on the simulated
board: every operation with generated valid and invalid input, with the token, under every one of
schemathesis' checks: no server error, every answer's status code, content type, headers and body as
documented (each response model field by field: a key the code sends that the document lacks fails),
invalid input refused, valid input accepted, the token's absence refused.

The live streams never end, so they are left to tests/test_api_live.py; the app catalog's installs,
starts, stops and removals drive the machine's Docker Engine, so they are left to the apps' own tests
(its reading operations are fuzzed here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from daemon_rig import LiveDaemon
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

TOKEN = "fuzz-token"
#: operations whose valid input has a rule a schema cannot state, so a schema-valid request may be refused:
#: the wake alarm must be within the next 28 days (a rule of the clock)
CLOCK_RULES = {("POST", "/api/rtc/alarm")}
#: examples per operation and generation mode: about 25 s for the whole API
EXAMPLES = 15


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    live = LiveDaemon(tmp_path_factory.mktemp("fuzz"), token=TOKEN, devices=10, interval_s=1.0)
    yield live
    live.stop()


@schemathesis.check
def no_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx except those the API answers on purpose, with a reason: 503 (a service that is not running, a bus
    that did not answer) and 502 (the Docker Engine, which the app endpoints stand in front of, cannot be reached)."""
    if response.status_code >= 500 and response.status_code not in (502, 503):
        raise AssertionError(f"{response.status_code} from {case.method} {case.formatted_path}")
    return None


def fuzz(operation: Any, mode: GenerationMode, base_url: str) -> None:
    excluded = [not_a_server_error]
    if (operation.method.upper(), operation.path) in CLOCK_RULES:
        excluded.append(positive_data_acceptance)

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        # every built-in check, with "no server error" as this API means it
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"},
                               additional_checks=[no_internal_error], excluded_checks=excluded)

    run()


def test_no_operation_answers_with_a_server_error(daemon: LiveDaemon) -> None:
    schema = (schemathesis.openapi.from_url(f"{daemon.base}/openapi.json").exclude(path_regex=r"/stream$")
              .exclude(path_regex=r"^/api/apps/installed", method=["POST", "DELETE"]))
    started = time.monotonic()
    tried, positive_only = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        fuzz(operation, GenerationMode.POSITIVE, daemon.base)
        try:
            fuzz(operation, GenerationMode.NEGATIVE, daemon.base)
        except Unsatisfiable:  # nothing in it that schemathesis can make invalid (no parameter, or free text)
            positive_only.append(label)
        tried.append(label)
    assert "POST /api/fan" not in positive_only and "GET /api/history/{name}" not in positive_only
    assert not any(label.startswith(("POST /api/apps", "DELETE /api/apps")) for label in tried)
    assert len(tried) >= 18, tried
    assert "POST /api/rtc/alarm" in tried and "GET /api/history/{name}" in tried
    print(f"fuzzed {len(tried)} operations in {time.monotonic() - started:.1f} s (valid input only: {positive_only})")
