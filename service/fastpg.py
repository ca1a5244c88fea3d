"""The hottest statements on PostgreSQL, sent straight through asyncpg.

Reading a case, listing a page of cases with its count, opening a case and most transitions are
one statement each (the court queue's claim a short transaction). Through SQLAlchemy's async
engine each cost about 0.6 ms of Python in this process: checking a connection out of the pool
and setting it to autocommit, executing through the greenlet bridge, processing the result,
resetting the connection on return. PostgreSQL
itself spent a tenth of that. Here the same statements — compiled once from the same SQLAlchemy
constructs, so there is one definition of each — run on a small pool of plain asyncpg
connections in autocommit, with JSON decoded by a type codec. Everything else (transactions,
the sweep, SQLite) stays on the engine.

The pool belongs to the app's engine (``attach`` in the lifespan, ``detach`` at shutdown);
callers ask ``for_engine`` and fall back to the engine when there is none (SQLite, scripts).
Statements that write through CTEs run only here (``queries._one(fast_only=True)``): compiled by
the engine, their UPDATEs would gain a SET for every parameter named like a column.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler


class FastRow:
    """A result row read like SQLAlchemy's: ``row.version`` and ``row._mapping``."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


class Statement:
    """A SQLAlchemy statement compiled once for asyncpg: its SQL and its parameters' order.

    An ``expanding`` IN list is rendered as one placeholder per element, for the number of
    elements given in ``expanded`` (name → count): a list of another length is another
    statement. ``x IN ($1)`` stays ``x = $1`` to the planner, which can then walk an index in
    order and stop after a page (``x = ANY($1)`` cannot, on PostgreSQL 15)."""

    def __init__(
        self, statement: sa.ClauseElement, dialect: Dialect, *, expanded: Mapping[str, int] | None = None
    ) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        binds = compiled.binds
        # Values written into the statement itself (``sa.literal(0)``, ``in_(["a", "b"])``).
        constants: dict[str, Any] = {name: bind.value for name, bind in binds.items() if not bind.required}
        lists = dict(expanded or {})
        lists.update((name, len(v)) for name, v in constants.items() if binds[name].expanding)
        if lists:
            # Rendering the lists needs a value for every parameter: placeholders, never sent.
            values: dict[str, Any] = {name: [None] * n for name, n in lists.items()}
            values.update((name, None) for name in binds if name not in values and name not in constants)
            compiled = cast(
                SQLCompiler,
                statement.params(values).compile(
                    dialect=dialect, compile_kwargs={"render_postcompile": True}
                ),
            )
        self.sql = str(compiled)
        # Each placeholder in order: (parameter, element of its list or None, constant).
        sources: dict[str, tuple[str | None, int | None, Any]] = {}
        for name, n in lists.items():
            for i in range(n):
                if name in constants:
                    sources[f"{name}_{i + 1}"] = (None, None, constants[name][i])
                else:
                    sources[f"{name}_{i + 1}"] = (name, i, None)
        sources.update((name, (None, None, value)) for name, value in constants.items() if name not in lists)
        self._sources = [sources.get(name, (name, None, None)) for name in compiled.positiontup or []]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        # No bind processors: asyncpg takes aware datetimes as they are, and the connection's
        # codec encodes JSON (SQLAlchemy's processor would encode it a second time).
        return [
            constant if name is None else params[name] if i is None else params[name][i]
            for name, i, constant in self._sources
        ]


