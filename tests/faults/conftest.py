"""Real `jiefen` processes on PostgreSQL, killed and restarted; the client that loads them.

Every test gets a throw-away database (on the shared cluster, or on a private one for the
PostgreSQL restart test). Unreachable PostgreSQL skips on a developer machine and fails when
``JIEFEN_REQUIRE_POSTGRES=1``, as in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from service import clock, migrate
from service.config.settings import Settings
from service.demo import seed_users
from service.main import engine_for, load_context
from service.units.sync import sync_units
from tests.conftest import (
    CONFIG_DIR,
    REQUIRE_POSTGRES,
    TEST_AUDIT_KEY,
    TEST_DATA_KEY,
    TEST_PASSWORD,
    _create_pg_database,
    _drop_pg_database,
)
from tests.ports import free_port

JIEFEN = str(Path(sys.executable).parent / "jiefen")


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production-like process: PostgreSQL, a data key, no demo data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
    env.update(
        {
            "JIEFEN_DATABASE_URL": database_url,
            "JIEFEN_DATA_KEY": TEST_DATA_KEY,
            "JIEFEN_AUDIT_KEY": TEST_AUDIT_KEY,
            "JIEFEN_CONFIG_DIR": str(CONFIG_DIR),
            "JIEFEN_SEED_DEMO": "false",
            "JIEFEN_RUN_SCHEDULER": "false",
            "JIEFEN_SCHEDULER_METRICS_PORT": "0",
            "JIEFEN_ACCESS_LOG": "false",
            "JIEFEN_DB_POOL_SIZE": "5",
        }
    )
    env.update(extra)
    return env


class Proc:
    """One `jiefen …` process; its output goes to a file, so a full pipe never blocks it."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.args, self.env = name, args, env
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def spawn(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [JIEFEN, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no flushing, whatever was in flight is cut off."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def wait_for_output(self, text: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if text in self.output.rsplit("===== start", 1)[-1]:
                return
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output[-3000:]}")
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} did not print {text!r} within {within} s:\n{self.output[-3000:]}")


class Api(Proc):
    """`jiefen serve` on a free port of 127.0.0.1 (the port is kept across restarts)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        super().__init__("api", ["serve", "--port", str(self.port)], env, log_dir)
        self.base = f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, probe: str = "/readyz", within: float = 60) -> float:
        """Seconds until ``probe`` answered 200."""
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self.base, timeout=2) as client:
            while time.monotonic() - started < within:
                if not self.alive():
                    raise AssertionError(f"jiefen serve exited:\n{self.output[-3000:]}")
                try:
                    if (await client.get(probe)).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"jiefen serve not ready within {within} s:\n{self.output[-3000:]}")


def run_jiefen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JIEFEN, *args], env=env, capture_output=True, text=True, timeout=120)


async def prepare_database(url: str) -> None:
    """Schema, units and the test users (password TEST_PASSWORD), before any process starts."""
    settings = Settings(
        database_url=url,
        config_dir=CONFIG_DIR,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
        run_scheduler=False,
    )
    ctx = load_context(settings)
    engine = engine_for(settings, pool_size=1)
    try:
        await migrate.upgrade(engine)
        await sync_units(engine, ctx.org)
        await seed_users(engine, ctx, TEST_PASSWORD, clock.now())
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A throw-away database on the shared cluster, schema and users in place."""
    created = await _create_pg_database()
    assert created is not None
    name, url = created
    try:
        await prepare_database(url)
        yield url
    finally:
        await _drop_pg_database(name)


async def sign_in(base: str, username: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": TEST_PASSWORD}
        )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Tally:
    """What the client saw: status codes, transport errors, and every non-2xx sample."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    samples: dict[int, list[Any]] = field(default_factory=dict)

    def saw(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code >= 300 and len(self.samples.setdefault(response.status_code, [])) < 5:
            self.samples[response.status_code].append(
                (response.request.method, response.request.url.path, dict(response.headers), response.text)
            )


def _pg_bindir() -> Path | None:
    """Where initdb and pg_ctl live (Debian keeps them out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
    except OSError:
        bindir = None
    candidates = [Path(bindir.stdout.strip())] if bindir and bindir.returncode == 0 else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


class PrivateCluster:
    """A PostgreSQL of our own on a free port, to stop and start at will: the shared cluster on
    5432 serves other tests and sessions and is never touched. As root, it runs as ``postgres``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        # Not under pytest's tmp_path: as root that is private to root, and postgres must own it.
        self.root = Path(tempfile.mkdtemp(prefix="jiefen-faults-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout}{result.stderr}")

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=50"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
async def private_cluster() -> AsyncIterator[PrivateCluster]:
    """A private PostgreSQL with a prepared `jiefen` database (url: ``cluster.url``)."""
    bindir = _pg_bindir()
    if bindir is None:
        message = "initdb/pg_ctl not found: cannot run a private PostgreSQL to restart"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (JIEFEN_REQUIRE_POSTGRES=1: the PostgreSQL tests must run)")
        pytest.skip(message)
    cluster = PrivateCluster(bindir)
    try:
        cluster.create()
        import asyncpg

        admin = await asyncpg.connect(cluster.url.replace("+asyncpg", ""), timeout=10)
        try:
            await admin.execute('CREATE DATABASE "jiefen"')
        finally:
            await admin.close()
        cluster.url = cluster.url.rsplit("/", 1)[0] + "/jiefen"
        await prepare_database(cluster.url)
        yield cluster
    finally:
        cluster.destroy()
