"""Free TCP ports on 127.0.0.1 for the servers the tests start, safe with several pytest-xdist workers.

``bind(("127.0.0.1", 0))`` hands out a port from the kernel's ephemeral range: the range every
outgoing connection also takes its local port from. Several tests stop a server and start it again
on the same port (`jiefen serve` killed with -9 and restarted, the private PostgreSQL stopped for
seconds while the API keeps reconnecting to it). While it is down the port is free, and any of the
hundreds of client connections the workers open meanwhile may be given it as its local port, or
connect to it from itself (a TCP "self-connect"); the restart then fails or talks to the wrong peer.
So ports come from below the ephemeral range, where the kernel never hands one out by itself, each
xdist worker from a slice of its own (two workers never pick the same one), and are checked free.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

# Below the ephemeral range (Linux's default starts at 32768); registered services here are rare,
# and a port something already listens on is skipped.
LOWEST = 20000


def _ephemeral_low() -> int:
    try:
        low, _high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768
    return low


def _worker_slice() -> range:
    """This worker's share of the ports between LOWEST and the ephemeral range."""
    top = _ephemeral_low()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), index + 1)
    size = (top - LOWEST) // count
    return range(LOWEST + index * size, LOWEST + (index + 1) * size)


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on, outside the ephemeral range and this worker's alone."""
    ports = _worker_slice()
    if len(ports) >= 100:
        start = random.randrange(len(ports))
        for step in range(len(ports)):
            port = ports[(start + step) % len(ports)]
            if _is_free(port):
                return port
    # No room below the ephemeral range (it was widened): let the kernel choose.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
        return chosen
