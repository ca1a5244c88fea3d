"""A real `jiefen serve` on a free port of 127.0.0.1, as a user starts it (tests/api, tests/web)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ports import free_port

JIEFEN = str(Path(sys.executable).parent / "jiefen")
DEMO_PASSWORD = "jiefen2026"


class Server:
    def __init__(self, data_dir: Path, *, demo_cases: int = 12) -> None:
        self.data_dir = data_dir
        self.demo_cases = demo_cases
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # Its output goes to a file, never to a pipe nobody reads: a long session's access and
        # sweep lines would fill a pipe's 64 KB and block the server mid-request.
        self.log = data_dir / "serve.log"
        self.started_at = 0  # where the latest start's output begins in the log

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        # The embedded default (SQLite) exactly as the README's first command runs it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
        env.update({"JIEFEN_DATA_DIR": str(self.data_dir), "JIEFEN_DEMO_CASES": str(self.demo_cases)})
        with self.log.open("ab") as out:
            self.started_at = out.tell()
            self.process = subprocess.Popen(
                [JIEFEN, "serve", "--port", str(self.port)], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jiefen serve exited: {self.output[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("jiefen serve did not become ready within 90 s")

    def kill(self) -> str:
        """kill -9; what the server printed since it was last started."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        with self.log.open("rb") as log:
            log.seek(self.started_at)
            return log.read().decode("utf-8", errors="replace")

    def token(self, username: str) -> dict[str, str]:
        response = httpx.post(
            f"{self.base}/api/v1/auth/token",
            data={"username": username, "password": DEMO_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}
