"""Settings of the board services that have more than an interval: the power-fail watch and the fan curve.

Light to import (no drivers, no simulator): the configuration schema is composed of these.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict

from wisgate.settings import PathSetting, Settings

Duty = Annotated[float, Field(ge=0, le=100)]
#: TOML writes a point as a two-element array.
CurvePoint = Annotated[tuple[float, Duty], Strict(False)]

DEFAULT_CURVE: tuple[tuple[float, float], ...] = ((45.0, 0.0), (50.0, 30.0), (60.0, 60.0), (70.0, 100.0))

#: The CPU temperature the closed loop holds. The BCM2711's firmware starts throttling the Arm cores at
#: 80 °C (progressively; Arm and GPU at its 85 °C limit) and the Pi 4 generation has no lower soft limit
#: (Raspberry Pi documentation, "Frequency management and thermal control"). The loop stays within 2 °C of
#: its target, so 65 °C peaks at 67 °C: 13 °C below the first throttling, with room for a load step while
#: the fan spins up; each degree held below that costs airflow (noise, bearing wear) and buys nothing.
DEFAULT_TARGET_C = 65.0
#: Full airflow at or above this whatever the loop says: 5 °C before the firmware throttles.
DEFAULT_CRITICAL_C = 75.0
#: The lowest duty a running fan keeps turning at (the simulated fan stops below 15 %; tune to yours).
DEFAULT_MIN_DUTY_PERCENT = 16.0


def check_curve(points: Any) -> Any:
    """A curve has at least two points in rising temperature order, duties 0-100 %."""
    temps = [t for t, _ in points]
    if len(points) < 2 or temps != sorted(temps) or len(set(temps)) != len(temps):
        raise ValueError("a fan curve needs at least two points in rising temperature order")
    if any(not 0 <= d <= 100 for _, d in points):
        raise ValueError("fan curve duties must be 0-100 %")
    return points


#: (CPU °C, duty %) points, rising temperatures; interpolated between them.
CurvePoints = Annotated[list[CurvePoint], AfterValidator(check_curve)]


def _argument_list(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError('must be a list of arguments, e.g. ["systemctl", "poweroff"] (no shell strings)')
    if isinstance(value, list | tuple) and (not value or not all(isinstance(a, str) and a for a in value)):
        raise ValueError("must be a non-empty list of non-empty arguments")
    return value


class PowerSettings(Settings):
    """The power-fail line (GPIO16): debounce, halt before the ultracapacitors run out, alarm."""

    #: An edge counts once the level has held this long (shorter micro-cuts are ignored).
    debounce_s: Annotated[float, Field(ge=0, le=5)] = 0.02
    #: Run the shutdown command if the supply stays lost this long; 0 = never.
    shutdown_after_s: Annotated[float, Field(ge=0, le=3600)] = 8.0
    #: An argument list (never run through a shell); not run on the simulated board.
    shutdown_command: Annotated[tuple[str, ...], Strict(False), BeforeValidator(_argument_list)] = (
        "systemctl", "poweroff",
    )
    #: The buzzer sounds an alarm on a loss (needs [buzzer] enabled and jumper J39 11-12).
    beep_on_loss: bool = True
    #: Optional supply measurement: no public source shows a divider on the board, so off by default.
    adc_channel: Annotated[int, Field(ge=0, le=3)] | None = None
    #: Input volts per volt at the ADC pin (e.g. 11 for a 100k/10k divider).
    divider_ratio: Annotated[float, Field(gt=0, le=1000)] = 1.0
    voltage_interval_s: Annotated[float, Field(ge=0.1, le=3600)] = 5.0
    #: Before the shutdown command runs, arm the RTC to wake the board this long after (needs the RTC's INT
    #: wired to the CM4's wake input, as on the RAK7391); None = no wake alarm.
    wake_after_s: Annotated[float, Field(ge=60, le=28 * 86_400)] | None = None
    #: Write the running outage here twice a second: after the board died on its ultracapacitors the
    #: next start reports how long it lasted (the hold-up time). Off by default.
    outage_record: PathSetting | None = None
