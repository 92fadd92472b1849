"""ATECC608A driver against its model: wake, packets and CRCs, status codes, watchdog, P-256, SHA-256."""

from __future__ import annotations

import hashlib
import types

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from wisgate.chips.atecc608a import (
    ATECC608A,
    OP_GENKEY,
    OP_NONCE,
    OP_SHA,
    OP_SIGN,
    STATUS_ERRORS,
    CommsError,
    ExecutionError,
    MiscompareError,
    ParseError,
    WatchdogAboutToExpire,
    build_packet,
    check_response,
)
from wisgate.crc import crc16_atca
from wisgate.errors import BusTimeoutError, CrcError, NoDeviceError
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.atecc608a import ATECC608AModel, State

ADDRESS = 0x60
WAKE_TOKEN = bytes.fromhex("04113343")


@pytest.fixture
def se(board: SimBoard) -> ATECC608A:
    return ATECC608A(board.bus, clock=board.clock)


def model(board: SimBoard) -> ATECC608AModel:
    chip = board.models["secure_element"]
    assert isinstance(chip, ATECC608AModel)
    return chip


def public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    x, y = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def verify_locally(raw_key: bytes, digest: bytes, signature: bytes) -> None:
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public_key(raw_key).verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


# -- packets -------------------------------------------------------------------------------------


def test_info_packet_matches_the_documented_bytes() -> None:
    assert build_packet(0x30) == bytes.fromhex("07 30 00 00 00 03 5D")
    assert crc16_atca(WAKE_TOKEN[:2]).to_bytes(2, "little") == WAKE_TOKEN[2:]


def test_status_and_data_responses_pass_the_crc_check() -> None:
    assert check_response(WAKE_TOKEN) == b"\x11"
    assert check_response(bytes.fromhex("07 00 00 60 02 80 38")) == bytes.fromhex("00006002")


@given(st.binary(min_size=1, max_size=64), st.data())
def test_any_single_bit_error_in_a_response_is_caught(data: bytes, draw: st.DataObject) -> None:
    body = bytes([len(data) + 3]) + data
    packet = bytearray(body + crc16_atca(body).to_bytes(2, "little"))
    assert check_response(bytes(packet)) == data
    bit = draw.draw(st.integers(min_value=0, max_value=len(packet) * 8 - 1))
    packet[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CrcError):
        check_response(bytes(packet))


def test_packet_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="155"):
        build_packet(OP_SHA, 1, 200, bytes(200))
    with pytest.raises(ValueError):
        build_packet(0x100)


# -- wake, idle, sleep ---------------------------------------------------------------------------


def test_chip_sleeps_at_power_up_and_nacks_its_address(board: SimBoard) -> None:
    with pytest.raises(NoDeviceError, match="0x60"):
        board.bus.read(ADDRESS, 4)
    assert ADDRESS not in board.bus.scan()


def test_wake_pulse_then_wake_token_after_the_wake_delay(board: SimBoard) -> None:
    with pytest.raises(NoDeviceError):  # nothing acknowledges 0x00: the pulse is the point
        board.bus.write(0x00, b"\x00")
    with pytest.raises(NoDeviceError):  # still waking
        board.bus.read(ADDRESS, 4)
    board.advance(0.0015)
    assert board.bus.read(ADDRESS, 4) == WAKE_TOKEN
    assert model(board).state is State.AWAKE


def test_idle_and_sleep_nack_and_wake_again(board: SimBoard, se: ATECC608A) -> None:
    se.wake()
    se.idle()
    with pytest.raises(NoDeviceError):
        board.bus.read(ADDRESS, 4)
    se.wake()
    se.sleep()
    assert model(board).state is State.ASLEEP
    with pytest.raises(NoDeviceError):
        board.bus.write(ADDRESS, b"\x00")


def test_awake_chip_ignores_a_wake_pulse_and_keeps_its_response(board: SimBoard, se: ATECC608A) -> None:
    se.wake()
    se.send(build_packet(0x30))
    board.advance(0.005)
    with pytest.raises(NoDeviceError):
        board.bus.write(0x00, b"\x00")
    board.advance(0.002)
    assert board.bus.read(ADDRESS, 7) == bytes.fromhex("07 00 00 60 02 80 38")


def test_driver_recovers_a_chip_left_awake(board: SimBoard, se: ATECC608A) -> None:
    se.wake()
    board.bus.read(ADDRESS, 4)  # the wake token is consumed: a second wake reads 0xFF
    assert se.revision() == bytes.fromhex("00006002")


# -- identity ------------------------------------------------------------------------------------


