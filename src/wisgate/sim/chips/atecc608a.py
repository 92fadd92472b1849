"""ATECC608A secure element model (0x60): wake/idle/sleep, command packets, P-256 and SHA-256.

Sources (summarised in docs chips.md "ATECC608A"): the ATECC608A datasheet's I2C interface chapter
(wake, word addresses, packets, status codes, watchdog), its command chapter (Info, Read, Random,
Nonce, GenKey, Sign, Verify, SHA) and its configuration-zone map; timings from cryptoauthlib.

Wake: the silicon wakes when SDA is held low for at least 60 µs. A host makes that pulse by
addressing 0x00 (nothing ACKs it) at 100 kHz: the START and the eight zero bits keep SDA low
for about 85 µs. The model cannot see the line, so :meth:`ATECC608AModel.on_bus_activity` is
registered as a listener of the simulated bus and treats any message addressed to 0x00 as the
pulse (bus speed is not checked: at 400 kHz real silicon would need a slower pulse).

Modelled: states asleep / idle / awake, the wake delay, NACK while asleep, idle, waking or
executing, the output buffer with a read pointer kept across transactions (word address 0x00
rewinds it), the watchdog (ChipMode bit 2: 1.3 s or 13 s from wake; status 0xEE when a command
would not finish before it), CRC-16 checks (status 0xFF), parse errors (0x03), execution
errors (0x0F). Commands: Info, Read, Random, Nonce, GenKey, Sign (external message), Verify
(external key), SHA-256. Other opcodes answer 0x03 as for an opcode the chip does not know.
The model clears TempKey after Sign and Verify use it, so a host must load it for each.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from enum import Enum
from typing import TYPE_CHECKING

from wisgate.bus.i2c import Message
from wisgate.clock import SimClock
from wisgate.crc import crc16_atca
from wisgate.sim.device import DataNack, I2CModel

if TYPE_CHECKING:
    # cryptography (megabytes of native code) is imported by the commands that compute, so a simulated
    # board whose secure element is only read (serial, config) does not load it
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

#: Typical wake-high delay (tWHI): the datasheet's maximum is 1.5 ms, which drivers wait; real parts
#: are ready sooner (Adafruit's driver waits 1 ms and works).
WAKE_DELAY = 0.0008
#: Watchdog by ChipMode bit 2.
WATCHDOG_SHORT = 1.3
WATCHDOG_LONG = 13.0
#: Input/output buffer of the I2C interface, bytes.
IO_BUFFER = 155

OK = 0x00
MISCOMPARE = 0x01
PARSE_ERROR = 0x03
EXECUTION_ERROR = 0x0F
AFTER_WAKE = 0x11
WATCHDOG_ABOUT_TO_EXPIRE = 0xEE
COMMS_ERROR = 0xFF

OP_READ = 0x02
OP_NONCE = 0x16
OP_RANDOM = 0x1B
OP_INFO = 0x30
OP_GENKEY = 0x40
OP_SIGN = 0x41
OP_VERIFY = 0x45
OP_SHA = 0x47

#: Typical execution times at ChipMode M0, seconds: below cryptoauthlib's maxima and below the
#: fixed waits of Adafruit's driver (Info 1, Read 5, Random 23, Nonce 7, SHA 47, GenKey 115, Sign 70 ms).
EXEC_TIME: dict[int, float] = {
    OP_INFO: 0.0004,
    OP_READ: 0.0008,
    OP_RANDOM: 0.012,
    OP_NONCE: 0.004,
    OP_SHA: 0.003,
    OP_GENKEY: 0.060,
    OP_SIGN: 0.050,
    OP_VERIFY: 0.058,
}

REVISION = bytes([0x00, 0x00, 0x60, 0x02])
SLOT_SIZES = (36,) * 8 + (416,) + (72,) * 7
#: Private-key slots of the default configuration.
KEY_SLOTS = range(5)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# SlotConfig of a key slot: ReadKey 0x3 (external and internal signatures), IsSecret,
# WriteConfig 0x2 (GenKey may create the key, PrivWrite may not).
SLOT_CONFIG_KEY = 0x2083
# KeyConfig of a key slot: Private, PubInfo, KeyType 4 (P-256), Lockable.
KEY_CONFIG_P256 = 0x0033
# KeyConfig of a data slot: KeyType 7 (not an ECC key), Lockable.
KEY_CONFIG_DATA = 0x003C


class State(Enum):
    ASLEEP = "asleep"
    IDLE = "idle"
    AWAKE = "awake"


class _Status(Exception):
    """A command ends with a status packet instead of data."""

    def __init__(self, code: int) -> None:
        super().__init__(f"status 0x{code:02X}")
        self.code = code


def response_packet(data: bytes) -> bytes:
    """count, data, CRC-16 (little-endian) over count and data."""
    body = bytes([len(data) + 3]) + data
    return body + crc16_atca(body).to_bytes(2, "little")


def default_config(serial: bytes) -> bytearray:
    """A provisioned part: config and data zones locked, slots 0-4 P-256 keys made by GenKey."""
    if len(serial) != 9 or serial[:2] != b"\x01\x23" or serial[8] != 0xEE:
        raise ValueError(f"ATECC608A serial must be 9 bytes 01 23 .. EE, got {serial.hex()}")
    config = bytearray(128)
    config[0:4] = serial[0:4]
    config[4:8] = REVISION
    config[8:13] = serial[4:9]
    config[13] = 0x01  # AES enabled
    config[14] = 0x01  # I2C interface
    config[16] = 0xC0  # I2C address 0x60, shifted
    for slot in range(16):
        slot_config = SLOT_CONFIG_KEY if slot in KEY_SLOTS else 0x0000
        key_config = KEY_CONFIG_P256 if slot in KEY_SLOTS else KEY_CONFIG_DATA
        config[20 + 2 * slot : 22 + 2 * slot] = slot_config.to_bytes(2, "little")
        config[96 + 2 * slot : 98 + 2 * slot] = key_config.to_bytes(2, "little")
    for counter in (52, 60):  # monotonic counters at zero
        config[counter : counter + 8] = b"\xff\xff\xff\xff\x00\x00\x00\x00"
    config[86] = 0x00  # LockValue: data and OTP zones locked
    config[87] = 0x00  # LockConfig: config zone locked
    config[88:90] = b"\xff\xff"  # SlotLocked: no slot locked on its own
    return config


def serial_from_seed(seed: int) -> bytes:
    """A 9-byte serial number in Microchip's shape (01 23 .. EE), the same for the same seed."""
    middle = random.Random(f"atecc608a-serial-{seed}").randbytes(6)
    return b"\x01\x23" + middle + b"\xee"


