"""Engine, sessions and the column types both databases share."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, String, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on both databases (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A ``StrEnum`` stored as its value in a plain VARCHAR: the schema stays text (no database
    enum type to migrate when a member is added), and Python reads the enum back."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class _WriterQueue:
    """First come, first served turns at SQLite's one write lock, within this process. A task
    already holding the turn may open another transaction inside its own (nesting)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a lock belongs to one event loop (tests and CLI runs use several)
            self._loop, self._lock, self._owner = loop, asyncio.Lock(), None
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            yield
            return
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None


class SQLiteEngine(AsyncEngine):
    """SQLite lets one writer in at a time. Without a queue the others sleep in busy_timeout's
    growing back-off, and a writer that keeps losing sleeps longest (a long tail of slow writes;
    figures in docs/benchmarks.md). Write transactions (``begin()``) take turns in arrival order;
    reads (``reading``, ``connect``) do not queue."""

    __slots__ = ("_writers",)

    def __init__(self, sync_engine: Any) -> None:
        super().__init__(sync_engine)
        self._writers = _WriterQueue()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._writers.turn(), super().begin() as conn:
            yield conn


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_sqlite_file_private(url: str) -> None:
    """Keep the SQLite database readable by the service's own user only: its parties' names,
    phone numbers and case summaries are in it.

    A new file is created empty with mode 0600 before SQLite opens it (an empty file is an empty
    database), and SQLite gives its -wal and -shm files the database file's mode. A file an older
    version created readable by others (0644) is narrowed to 0600, with a warning in the log.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # no such directory, say: SQLite reports it when it opens the file
    for path in (database, f"{database}-wal", f"{database}-shm"):
        try:
            mode = os.stat(path).st_mode & 0o777
            if mode & 0o077:
                os.chmod(path, 0o600)
                log.warning("%s was readable by other users (mode %o); narrowed to 0600", path, mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot make %s private: %s", path, exc)


def create_engine(
    url: str, *, pool_size: int = 10, execution_options: Mapping[str, Any] | None = None
) -> AsyncEngine:
    """The engine, with ``execution_options`` every connection carries (the audit key:
    ``service.audit.keys.engine_options``)."""
    options = dict(execution_options or {})
    if is_sqlite(url):
        make_sqlite_file_private(url)
        engine = SQLiteEngine(
            create_async_engine(
                url,
                # A busy writer makes others wait instead of failing at once (writers outside
                # ``begin()``, other processes such as `jiefen` commands).
                connect_args={"timeout": 30},
                # Pooled: opening a SQLite connection starts a thread and runs the pragmas below,
                # too much to pay on every request. WAL lets the pooled readers run beside the
                # one writer.
                **({} if ":memory:" in url else {"pool_size": pool_size, "max_overflow": pool_size}),
                execution_options=options,
            ).sync_engine
        )
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        # Every connection opened is kept: no overflow. Overflow connections are closed as soon as
        # they are returned, so under a burst each request would start a PostgreSQL backend (a
        # process) and end it again.
        pool_size=pool_size,
        max_overflow=0,
        # No pre-ping: a round trip on every checkout to guard against a rare event. A pooled
        # connection that died (PostgreSQL restarted) fails its request with a disconnect error,
        # answered 503 + Retry-After (service/errors.py), and SQLAlchemy then invalidates the
        # whole pool, so the next requests reconnect (tests/faults/test_postgres_restart.py).
        pool_pre_ping=False,
        pool_recycle=1800,
        execution_options=options,
    )


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads: autocommit, so a lone SELECT is not wrapped in BEGIN … ROLLBACK
    (two round trips saved on every read of the hot paths: token, case, list, queue)."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while a writer commits; NORMAL is durable across app crashes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_engine(request: Request) -> AsyncEngine:
    # async: FastAPI runs a plain-def dependency in a worker thread, a hop on every request.
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_reporting_engine(request: Request) -> AsyncEngine:
    """Where statistics, reports and exports read: the replica named by
    ``JIEFEN_REPORTING_DATABASE_URL``, or the primary when none is (``app.state`` holds the same
    engine twice then). Read only: what a report writes (its audit record) goes to the primary."""
    engine: AsyncEngine = request.app.state.reporting_engine
    return engine


SessionDep = Annotated[AsyncSession, Depends(get_session)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
ReportingEngineDep = Annotated[AsyncEngine, Depends(get_reporting_engine)]
