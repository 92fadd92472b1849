"""A really small filesystem for disk-full tests: a size-limited tmpfs the test mounts and unmounts itself.

Mounting needs root (or CAP_SYS_ADMIN), which the development VM and CI have; elsewhere the tests
that need it are skipped with a message saying so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(where: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted on ``where`` (created) for the duration of the block."""
    where.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("disk-full test: no mount/umount binaries (util-linux) to mount a small tmpfs")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"disk-full test: mounting a {size_bytes}-byte tmpfs is not permitted here "
                    f"(needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run([umount, str(where)], capture_output=True, check=False).returncode != 0:
            subprocess.run([umount, "-l", str(where)], capture_output=True, check=False)


def free_bytes(where: Path) -> int:
    fs = os.statvfs(where)
    return fs.f_bavail * fs.f_frsize


def fill(where: Path, name: str = "filler") -> Path:
    """Take every free byte of the filesystem with one file (what another process filling the disk does)."""
    path = where / name
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return path
    finally:
        os.close(fd)
