"""Microchip (SMSC) EMC2301 RPM-based PWM fan controller (0x2F), the board's fan connector.

Datasheet EMC2301 rev 1.1: register set §5 (Table 5.1), Fan Setting §5.7, PWM §5.4-5.8, Fan
Configuration 1/2 §5.9-5.10, Gain §5.11, Spin Up §5.12, TACH §5.17-5.18 (eq. 2 and 3), Software Lock
§5.19, IDs §5.20-5.22. Two ways to run the fan: direct drive (:meth:`EMC2301.set_duty`) or the chip's
own RPM loop (:meth:`EMC2301.set_target_rpm`), which it runs without the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.clock import Clock
from wisgate.errors import WrongChipError

ADDRESS = 0x2F
PRODUCT_ID = 0x37
MANUFACTURER_ID = 0x5D

CONFIG = 0x20
FAN_STATUS = 0x24
PWM_POLARITY = 0x2A
PWM_OUTPUT = 0x2B
PWM_BASE = 0x2D
FAN_SETTING = 0x30
PWM_DIVIDE = 0x31
FAN_CONFIG1 = 0x32
FAN_CONFIG2 = 0x33
GAIN = 0x35
SPIN_UP = 0x36
MAX_STEP = 0x37
MIN_DRIVE = 0x38
VALID_TACH = 0x39
DRIVE_FAIL_BAND_LOW = 0x3A
TACH_TARGET_LOW = 0x3C
TACH_TARGET_HIGH = 0x3D
TACH_READING_HIGH = 0x3E
TACH_READING_LOW = 0x3F
SOFTWARE_LOCK = 0xEF
PRODUCT_ID_REG = 0xFD

# Fan Configuration 1 fields
EN_ALGO = 0x80
RANGE_SHIFT, RANGE_MASK = 5, 0x60
EDGES_SHIFT, EDGES_MASK = 3, 0x18
UPDATE_MASK = 0x07
# Fan Configuration 2
EN_RRC = 0x40
# Configuration
WD_EN = 0x20

#: TACH count of a stopped fan (13 bits all ones).
TACH_STOPPED = 0x1FFF
TACH_CLOCK_HZ = 32_768

PWM_BASE_HZ = (26_000, 19_531, 4_882, 2_441)
#: Minimum reportable RPM per RANGE setting (the multiplier m is 1, 2, 4, 8).
RANGE_MIN_RPM = (500, 1000, 2000, 4000)
EDGES = (3, 5, 7, 9)
UPDATE_MS = (100, 200, 300, 400, 500, 800, 1200, 1600)
GAINS = (1, 2, 4, 8)
SPIN_LEVELS = (30, 35, 40, 45, 50, 55, 60, 65)
SPIN_UP_MS = (250, 500, 1000, 2000)
DRIVE_FAIL_COUNTS = (0, 16, 32, 64)


def duty_to_register(percent: float) -> int:
    """0-100 % → Fan Setting 0-255 (duty = value / 255, §5.7 eq. 1)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"fan duty {percent} % is outside 0-100 %")
    return round(percent * 255 / 100)


def register_to_duty(value: int) -> float:
    return value * 100 / 255


def join_count(high: int, low: int) -> int:
    """A 13-bit TACH value from its high byte and its low byte's bits 7:3."""
    return (high << 5) | (low >> 3)


def split_count(count: int) -> bytes:
    """A 13-bit TACH value as (low, high) bytes, in register order."""
    return bytes([(count & 0x1F) << 3, count >> 5])


def _index(value: int, table: tuple[int, ...], what: str) -> int:
    if value not in table:
        raise ValueError(f"{what} {value} is not one of {', '.join(map(str, table))}")
    return table.index(value)


@dataclass(frozen=True)
class FanConfig:
    """Fan Configuration 1 decoded: what every TACH conversion depends on."""

    fsc: bool
    multiplier: int
    edges: int
    update_ms: int

    @classmethod
    def decode(cls, value: int) -> FanConfig:
        return cls(
            fsc=bool(value & EN_ALGO),
            multiplier=1 << ((value & RANGE_MASK) >> RANGE_SHIFT),
            edges=EDGES[(value & EDGES_MASK) >> EDGES_SHIFT],
            update_ms=UPDATE_MS[value & UPDATE_MASK],
        )


