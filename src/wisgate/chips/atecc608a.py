"""Microchip ATECC608A secure element (0x60): serial number, random numbers, P-256 keys, ECDSA, SHA-256.

ATECC608A datasheet, I2C interface chapter (wake pulse, word addresses, command and response
packets with CRC-16, status codes, watchdog) and command chapter (Info, Read, Random, Nonce,
GenKey, Sign, Verify, SHA); configuration zone map. Execution times: cryptoauthlib's maxima at
ChipMode M0 (notes in chips.md "ATECC608A").

Every public method runs in a *session*: wake, commands, idle. Idle (not sleep) keeps TempKey
and the SHA context, so a Nonce and the Sign that uses it may sit in separate sessions, and the
watchdog (1.3 s from wake) only runs while a session is open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.clock import Clock
from wisgate.crc import crc16_atca
from wisgate.errors import ChipError, ChipTimeoutError, CrcError, NackError, NoDeviceError

T = TypeVar("T")

ADDRESS = 0x60
#: Addressing 0x00 at 100 kHz holds SDA low ≥ 60 µs: the wake pulse (nothing ACKs it).
WAKE_ADDRESS = 0x00
#: tWHI, the datasheet's maximum wake-high delay before the first transfer.
WAKE_DELAY = 0.0015
WAKE_RESPONSE = bytes.fromhex("04113343")
SELF_TEST_FAILED = bytes.fromhex("0407c440")

WORD_RESET = 0x00
WORD_SLEEP = 0x01
WORD_IDLE = 0x02
WORD_COMMAND = 0x03

OP_READ = 0x02
OP_NONCE = 0x16
OP_RANDOM = 0x1B
OP_INFO = 0x30
OP_GENKEY = 0x40
OP_SIGN = 0x41
OP_VERIFY = 0x45
OP_SHA = 0x47

ZONE_CONFIG = 0x00
READ_32 = 0x80
NONCE_PASSTHROUGH = 0x03
GENKEY_PRIVATE = 0x04
GENKEY_PUBLIC = 0x00
SIGN_EXTERNAL = 0x80
VERIFY_EXTERNAL = 0x02
KEY_TYPE_P256 = 0x0004
SHA_START = 0x00
SHA_UPDATE = 0x01
SHA_END = 0x02
SHA_BLOCK = 64

#: (first wait, maximum) execution time per opcode, seconds: the maximum is cryptoauthlib's at M0;
#: after the first wait the driver polls until the maximum plus :data:`POLL_MARGIN`.
EXEC_TIME: dict[int, tuple[float, float]] = {
    OP_INFO: (0.001, 0.005),
    OP_READ: (0.001, 0.005),
    OP_RANDOM: (0.010, 0.023),
    OP_NONCE: (0.004, 0.020),
    OP_SHA: (0.003, 0.036),
    OP_GENKEY: (0.050, 0.115),
    OP_SIGN: (0.045, 0.115),
    OP_VERIFY: (0.050, 0.105),
}
DEFAULT_EXEC_TIME = (0.005, 0.250)
POLL_INTERVAL = 0.002
POLL_MARGIN = 0.020
#: How long the chip may NACK a command write (it was still finishing something) before we give up.
SEND_TIMEOUT = 0.010
MAX_PACKET = 155
#: Seconds of the watchdog (≈1.3 s from wake with ChipMode's short setting) a session may use before
#: the driver idles and wakes the chip again; the rest is margin for the watchdog's tolerance.
WATCHDOG_BUDGET = 1.0


class ATECCStatusError(ChipError):
    """The chip answered a command with a status code instead of data."""

    status = -1
    meaning = "unknown status"

    def __init__(self, opcode: int, *, status: int | None = None, address: int | None = None) -> None:
        if status is not None:
            self.status = status
        super().__init__(
            f"command 0x{opcode:02X} failed with status 0x{self.status:02X} ({self.meaning})",
            chip="ATECC608A",
            address=address,
        )
        self.opcode = opcode


class MiscompareError(ATECCStatusError):
    status, meaning = 0x01, "Verify or CheckMac miscompare"


class ParseError(ATECCStatusError):
    status, meaning = 0x03, "parse error: bad opcode, mode, parameter or length"


class EccFaultError(ATECCStatusError):
    status, meaning = 0x05, "ECC fault"


class SelfTestError(ATECCStatusError):
    status, meaning = 0x07, "self-test error"


class HealthTestError(ATECCStatusError):
    status, meaning = 0x08, "random number generator health-test error"


class ExecutionError(ATECCStatusError):
    status, meaning = 0x0F, "execution error: not allowed by the configuration, or no key/TempKey"


class UnexpectedWakeError(ATECCStatusError):
    status, meaning = 0x11, "the chip just woke: the command was lost"


class WatchdogAboutToExpire(ATECCStatusError):
    status, meaning = 0xEE, "watchdog about to expire: command not started"


class CommsError(ATECCStatusError):
    status, meaning = 0xFF, "the chip received a packet with a bad CRC or length"


STATUS_ERRORS: dict[int, type[ATECCStatusError]] = {
    cls.status: cls
    for cls in (
        MiscompareError, ParseError, EccFaultError, SelfTestError, HealthTestError,
        ExecutionError, UnexpectedWakeError, WatchdogAboutToExpire, CommsError,
    )
}

#: Info mode 0 (RevNum) bytes 2-3 per part; byte 2 alone names the family.
PARTS = {0x5000: "ATECC508A", 0x6002: "ATECC608A", 0x6003: "ATECC608B"}
FAMILIES = {0x50: "ATECC508", 0x60: "ATECC608"}


def build_packet(opcode: int, param1: int = 0, param2: int = 0, data: bytes = b"") -> bytes:
    """count, opcode, param1, param2 (LE), data, CRC-16 (LE) over everything before it."""
    if not (0 <= opcode <= 0xFF and 0 <= param1 <= 0xFF and 0 <= param2 <= 0xFFFF):
        raise ValueError(f"opcode 0x{opcode:X} / param1 0x{param1:X} / param2 0x{param2:X} out of range")
    count = 7 + len(data)
    if count > MAX_PACKET:
        raise ValueError(f"ATECC608A command packet of {count} bytes exceeds {MAX_PACKET}")
    body = bytes([count, opcode, param1]) + param2.to_bytes(2, "little") + bytes(data)
    return body + crc16_atca(body).to_bytes(2, "little")


def check_response(packet: bytes, *, address: int | None = None) -> bytes:
    """The data of a response packet after its CRC check (a status packet is returned as its 1 byte)."""
    if len(packet) < 4 or packet[0] != len(packet):
        raise CrcError(f"response length {len(packet)} does not match its count byte", chip="ATECC608A",
                       address=address)
    expected = crc16_atca(packet[:-2])
    received = int.from_bytes(packet[-2:], "little")
    if received != expected:
        raise CrcError(
            f"response CRC 0x{received:04X} does not match its {len(packet) - 3} data bytes "
            f"(expected 0x{expected:04X})",
            chip="ATECC608A",
            address=address,
        )
    return packet[1:-2]


@dataclass(frozen=True)
class ConfigZone:
    """The 128-byte configuration zone, decoded where the suite uses it."""

    raw: bytes

    @property
    def serial_number(self) -> bytes:
        return self.raw[0:4] + self.raw[8:13]

    @property
    def revision(self) -> bytes:
        return self.raw[4:8]

    @property
    def i2c_address(self) -> int:
        return self.raw[16] >> 1

    @property
    def watchdog_s(self) -> float:
        return 13.0 if self.raw[19] & 0x04 else 1.3

    @property
    def config_locked(self) -> bool:
        return self.raw[87] == 0x00

    @property
    def data_locked(self) -> bool:
        return self.raw[86] == 0x00


def part_name(revision: bytes) -> str:
    """``ATECC608A`` for 00 00 60 02; the family with the revision for parts not listed."""
    if len(revision) != 4:
        raise ValueError(f"a revision is 4 bytes, got {revision.hex()}")
    known = PARTS.get(int.from_bytes(revision[2:4], "big"))
    if known:
        return known
    family = FAMILIES.get(revision[2], "unknown part")
    return f"{family} (revision {revision.hex()})"


class ATECC608A(I2CDevice):
    chip = "ATECC608A"

    def __init__(self, bus: I2CBus, address: int = ADDRESS, *, clock: Clock | None = None) -> None:
        super().__init__(bus, address, clock=clock)
        self._sessions = 0
        self._woke_at = float("-inf")

    # -- power states ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Wake the chip and check its wake token; an already awake chip is idled and woken afresh."""
        response = b""
        for _ in range(2):
            with contextlib.suppress(NackError):
                self.bus.write(WAKE_ADDRESS, b"\x00")
            self.clock.sleep(WAKE_DELAY)
            response = self.poll_while_nack(lambda: self.read(4), timeout=0.005, interval=0.001, what="wake")
            if response == WAKE_RESPONSE:
                self._woke_at = self.clock.monotonic()
                return
            if response == SELF_TEST_FAILED:
                raise SelfTestError(0x00, address=self.address)
            # awake already (a session left open, the buffer holds an old response) or a garbled
            # read: idle and wake again for a clean start
            self.idle()
        check_response(response, address=self.address)  # a garbled token is a CrcError
        raise ChipError(f"wake response {response.hex()} is not 04113343", chip=self.chip, address=self.address)

    def idle(self) -> None:
        """Idle: low power, watchdog stopped, TempKey and SHA context kept."""
        self.write([WORD_IDLE])

    def sleep(self) -> None:
        """Sleep: lowest power, volatile state (TempKey, SHA context) lost."""
        self.write([WORD_SLEEP])

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Keep the chip awake for the commands inside; idle it at the end (nesting is fine)."""
        if self._sessions == 0:
            self.wake()
        self._sessions += 1
        try:
            yield
        finally:
            self._sessions -= 1
            if self._sessions == 0:
                with contextlib.suppress(NackError):  # a failure here would hide the one that got us here
                    self.idle()

    # -- packets --------------------------------------------------------------------------------

    def send(self, packet: bytes) -> None:
        """Write a command packet (from :func:`build_packet`) after word address 0x03.

        A chip that keeps NACKing has gone to sleep (its watchdog fired inside a session): wake it
        and send again, so the command runs and reports what was lost (no TempKey, no SHA context).
        """
        write = lambda: self.write(bytes([WORD_COMMAND]) + packet)  # noqa: E731
        try:
            self._poll(write, SEND_TIMEOUT, "command write")
        except ChipTimeoutError:
            self.wake()
            self._poll(write, SEND_TIMEOUT, "command write")

    def receive(self, timeout: float = DEFAULT_EXEC_TIME[1]) -> bytes:
        """Poll until the chip answers, then read and check its response (re-read once on a CRC error)."""
        self._poll(lambda: self.write([WORD_RESET]), timeout, "response")
        try:
            return self._read_packet()
        except CrcError:
            # the chip keeps its response until the next command: rewind and read it again
            self.write([WORD_RESET])
            return self._read_packet()

    def _read_packet(self) -> bytes:
        count = self.read(1)[0]
        if not 4 <= count <= MAX_PACKET:
            raise CrcError(f"response count byte {count} out of range", chip=self.chip, address=self.address)
        return check_response(bytes([count]) + self.read(count - 1), address=self.address)

    def _poll(self, action: Callable[[], T], timeout: float, what: str) -> T:
        deadline = self.clock.monotonic() + timeout
        while True:
            try:
                return action()
            except NoDeviceError as nack:
                if self.clock.monotonic() >= deadline:
                    raise ChipTimeoutError(
                        f"{what}: still NACKing after {timeout * 1000:.0f} ms", chip=self.chip, address=self.address
                    ) from nack
                self.clock.sleep(POLL_INTERVAL)

    def execute(self, opcode: int, param1: int = 0, param2: int = 0, data: bytes = b"") -> bytes:
        """Run one command; returns its response data, raises :class:`ATECCStatusError` subclasses."""
        packet = build_packet(opcode, param1, param2, data)
        with self.session():
            if self.clock.monotonic() + EXEC_TIME.get(opcode, DEFAULT_EXEC_TIME)[1] > self._woke_at + WATCHDOG_BUDGET:
                # a long session: re-wake before the watchdog could fire mid-command (idle keeps TempKey)
                with contextlib.suppress(NackError):
                    self.idle()
                self.wake()
            try:
                return self._run(opcode, packet)
            except WatchdogAboutToExpire:
                # the chip refused to start; a new wake restarts the watchdog (idle keeps TempKey)
                self.idle()
                self.wake()
                return self._run(opcode, packet)

    def _run(self, opcode: int, packet: bytes) -> bytes:
        first, maximum = EXEC_TIME.get(opcode, DEFAULT_EXEC_TIME)
        self.send(packet)
        self.clock.sleep(first)
        data = self.receive(timeout=maximum - first + POLL_MARGIN)
        if len(data) == 1 and data[0] != 0x00:
            error = STATUS_ERRORS.get(data[0])
            if error is None:
                raise ATECCStatusError(opcode, status=data[0], address=self.address)
            raise error(opcode, address=self.address)
        return data

    # -- commands -------------------------------------------------------------------------------

    def revision(self) -> bytes:
        """Info mode 0: 00 00 60 02 on an ATECC608A."""
        return self._expect_length(self.execute(OP_INFO, 0x00), 4, "Info")

    def read_config(self) -> ConfigZone:
        """The whole configuration zone (four 32-byte reads)."""
        with self.session():
            blocks = [self.execute(OP_READ, ZONE_CONFIG | READ_32, block << 3) for block in range(4)]
        return ConfigZone(self._expect_length(b"".join(blocks), 128, "config zone"))

    def read_config_word(self, word: int) -> bytes:
        """Four bytes of the configuration zone starting at byte ``4 * word``."""
        return self._expect_length(self.execute(OP_READ, ZONE_CONFIG, word), 4, "Read")

    def serial_number(self) -> bytes:
        """The 9-byte serial number (config bytes 0-3 and 8-12)."""
        with self.session():
            words = [self.read_config_word(word) for word in range(4)]
        raw = b"".join(words)
        return raw[0:4] + raw[8:13]

    def random(self) -> bytes:
        """32 bytes from the chip's random number generator."""
        return self._expect_length(self.execute(OP_RANDOM, 0x00), 32, "Random")

    def load_tempkey(self, value: bytes) -> None:
        """Nonce in pass-through mode: ``value`` (32 bytes) becomes TempKey."""
        if len(value) != 32:
            raise ValueError(f"TempKey takes 32 bytes, got {len(value)}")
        self.execute(OP_NONCE, NONCE_PASSTHROUGH, 0, value)

    def nonce(self, num_in: bytes) -> bytes:
        """Nonce in random mode: TempKey = SHA-256(RandOut ‖ NumIn ‖ 16 00 00); returns RandOut."""
        if len(num_in) != 20:
            raise ValueError(f"NumIn takes 20 bytes, got {len(num_in)}")
        return self._expect_length(self.execute(OP_NONCE, 0x00, 0, num_in), 32, "Nonce")

    def generate_key(self, slot: int) -> bytes:
        """Make a new P-256 private key in ``slot``; returns its public key X ‖ Y (64 bytes)."""
        return self._expect_length(self.execute(OP_GENKEY, GENKEY_PRIVATE, _slot(slot)), 64, "GenKey")

    def public_key(self, slot: int) -> bytes:
        """The public key X ‖ Y of the private key in ``slot`` (ExecutionError if it holds none)."""
        return self._expect_length(self.execute(OP_GENKEY, GENKEY_PUBLIC, _slot(slot)), 64, "GenKey")

    def sign_digest(self, digest: bytes, slot: int = 0) -> bytes:
        """ECDSA P-256 signature R ‖ S (64 bytes) of a 32-byte digest with the key in ``slot``."""
        with self.session():
            self.load_tempkey(_digest(digest))
            signature = self.execute(OP_SIGN, SIGN_EXTERNAL, _slot(slot))
        return self._expect_length(signature, 64, "Sign")

    def verify(self, digest: bytes, signature: bytes, public_key: bytes) -> bool:
        """Check R ‖ S over ``digest`` against the external public key X ‖ Y; False on a miscompare."""
        if len(signature) != 64 or len(public_key) != 64:
            raise ValueError("signature and public key are 64 bytes each (R‖S, X‖Y)")
        with self.session():
            self.load_tempkey(_digest(digest))
            try:
                self.execute(OP_VERIFY, VERIFY_EXTERNAL, KEY_TYPE_P256, signature + public_key)
            except MiscompareError:
                return False
        return True

    def sha256(self, data: bytes) -> bytes:
        """SHA-256 computed by the chip: Start, one Update per 64-byte block, End with the rest."""
        whole = len(data) // SHA_BLOCK * SHA_BLOCK
        with self.session():
            self.execute(OP_SHA, SHA_START)
            for offset in range(0, whole, SHA_BLOCK):
                self.execute(OP_SHA, SHA_UPDATE, SHA_BLOCK, data[offset : offset + SHA_BLOCK])
            rest = data[whole:]
            digest = self.execute(OP_SHA, SHA_END, len(rest), rest)
        return self._expect_length(digest, 32, "SHA end")

    def _expect_length(self, data: bytes, length: int, what: str) -> bytes:
        if len(data) != length:
            raise ChipError(f"{what} returned {len(data)} bytes, expected {length}", chip=self.chip,
                            address=self.address)
        return data


def _slot(slot: int) -> int:
    if not 0 <= slot <= 15:
        raise ValueError(f"ATECC608A slot {slot} does not exist (0-15)")
    return slot


def _digest(digest: bytes) -> bytes:
    if len(digest) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, got {len(digest)}")
    return bytes(digest)
