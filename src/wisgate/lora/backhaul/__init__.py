"""Backhauls toward network servers: Semtech UDP (GWMP), ChirpStack MQTT,
and the on-disk store-and-forward they share.
"""