def count_to_rpm(count: int, config: FanConfig, poles: int = 2) -> float:
    """Eq. 2: RPM = (n − 1) / poles × m × 32768 × 60 / count."""
    return (config.edges - 1) * config.multiplier * TACH_CLOCK_HZ * 60 / (poles * count)


def rpm_to_count(rpm: float, config: FanConfig, poles: int = 2) -> int:
    return round((config.edges - 1) * config.multiplier * TACH_CLOCK_HZ * 60 / (poles * rpm))


@dataclass(frozen=True)
class FanStatus:
    """Fan Status (§5.3); reading it clears WATCH and the bits whose condition has gone."""

    stalled: bool
    spin_up_failed: bool
    drive_failed: bool
    watchdog_fired: bool

    @property
    def ok(self) -> bool:
        return not (self.stalled or self.spin_up_failed or self.drive_failed or self.watchdog_fired)

    def problems(self) -> list[str]:
        names = {
            "stalled": self.stalled,
            "spin-up failed": self.spin_up_failed,
            "cannot reach target at full drive": self.drive_failed,
            "watchdog fired (fan at 100 %)": self.watchdog_fired,
        }
        return [name for name, present in names.items() if present]


@dataclass(frozen=True)
class FanReading:
    duty_percent: float
    rpm: float
    tach_count: int
    fsc: bool
    #: The RPM the chip's loop aims at (None in direct mode or with the target off).
    target_rpm: float | None