class ATECC608AModel(I2CModel):
    part = "ATECC608A"

    def __init__(
        self,
        clock: SimClock,
        address: int = 0x60,
        *,
        serial: bytes | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(clock, address)
        self._rng: Callable[[int], bytes] = random.Random(seed).randbytes if seed is not None else os.urandom
        self.config = default_config(serial or serial_from_seed(seed or 0))
        #: EEPROM contents (0xFF as erased: a key slot holding no valid private key).
        self.slots = [bytearray(b"\xff" * size) for size in SLOT_SIZES]
        self.otp = bytearray(b"\xff" * 64)
        self.power_on_reset()

    # -- volatile state -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Asleep, idle or awake, as of now (the watchdog may have fired since the last transfer)."""
        self._tick()
        return self._state

    def power_on_reset(self) -> None:
        self._state = State.ASLEEP
        self._lose_volatile()
        self.ready_at = 0.0
        self.watchdog_at = float("inf")
        self.busy_until = 0.0
        self._pending: bytes | None = None
        self._word: int | None = None
        self._fresh = False
        self._packet = bytearray()

    def _lose_volatile(self) -> None:
        self.tempkey: bytes | None = None
        self._sha: hashes.Hash | None = None
        self.output = b""
        self.read_pointer = 0

    @property
    def watchdog_period(self) -> float:
        return WATCHDOG_LONG if self.config[19] & 0x04 else WATCHDOG_SHORT

    def _tick(self) -> None:
        """Bring the state up to now: finish a command, let the watchdog fire."""
        now = self.clock.monotonic()
        if self._pending is not None and now >= self.busy_until:
            self.output, self.read_pointer, self._pending = self._pending, 0, None
        if self._state is State.AWAKE and now >= self.watchdog_at:
            self._go_to_sleep()

    def _go_to_sleep(self) -> None:
        self._state = State.ASLEEP
        self._lose_volatile()
        self._pending = None

    # -- wake pulse -----------------------------------------------------------------------------

    def on_bus_activity(self, messages: Sequence[Message]) -> None:
        """Bus listener: a message to 0x00 holds SDA low long enough to wake the chip."""
        if any(message.address == 0x00 for message in messages):
            self.wake_pulse()

    def wake_pulse(self) -> None:
        self._tick()
        if self._state is State.AWAKE:
            return  # an awake chip ignores the pulse and keeps its output buffer
        now = self.clock.monotonic()
        if self._state is State.ASLEEP:
            self._lose_volatile()
        self._state = State.AWAKE
        self.ready_at = now + WAKE_DELAY
        self.watchdog_at = now + self.watchdog_period
        self.output = response_packet(bytes([AFTER_WAKE]))
        self.read_pointer = 0

    # -- I2C ------------------------------------------------------------------------------------

    def ack_address(self, read: bool) -> bool:
        self._end_message()
        self._tick()
        now = self.clock.monotonic()
        if self._state is not State.AWAKE or now < self.ready_at or now < self.busy_until:
            return False
        self._fresh = not read
        return True

    def write(self, data: bytes) -> None:
        for index, byte in enumerate(data):
            if self._fresh:
                self._fresh = False
                if byte > 0x03:
                    raise DataNack(index)
                self._word = byte
                self._packet.clear()
                if byte == 0x00:
                    self.read_pointer = 0
            elif self._word == 0x03:
                if len(self._packet) >= IO_BUFFER:
                    raise DataNack(index)
                self._packet.append(byte)

    def read(self, length: int) -> bytes:
        start = self.read_pointer
        data = self.output[start : start + length]
        self.read_pointer = min(len(self.output), start + length)
        return data + b"\xff" * (length - len(data))

    def stop(self) -> None:
        self._end_message()

    def _end_message(self) -> None:
        """A STOP or repeated START ends a write: act on its word address."""
        word, self._word = self._word, None
        if word == 0x01:
            self._go_to_sleep()
        elif word == 0x02:
            self._state = State.IDLE  # TempKey, SHA context and RNG state survive idle
            self.output, self.read_pointer = b"", 0
        elif word == 0x03:
            self._command(bytes(self._packet))
            self._packet.clear()

    # -- commands -------------------------------------------------------------------------------

    def _command(self, packet: bytes) -> None:
        now = self.clock.monotonic()
        self.output, self.read_pointer = b"", 0
        duration = 0.0
        if not _intact(packet):
            result = bytes([COMMS_ERROR])
        else:
            opcode, param1 = packet[1], packet[2]
            param2 = int.from_bytes(packet[3:5], "little")
            data = packet[5:-2]
            handler = self._handlers().get(opcode)
            if handler is None:
                result = bytes([PARSE_ERROR])
            elif now + EXEC_TIME[opcode] > self.watchdog_at:
                result = bytes([WATCHDOG_ABOUT_TO_EXPIRE])
            else:
                duration = EXEC_TIME[opcode]
                try:
                    result = handler(param1, param2, data)
                except _Status as status:
                    result = bytes([status.code])
        self._pending = response_packet(result)
        self.busy_until = now + duration
        self._tick()

    def _handlers(self) -> dict[int, Callable[[int, int, bytes], bytes]]:
        return {
            OP_INFO: self._info,
            OP_READ: self._read,
            OP_RANDOM: self._random,
            OP_NONCE: self._nonce,
            OP_GENKEY: self._genkey,
            OP_SIGN: self._sign,
            OP_VERIFY: self._verify,
            OP_SHA: self._sha_command,
        }

    def _info(self, mode: int, param2: int, data: bytes) -> bytes:
        _expect(not data)
        if mode == 0x00:
            return bytes(self.config[4:8])
        if mode == 0x01:  # KeyValid
            _expect(param2 < 16)
            return bytes([0, 0, 0, int(self._private_scalar(param2) is not None)])
        raise _Status(PARSE_ERROR)

    def _read(self, zone_mode: int, param2: int, data: bytes) -> bytes:
        _expect(not data and zone_mode & 0x7C == 0)
        length = 32 if zone_mode & 0x80 else 4
        zone = zone_mode & 0x03
        block, offset = (param2 >> 3) & 0x1F, param2 & 0x07
        start = block * 32 + (0 if length == 32 else offset * 4)
        if zone == 0:
            _expect(start + length <= len(self.config))
            return bytes(self.config[start : start + length])
        if zone == 1:
            _expect(start + length <= len(self.otp))
            if self.config[86] != 0x00:
                raise _Status(EXECUTION_ERROR)  # OTP readable once the data zone is locked
            return bytes(self.otp[start : start + length])
        _expect(zone == 2)
        slot = (param2 >> 8) & 0x0F
        contents = self.slots[slot]
        _expect(start + length <= len(contents))
        slot_config = self._slot_config(slot)
        if self.config[86] != 0x00 or slot_config & 0x80 or slot_config & 0x40:
            raise _Status(EXECUTION_ERROR)  # unlocked zone, secret or encrypted-read slot
        return bytes(contents[start : start + length])

    def _random(self, mode: int, param2: int, data: bytes) -> bytes:
        _expect(mode in (0x00, 0x01) and not data)
        if self.config[87] != 0x00:
            return b"\xff\xff\x00\x00" * 8  # the documented fixed pattern until the config is locked
        return self._rng(32)

    def _nonce(self, mode: int, param2: int, data: bytes) -> bytes:
        _expect(param2 == 0)
        if mode == 0x03:  # pass-through: the host's 32 bytes become TempKey
            _expect(len(data) == 32)
            self.tempkey = data
            return bytes([OK])
        _expect(mode in (0x00, 0x01) and len(data) == 20)
        rand_out = self._rng(32)
        self.tempkey = _sha256(rand_out + data + bytes([OP_NONCE, mode, param2 & 0xFF]))
        return rand_out

    def _genkey(self, mode: int, slot: int, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec

        _expect(mode in (0x00, 0x04) and slot < 16 and len(data) in (0, 3))
        key_config = self._key_config(slot)
        if not key_config & 0x01 or (key_config >> 2) & 0x07 != 4:
            raise _Status(EXECUTION_ERROR)  # not a P-256 private key slot
        if mode == 0x04:
            if self.config[86] == 0x00 and not (
                self._slot_config(slot) & 0x2000 and self._slot_unlocked(slot)
            ):
                raise _Status(EXECUTION_ERROR)
            key = self._new_private_key()
            self.slots[slot][0:36] = bytes(4) + key.private_numbers().private_value.to_bytes(32, "big")
        else:
            scalar = self._private_scalar(slot)
            if scalar is None:
                raise _Status(EXECUTION_ERROR)
            key = ec.derive_private_key(scalar, ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")

    def _sign(self, mode: int, slot: int, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

        _expect(mode == 0x80 and slot < 16 and not data)
        scalar = self._private_scalar(slot)
        if self.tempkey is None or scalar is None or not self._slot_config(slot) & 0x01:
            raise _Status(EXECUTION_ERROR)
        digest, self.tempkey = self.tempkey, None
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def _verify(self, mode: int, key_type: int, data: bytes) -> bytes:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

        _expect(mode == 0x02 and key_type == 0x0004 and len(data) == 128)
        if self.tempkey is None:
            raise _Status(EXECUTION_ERROR)
        digest, self.tempkey = self.tempkey, None
        r, s = int.from_bytes(data[0:32], "big"), int.from_bytes(data[32:64], "big")
        x, y = int.from_bytes(data[64:96], "big"), int.from_bytes(data[96:128], "big")
        try:
            public_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except ValueError:
            raise _Status(EXECUTION_ERROR) from None  # not a point on the curve
        try:
            public_key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            return bytes([MISCOMPARE])
        return bytes([OK])

    def _sha_command(self, mode: int, length: int, data: bytes) -> bytes:
        step, target = mode & 0x07, mode & 0xC0
        _expect(mode & 0x38 == 0 and len(data) == length)
        _expect(
            (step == 0x00 and length == 0)
            or (step == 0x01 and length == 64)
            or (step == 0x02 and length <= 63 and target in (0x00, 0xC0))
        )
        if step == 0x00:
            from cryptography.hazmat.primitives import hashes

            self._sha = hashes.Hash(hashes.SHA256())
            return bytes([OK])
        if self._sha is None:
            raise _Status(EXECUTION_ERROR)  # no context: Start was not run, or it was lost
        self._sha.update(data)
        if step == 0x01:
            return bytes([OK])
        digest = self._sha.finalize()
        self._sha = None
        if target == 0x00:
            self.tempkey = digest
        return digest

    # -- configuration and keys -----------------------------------------------------------------

    def _slot_config(self, slot: int) -> int:
        return int.from_bytes(self.config[20 + 2 * slot : 22 + 2 * slot], "little")

    def _key_config(self, slot: int) -> int:
        return int.from_bytes(self.config[96 + 2 * slot : 98 + 2 * slot], "little")

    def _slot_unlocked(self, slot: int) -> bool:
        return bool(int.from_bytes(self.config[88:90], "little") >> slot & 1)

    def _private_scalar(self, slot: int) -> int | None:
        """The slot's private key, or None if it holds none (erased EEPROM is not a valid scalar)."""
        key_config = self._key_config(slot)
        if not key_config & 0x01 or (key_config >> 2) & 0x07 != 4:
            return None
        scalar = int.from_bytes(self.slots[slot][4:36], "big")
        return scalar if 0 < scalar < P256_ORDER else None

    def install_key(self, slot: int, scalar: int) -> None:
        """Put a private key in ``slot`` as provisioning would (the simulated board's kept identity)."""
        if not 0 < scalar < P256_ORDER:
            raise ValueError(f"slot {slot}: not a P-256 private key")
        self.slots[slot][0:36] = bytes(4) + scalar.to_bytes(32, "big")

    def private_keys(self) -> dict[int, int]:
        """slot -> private scalar of every slot holding a P-256 key (to keep the identity)."""
        return {slot: scalar for slot in range(16) if (scalar := self._private_scalar(slot)) is not None}

    def _new_private_key(self) -> ec.EllipticCurvePrivateKey:
        from cryptography.hazmat.primitives.asymmetric import ec

        while True:
            scalar = int.from_bytes(self._rng(32), "big")
            if 0 < scalar < P256_ORDER:
                return ec.derive_private_key(scalar, ec.SECP256R1())


def _intact(packet: bytes) -> bool:
    """The count byte matches what arrived and the CRC-16 matches the bytes before it."""
    return (
        len(packet) >= 7
        and packet[0] == len(packet)
        and crc16_atca(packet[:-2]) == int.from_bytes(packet[-2:], "little")
    )


def _expect(condition: bool) -> None:
    if not condition:
        raise _Status(PARSE_ERROR)


def _sha256(data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()
