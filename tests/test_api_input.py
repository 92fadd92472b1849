"""What the HTTP API accepts: numbers (non-finite ones are a 422 naming the field) and the bearer token."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from wisgate.api.http import create_app
from wisgate.api.validation import json_safe
from wisgate.config import ApiSection
from wisgate.services.state import BoardState
from wisgate.services.supervisor import Supervisor
from wisgate.target import open_target

TOKEN = "correct horse battery staple"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WISGATE_API_TOKEN", raising=False)


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[TestClient, BoardState]]:
    supervisor = Supervisor(open_target("sim"))
    app = create_app(supervisor.context, ApiSection(token=SecretStr(TOKEN)))
    # a 500 must show as a 500 here, not as the exception the server would have logged
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, supervisor.state
    supervisor.context.target.close()


NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize(("path", "template", "field"), [
    ("/api/fan", '{"duty": %s}', "duty"),
    ("/api/fan", '{"duty": 50, "seconds": %s}', "seconds"),
    ("/api/oled", '{"lines": ["hi"], "seconds": %s}', "seconds"),
])
def test_non_finite_numbers_are_a_422_naming_the_field(
    api: tuple[TestClient, BoardState], path: str, template: str, field: str, literal: str,
) -> None:
    client, state = api
    response = client.post(path, content=template % literal, headers=AUTH)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", field]]
    assert errors[0]["msg"] == "Input should be a finite number"
    assert errors[0]["input"] in ("NaN", "Infinity", "-Infinity")  # echoed as sent, as a JSON string
    assert state.overrides.fan is None and state.overrides.oled is None


def test_non_finite_values_in_other_fields_are_a_422_too(api: tuple[TestClient, BoardState]) -> None:
    client, state = api
    for path, body, loc in (
        ("/api/oled", '{"lines": [NaN]}', ["body", "lines", 0]),
        ("/api/fan", '{"duty": 50, "rpm": Infinity}', ["body", "rpm"]),
        ("/api/fan", '[NaN]', ["body"]),
    ):
        response = client.post(path, content=body, headers=AUTH)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc
    assert state.overrides.fan is None and state.overrides.oled is None


def test_non_finite_query_numbers_and_app_bodies_are_a_422(api: tuple[TestClient, dict[str, object]]) -> None:
    client, _ = api
    for query in ("NaN", "Infinity", "1e999", "-inf"):
        response = client.get(f"/api/events?after={query}")
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "after"], query
    response = client.post("/api/apps/installed", content='{"app": NaN}', headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "app"]
    assert response.json()["detail"][0]["input"] == "NaN"


_numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**20, 10**20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(duty=_numbers | st.none() | st.text(max_size=5), seconds=_numbers | st.none())
def test_any_fan_body_is_answered_200_or_422_never_500(
    api: tuple[TestClient, BoardState], duty: Any, seconds: Any,
) -> None:
    client, state = api
    body: dict[str, Any] = {"duty": duty} if seconds is None else {"duty": duty, "seconds": seconds}
    response = client.post("/api/fan", content=json.dumps(body), headers=AUTH)  # json.dumps writes NaN/Infinity
    finite = isinstance(duty, int | float) and math.isfinite(duty) and (seconds is None or math.isfinite(seconds))
    accepted = finite and 0 <= duty <= 100 and (seconds is None or 0 < seconds <= 86_400)
    assert response.status_code == (200 if accepted else 422), (body, response.text)
    state.overrides.fan = None


def test_json_safe_writes_the_literals() -> None:
    assert json_safe({"a": [math.nan, math.inf, -math.inf, 1.5], "b": ("x", None)}) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5], "b": ["x", None]}


@pytest.mark.parametrize("header", [f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  ", f"bEaReR {TOKEN}"])
def test_the_bearer_scheme_is_case_insensitive(api: tuple[TestClient, BoardState], header: str) -> None:
    client, state = api
    response = client.post("/api/fan", json={"duty": 30, "seconds": 1}, headers={"Authorization": header})
    assert response.status_code == 200, response.text
    assert state.overrides.fan is not None
    state.overrides.fan = None


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "Bearer    ", "bearer", "", "Token " + TOKEN, "Basic " + TOKEN, TOKEN,
    "Bearer " + TOKEN + "x", "Bearer " + TOKEN[:-1], "Bearer " + "x" * 10_000, "Bearer " + TOKEN * 300,
    "Bearer " + TOKEN + " " + TOKEN,
])
def test_empty_wrong_and_oversized_tokens_are_refused_before_the_handler(
    api: tuple[TestClient, BoardState], header: str,
) -> None:
    client, state = api
    response = client.post("/api/fan", json={"duty": 30}, headers={"Authorization": header})
    assert response.status_code == 401, (header[:40], response.text)
    assert response.headers["www-authenticate"] == "Bearer"
    assert state.overrides.fan is None
