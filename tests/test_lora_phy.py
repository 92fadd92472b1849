"""PHYPayload parsing/building and LoRaWAN 1.0 crypto against published vectors.

Vectors: brocaar/lorawan phypayload_test.go (base64 frames with keys 0x01../0x02..) and
anthonykirby/lora-packet MIC tests (NwkSKey 44024241..., AppKey 98929b92...).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.lora.errors import ParseError
from wisgate.lora.frames import crypto
from wisgate.lora.frames.netid import DevAddrPrefix, dev_addr_in_net, dev_addr_nwk_id, dev_addr_prefix, dev_addr_type
from wisgate.lora.frames.phy import (
    DataFrame,
    FCtrl,
    JoinAccept,
    JoinRequest,
    MType,
    Proprietary,
    RejoinRequest,
    parse,
)

KEY_01 = bytes([1] * 16)
KEY_02 = bytes([2] * 16)
LP_NWKSKEY = bytes.fromhex("44024241ed4ce9a68c6a8bc055233fd3")
LP_APPSKEY = bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc588")
LP_APPKEY = bytes.fromhex("98929b92c49edba9676d646d3b612456")


def test_brocaar_uplink_fields_mic_and_payload() -> None:
    raw = base64.b64decode("QAQDAgGAAQABppRkJhXWw7WC")
    frame = parse(raw)
    assert isinstance(frame, DataFrame)
    assert frame.mtype is MType.UNCONFIRMED_DATA_UP
    assert frame.dev_addr == 0x01020304
    assert frame.fcnt == 1
    assert frame.fctrl == FCtrl(adr=True)
    assert frame.fport == 1
    assert crypto.data_mic(KEY_02, frame) == frame.mic
    plain = crypto.crypt_frm_payload(KEY_01, frame.frm_payload, dev_addr=frame.dev_addr, fcnt32=1, uplink=True)
    assert plain == b"hello"
    assert frame.to_bytes() == raw


def test_brocaar_build_confirmed_uplink_matches_published_bytes() -> None:
    frame = crypto.build_data_frame(
        mtype=MType.CONFIRMED_DATA_UP,
        dev_addr=0x01020304,
        fcnt32=0,
        nwk_skey=bytes(range(1, 17)),
        app_skey=bytes(range(16, 0, -1)),
        payload=bytes([1, 2, 3, 4]),
        fport=10,
    )
    assert list(frame.to_bytes()) == [128, 4, 3, 2, 1, 0, 0, 0, 10, 226, 100, 212, 247, 181, 106, 14, 117]


def test_brocaar_join_request() -> None:
    raw = base64.b64decode("AAQDAgEEAwIBBQQDAgUEAwItEGqZDhI=")
    frame = parse(raw)
    assert isinstance(frame, JoinRequest)
    assert frame.join_eui == 0x0102030401020304
    assert frame.dev_eui == 0x0203040502030405
    assert frame.dev_nonce == 0x102D
    assert crypto.join_request_mic(KEY_01, frame) == frame.mic
    built = crypto.build_join_request(
        join_eui=0x0101010101010101, dev_eui=0x0202020202020202, dev_nonce=0x0303, app_key=bytes(range(1, 17))
    )
    assert list(built.to_bytes()[-4:]) == [9, 185, 123, 50]


def test_brocaar_join_accept_encrypt_and_decrypt() -> None:
    key = bytes.fromhex("00112233445566778899aabbccddeeff")
    # MHDR | AppNonce 570bc7 (LE c70b57) | NetID 221101 | DevAddr 02031980 | DLSettings | RxDelay
    plain = bytes.fromhex("20") + bytes([199, 11, 87]) + bytes([1, 17, 34]) + bytes([128, 25, 3, 2]) + b"\x00\x00"
    wire = crypto.encrypt_join_accept(key, plain)
    assert wire.hex() == "20493eeb51fba2116f810edb3742975142"
    frame = parse(wire)
    assert isinstance(frame, JoinAccept)
    assert crypto.decrypt_join_accept(key, frame.to_bytes())[-4:] == bytes([67, 72, 91, 188])


def test_lora_packet_uplink_mic_and_decryption() -> None:
    frame = parse(bytes.fromhex("40F17DBE4900020001954378762B11FF0D"))
    assert isinstance(frame, DataFrame)
    assert frame.dev_addr == 0x49BE7DF1
    assert frame.fcnt == 2
    assert crypto.data_mic(LP_NWKSKEY, frame).hex() == "2b11ff0d" == frame.mic.hex()
    payload = crypto.crypt_frm_payload(LP_APPSKEY, frame.frm_payload, dev_addr=frame.dev_addr, fcnt32=2, uplink=True)
    assert payload == b"test"


def test_lora_packet_wrong_mic_is_detected() -> None:
    frame = parse(bytes.fromhex("40F17DBE49000300012A3518AA"))
    assert isinstance(frame, DataFrame)
    assert crypto.data_mic(LP_NWKSKEY, frame).hex() == "2a3518af" != frame.mic.hex()


def test_lora_packet_downlink_ack_mic() -> None:
    frame = parse(bytes.fromhex("60f17dbe4920020001f9d65d27"))
    assert isinstance(frame, DataFrame)
    assert frame.mtype is MType.UNCONFIRMED_DATA_DOWN
    assert frame.fctrl.ack
    assert (frame.fport, frame.frm_payload) == (1, b"")
    assert crypto.data_mic(LP_NWKSKEY, frame).hex() == "f9d65d27"


def test_lora_packet_port0_and_join_request_mics() -> None:
    port0 = parse(bytes.fromhex("4006DC00FCC07400000244925050"))
    assert isinstance(port0, DataFrame)
    assert port0.fport == 0
    assert port0.fctrl.adr and port0.fctrl.adr_ack_req
    assert crypto.data_mic(bytes.fromhex("581c4d08ef04cda30b1fef7a8b2c74b8"), port0).hex() == "44925050"
    join = parse(bytes.fromhex("0039363463336913AA05693574323831330489C65B1304"))
    assert isinstance(join, JoinRequest)
    assert crypto.join_request_mic(LP_APPKEY, join).hex() == "c65b1304"


def test_fopts_and_downlink_fpending() -> None:
    frame = DataFrame(
        mtype=MType.CONFIRMED_DATA_DOWN,
        dev_addr=0x26011234,
        fcnt=0xBEEF,
        fctrl=FCtrl(ack=True, f_pending=True),
        fopts=b"\x02\x05\x01",
    )
    raw = frame.to_bytes()
    assert raw[5] == 0x20 | 0x10 | 3
    assert parse(raw) == frame


def test_fcnt_msb_changes_the_mic() -> None:
    frame = crypto.build_data_frame(
        mtype=MType.UNCONFIRMED_DATA_UP,
        dev_addr=1,
        fcnt32=0x10005,
        nwk_skey=KEY_02,
        app_skey=KEY_01,
        payload=b"x",
        fport=2,
    )
    assert frame.fcnt == 5
    assert crypto.data_mic(KEY_02, frame, fcnt_msb=1) == frame.mic
    assert crypto.data_mic(KEY_02, frame, fcnt_msb=0) != frame.mic


def test_long_payload_uses_several_keystream_blocks() -> None:
    data = bytes(range(40))
    enc = crypto.crypt_frm_payload(KEY_01, data, dev_addr=7, fcnt32=9, uplink=False)
    assert enc != data and len(enc) == 40
    assert enc[16:32] != crypto.crypt_frm_payload(KEY_01, data[16:32], dev_addr=7, fcnt32=9, uplink=False)
    assert crypto.crypt_frm_payload(KEY_01, enc, dev_addr=7, fcnt32=9, uplink=False) == data


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (bytes.fromhex("40010203"), "shorter than"),
        (bytes.fromhex("40F17DBE4905020001954378"), "FOptsLen 5"),
        (bytes.fromhex("0001"), "join-request is 2 bytes"),
        (bytes.fromhex("20") + bytes(10), "join-accept is 11 bytes"),
        (bytes.fromhex("41") + bytes(12), "major version 1"),
        (bytes.fromhex("C0") + bytes(5), "rejoin-request is 6 bytes"),
        (bytes.fromhex("4001020304010000") + b"\x03\x00\x01" + bytes(4), "FPort 0 with FOptsLen"),
        (bytes.fromhex("44") + bytes(12), "RFU bits"),
    ],
)
def test_parse_errors_name_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(raw)


def test_proprietary_and_rejoin_are_kept_raw() -> None:
    prop = parse(b"\xe0hello")
    assert prop == Proprietary(b"hello")
    rejoin = parse(b"\xc0" + bytes(range(18)))
    assert isinstance(rejoin, RejoinRequest)
    assert rejoin.mic == bytes(range(14, 18))
    assert rejoin.to_bytes() == b"\xc0" + bytes(range(18))


def test_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse(b"")


@given(st.binary(max_size=300))
def test_parse_never_raises_anything_but_parse_error(raw: bytes) -> None:
    try:
        frame = parse(raw)
    except ParseError:
        return
    assert frame.to_bytes() == raw


data_frames = st.builds(
    lambda mtype, addr, fcnt, fctrl_bits, fopts, fport, payload, mic: DataFrame(
        mtype=mtype,
        dev_addr=addr,
        fcnt=fcnt,
        fctrl=FCtrl.from_byte(fctrl_bits, uplink=mtype.uplink),
        fopts=b"" if fport == 0 else fopts,
        fport=fport,
        frm_payload=payload if fport is not None else b"",
        mic=mic,
    ),
    st.sampled_from(
        [MType.UNCONFIRMED_DATA_UP, MType.CONFIRMED_DATA_UP, MType.UNCONFIRMED_DATA_DOWN, MType.CONFIRMED_DATA_DOWN]
    ),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xF0),
    st.binary(max_size=15),
    st.none() | st.integers(0, 255),
    st.binary(max_size=222),
    st.binary(min_size=4, max_size=4),
)


@given(data_frames)
def test_data_frame_round_trip(frame: DataFrame) -> None:
    assert parse(frame.to_bytes()) == frame


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 0xFFFF))
def test_join_request_round_trip(join_eui: int, dev_eui: int, nonce: int) -> None:
    frame = crypto.build_join_request(join_eui=join_eui, dev_eui=dev_eui, dev_nonce=nonce, app_key=KEY_01)
    assert parse(frame.to_bytes()) == frame
    assert crypto.join_request_mic(KEY_01, frame) == frame.mic


def test_ttn_net_id_prefix() -> None:
    prefix = dev_addr_prefix(0x000013)
    assert prefix == DevAddrPrefix(0x26000000, 7)
    assert str(prefix) == "26000000/7"
    assert dev_addr_in_net(0x26011234, 0x000013)
    assert dev_addr_in_net(0x27FFFFFF, 0x000013)
    assert not dev_addr_in_net(0x28000000, 0x000013)
    assert dev_addr_type(0x26011234) == 0
    assert dev_addr_nwk_id(0x26011234) == 0x13


@pytest.mark.parametrize(
    ("net_id", "length", "addr_type"),
    [(0x000000, 7, 0), (0x200001, 8, 1), (0x400005, 12, 2), (0x600010, 15, 3), (0xC00050, 22, 6), (0xE0003F, 25, 7)],
)
def test_prefix_length_and_type_per_net_id_type(net_id: int, length: int, addr_type: int) -> None:
    prefix = dev_addr_prefix(net_id)
    assert prefix.length == length
    assert dev_addr_type(prefix.value) == addr_type
    bits = (6, 6, 9, 11, 12, 13, 15, 17)[addr_type]
    assert dev_addr_nwk_id(prefix.value) == net_id & ((1 << bits) - 1)


def test_dev_addr_without_type_is_rejected() -> None:
    with pytest.raises(ParseError, match="no NetID type"):
        dev_addr_type(0xFF000000)


def test_downlink_rfu_bit_round_trips() -> None:
    raw = b"`\x00\x00\x00\x00`\x00\x00\x00\x00\x00\x00"  # found by hypothesis: FCtrl 0x60 on a downlink
    frame = parse(raw)
    assert frame.to_bytes() == raw


def test_a_join_accept_opens_with_the_app_key_and_yields_the_session_keys() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from wisgate.lora.errors import ParseError
    from wisgate.lora.frames.crypto import derive_session_keys, encrypt_join_accept, open_join_accept

    app_key = bytes(range(16))
    plain = bytes([0x20]) + b"\x01\x02\x03" + b"\x13\x00\x00" + (0x26011BDA).to_bytes(4, "little") + b"\x00\x01"
    accept = open_join_accept(app_key, encrypt_join_accept(app_key, plain))
    assert (accept.app_nonce, accept.net_id, accept.dev_addr, accept.rx_delay) == (b"\x01\x02\x03", b"\x13\x00\x00",
                                                                                  0x26011BDA, 1)
    nwk, app = derive_session_keys(app_key, accept, 0xBEEF)

    def aes(block: bytes) -> bytes:  # written out here, not taken from the module under test
        encryptor = Cipher(algorithms.AES(app_key), modes.ECB()).encryptor()
        return encryptor.update(block) + encryptor.finalize()

    assert nwk == aes(b"\x01\x01\x02\x03\x13\x00\x00\xef\xbe" + bytes(7))
    assert app == aes(b"\x02\x01\x02\x03\x13\x00\x00\xef\xbe" + bytes(7))
    with pytest.raises(ParseError, match="MIC"):
        open_join_accept(bytes(16), encrypt_join_accept(app_key, plain))
    with pytest.raises(ParseError, match="17 or 33 bytes"):
        open_join_accept(app_key, b"\x20" + bytes(10))
