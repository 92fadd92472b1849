"""LoRaWAN frames on air: PHYPayload codec, frame security, DevAddr/NetID, time on air.

Pure: bytes in, values out.
"""