def test_serial_number_is_in_config_and_per_board(board: SimBoard, se: ATECC608A) -> None:
    serial = se.serial_number()
    assert len(serial) == 9 and serial[:2] == b"\x01\x23" and serial[8] == 0xEE
    config = se.read_config()
    assert config.serial_number == serial
    again = SimBoard()
    assert ATECC608A(again.bus, clock=again.clock).serial_number() == serial
    other = SimBoard(seed=7)
    assert ATECC608A(other.bus, clock=other.clock).serial_number() != serial


def test_config_zone_of_a_provisioned_part(se: ATECC608A) -> None:
    config = se.read_config()
    assert len(config.raw) == 128
    assert config.revision == bytes.fromhex("00006002")
    assert config.i2c_address == 0x60 and config.raw[16] == 0xC0
    assert config.raw[12] == 0xEE
    assert config.config_locked and config.data_locked
    assert config.watchdog_s == 1.3
    assert se.read_config_word(0x15) == config.raw[84:88]  # Adafruit's "locked" word


def test_revision(se: ATECC608A) -> None:
    assert se.revision() == bytes.fromhex("00006002")


def test_cryptoauthlib_and_adafruit_read_patterns(board: SimBoard, se: ATECC608A) -> None:
    expected = bytes.fromhex("07 00 00 60 02 80 38")
    se.wake()
    se.send(build_packet(0x30))
    board.advance(0.001)
    # cryptoauthlib: word address 0x00, count byte, then the rest in a second transaction
    board.bus.write(ADDRESS, b"\x00")
    count = board.bus.read(ADDRESS, 1)
    assert count + board.bus.read(ADDRESS, count[0] - 1) == expected
    # Adafruit: the whole packet in one read (after a rewind here, as the buffer is kept)
    board.bus.write(ADDRESS, b"\x00")
    assert board.bus.read(ADDRESS, 7) == expected


# -- busy and errors -----------------------------------------------------------------------------


def test_nack_while_executing_then_the_response(board: SimBoard, se: ATECC608A) -> None:
    se.wake()
    se.send(build_packet(OP_GENKEY, 0x04, 0))
    with pytest.raises(NoDeviceError):
        board.bus.read(ADDRESS, 1)
    board.advance(0.030)
    with pytest.raises(NoDeviceError):
        board.bus.write(ADDRESS, b"\x00")
    board.advance(0.085)
    assert board.bus.read(ADDRESS, 1) == b"\x43"  # 64-byte public key + count + CRC


def test_commands_take_their_execution_time(board: SimBoard, se: ATECC608A) -> None:
    se.generate_key(0)
    start = board.clock.monotonic()
    se.sign_digest(bytes(32), 0)
    elapsed = board.clock.monotonic() - start
    assert 0.050 <= elapsed < 0.115  # Sign (typical 50 ms) plus Nonce, wake and bus time


def test_corrupted_response_is_reread_once_then_a_crc_error(board: SimBoard, se: ATECC608A) -> None:
    board.bus.faults.corrupt(ADDRESS, count=1)
    se.wake()  # the wake token is read in one 4-byte read: it takes the corruption
    assert board.bus.faults.per_address[ADDRESS] == []
    se.idle()
    board.bus.faults.corrupt(ADDRESS, count=1)
    assert se.revision() == bytes.fromhex("00006002")  # re-read after the rewind
    with se.session():  # awake: the corruption hits the response, read twice
        board.bus.faults.corrupt(ADDRESS, count=None)
        with pytest.raises(CrcError, match="0x60: response CRC"):
            se.revision()
        board.bus.faults.clear()
    board.bus.faults.corrupt(ADDRESS, count=None)
    with pytest.raises(CrcError, match="0x60"):  # every wake token garbled too
        se.revision()
    board.bus.faults.clear()
    assert se.revision() == bytes.fromhex("00006002")


def test_command_with_a_bad_crc_gets_status_ff(se: ATECC608A) -> None:
    packet = bytearray(build_packet(0x30))
    packet[-1] ^= 0x40
    se.wake()
    se.send(bytes(packet))
    assert se.receive() == b"\xff"
    with pytest.raises(CommsError, match="0xFF"):
        se._run(0x30, bytes(packet))


def test_parse_errors(se: ATECC608A) -> None:
    with pytest.raises(ParseError, match="0x03"):
        se.execute(0x12, 0x00, 0x0000, bytes(4))  # Write: not in the model
    with pytest.raises(ParseError):
        se.execute(OP_SHA, 0x01, 32, bytes(32))  # an update is one 64-byte block
    with pytest.raises(ParseError):
        se.execute(OP_NONCE, 0x03, 0, bytes(20))  # pass-through takes 32 bytes