class EMC2301(I2CDevice):
    chip = "EMC2301"

    def __init__(self, bus: I2CBus, address: int = ADDRESS, *, clock: Clock | None = None, poles: int = 2) -> None:
        """``poles``: TACH pulses per fan revolution (2 for nearly every PC fan)."""
        super().__init__(bus, address, clock=clock)
        if poles not in (1, 2, 3, 4):
            raise ValueError(f"fan poles {poles} is not 1-4")
        self.poles = poles

    @classmethod
    def open(cls, bus: I2CBus, address: int = ADDRESS, *, clock: Clock | None = None, poles: int = 2) -> EMC2301:
        """The driver, after checking the product and manufacturer IDs."""
        device = cls(bus, address, clock=clock, poles=poles)
        device.check_id()
        return device

    def check_id(self) -> int:
        """The revision; raises :class:`WrongChipError` naming what answered instead."""
        product, manufacturer, revision = self.read_reg(PRODUCT_ID_REG, 3)
        if product != PRODUCT_ID or manufacturer != MANUFACTURER_ID:
            raise WrongChipError(
                f"product ID 0x{product:02X}, manufacturer 0x{manufacturer:02X} "
                f"(expected 0x{PRODUCT_ID:02X}, 0x{MANUFACTURER_ID:02X})",
                chip=self.chip,
                address=self.address,
            )
        return revision

    # ----- direct drive and PWM

    def set_duty(self, percent: float) -> None:
        """Direct drive at ``percent`` (switches the RPM loop off: the chip ignores it otherwise)."""
        value = duty_to_register(percent)
        self.enable_fsc(False)
        self.write_u8(FAN_SETTING, value)

    def read_duty(self) -> float:
        """The drive the chip applies now, in either mode, 0-100 %."""
        return register_to_duty(self.read_u8(FAN_SETTING))

    def set_pwm_frequency(self, base_hz: int, divide: int = 1) -> None:
        """PWM at ``base_hz`` (26000, 19531, 4882 or 2441) divided by ``divide`` (1-255)."""
        index = _index(base_hz, PWM_BASE_HZ, "PWM base frequency")
        if not 1 <= divide <= 255:
            raise ValueError(f"PWM divide {divide} is outside 1-255")
        self.write_u8(PWM_BASE, index)
        self.write_u8(PWM_DIVIDE, divide)

    def pwm_frequency(self) -> float:
        base, _, _, _, divide = self.read_reg(PWM_BASE, 5)
        return PWM_BASE_HZ[base & 0x03] / max(1, divide)

    def set_polarity(self, *, inverted: bool) -> None:
        self.write_u8(PWM_POLARITY, int(inverted))

    def set_output(self, *, push_pull: bool) -> None:
        """Push-pull or open-drain (the default; 4-wire fans pull their PWM input up)."""
        self.write_u8(PWM_OUTPUT, int(push_pull))

    # ----- TACH

    def config(self) -> FanConfig:
        return FanConfig.decode(self.read_u8(FAN_CONFIG1))

    def set_tach(self, *, min_rpm: int | None = None, edges: int | None = None) -> None:
        """RANGE (minimum reportable RPM 500/1000/2000/4000) and EDGES (3/5/7/9) of Fan Config 1."""
        mask = value = 0
        if min_rpm is not None:
            mask |= RANGE_MASK
            value |= _index(min_rpm, RANGE_MIN_RPM, "TACH range minimum RPM") << RANGE_SHIFT
        if edges is not None:
            mask |= EDGES_MASK
            value |= _index(edges, EDGES, "TACH edges") << EDGES_SHIFT
        if mask:
            self.update_u8(FAN_CONFIG1, mask, value)

    def read_tach_count(self) -> int:
        """The 13-bit count; one read of high then low byte, as reading the high byte latches the low."""
        high, low = self.read_reg(TACH_READING_HIGH, 2)
        return join_count(high, low)

    def reading(self) -> FanReading:
        """Drive, speed, mode and target from one 16-byte read of 0x30-0x3F (one bus transaction)."""
        block = self.read_reg(FAN_SETTING, 16)

        def at(register: int) -> int:
            return block[register - FAN_SETTING]

        config = FanConfig.decode(at(FAN_CONFIG1))
        count = join_count(at(TACH_READING_HIGH), at(TACH_READING_LOW))
        stopped = count >= TACH_STOPPED or count >> 5 > at(VALID_TACH)
        target = None
        if config.fsc and at(TACH_TARGET_HIGH) != 0xFF:
            target = count_to_rpm(join_count(at(TACH_TARGET_HIGH), at(TACH_TARGET_LOW)), config, self.poles)
        return FanReading(
            duty_percent=register_to_duty(at(FAN_SETTING)),
            rpm=0.0 if stopped else count_to_rpm(count, config, self.poles),
            tach_count=count,
            fsc=config.fsc,
            target_rpm=target,
        )

    def read_rpm(self) -> float:
        """Fan speed; 0 when the count shows a stopped fan (0x1FFF) or one slower than the valid count."""
        return self.reading().rpm

    def set_valid_tach_count(self, value: int) -> None:
        """Counts whose high byte exceeds ``value`` (0-255) mean a stalled fan."""
        if not 0 <= value <= 255:
            raise ValueError(f"valid TACH count {value} is outside 0-255")
        self.write_u8(VALID_TACH, value)

    def set_stall_rpm(self, rpm: float) -> None:
        """Below ``rpm`` the chip reports a stall (sets the valid TACH count for the current range)."""
        config = self.config()
        if rpm <= 0:
            raise ValueError(f"stall RPM {rpm} must be positive")
        count = rpm_to_count(rpm, config, self.poles)
        if count > TACH_STOPPED:
            floor = count_to_rpm(TACH_STOPPED, config, self.poles)
            raise ValueError(f"stall RPM {rpm} is below what the TACH range measures ({floor:.0f} RPM)")
        self.set_valid_tach_count(count >> 5)

    # ----- the chip's RPM loop (FSC)

    def enable_fsc(self, on: bool = True) -> None:
        self.update_u8(FAN_CONFIG1, EN_ALGO, EN_ALGO if on else 0)

    def set_target_rpm(self, rpm: float, *, enable: bool = True) -> None:
        """Target for the RPM loop (0 stops the fan); ``enable`` switches the loop on."""
        config = self.config()
        if rpm == 0:
            self.write_reg(TACH_TARGET_LOW, split_count(TACH_STOPPED))  # high byte FFh: drive 0 %
        else:
            if rpm < 0:
                raise ValueError(f"target {rpm} RPM is negative")
            count = rpm_to_count(rpm, config, self.poles)
            valid = self.read_u8(VALID_TACH)
            if count >> 5 > valid or count > TACH_STOPPED:
                slowest = count_to_rpm(min(TACH_STOPPED, (valid << 5) | 0x1F), config, self.poles)
                raise ValueError(
                    f"target {rpm} RPM is below the slowest valid speed ({slowest:.0f} RPM); "
                    "lower the stall RPM or the TACH range"
                )
            if count < 1:
                raise ValueError(f"target {rpm} RPM is above what the TACH counter resolves")
            # low byte first: writing the high byte applies the target
            self.write_reg(TACH_TARGET_LOW, split_count(count))
        if enable:
            self.enable_fsc(True)

    def set_update_period(self, ms: int) -> None:
        self.update_u8(FAN_CONFIG1, UPDATE_MASK, _index(ms, UPDATE_MS, "update period (ms)"))

    def set_gains(self, *, p: int = 4, i: int = 4, d: int = 4) -> None:
        """Loop gains, each 1, 2, 4 or 8 (reset: 4)."""
        value = (
            _index(d, GAINS, "derivative gain") << 4
            | _index(i, GAINS, "integral gain") << 2
            | _index(p, GAINS, "proportional gain")
        )
        self.write_u8(GAIN, value)

    def set_min_drive(self, percent: float) -> None:
        """The loop never drives below this (unless the target is 0)."""
        self.write_u8(MIN_DRIVE, duty_to_register(percent))

    def set_max_step(self, step: int) -> None:
        """Largest drive change per update period, 0-63 (of 255)."""
        if not 0 <= step <= 63:
            raise ValueError(f"max step {step} is outside 0-63")
        self.write_u8(MAX_STEP, step)

    def set_ramp_rate_control(self, on: bool) -> None:
        """In direct mode, move the drive by at most max step per update period."""
        self.update_u8(FAN_CONFIG2, EN_RRC, EN_RRC if on else 0)

    def configure_spin_up(
        self, *, level_percent: int = 60, time_ms: int = 500, kick: bool = True, drive_fail_updates: int = 0
    ) -> None:
        """Spin-up: optionally 100 % for a quarter of ``time_ms``, then ``level_percent`` (30-65 by 5).

        ``drive_fail_updates`` (0 = off, 16, 32, 64): update periods at full drive below target
        before the chip reports a drive failure.
        """
        value = (
            _index(drive_fail_updates, DRIVE_FAIL_COUNTS, "drive fail count") << 6
            | (0 if kick else 0x20)
            | _index(level_percent, SPIN_LEVELS, "spin-up level (%)") << 2
            | _index(time_ms, SPIN_UP_MS, "spin-up time (ms)")
        )
        self.write_u8(SPIN_UP, value)

    def set_drive_fail_band(self, counts: int) -> None:
        """TACH counts below target allowed at full drive before a drive failure counts."""
        if not 0 <= counts <= TACH_STOPPED:
            raise ValueError(f"drive fail band {counts} is outside 0-{TACH_STOPPED}")
        self.write_reg(DRIVE_FAIL_BAND_LOW, split_count(counts))

    # ----- status, watchdog, lock

    def status(self) -> FanStatus:
        """Reads Fan Status and the three detail registers (one transaction); clears what has gone."""
        summary = self.read_reg(FAN_STATUS, 4)[0]
        return FanStatus(
            stalled=bool(summary & 0x01),
            spin_up_failed=bool(summary & 0x02),
            drive_failed=bool(summary & 0x04),
            watchdog_fired=bool(summary & 0x80),
        )

    def set_watchdog(self, *, continuous: bool) -> None:
        """Continuous: 4 s without any bus traffic to the chip drives the fan at 100 %."""
        self.update_u8(CONFIG, WD_EN, WD_EN if continuous else 0)

    def lock(self) -> None:
        """Make the configuration registers read-only until the next power cycle."""
        self.write_u8(SOFTWARE_LOCK, 0x01)
