"""SQLite's write transactions take turns in arrival order (service/db.py SQLiteEngine)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from service.db import SQLiteEngine, create_engine


async def test_writers_enter_in_the_order_they_arrived_and_a_task_may_nest(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", pool_size=20)
    assert isinstance(engine, SQLiteEngine)
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE t (n INTEGER, at INTEGER)"))
    entered: list[int] = []
    release = asyncio.Event()

    async def writer(n: int) -> None:
        async with engine.begin() as conn:
            entered.append(n)
            if n == 0:
                await release.wait()  # the first holds the turn while the others queue
                async with engine.begin() as inner:  # nesting in one task does not wait for itself
                    await inner.execute(sa.text("SELECT 1"))
            await conn.execute(sa.text("INSERT INTO t VALUES (:n, :at)"), {"n": n, "at": len(entered)})

    tasks = []
    for n in range(16):
        tasks.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0.001)
    assert entered == [0], "the others wait for the first writer's turn"
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)

    assert entered == list(range(16))
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one() == 16
    await engine.dispose()


async def test_a_failed_writer_gives_up_its_turn(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")

    async def fail() -> None:
        async with engine.begin() as conn:
            await conn.execute(sa.text("SELECT no_such_function()"))

    for _ in range(2):
        try:
            await fail()
        except sa.exc.OperationalError:
            pass
    async with engine.begin() as conn:  # would hang if the turn had been kept
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    await engine.dispose()
