"""The simulated LoRa site's own process: ``python -m wisgate.sim.lora_site_child SPEC_JSON``.

On hardware each concentrator module is driven by a ChirpStack Concentratord of its own, which the daemon
talks to over ZeroMQ; here the simulated site (its Concentratords, the radio environment and the devices,
with their AES) runs in this process the daemon starts (:mod:`wisgate.sim.lora_site_process`), so the
daemon imports neither the radio simulation nor cryptography for it, as on hardware.

Protocol with the daemon: one JSON line on stdout once every endpoint is bound (``{"ready": true, ...}``);
log lines on stderr as ``LEVEL logger: message``; stdin stays open for as long as the daemon lives, so its
end (the daemon stopped or crashed, even by SIGKILL) stops the site. SIGTERM stops it too; SIGINT is the
daemon's to handle (a Ctrl-C in the terminal reaches the whole process group).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

import zmq

from wisgate.sim.lora_site import SimLoraSite
from wisgate.sim.shared_time import SharedClock
from wisgate.sim.site_spec import SiteSpec

log = logging.getLogger("wisgate.sim.lora_site")

#: the radio environment delivers what was sent up to now this often
RADIO_STEP_S = 0.02


def _watch_parent(stop: threading.Event) -> None:
    """Block on stdin until the daemon's end of the pipe closes."""
    # the file descriptor itself, not sys.stdin: a thread blocked in a buffered read holds its lock, and the
    # interpreter's shutdown would then abort on it (a fatal error at every SIGTERM)
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    if not stop.is_set():
        log.info("the daemon has gone: stopping")
        stop.set()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(args) != 1:
        log.error("usage: python -m wisgate.sim.lora_site_child SPEC_JSON (the daemon starts it)")
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    terminated: list[int] = []
    # only a flag: the handler runs on the main thread between two bytecodes, maybe while that thread holds the
    # event's lock inside stop.wait(), and Event.set() there would wait on it for ever (the daemon then killed
    # the site after its 5 s)
    signal.signal(signal.SIGTERM, lambda signum, _: terminated.append(signum))
    try:
        spec = SiteSpec.from_json(args[0])
        clock = SharedClock(spec.time_file)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        log.error("unusable site description or board time file: %s", exc)
        return 2
    try:
        site = SimLoraSite(spec, clock).start()
    except zmq.ZMQError as exc:  # the runtime folder went away, or another process holds an endpoint
        log.error("cannot bind the site's endpoints in %s: %s", spec.directory, exc)
        return 1
    try:
        threading.Thread(target=_watch_parent, args=(stop,), name="parent", daemon=True).start()
        print(json.dumps({"ready": True, "pid": os.getpid(), "boards": [m.board for m in site.modules]}),
              flush=True)
        log.info("%d module(s) (endpoints in %s), %d device(s) within %.0f m", len(site.modules), spec.directory,
                 len(site.radio.devices), spec.radius_m)
        while not stop.wait(RADIO_STEP_S) and not terminated:
            site.step()
    finally:
        site.stop()
        clock.close()
    stats = site.radio.stats
    log.info("stopped: %d transmissions, %d receptions, %d collided, %d below sensitivity", stats.transmissions,
             stats.receptions, stats.collisions, stats.below_sensitivity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
