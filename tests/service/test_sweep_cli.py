"""`jiefen sweep`, `jiefen outbox retry` and `jiefen config check` as an operator runs them."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import yaml

JIEFEN = str(Path(sys.executable).parent / "jiefen")
ROOT = Path(__file__).resolve().parents[2]
LATER = "2030-01-01T09:00:00+08:00"  # every demo clock has long run out by then
REPORT = re.compile(
    r"^sweep as of (?P<at>\S+): (?P<warned>\d+) warnings, (?P<breached>\d+) breaches .*, "
    r"(?P<duplicates>\d+) already done elsewhere$",
    re.MULTILINE,
)


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
    env["JIEFEN_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run([JIEFEN, *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def database(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite file the commands use; what the block wrote is committed."""
    with closing(sqlite3.connect(tmp_path / "data" / "jiefen.db")) as db, db:
        yield db


def report(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    found = REPORT.search(result.stdout)
    assert found, result.stdout
    return found.groupdict()


def test_sweep_once_as_of_a_later_instant_breaches_once_and_a_repeat_finds_nothing(tmp_path: Path) -> None:
    seeded = run("seed-demo", "--cases", "5", tmp_path=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert "5 demo cases created." in seeded.stdout

    first = report(run("sweep", "--once", "--now", LATER, tmp_path=tmp_path))
    with database(tmp_path) as db:
        actions = db.execute("SELECT action, level FROM deadline_action").fetchall()
        breached_clocks = db.execute(
            "SELECT count(*) FROM deadline WHERE breached_at IS NOT NULL"
        ).fetchone()[0]
    second = report(run("sweep", "--once", "--now", LATER, tmp_path=tmp_path))

    assert first["at"] == LATER
    breaches = int(first["breached"])
    assert breaches >= 1, first
    assert actions == [("breach", "due")] * breaches
    assert breached_clocks == breaches
    assert (second["warned"], second["breached"], second["duplicates"]) == ("0", "0", "0")
    with database(tmp_path) as db:
        assert db.execute("SELECT count(*) FROM deadline_action").fetchone()[0] == breaches


@pytest.mark.parametrize(
    ("now", "message"),
    [
        ("2030-01-01T09:00:00", "--now: give a timezone, e.g. +08:00"),
        ("2030-01-01", "--now: give a timezone, e.g. +08:00"),
        ("garbage", "--now: not an ISO-8601 instant: 'garbage'"),
        ("2030-13-01T09:00:00+08:00", "--now: not an ISO-8601 instant"),
    ],
)
def test_sweep_refuses_an_instant_without_timezone_or_that_is_not_one(
    now: str, message: str, tmp_path: Path
) -> None:
    result = run("sweep", "--once", "--now", now, tmp_path=tmp_path)

    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert "sweep as of" not in result.stdout
    assert not (tmp_path / "data" / "jiefen.db").exists()  # refused before touching the database


def test_sweep_without_once_points_to_the_scheduler(tmp_path: Path) -> None:
    result = run("sweep", tmp_path=tmp_path)

    assert result.returncode == 2
    assert "--once" in result.stderr and "jiefen scheduler" in result.stderr


def test_outbox_retry_queues_dead_letters_again_and_prints_how_many(tmp_path: Path) -> None:
    empty = run("outbox", "retry", tmp_path=tmp_path)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == "0 dead-lettered messages queued for delivery again"
    with database(tmp_path) as db:
        db.execute(
            "INSERT INTO webhook_subscription (id, unit_code, url, secret, active, source, created_at)"
            " VALUES (1, '320583106', 'http://127.0.0.1:9/hook', 'sixteen-characters!', 1, 'api',"
            " '2026-03-02 02:00:00.000000')"
        )
        for key, status in [("dead-1", "dead"), ("dead-2", "dead"), ("sent-1", "delivered")]:
            db.execute(
                "INSERT INTO outbox (subscription_id, idempotency_key, event_type, payload, status, attempts,"
                " next_attempt_at, last_error, created_at)"
                " VALUES (1, ?, 'breach', '{}', ?, 12, '2026-03-02 02:00:00.000000', 'HTTP 503',"
                " '2026-03-02 02:00:00.000000')",
                (key, status),
            )

    retried = run("outbox", "retry", tmp_path=tmp_path)
    again = run("outbox", "retry", tmp_path=tmp_path)

    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == "2 dead-lettered messages queued for delivery again"
    assert again.stdout.strip() == "0 dead-lettered messages queued for delivery again"
    with database(tmp_path) as db:
        rows = db.execute(
            "SELECT idempotency_key, status, attempts, last_error FROM outbox ORDER BY idempotency_key"
        ).fetchall()
    assert rows == [
        ("dead-1", "pending", 0, None),
        ("dead-2", "pending", 0, None),
        ("sent-1", "delivered", 12, "HTTP 503"),
    ]


def test_config_check_prints_the_deadline_policies_and_the_calendars(tmp_path: Path) -> None:
    policies = yaml.safe_load((ROOT / "config" / "deadlines.yaml").read_text(encoding="utf-8"))["policies"]

    result = run("config", "check", tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"deadlines: {len(policies)} policies OK ({ROOT / 'config' / 'deadlines.yaml'})" in lines
    calendars = [line for line in lines if line.startswith("calendars: ")]
    assert calendars in (["calendars: OK"], ["calendars: INCOMPLETE (see warnings above)"])
    if calendars == ["calendars: OK"]:
        assert "WARNING" not in result.stderr
    else:
        assert "WARNING: " in result.stderr