class FastPool:
    """A few autocommit asyncpg connections, opened on demand and kept (no reset round trip on
    release: nothing here ever leaves a transaction or a session setting behind).

    Waiting is first come, first served (asyncio's semaphore does not let a newcomer take a
    connection someone was already waiting for): under a burst no request waits behind others
    that arrived after it, which is what a p99 measures."""

    def __init__(self, dsn: str, size: int, dialect: Dialect, *, timeout: float = 30.0) -> None:
        self.dsn = dsn
        self.size = size
        self.dialect = dialect
        self.timeout = timeout
        self._idle: list[asyncpg.Connection] = []
        self._slots = asyncio.Semaphore(size)  # connections in use or being opened + free slots
        self._statements: dict[Any, Statement] = {}

    def statement(self, key: Any, build: Any, *, expanded: Mapping[str, int] | None = None) -> Statement:
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = Statement(build(), self.dialect, expanded=expanded)
        return found

    async def _open(self) -> asyncpg.Connection:
        # Every statement here finds its rows by primary key: the generic plan is the custom
        # plan, so planning it again on each call (what "auto" mostly chose for these CTEs) only
        # cost PostgreSQL CPU — about a third of its time per transition.
        conn = await asyncpg.connect(
            self.dsn, timeout=self.timeout, server_settings={"plan_cache_mode": "force_generic_plan"}
        )
        for name in ("json", "jsonb"):
            await conn.set_type_codec(
                name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
            )
        return conn

    async def _acquire(self) -> asyncpg.Connection:
        try:
            if self._slots.locked():
                await asyncio.wait_for(self._slots.acquire(), self.timeout)
            else:
                await self._slots.acquire()  # free now: no timer task (wait_for costs one)
        except TimeoutError:
            raise PoolTimeout(f"no PostgreSQL connection free within {self.timeout:g} s") from None
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                # closed while idle (the server's notice arrived): drop it, try the next
            return await self._open()
        except BaseException:
            self._slots.release()
            raise

    async def _release(self, conn: asyncpg.Connection, *, broken: bool, lost: bool = False) -> None:
        # After an error the connection may be mid-statement or dead (a restart): never reuse it.
        keep = not broken and not conn.is_closed() and not conn.is_in_transaction()
        stale: list[asyncpg.Connection] = []
        if keep:
            self._idle.append(conn)
        else:
            conn.terminate()
            if lost or conn.is_closed():
                # The server went away (restart, failover): the idle ones are dead too. Drop
                # them all now, as SQLAlchemy invalidates its pool, so that a restart costs one
                # failed request, not one per pooled connection.
                stale, self._idle = self._idle, []
        self._slots.release()
        for old in stale:
            old.terminate()

    async def fetchrow(
        self, statement: Statement, params: Mapping[str, Any], *, idempotent: bool = False
    ) -> FastRow | None:
        """One statement's first row (see ``fetch``)."""
        records = await self._run(statement, params, idempotent=idempotent, one=True)
        return FastRow(dict(records[0].items())) if records else None

    async def fetch(
        self, statement: Statement, params: Mapping[str, Any], *, idempotent: bool = False
    ) -> list[FastRow]:
        """One statement's rows. A connection the server dropped (a restart, a failover, an
        administrator) surfaces as SQLAlchemy's disconnect error, which the service answers with
        503 + Retry-After like any other; a read (``idempotent``) first tries once more on a
        fresh connection, since the pool has just let go of the dead ones."""
        records = await self._run(statement, params, idempotent=idempotent, one=False)
        return [FastRow(dict(record.items())) for record in records]

    async def _run(
        self, statement: Statement, params: Mapping[str, Any], *, idempotent: bool, one: bool
    ) -> list[Any]:
        args = statement.args(params)
        for attempt in (1, 2):
            conn = await self._acquire()
            try:
                if one:
                    record = await conn.fetchrow(statement.sql, *args)
                    records = [] if record is None else [record]
                else:
                    records = await conn.fetch(statement.sql, *args)
            except BaseException as exc:
                lost = _lost(exc, conn)
                await self._release(conn, broken=True, lost=lost)
                if not lost:
                    raise
                if idempotent and attempt == 1:
                    continue
                raise OperationalError(statement.sql, None, exc, connection_invalidated=True) from exc
            await self._release(conn, broken=False)
            return records
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FastTransaction]:
        """A transaction on one of the pool's connections, for a short exchange that must hold a
        lock between its statements (the court queue's claim: pick and lock, then write). Commits
        when the block ends, rolls back when it raises. A lost connection surfaces as SQLAlchemy's
        disconnect error (503, as in ``fetch``); a cancelled block ends the connection, and with
        it the transaction, rather than leave it half-way in the pool."""
        conn = await self._acquire()
        try:
            await conn.execute("BEGIN")
            yield FastTransaction(self, conn)
            await conn.execute("COMMIT")
        except Exception as exc:
            if _lost(exc, conn):
                await self._release(conn, broken=True, lost=True)
                raise OperationalError("BEGIN", None, exc, connection_invalidated=True) from exc
            await self._roll_back(conn)
            raise
        except BaseException:
            await self._release(conn, broken=True)
            raise
        await self._release(conn, broken=False)

    async def _roll_back(self, conn: asyncpg.Connection) -> None:
        """Return the connection of a failed block to the pool if it rolls back; end it if not.
        (After a failed COMMIT there is nothing to roll back: PostgreSQL only warns.)"""
        try:
            await conn.execute("ROLLBACK")
        except BaseException:
            await self._release(conn, broken=True, lost=conn.is_closed())
            raise
        await self._release(conn, broken=False)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


class FastTransaction:
    """The statements of one ``FastPool.transaction``."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: FastPool, conn: asyncpg.Connection) -> None:
        self._pool = pool
        self._conn = conn

    async def fetchrow(
        self,
        clause: sa.ClauseElement,
        params: Mapping[str, Any],
        *,
        key: Any = None,
        expanded: Mapping[str, int] | None = None,
    ) -> FastRow | None:
        """The first row of a statement built once (``clause``, compiled by the pool under
        ``key``, by default the clause itself)."""
        statement = self._pool.statement(clause if key is None else key, lambda: clause, expanded=expanded)
        record = await self._conn.fetchrow(statement.sql, *statement.args(params))
        return None if record is None else FastRow(dict(record.items()))


_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _lost(exc: BaseException, conn: asyncpg.Connection) -> bool:
    """Whether the connection, not the statement, failed."""
    if conn.is_closed() or isinstance(
        exc, OSError | asyncpg.ConnectionDoesNotExistError | asyncpg.InternalClientError
    ):
        return True
    return isinstance(exc, asyncpg.PostgresError) and str(getattr(exc, "sqlstate", "")).startswith(
        _UNAVAILABLE_SQLSTATES
    )


_pools: weakref.WeakKeyDictionary[AsyncEngine, FastPool] = weakref.WeakKeyDictionary()


def attach(engine: AsyncEngine, size: int) -> FastPool | None:
    """Give a PostgreSQL engine its fast pool (the app's lifespan); None for SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql")
    pool = FastPool(url.render_as_string(hide_password=False), size, engine.dialect)
    _pools[engine] = pool
    return pool


async def detach(engine: AsyncEngine) -> None:
    pool = _pools.pop(engine, None)
    if pool is not None:
        await pool.close()


def for_engine(engine: AsyncEngine) -> FastPool | None:
    return _pools.get(engine)
