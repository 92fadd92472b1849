"""Checksums the board's chips use (pure functions; drivers and chip models both call them)."""

from __future__ import annotations


def crc8_sensirion(data: bytes) -> int:
    """CRC-8 of Sensirion sensors (SHTC3): poly 0x31, init 0xFF, no reflection, no final XOR."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc16_atca(data: bytes) -> int:
    """CRC-16 of Microchip CryptoAuthentication packets: poly 0x8005, init 0, data bits LSB first."""
    crc = 0
    for byte in data:
        for bit in range(8):
            data_bit = (byte >> bit) & 1
            crc_bit = crc >> 15
            crc = (crc << 1) & 0xFFFF
            if data_bit ^ crc_bit:
                crc ^= 0x8005
    return crc