def test_missing_key_and_unreadable_slots_are_execution_errors(board: SimBoard, se: ATECC608A) -> None:
    with pytest.raises(ExecutionError):
        se.public_key(1)  # erased slot: no valid private key
    with pytest.raises(ExecutionError):
        se.generate_key(5)  # a data slot
    with pytest.raises(ExecutionError):
        se.execute(0x02, 0x82, 0 << 8)  # secret key slot 0 is not readable
    assert se.execute(0x02, 0x82, 9 << 8) == b"\xff" * 32  # a data slot reads in the clear


def test_read_zones_and_bounds(se: ATECC608A) -> None:
    config = se.read_config().raw
    assert se.execute(0x02, 0x80, 3 << 3) == config[96:128]  # 32-byte read of block 3
    assert se.execute(0x02, 0x00, 31) == config[124:128]  # last 4-byte word
    assert se.execute(0x02, 0x81, 1 << 3) == b"\xff" * 32  # OTP block 1
    with pytest.raises(ParseError):
        se.execute(0x02, 0x80, 4 << 3)  # past the 128-byte config zone
    with pytest.raises(ParseError):
        se.execute(0x02, 0x82, (0 << 8) | (2 << 3))  # slot 0 is 36 bytes: no block 2
    assert se.execute(0x30, 0x01, 0) == bytes(4)  # Info KeyValid: slot 0 empty
    se.generate_key(0)
    assert se.execute(0x30, 0x01, 0) == bytes([0, 0, 0, 1])


def test_vanished_chip_raises_no_device(board: SimBoard, se: ATECC608A) -> None:
    board.bus.faults.vanish(ADDRESS)
    with pytest.raises(NoDeviceError, match="0x60"):
        se.serial_number()


def test_nack_glitches_are_retried_and_timeouts_surface(board: SimBoard, se: ATECC608A) -> None:
    board.bus.faults.nack(ADDRESS, count=2)
    assert se.revision() == bytes.fromhex("00006002")
    board.bus.faults.timeout(ADDRESS, count=1)
    with pytest.raises(BusTimeoutError):
        se.revision()


# -- watchdog ------------------------------------------------------------------------------------


def test_watchdog_puts_the_chip_to_sleep_losing_tempkey(board: SimBoard, se: ATECC608A) -> None:
    se.generate_key(0)
    with se.session():
        se.load_tempkey(bytes(32))
        board.advance(1.3)
        assert model(board).state is State.ASLEEP
        with pytest.raises(NoDeviceError):
            board.bus.read(ADDRESS, 1)
        with pytest.raises(ExecutionError):  # the driver wakes it again; TempKey is gone
            se.execute(OP_SIGN, 0x80, 0)


def test_idle_stops_the_watchdog_and_keeps_tempkey(board: SimBoard, se: ATECC608A) -> None:
    se.generate_key(0)
    se.load_tempkey(hashlib.sha256(b"idle").digest())  # ends with idle
    board.advance(5.0)
    signature = se.execute(OP_SIGN, 0x80, 0)
    verify_locally(se.public_key(0), hashlib.sha256(b"idle").digest(), signature)


def test_long_watchdog_by_chipmode(board: SimBoard, se: ATECC608A) -> None:
    model(board).config[19] |= 0x04
    se.wake()
    board.advance(5.0)
    board.bus.write(ADDRESS, b"\x00")  # rewind: the wake token is still there
    assert board.bus.read(ADDRESS, 4) == WAKE_TOKEN
    board.advance(8.0)
    assert model(board).state is State.ASLEEP


def test_watchdog_about_to_expire_refuses_a_command(board: SimBoard, se: ATECC608A) -> None:
    se.generate_key(0)
    se.wake()
    board.advance(1.27)  # 30 ms left: too little for a 50 ms Sign
    se.send(build_packet(0x30))  # Info fits (under 1 ms)
    assert se.receive() == bytes.fromhex("00006002")
    se.send(build_packet(OP_SIGN, 0x80, 0))
    assert se.receive() == b"\xee"
    assert STATUS_ERRORS[0xEE] is WatchdogAboutToExpire


def test_long_sessions_rewake_before_the_watchdog(board: SimBoard, se: ATECC608A) -> None:
    se.generate_key(0)
    digest = hashlib.sha256(b"late").digest()
    with se.session():
        se.load_tempkey(digest)
        board.advance(1.2)
        signature = se.execute(OP_SIGN, 0x80, 0)  # idled and woken first: TempKey kept
        assert model(board).watchdog_at > board.clock.monotonic() + 1.0
    verify_locally(se.public_key(0), digest, signature)


