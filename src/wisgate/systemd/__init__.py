"""The systemd unit shipped with wisgate (``wisgate.service``) and how it is written for an installation."""
