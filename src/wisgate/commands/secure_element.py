"""``wisgate secure-element``: the ATECC608A's identity and lock state; ``--sign FILE`` signs a file.

The file's SHA-256 is computed here (the chip would take seconds per megabyte over I2C), signed in
the chip with the P-256 key of ``--slot`` (Nonce pass-through into TempKey, then Sign), and the
signature is checked with the slot's public key before it is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target

if TYPE_CHECKING:
    from wisgate.chips.atecc608a import ATECC608A


@click.command("secure-element")
@bus_options
@click.option("--sign", "sign_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="Sign the SHA-256 of FILE with the key in --slot.")
@click.option("--slot", type=click.IntRange(0, 15), default=0, show_default=True,
              help="Key slot to sign with (a P-256 private key slot).")
def command(target: Target, sign_path: Path | None, slot: int) -> None:
    """Serial number, revision and lock state of the ATECC608A; --sign FILE signs a file."""
    # the chip's wake, command, wait and answer must not meet a running daemon's use of it
    with target.exclusive():
        _show(target, sign_path, slot)


def _show(target: Target, sign_path: Path | None, slot: int) -> None:
    import hashlib

    from wisgate.chips.atecc608a import ATECC608A, part_name
    from wisgate.errors import NoDeviceError

    data = _read(sign_path) if sign_path is not None else None
    address = target.addresses["secure_element"]
    chip = ATECC608A(target.bus, address, clock=target.clock)
    try:
        config = chip.read_config()
    except NoDeviceError as exc:
        raise click.ClickException(f"no ATECC608A answers at 0x{address:02X} after a wake pulse ({exc})") from None
    console.print(f"secure element on {target.description}: {part_name(config.revision)} at 0x{address:02X}")
    click.echo(f"  serial number  {config.serial_number.hex().upper()}")
    click.echo(f"  revision       {config.revision.hex(' ')}")
    click.echo(f"  config zone    {'locked' if config.config_locked else 'unlocked'}")
    click.echo(f"  data zone      {'locked' if config.data_locked else 'unlocked'}")
    if data is None:
        return
    digest = hashlib.sha256(data).digest()
    public = _public_key(chip, slot, may_generate=target.creates_missing_keys)
    signature = chip.sign_digest(digest, slot)
    _check_signature(public, digest, signature, slot)
    click.echo(f"  file           {sign_path}")
    click.echo(f"  SHA-256        {digest.hex()}")
    click.echo(f"  signature      {signature.hex()}  (P-256 R||S, slot {slot})")
    click.echo(f"  public key     04{public.hex()}  (uncompressed X||Y)")
    console.print("  verified       [green]yes[/] (checked locally with the public key)")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None


def _public_key(chip: ATECC608A, slot: int, *, may_generate: bool) -> bytes:
    """The slot's public key; on the simulated board an empty slot gets a new key first."""
    from wisgate.chips.atecc608a import ExecutionError

    try:
        return chip.public_key(slot)
    except ExecutionError:
        if not may_generate:
            raise click.ClickException(
                f"slot {slot} holds no P-256 private key (or is not a key slot); "
                "this command does not create keys on a real chip"
            ) from None
    try:
        return chip.generate_key(slot)
    except ExecutionError:
        raise click.ClickException(f"slot {slot} is not a P-256 private key slot GenKey may write") from None


def _check_signature(public: bytes, digest: bytes, signature: bytes, slot: int) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

    x, y = int.from_bytes(public[:32], "big"), int.from_bytes(public[32:], "big")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        raise click.ClickException(
            f"the chip's signature does not verify with the public key of slot {slot}"
        ) from None
