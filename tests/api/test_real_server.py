"""The product as a user meets it: `jiefen serve` over a real socket, killed with -9 and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import DASHI, case_body

JIEFEN = str(Path(sys.executable).parent / "jiefen")
DEMO_PASSWORD = "jiefen2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> None:
        # The embedded default (SQLite) exactly as the README's first command runs it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
        env.update({"JIEFEN_DATA_DIR": str(self.data_dir), "JIEFEN_DEMO_CASES": "12"})
        self.process = subprocess.Popen(
            [JIEFEN, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"jiefen serve exited: {self.process.stdout.read() if self.process.stdout else ''}"
                )
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("jiefen serve did not become ready within 90 s")

    def kill(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        out, _ = self.process.communicate(timeout=10)
        self.output += out or ""
        return out or ""

    def token(self, username: str) -> dict[str, str]:
        response = httpx.post(
            f"{self.base}/api/v1/auth/token",
            data={"username": username, "password": DEMO_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


def test_serve_prints_logins_and_the_first_journey_works_over_http_and_survives_kill_9(
    server: Server,
) -> None:
    mediator = server.token("dashi.mediator")
    created = httpx.post(
        f"{server.base}/api/v1/cases",
        json=case_body(),
        headers={**mediator, "Idempotency-Key": "real-server-1"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert (case["state"], case["unit_code"]) == ("assigned", DASHI)

    accepted = httpx.post(
        f"{server.base}/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "accept"},
        headers={**mediator, "If-Match": '"1"'},
        timeout=10,
    )
    settled = httpx.post(
        f"{server.base}/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "settle", "agreement": {"form": "written", "terms": "赔偿 2000 元"}},
        headers={**mediator, "If-Match": '"2"'},
        timeout=10,
    )
    assert (accepted.status_code, settled.status_code) == (200, 200)
    assert (
        httpx.get(
            f"{server.base}/api/v1/cases/{case['id']}", headers=server.token("zhangpu.coordinator")
        ).status_code
        == 200
    )
    assert (
        httpx.get(
            f"{server.base}/api/v1/cases/{case['id']}", headers=server.token("wulian.mediator")
        ).status_code
        == 404
    )

    output = server.kill()
    assert "Demo logins" in output and "dashi.mediator" in output

    server.start()  # same data directory: the acknowledged writes must all be there
    after = httpx.get(
        f"{server.base}/api/v1/cases/{case['id']}", headers=server.token("dashi.mediator"), timeout=10
    )
    assert (after.json()["state"], after.json()["version"]) == ("settled", 3)
    events = httpx.get(
        f"{server.base}/api/v1/cases/{case['id']}/events", headers=server.token("dashi.mediator")
    ).json()
    assert [e["seq"] for e in events] == [1, 2, 3]
    retry = httpx.post(
        f"{server.base}/api/v1/cases",
        json=case_body(),
        headers={**server.token("dashi.mediator"), "Idempotency-Key": "real-server-1"},
        timeout=10,
    )
    assert retry.json()["id"] == case["id"]
    # The demo data was seeded once, not again on restart.
    assert "demo cases created" not in server.kill()
