"""LoRaWAN 1.0.x frame security: MIC (AES-CMAC) and FRMPayload encryption (LoRaWAN 1.0.4 §4.3.3, §4.4, §6.2).

A gateway never holds session keys; these exist to verify our parser against published vectors
and to build realistic frames for simulated devices and tests (a simulated OTAA device opens its
join-accept and derives its session keys here).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from wisgate.lora.errors import ParseError
from wisgate.lora.frames.phy import DataFrame, FCtrl, JoinRequest, MType

KEY_LEN = 16
NO_FLAGS = FCtrl()


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise ValueError(f"AES-128 key must be 16 bytes, got {len(key)}")


def aes_cmac(key: bytes, message: bytes) -> bytes:
    _check_key(key)
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def _aes_ecb(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    _check_key(key)
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def _dir_block(first: int, uplink: bool, dev_addr: int, fcnt32: int, last: int) -> bytes:
    """The B0 / Ai block layout shared by MIC and encryption: tag, 4x00, Dir, DevAddr, FCnt, 0x00, last."""
    return (
        bytes((first, 0, 0, 0, 0, 0 if uplink else 1))
        + dev_addr.to_bytes(4, "little")
        + (fcnt32 & 0xFFFFFFFF).to_bytes(4, "little")
        + bytes((0, last))
    )


def data_mic(key: bytes, frame: DataFrame, *, fcnt_msb: int = 0) -> bytes:
    """MIC of a data frame under NwkSKey: CMAC(B0 | MHDR..FRMPayload)[0:4]; ``fcnt_msb`` restores 32-bit FCnt."""
    msg = frame.body()
    fcnt32 = (fcnt_msb << 16) | frame.fcnt
    b0 = _dir_block(0x49, frame.uplink, frame.dev_addr, fcnt32, len(msg))
    return aes_cmac(key, b0 + msg)[:4]


def join_request_mic(key: bytes, frame: JoinRequest) -> bytes:
    """MIC of a join-request under AppKey: CMAC(MHDR | JoinEUI | DevEUI | DevNonce)[0:4]."""
    return aes_cmac(key, frame.body())[:4]


def join_accept_mic(key: bytes, mhdr_and_plain_body: bytes) -> bytes:
    """MIC of a plaintext join-accept (MHDR | AppNonce | NetID | DevAddr | DLSettings | RxDelay | CFList)."""
    return aes_cmac(key, mhdr_and_plain_body)[:4]


def encrypt_join_accept(key: bytes, mhdr_and_plain_body: bytes) -> bytes:
    """Full join-accept PHYPayload: the network 'encrypts' with AES decrypt so devices only need encrypt."""
    mic = join_accept_mic(key, mhdr_and_plain_body)
    secret = mhdr_and_plain_body[1:] + mic
    if len(secret) not in (16, 32):
        raise ValueError(f"join-accept body + MIC is {len(secret)} bytes, must be 16 or 32")
    return mhdr_and_plain_body[:1] + _aes_ecb(key, secret, decrypt=True)


def decrypt_join_accept(key: bytes, phy_payload: bytes) -> bytes:
    """Inverse of :func:`encrypt_join_accept`: MHDR | plaintext body | MIC."""
    return phy_payload[:1] + _aes_ecb(key, phy_payload[1:])


@dataclass(frozen=True, slots=True)
class JoinAcceptFields:
    """A decrypted, MIC-checked join-accept (LoRaWAN 1.0.4 §6.2.6); multi-byte fields as on air."""

    app_nonce: bytes
    net_id: bytes
    dev_addr: int
    dl_settings: int
    rx_delay: int
    cf_list: bytes


def open_join_accept(app_key: bytes, phy_payload: bytes) -> JoinAcceptFields:
    """Decrypt a join-accept with AppKey and check its MIC; :class:`ParseError` says what is wrong."""
    if len(phy_payload) not in (17, 33) or phy_payload[0] >> 5 != MType.JOIN_ACCEPT:
        raise ParseError(f"a join-accept is 17 or 33 bytes with MType 1, got {len(phy_payload)} bytes")
    plain = decrypt_join_accept(app_key, phy_payload)
    body, mic = plain[:-4], plain[-4:]
    if join_accept_mic(app_key, body) != mic:
        raise ParseError("join-accept MIC does not match (another device's, or a wrong AppKey)")
    return JoinAcceptFields(
        app_nonce=body[1:4], net_id=body[4:7], dev_addr=int.from_bytes(body[7:11], "little"),
        dl_settings=body[11], rx_delay=body[12], cf_list=body[13:],
    )


def derive_session_keys(app_key: bytes, accept: JoinAcceptFields, dev_nonce: int) -> tuple[bytes, bytes]:
    """(NwkSKey, AppSKey) = aes128_encrypt(AppKey, 0x01 | 0x02, AppNonce, NetID, DevNonce, pad) (1.0.x §6.2.5)."""
    tail = accept.app_nonce + accept.net_id + dev_nonce.to_bytes(2, "little")
    pad = bytes(16 - 1 - len(tail))
    return _aes_ecb(app_key, b"\x01" + tail + pad), _aes_ecb(app_key, b"\x02" + tail + pad)


def crypt_frm_payload(key: bytes, payload: bytes, *, dev_addr: int, fcnt32: int, uplink: bool) -> bytes:
    """Encrypt or decrypt (the same XOR) an FRMPayload with the A_i keystream blocks."""
    if not payload:
        return b""
    blocks = (len(payload) + 15) // 16
    stream_in = b"".join(_dir_block(0x01, uplink, dev_addr, fcnt32, i) for i in range(1, blocks + 1))
    stream = _aes_ecb(key, stream_in)
    return bytes(p ^ s for p, s in zip(payload, stream, strict=False))


def build_data_frame(
    *,
    mtype: MType,
    dev_addr: int,
    fcnt32: int,
    nwk_skey: bytes,
    app_skey: bytes,
    payload: bytes = b"",
    fport: int | None = None,
    fctrl: FCtrl = NO_FLAGS,
    fopts: bytes = b"",
) -> DataFrame:
    """A complete, encrypted and MIC-signed data frame, as a device or network server would send it.

    FPort 0 carries MAC commands, encrypted with NwkSKey instead of AppSKey (LoRaWAN 1.0.4 §4.3.3).
    """
    if payload and fport is None:
        raise ValueError("a payload needs an FPort")
    frame = DataFrame(mtype=mtype, dev_addr=dev_addr, fcnt=fcnt32 & 0xFFFF, fctrl=fctrl, fopts=fopts, fport=fport)
    key = nwk_skey if fport == 0 else app_skey
    encrypted = crypt_frm_payload(key, payload, dev_addr=dev_addr, fcnt32=fcnt32, uplink=frame.uplink)
    frame = replace(frame, frm_payload=encrypted)
    return replace(frame, mic=data_mic(nwk_skey, frame, fcnt_msb=fcnt32 >> 16))


def build_join_request(*, join_eui: int, dev_eui: int, dev_nonce: int, app_key: bytes) -> JoinRequest:
    frame = JoinRequest(join_eui=join_eui, dev_eui=dev_eui, dev_nonce=dev_nonce)
    return replace(frame, mic=join_request_mic(app_key, frame))
