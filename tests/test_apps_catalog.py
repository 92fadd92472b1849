"""The app catalog: every shipped entry passes the linter and is valid compose; each lint rule catches its fault."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from compose_spec import PyCompose
from hypothesis import given
from hypothesis import strategies as st

from wisgate.apps.catalog import CATALOG_ENV, SHIPPED_DIR, load_catalog
from wisgate.apps.errors import CatalogError
from wisgate.apps.interpolate import InterpolationError, interpolate, references, values_lookup
from wisgate.apps.lint import image_problem, lint_app, lint_catalog, lint_folders
from wisgate.apps.manifest import load_app

SHIPPED = load_catalog(environ={})
#: The apps issue 15 asks the catalog to hold at least.
REQUIRED_APPS = {
    "mosquitto", "node-red", "chirpstack", "chirpstack-concentratord", "udp-packet-forwarder", "basicstation",
    "influxdb-grafana", "home-assistant", "zigbee2mqtt", "tailscale",
}


def test_the_catalog_holds_the_required_apps() -> None:
    assert not SHIPPED.errors
    assert set(SHIPPED.apps) >= REQUIRED_APPS


@pytest.mark.parametrize("app_id", sorted(SHIPPED.apps))
def test_every_shipped_entry_lints_clean(app_id: str) -> None:
    findings = lint_app(SHIPPED.get(app_id))
    assert findings == [], "\n".join(map(str, findings))


def compose_problem(text: str) -> str | None:
    """What the compose specification finds wrong with ``text`` (None: a valid compose file)."""
    try:
        PyCompose.from_yaml(text).validate()
    except ValueError as exc:
        return str(exc)
    return None


def test_the_compose_check_finds_invalid_compose() -> None:
    assert compose_problem("services:\n  a:\n    image: x\n") is None
    assert "restart" in (compose_problem("services:\n  a:\n    image: x\n    restart: sometimes\n") or "")
    assert "network `n`" in (compose_problem("services:\n  a:\n    image: x\n    networks: [n]\n") or "")


@pytest.mark.parametrize("app_id", sorted(SHIPPED.apps))
def test_every_shipped_compose_file_is_valid_compose(app_id: str) -> None:
    text = (SHIPPED_DIR / app_id / "compose.yaml").read_text()
    assert compose_problem(text) is None, f"{app_id}/compose.yaml"
    assert set(PyCompose.from_yaml(text).service_names()) == set(SHIPPED.get(app_id).services)


def test_the_catalog_as_a_whole_lints_clean() -> None:
    assert lint_catalog(SHIPPED) == []


def test_hardware_apps_declare_needs_instead_of_privilege() -> None:
    for app_id in ("node-red", "chirpstack-concentratord", "udp-packet-forwarder", "basicstation", "zigbee2mqtt"):
        app = SHIPPED.get(app_id)
        assert app.manifest.hardware, app_id
        assert not any(s.get("privileged") for s in app.services.values()), app_id
    kinds = {n.kind for n in SHIPPED.get("node-red").manifest.hardware}
    assert kinds == {"i2c", "gpio", "wisblock-serial"}


# --- the linter catches each fault -------------------------------------------------------------------------

GOOD_MANIFEST = """
id = "demo"
name = "Demo"
version = "1.2.3"
description = "A demo app"
category = "other"
website = "https://example.org"

[settings.GREETING]
description = "What it says"
default = "hello"

[[ports]]
name = "web"
service = "web"
container = 80
host = 8080
setting = "WEB_PORT"

[volumes.data]
description = "its data"
"""

GOOD_COMPOSE = """
services:
  web:
    image: example/web:1.2.3
    environment:
      GREETING: ${GREETING}
    volumes:
      - data:/data
volumes:
  data:
"""


def write_app(root: Path, manifest: str = GOOD_MANIFEST, compose: str = GOOD_COMPOSE, name: str = "demo") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "app.toml").write_text(textwrap.dedent(manifest))
    (folder / "compose.yaml").write_text(textwrap.dedent(compose))
    return folder


def codes(folder: Path) -> set[str]:
    return {f.code for f in lint_app(load_app(folder)) if f.level == "error"}


def test_a_good_entry_has_no_findings(tmp_path: Path) -> None:
    assert lint_app(load_app(write_app(tmp_path))) == []


@pytest.mark.parametrize(("image", "pinned"), [
    ("example/web:1.2.3", True), ("example/web@sha256:" + "a" * 64, True), ("postgres:14.15-alpine", True),
    ("ghcr.io/org/app:v2.8.3", True), ("example/web", False), ("example/web:latest", False),
    ("example/web:v2", False), ("localhost:5000/web", False), ("postgres:14-alpine", False),
])
def test_images_must_be_pinned_to_a_version(image: str, pinned: bool) -> None:
    assert (image_problem(image) is None) is pinned


def test_unpinned_image_is_an_error(tmp_path: Path) -> None:
    assert "image-unpinned" in codes(write_app(tmp_path, compose=GOOD_COMPOSE.replace("1.2.3", "latest")))


def test_privileged_is_refused_where_hardware_needs_give_a_device_list(tmp_path: Path) -> None:
    manifest = GOOD_MANIFEST + '\n[[hardware]]\nkind = "i2c"\nservice = "web"\n\n[justify]\nprivileged = "x"\n'
    compose = GOOD_COMPOSE.replace("    image:", "    privileged: true\n    image:")
    assert "privileged" in codes(write_app(tmp_path, manifest, compose))


def test_privileged_without_a_reason_is_refused(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE.replace("    image:", "    privileged: true\n    image:")
    assert "privileged" in codes(write_app(tmp_path, compose=compose))


@pytest.mark.parametrize("key", ["ports:\n      - 80:80", "devices:\n      - /dev/i2c-1", "container_name: x",
                                 "build: .", "group_add:\n      - 998"])
def test_keys_wisgate_manages_are_refused_in_compose(tmp_path: Path, key: str) -> None:
    compose = GOOD_COMPOSE.replace("    image:", f"    {key}\n    image:")
    assert "compose-key" in codes(write_app(tmp_path, compose=compose))


def test_host_network_and_capabilities_need_a_reason(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE.replace("    image:", "    network_mode: host\n    cap_add: [NET_ADMIN]\n    image:")
    found = codes(write_app(tmp_path, compose=compose))
    assert {"host-network", "cap-add"} <= found


def test_an_undefined_variable_is_an_error(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE.replace("${GREETING}", "${GREETNG}")
    assert "unknown-variable" in codes(write_app(tmp_path, compose=compose))


def test_hardware_variables_are_defined_only_for_declared_needs(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE.replace("${GREETING}", "${SPI_DEVICE}")
    assert "unknown-variable" in codes(write_app(tmp_path, compose=compose))
    manifest = GOOD_MANIFEST + '\n[[hardware]]\nkind = "concentrator-spi"\nservice = "web"\n'
    assert "unknown-variable" not in codes(write_app(tmp_path / "b", manifest, compose))


def test_volumes_must_be_described(tmp_path: Path) -> None:
    manifest = GOOD_MANIFEST.replace('[volumes.data]\ndescription = "its data"', "")
    assert "volume" in codes(write_app(tmp_path, manifest))


def test_a_port_on_a_missing_service_is_an_error(tmp_path: Path) -> None:
    assert "port-service" in codes(write_app(tmp_path, GOOD_MANIFEST.replace('service = "web"', 'service = "api"')))


def test_depends_on_cycles_are_found(tmp_path: Path) -> None:
    manifest = """
    id = "demo"
    name = "Demo"
    version = "1.0"
    description = "A demo app"
    category = "other"
    website = "https://example.org"
    main = "a"
    """
    compose = """
    services:
      a:
        image: x/a:1.0
        depends_on: [b]
      b:
        image: x/b:1.0
        depends_on: [a]
    """
    assert "depends-on" in codes(write_app(tmp_path, manifest, compose))


def test_host_ports_must_be_unique_across_the_catalog(tmp_path: Path) -> None:
    write_app(tmp_path, name="demo")
    write_app(tmp_path, GOOD_MANIFEST.replace('id = "demo"', 'id = "other"'), name="other")
    _catalog, findings = lint_folders([tmp_path])
    assert any(f.code == "port-unique" and f.app == "other" for f in findings)


def test_a_missing_required_field_names_the_field(tmp_path: Path) -> None:
    write_app(tmp_path, GOOD_MANIFEST.replace('description = "A demo app"\n', ""))
    _catalog, findings = lint_folders([tmp_path])
    assert [f.code for f in findings] == ["schema"]
    assert "description: missing" in findings[0].message


def test_a_requirement_must_exist(tmp_path: Path) -> None:
    write_app(tmp_path, GOOD_MANIFEST.replace('category = "other"', 'category = "other"\nrequires = ["nope"]'))
    _catalog, findings = lint_folders([tmp_path])
    assert any(f.code == "requires" for f in findings)


def test_a_user_folder_adds_and_overrides_apps_and_a_broken_entry_is_reported(tmp_path: Path) -> None:
    write_app(tmp_path, name="demo")
    write_app(tmp_path, GOOD_MANIFEST.replace('id = "demo"', 'id = "mosquitto"'), name="mosquitto")
    write_app(tmp_path, GOOD_MANIFEST.replace("version", "versio"), name="broken")
    (tmp_path / "broken" / "app.toml").write_text((tmp_path / "broken" / "app.toml").read_text()
                                                  .replace('id = "demo"', 'id = "broken"'))
    catalog = load_catalog(environ={CATALOG_ENV: str(tmp_path)})
    assert "demo" in catalog.apps and catalog.get("mosquitto").origin == str(tmp_path)
    assert catalog.overridden == {"mosquitto": str(tmp_path)}
    assert len(catalog.errors) == 1 and "broken" in catalog.errors[0] and "versio" in catalog.errors[0]


def test_an_unknown_app_suggests_a_close_name() -> None:
    with pytest.raises(CatalogError, match="did you mean mosquitto"):
        SHIPPED.get("mosquito")


# --- interpolation -----------------------------------------------------------------------------------------

def test_interpolation_follows_compose() -> None:
    values = {"A": "1", "EMPTY": ""}
    assert interpolate("x${A}y$A $$A ${EMPTY:-d} ${MISSING:-m}", values_lookup(values)) == "x1y1 $A d m"
    assert [r.name for r in references("${A} $B $$C ${D:-x}")] == ["A", "B", "D"]
    kept = interpolate("${A} ${B} $$", lambda r: "1" if r.name == "A" else None, keep_escapes=True)
    assert kept == "1 ${B} $$"
    with pytest.raises(InterpolationError, match="unsupported"):
        references("${A:?required}")
    with pytest.raises(InterpolationError):
        references("cost $5")


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_dollars_is_unchanged(text: str) -> None:
    assert interpolate(text, values_lookup({})) == text


@given(st.text())
def test_escaped_text_comes_back_unchanged(text: str) -> None:
    escaped = text.replace("$", "$$")
    assert references(escaped) == []
    assert interpolate(escaped, values_lookup({})) == text
    assert interpolate(escaped, values_lookup({}), keep_escapes=True) == escaped


# --- the commands ------------------------------------------------------------------------------------------

def test_apps_list_show_and_lint_commands(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from wisgate.cli import cli

    runner = CliRunner(env={CATALOG_ENV: ""})
    listed = runner.invoke(cli, ["apps", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert all(app_id in listed.output for app_id in REQUIRED_APPS)
    shown = runner.invoke(cli, ["apps", "show", "node-red"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "nodered/node-red:4.0.9" in shown.output and "EDITOR_PORT=1880" in shown.output
    assert "needs wisblock-serial x2" in shown.output
    assert runner.invoke(cli, ["apps", "lint"]).exit_code == 0
    write_app(tmp_path, compose=GOOD_COMPOSE.replace("1.2.3", "latest"))
    bad = runner.invoke(cli, ["apps", "lint", str(tmp_path)], terminal_width=200)
    assert bad.exit_code == 1 and "image-unpinned" in bad.output
