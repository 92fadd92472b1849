"""``/metrics`` in Prometheus text format 0.0.4, written without prometheus_client's per-sample checks.

``generate_latest`` validates and escapes every metric and label name of every sample (regular
expressions per line): for our ~100-line scrape that was half the CPU of a ``/metrics`` request, and
what kept 500 concurrent scrapers under the API's throughput goal. Our collectors only build gauges
and counters with names fixed in the code, so the names are checked once per family here and only
label values and help texts are escaped. The text is byte for byte what ``generate_latest`` writes
(tests/test_api_exposition.py); any other metric type or name falls back to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

#: prometheus_client's own number format (Go's), so the text stays identical; typed here
_number: Callable[[float], str] = floatToGoString

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PLAIN_TYPES = frozenset({"gauge", "counter"})


def render(registry: CollectorRegistry) -> bytes:
    families = list(registry.collect())
    out: list[str] = []
    for family in families:
        if family.type not in _PLAIN_TYPES or not _NAME.fullmatch(family.name):
            return generate_latest(registry)
        name = f"{family.name}_total" if family.type == "counter" else family.name
        out.append(f"# HELP {name} {_escape_help(family.documentation)}\n# TYPE {name} {family.type}\n")
        checked: set[str] = set()
        for sample in family.samples:
            if sample.name != name or sample.timestamp is not None or sample.exemplar is not None:
                return generate_latest(registry)  # _created samples, timestamps: the general writer
            if sample.labels:
                for key in sample.labels.keys() - checked:
                    if not _LABEL.fullmatch(key):
                        return generate_latest(registry)
                    checked.add(key)
                labels = ",".join(f'{key}="{_escape_label(value)}"' for key, value in sorted(sample.labels.items()))
                out.append(f"{name}{{{labels}}} {_number(sample.value)}\n")
            else:
                out.append(f"{name} {_number(sample.value)}\n")
    return "".join(out).encode()


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value