def test_sha256_of_data_longer_than_one_watchdog_period(board: SimBoard, se: ATECC608A) -> None:
    data = bytes(range(256)) * 100  # 400 blocks at ~5 ms each
    start = board.clock.monotonic()
    assert se.sha256(data) == hashlib.sha256(data).digest()
    assert board.clock.monotonic() - start > 1.3


def test_sleep_loses_the_sha_context_idle_keeps_it(se: ATECC608A) -> None:
    se.execute(OP_SHA, 0x00)  # each execute ends in idle
    se.execute(OP_SHA, 0x01, 64, bytes(64))
    assert se.execute(OP_SHA, 0x02, 0) == hashlib.sha256(bytes(64)).digest()
    se.execute(OP_SHA, 0x00)
    se.wake()
    se.sleep()
    with pytest.raises(ExecutionError):
        se.execute(OP_SHA, 0x02, 0)


# -- crypto --------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 55, 63, 64, 65, 128, 200])
def test_sha256_matches_hashlib(se: ATECC608A, length: int) -> None:
    data = bytes((i * 7 + length) & 0xFF for i in range(length))
    assert se.sha256(data) == hashlib.sha256(data).digest()


def test_random_is_32_fresh_bytes(se: ATECC608A) -> None:
    first, second = se.random(), se.random()
    assert len(first) == 32 and first != second


def test_generated_key_signs_and_the_signature_verifies(se: ATECC608A) -> None:
    public = se.generate_key(2)
    assert se.public_key(2) == public
    digest = hashlib.sha256(b"wisgate").digest()
    signature = se.sign_digest(digest, slot=2)
    verify_locally(public, digest, signature)
    assert se.verify(digest, signature, public)


def test_verify_miscompare(se: ATECC608A) -> None:
    public = se.generate_key(0)
    digest = hashlib.sha256(b"message").digest()
    signature = se.sign_digest(digest, 0)
    assert not se.verify(hashlib.sha256(b"other").digest(), signature, public)
    with se.session():
        se.load_tempkey(digest)
        bad = bytes([signature[0] ^ 1]) + signature[1:]
        with pytest.raises(MiscompareError, match="0x01"):
            se.execute(0x45, 0x02, 0x0004, bad + public)


def test_random_nonce_sets_tempkey_to_the_documented_hash(se: ATECC608A) -> None:
    public = se.generate_key(1)
    num_in = bytes(range(20))
    with se.session():
        rand_out = se.nonce(num_in)
        signature = se.execute(OP_SIGN, 0x80, 1)
    verify_locally(public, hashlib.sha256(rand_out + num_in + b"\x16\x00\x00").digest(), signature)


def test_sign_without_tempkey_is_an_execution_error(se: ATECC608A) -> None:
    se.generate_key(0)
    with pytest.raises(ExecutionError):
        se.execute(OP_SIGN, 0x80, 0)


# -- Adafruit's driver on the model ---------------------------------------------------------------


def test_adafruit_atecc_reads_serial_and_hashes(board: SimBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    atecc_module = pytest.importorskip("adafruit_atecc.adafruit_atecc")
    adapters = pytest.importorskip("wisgate.bus.adapters")
    # its fixed waits (time.sleep) run on the simulated clock: the model must answer within them
    monkeypatch.setattr(atecc_module, "time", types.SimpleNamespace(sleep=board.clock.sleep))
    atecc = atecc_module.ATECC(adapters.BlinkaI2C(board.bus))
    ours = ATECC608A(board.bus, clock=board.clock)
    assert atecc.serial_number == ours.serial_number().hex().upper()
    assert atecc.version() >> 8 == 0x60
    assert atecc.locked
    message = bytes(range(64))
    atecc.sha_start()
    atecc.sha_update(message)
    assert bytes(atecc.sha_digest(bytearray(b"tail"))) == hashlib.sha256(message + b"tail").digest()


def test_adafruit_atecc_makes_a_key_and_signs(board: SimBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    atecc_module = pytest.importorskip("adafruit_atecc.adafruit_atecc")
    adapters = pytest.importorskip("wisgate.bus.adapters")
    monkeypatch.setattr(atecc_module, "time", types.SimpleNamespace(sleep=board.clock.sleep))
    atecc = atecc_module.ATECC(adapters.BlinkaI2C(board.bus))
    public = bytes(atecc.gen_key(bytearray(64), 1, private_key=True))
    digest = hashlib.sha256(b"adafruit").digest()
    signature = bytes(atecc.ecdsa_sign(1, bytearray(digest)))
    verify_locally(public, digest, signature)
    assert ATECC608A(board.bus, clock=board.clock).public_key(1) == public
