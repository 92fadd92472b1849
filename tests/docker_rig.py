"""A real Docker Engine for the app tests, and the tiny local image their test catalog uses.

No image registry is reachable in CI, so the image is built here ``FROM scratch`` with Debian's static
busybox (package busybox-static). If no engine answers, one is started the way ``.ci/run`` does (root and
Debian's docker.io needed); only when dockerd cannot run at all are the tests skipped, saying why.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import stat
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest

TEST_IMAGE = "wisgate-test/busybox:1.35"
CATALOG = Path(__file__).resolve().parent / "apps_catalog"
DOCKERD_LOG = Path("/tmp/wisgate-tests-dockerd.log")
_STATIC_BUSYBOX = ("/bin/busybox", "/usr/bin/busybox")


def _ping() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception:
        return None


def _start_dockerd() -> str:
    """Start dockerd in the background (it stays: it is the machine's engine); '' or why it could not."""
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
    if dockerd is None:
        return "no dockerd binary (install Debian's docker.io; .ci/run does)"
    if os.geteuid() != 0:
        return "dockerd needs root to start (run .ci/run, or start the docker service)"
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _ping() is not None:
            return ""
        time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace")[-600:] if DOCKERD_LOG.exists() else ""
    return f"dockerd did not answer within 60 s; its log ends: {' '.join(tail.split())}"


#: one test run at a time uses the engine: runs on one machine share it, and an install in one run is
#: (rightly) a conflict for the other's
ENGINE_LOCK = Path("/tmp/wisgate-tests-docker.lock")
_held: list[int] = []


def _own_the_engine(client: docker.DockerClient) -> None:
    """Wait for other test runs on this machine to finish with the engine, then clear what a killed run left."""
    if _held:
        return
    fd = os.open(ENGINE_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # released when this process ends
    _held.append(fd)
    for container in client.containers.list(all=True, filters={"label": "io.wisgate.instance"}):
        if str(container.labels.get("io.wisgate.instance", "")).startswith("wgt"):
            container.remove(force=True)
    for network in client.networks.list():
        if str(network.name).startswith("wgt"):
            network.remove()
    for volume in client.volumes.list(filters={"label": "io.wisgate.instance"}):
        if str(volume.name).startswith("wgt"):
            volume.remove(force=True)


def engine_client() -> docker.DockerClient:
    client = _ping()
    if client is None:
        reason = _start_dockerd()
        client = _ping()
        if client is None:
            pytest.skip(f"DOCKER ENGINE CANNOT RUN ON THIS MACHINE, app deployment tests skipped: {reason}")
    _own_the_engine(client)
    return client


def build_test_image(client: docker.DockerClient) -> str:
    busybox = next((p for p in _STATIC_BUSYBOX if os.path.exists(p)), None)
    if busybox is None:
        pytest.fail("the app tests need Debian's busybox-static (apt-get install busybox-static; .ci/run does)")
    dockerfile = (b"FROM scratch\nCOPY busybox /bin/busybox\n"
                  b'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                  b'RUN ["/bin/mkdir", "-p", "/tmp", "/www", "/data"]\nCMD ["/bin/sh"]\n')
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, data, mode in (("Dockerfile", dockerfile, 0o644), ("busybox", Path(busybox).read_bytes(), 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=TEST_IMAGE, rm=True, forcerm=True)
        output = client.containers.run(TEST_IMAGE, ["busybox", "true"], remove=True)
    except docker.errors.DockerException as exc:
        pytest.fail(f"cannot build or run the test image from {busybox} (is it Debian's static busybox, package "
                    f"busybox-static?): {exc}")
    assert output == b""
    return TEST_IMAGE


def unique(prefix: str) -> str:
    return f"wgt{uuid.uuid4().hex[:6]}-{prefix}"


def make_dev_dir(root: Path, gid: int = 4321) -> Path:
    """Character device nodes named like the RAK7391's (each a clone of /dev/null), owned by group ``gid``."""
    dev = root / "dev"
    (dev / "net").mkdir(parents=True)
    for name in ("spidev0.0", "spidev0.1", "gpiochip0", "gpiochip2", "gpiochip3", "i2c-1", "ttyUSB0", "ttyUSB1",
                 "net/tun"):
        path = dev / name
        os.mknod(path, 0o660 | stat.S_IFCHR, os.makedev(1, 3))
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
    return dev
