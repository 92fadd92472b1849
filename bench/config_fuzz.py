"""Config fuzz: malformed configuration files against ``wisgate run``'s loading (schema + preflight).

Every case must end as one of: refused with a ConfigError whose message names the key (good), accepted
and the daemon then runs it with no service failing (a harmless mutation), or the two failures this
counts: a traceback (any other exception) and accepted-but-broken (loaded, then a service failed).

Two sets: a catalogue of known-bad files (each must be refused, naming its key; tests/test_config_fuzz.py
runs it) and seeded random mutations of a full configuration (a bad-typed or out-of-range value put on a
random key), whose accepted ones are run in-process on the simulated board for a short while.

    python bench/config_fuzz.py [--random N] [--seed S] [--run-s SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wisgate.config import Config, load_config
from wisgate.errors import ConfigError
from wisgate.preflight import check_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_config(tmp: Path) -> str:
    """Every section set, everything loopback and under ``tmp``: it loads and runs as it is."""
    return f"""
log_level = "WARNING"
[board]
bus = "sim"
addresses = {{ adc = 0x48 }}
[monitor]
interval_s = 0.5
[display]
interval_s = 0.5
png = "{tmp}/oled.png"
[lora]
region = "EU868-16"
gateway_id = "0016c001ff1a7391"
traffic_url = "tcp://127.0.0.1:{free_port()}"
stats_interval_s = 5
store_dir = "{tmp}/store"
[lora.sim]
devices = 20
mean_interval_s = 5
radius_m = 2000
[lora.filters]
dev_addr_prefixes = ["26000000/7"]
join_eui_ranges = [["70b3d57ed0000000", "70b3d57ed0ffffff"]]
[[lora.udp]]
name = "ns"
host = "127.0.0.1"
port_up = {free_port()}
keepalive_s = 2
push_timeout_s = 0.5
store_max = 1000
[lora.mqtt]
enabled = false
host = "127.0.0.1"
port = {free_port()}
[rtc]
watchdog_s = 0
[fan]
interval_s = 1.0
curve = [[45, 0], [50, 30], [60, 60], [70, 100]]
[sim]
cpu_load = 0.3
supply_cuts = [[100, 2]]
analog = {{ 1 = 1.8 }}
[power]
debounce_s = 0.02
shutdown_after_s = 8
shutdown_command = ["true"]
outage_record = "{tmp}/outage.json"
[buzzer]
frequency_hz = 440
[api]
host = "127.0.0.1"
port = {free_port()}
override_s = 60
[history]
path = "{tmp}/history.sqlite"
"""


#: (file text, a key the refusal must name). ``{tmp}`` is the case's scratch directory.
KNOWN_BAD: list[tuple[str, str]] = [
    # the issue-18 list
    ('[api]\nhost = "not a host!"\n', "api.host"),
    ('[api]\nhost = "999.1.1.1"\n', "api.host"),
    ('[api]\nhost = "10.255.255.254"\n', "api.host"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nstore_max = 0\n', "lora.udp[0].store_max"),
    ('[lora.mqtt]\nenabled = true\nstore_max = 0\n', "lora.mqtt.store_max"),
    ('[lora]\ntraffic_url = "bogus"\n', "lora.traffic_url"),
    ('[lora]\ntraffic_url = "tcp://127.0.0.1"\n', "lora.traffic_url"),
    ('[lora]\ntraffic_url = "tcp://127.0.0.1:99999"\n', "lora.traffic_url"),
    ('[lora]\ntraffic_url = "udp://127.0.0.1:5591"\n', "lora.traffic_url"),
    ('[lora]\nstore_dir = "/proc/wisgate"\n[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\n', "lora.store_dir"),
    ('[lora]\nstore_dir = "/sys/kernel/wisgate"\n[lora.mqtt]\nenabled = true\n', "lora.store_dir"),
    ('[lora]\nstore_dir = "{tmp}/file"\n[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\n', "lora.store_dir"),
    ('[lora]\nstore_dir = "{tmp}/file/sub"\n[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\n', "lora.store_dir"),
    ('[lora.sim]\nradius_m = inf\n', "lora.sim.radius_m"),
    ('[lora.sim]\nradius_m = nan\n', "lora.sim.radius_m"),
    ('[lora.sim]\nradius_m = -5\n', "lora.sim.radius_m"),
    ('[lora.filters]\ndev_addr_prefixes = ["26000000"]\n', "lora.filters.dev_addr_prefixes[0]"),
    ('[lora.filters]\ndev_addr_prefixes = ["zz000000/7"]\n', "lora.filters.dev_addr_prefixes[0]"),
    ('[lora.filters]\ndev_addr_prefixes = ["26000000/40"]\n', "lora.filters.dev_addr_prefixes[0]"),
    ('[lora.filters]\ndev_addr_prefixes = ["26000001/7"]\n', "lora.filters.dev_addr_prefixes[0]"),
    ('[lora.filters]\ndev_addr_prefixes = [26000000]\n', "lora.filters.dev_addr_prefixes[0]"),
    ('[lora.filters]\njoin_eui_ranges = [["70b3", "70b4"]]\n', "lora.filters.join_eui_ranges[0]"),
    ('[lora.filters]\njoin_eui_ranges = [["70b3d57ed0ffffff", "70b3d57ed0000000"]]\n',
     "lora.filters.join_eui_ranges[0]"),
    ('[lora.filters]\njoin_eui_ranges = ["70b3d57ed0000000"]\n', "lora.filters.join_eui_ranges[0]"),
    ('[lora.filters]\njoin_eui_ranges = [["70b3d57ed0000000", "70b3d57ed0ffffff", "1"]]\n',
     "lora.filters.join_eui_ranges[0]"),
    ('[lora.filters]\nnet_ids = [16777216]\n', "lora.filters.net_ids[0]"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\n[lora.udp.filters]\ndev_addr_prefixes = ["x"]\n',
     "lora.udp[0].filters.dev_addr_prefixes[0]"),
    ('[lora.mqtt]\nenabled = true\npassword = "secret"\n', "lora.mqtt"),
    ('[lora.mqtt]\nenabled = true\nkey_file = "{tmp}/key.pem"\n', "lora.mqtt"),
    ('[lora.mqtt]\nenabled = true\nca_file = "{tmp}/missing-ca.pem"\n', "lora.mqtt.ca_file"),
    ('[lora.mqtt]\nenabled = true\ncert_file = "{tmp}"\n', "lora.mqtt.cert_file"),
    ('[display]\npng = "/proc/oled.png"\n', "display.png"),
    ('[display]\npng = "{tmp}/missing-dir/oled.png"\n', "display.png"),
    ('[display]\npng = "{tmp}"\n', "display.png"),
    ('[power]\noutage_record = "/sys/outage.json"\n', "power.outage_record"),
    ('[history]\npath = "/proc/history.sqlite"\n', "history.path"),
    ('[lora]\nstats_interval_s = 1e-9\n', "lora.stats_interval_s"),
    ('[monitor]\ninterval_s = 1e-9\n', "monitor.interval_s"),
    ('[display]\ninterval_s = 0.001\n', "display.interval_s"),
    ('[fan]\ninterval_s = 0.0001\n', "fan.interval_s"),
    ('[fan]\ninterval_s = 10\n', "fan.interval_s"),
    ('[lora.sim]\nmean_interval_s = 1e-6\n', "lora.sim.mean_interval_s"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nkeepalive_s = 1e-9\n', "lora.udp[0].keepalive_s"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nstat_interval_s = 1e-9\n', "lora.udp[0].stat_interval_s"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\npush_timeout_s = 0\n', "lora.udp[0].push_timeout_s"),
    ('[lora.mqtt]\nenabled = true\nstats_interval_s = 1e-9\n', "lora.mqtt.stats_interval_s"),
    ('[api]\noverride_s = 0.0001\n', "api.override_s"),
    # strings are not numbers, numbers are not strings or booleans
    ('[monitor]\ninterval_s = "5"\n', "monitor.interval_s"),
    ('[api]\nport = "8391"\n', "api.port"),
    ('[api]\nport = 8391.0\n', "api.port"),
    ('[api]\nenabled = "yes"\n', "api.enabled"),
    ('[api]\nenabled = 1\n', "api.enabled"),
    ('[lora]\nregion = 868\n', "lora.region"),
    ('[lora]\ngateway_id = 16\n', "lora.gateway_id"),
    ('[lora]\ngateway_id = "0016c001ff1a739"\n', "lora.gateway_id"),
    ('[sim]\ncpu_load = "0.5"\n', "sim.cpu_load"),
    ('[power]\nshutdown_after_s = "8"\n', "power.shutdown_after_s"),
    ('[power]\nshutdown_command = "systemctl poweroff"\n', "power.shutdown_command"),
    ('[power]\nshutdown_command = []\n', "power.shutdown_command"),
    ('[power]\nshutdown_command = ["systemctl", 1]\n', "power.shutdown_command"),
    ('[power]\nadc_channel = 4\n', "power.adc_channel"),
    ('[power]\ndebounce_ms = "20"\n', "power.debounce_s"),
    ('[power]\ndebounce_ms = 20\ndebounce_s = 0.02\n', "power"),
    ('[buzzer]\nfrequency_hz = 5\n', "buzzer.frequency_hz"),
    ('[buzzer]\nline = ""\n', "buzzer.line"),
    ('[fan]\ncurve = [[60, 10], [50, 20]]\n', "fan.curve"),
    ('[fan]\ncurve = [[40, 0], [50, 150]]\n', "fan.curve[1][1]"),
    ('[fan]\ncurve = [[40, 0]]\n', "fan.curve"),
    ('[fan]\ncurve = [["40", 0], [50, 20]]\n', "fan.curve[0][0]"),
    ('[fan]\ncurve = [[40, 0, 1], [50, 20]]\n', "fan.curve[0]"),
    ('[sim]\nsupply_cuts = [[1]]\n', "sim.supply_cuts[0]"),
    ('[sim]\nsupply_cuts = [[1, -2]]\n', "sim.supply_cuts[0][1]"),
    ('[sim]\nanalog = { 7 = 1.0 }\n', "sim.analog"),
    ('[sim]\nanalog = { x = 1.0 }\n', "sim.analog"),
    ('[sim]\nambient_c = -300\n', "sim.ambient_c"),
    ('[board]\nbus = "/dev/null"\n', "board.bus"),
    ('[board]\naddresses = { toaster = 0x20 }\n', "board.addresses"),
    ('[board]\naddresses = { adc = 0x90 }\n', "board.addresses.adc"),
    ('[board]\naddresses = { adc = "0x48" }\n', "board.addresses.adc"),
    ('log_level = "LOUD"\n', "log_level"),
    ('log_level = 10\n', "log_level"),
    # unknown and misplaced keys
    ('[monitr]\ninterval_s = 5\n', "monitr"),
    ('[monitor]\nintervl_s = 5\n', "monitor.intervl_s"),
    ('[lora.udp]\nname = "a"\nhost = "127.0.0.1"\n', "lora.udp"),
    ('[[lora.udp]]\nhost = "127.0.0.1"\n', "lora.udp[0].name"),
    ('[[lora.udp]]\nname = "a b"\nhost = "127.0.0.1"\n', "lora.udp[0].name"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nport_up = 0\n', "lora.udp[0].port_up"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nversion = 3\n', "lora.udp[0].version"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\n[[lora.udp]]\nname = "a"\nhost = "127.0.0.2"\n', "lora.udp"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nstore_path = "/proc/q.sqlite"\n', "lora.udp[0].store_path"),
    ('[[lora.udp]]\nname = "a"\nhost = "127.0.0.1"\nstore_policy = "drop-all"\n', "lora.udp[0].store_policy"),
    ('[[lora.modules]]\nboard = 0\nevent_url = "nowhere"\ncommand_url = "ipc:///tmp/c"\n', "lora.modules[0].event_url"),
    ('[[lora.modules]]\nboard = 5\nevent_url = "ipc:///tmp/e"\ncommand_url = "ipc:///tmp/c"\n',
     "lora.modules[0].board"),
    ('[[lora.modules]]\nboard = 0\nevent_url = "ipc:///tmp/e"\ncommand_url = "ipc:///tmp/c"\n'
     '[[lora.modules]]\nboard = 0\nevent_url = "ipc:///tmp/e2"\ncommand_url = "ipc:///tmp/c2"\n', "lora.modules"),
    ('[lora]\nregion = "EU433"\n', "lora.region"),
    ('lora = 5\n', "lora"),
    ('[api]\ntoken = "short"\n', "api.token"),
    ('monitor = []\n', "monitor"),
    # not TOML, or not a file TOML can come from
    ('[board\n', "invalid TOML"),
    ('a = 1\na = 2\n', "invalid TOML"),
    ('a = "unterminated\n', "invalid TOML"),
    ('x = ' + '[' * 3000 + ']' * 3000 + '\n', "nested too deeply"),
    ('x = ' + '{a = ' * 3000 + '1' + '}' * 3000 + '\n', "nested too deeply"),
    ('[monitor]\ninterval_s = ' + '9' * 5000 + '\n', "invalid TOML"),
]

#: Whole files that are not text or not files at all.
SPECIAL = ["non-utf8", "dev-zero", "fifo", "directory", "oversized", "missing", "nul-bytes"]

BAD_VALUES: list[Any] = ["5", "", "x" * 300, -1, 0, 1e-9, 1e300, float("inf"), float("nan"), True, [], [1, 2], {},
                         {"a": 1}, 2**63, -(2**63), "/proc/x", "tcp://", "::::"]


@dataclass
class Outcome:
    kind: str  # refused-naming-key | refused-other-wording | traceback | accepted-runs | accepted-but-broken
    detail: str


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if value == float("inf") else "nan" if value != value else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def _dump(data: dict[str, Any], prefix: str = "") -> list[str]:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not (
        isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
    lines = [f"[{prefix}]"] if prefix else []
    lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            lines += _dump(value, name)
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                sub = _dump(item, name)
                lines += [f"[[{name}]]", *sub[1:]]
    return lines


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return [leaf for i, v in enumerate(data) for leaf in _leaves(v, (*path, i))]
    return [path]


def random_mutation(base: str, rng: random.Random) -> tuple[str, str]:
    data = tomllib.loads(base)
    path = rng.choice(_leaves(data))
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = rng.choice(BAD_VALUES)
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")
    return "\n".join(_dump(data)) + "\n", key


def write_special(kind: str, tmp: Path) -> Path:
    path = tmp / f"{kind}.toml"
    if kind == "non-utf8":
        path.write_bytes(b'[lora]\nregion = "EU868\xff"\n')
    elif kind == "dev-zero":
        return Path("/dev/zero")
    elif kind == "fifo":
        import os

        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "oversized":
        path.write_bytes(b"# padding\n" * 200_000)
    elif kind == "nul-bytes":
        path.write_bytes(b"[monitor]\x00\ninterval_s = 5\n")
    return path


def judge(path: Path, key: str | None, *, run_s: float) -> Outcome:
    """Load and preflight ``path`` as ``wisgate run`` does; if accepted, run it for ``run_s``."""
    try:
        config = load_config(path)
        check_config(config, source=str(path))
    except ConfigError as exc:
        message = str(exc)
        if key is None or key in message:
            return Outcome("refused-naming-key", message)
        return Outcome("refused-other-wording", message)
    except Exception as exc:  # what would be a traceback
        return Outcome("traceback", f"{type(exc).__name__}: {exc}")
    return run_briefly(config, run_s)


def run_briefly(config: Config, seconds: float) -> Outcome:
    from wisgate.services.daemon import build_supervisor
    from wisgate.services.history import History
    from wisgate.target import open_target

    target = open_target("sim", realtime=True, addresses=config.board.addresses)
    target.apply_scenario(config.sim)
    history = History.open_or_none(config.history.path) if config.history.enabled and config.history.path else None
    try:
        supervisor = build_supervisor(target, config, history)

        async def main() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(seconds, stop.set)
            await supervisor.run(stop)

        asyncio.run(main())
    except Exception as exc:
        return Outcome("accepted-but-broken", f"start-up: {type(exc).__name__}: {exc}")
    finally:
        target.close()
        if history is not None:
            history.close()
    failed = [f"{s.name}: {s.last_error}" for s in supervisor.services if s.last_error]
    if failed:
        return Outcome("accepted-but-broken", "; ".join(failed))
    return Outcome("accepted-runs", "")


def known_bad_cases(tmp: Path) -> list[tuple[str, Path, str | None]]:
    (tmp / "file").write_text("not a directory\n")
    cases: list[tuple[str, Path, str | None]] = []
    for n, (text, key) in enumerate(KNOWN_BAD):
        path = tmp / f"bad{n:03d}.toml"
        path.write_text(text.replace("{tmp}", str(tmp)), encoding="utf-8")
        cases.append((f"bad{n:03d}", path, key))
    for kind in SPECIAL:
        cases.append((kind, write_special(kind, tmp), None))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--random", type=int, default=150, help="random mutations of the full config")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--run-s", type=float, default=1.5, help="how long an accepted file is run")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    tally: Counter[str] = Counter()
    random_tally: Counter[str] = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        base = base_config(tmp)
        assert judge(_write(tmp / "base.toml", base), None, run_s=args.run_s).kind == "accepted-runs"
        for name, path, key in known_bad_cases(tmp):
            outcome = judge(path, key, run_s=args.run_s)
            tally[outcome.kind] += 1
            if outcome.kind != "refused-naming-key":
                print(f"  {name}: {outcome.kind}: {outcome.detail}")
        rng = random.Random(args.seed)
        for n in range(args.random):
            text, key = random_mutation(base, rng)
            outcome = judge(_write(tmp / f"random{n:03d}.toml", text), key, run_s=args.run_s)
            random_tally[outcome.kind] += 1
            if outcome.kind in ("traceback", "accepted-but-broken", "refused-other-wording"):
                print(f"  random {n} ({key}): {outcome.kind}: {outcome.detail}")
    known = sum(tally.values())
    print(f"known-bad files: {known}; refused naming the key: {tally['refused-naming-key']}; "
          f"refused, other wording: {tally['refused-other-wording']}; tracebacks: {tally['traceback']}; "
          f"accepted: {tally['accepted-runs'] + tally['accepted-but-broken']}")
    print(f"random mutations: {args.random} (seed {args.seed}); refused naming the key: "
          f"{random_tally['refused-naming-key']}; refused, other wording: {random_tally['refused-other-wording']}; "
          f"tracebacks: {random_tally['traceback']}; accepted and ran {args.run_s} s with no service failing: "
          f"{random_tally['accepted-runs']}; accepted but broken: {random_tally['accepted-but-broken']}")
    print(f"total files: {known + args.random}; tracebacks: {tally['traceback'] + random_tally['traceback']}; "
          f"accepted-but-broken: {tally['accepted-but-broken'] + random_tally['accepted-but-broken']}; "
          f"{time.perf_counter() - started:.1f} s")
    if tally["traceback"] + random_tally["traceback"] + tally["accepted-but-broken"] + \
            random_tally["accepted-but-broken"] + tally["accepted-runs"]:
        sys.exit(1)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
