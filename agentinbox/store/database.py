"""Opens the database and runs store functions in transactions, off the event loop.

Store functions are plain synchronous functions over a SQLAlchemy ``Connection``, so one body of query code
serves both back ends. On SQLite they run in threads that own their connections (one writer, a few readers,
WAL), which avoids a thread hop per statement; on PostgreSQL they run through asyncpg with
``AsyncConnection.run_sync``.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.sql.dml import Insert, Update

from ..errors import AgentInboxError, ConflictError, ValidationError
from . import migrate
from .events import Appended, collect_appended, stop_collecting
from .filters import json_dumps
from .group_commit import GroupCommit
from .notify import CHANNEL, payload

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Database"]

P = ParamSpec("P")
T = TypeVar("T")
StoreFunction = Callable[Concatenate[Connection, P], T]

_SQLITE_READERS = 3
_IMMEDIATE = "agentinbox_begin_immediate"  # execution option of the SQLite writer's connections
_RETRIES = 3
# Failures of the database itself (down, unreachable, out of disk), as opposed to bugs in a query.
_UNAVAILABLE = (OperationalError, InterfaceError, OSError)
# PostgreSQL: inserts into these tables make the transaction notify other engines of that kind at commit
# (see notify.py); drafts notify only when one becomes ``scheduled`` (see ``_watch``).
_NOTIFY_ON_INSERT = {
    "events": "events",
    "inbound_queue": "inbound",
    "deliveries": "delivery",
    "webhook_deliveries": "webhook",
}
_KINDS = "agentinbox_notify"  # key in Connection.info: the kinds the transaction in progress notifies
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")


class Database:
    """A database the engine owns: SQLite through worker threads or PostgreSQL through asyncpg."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ValidationError(
                f"database_url {url!r} is not a database URL", path=["database_url"]
            ) from exc
        backend = parsed.get_backend_name()
        self.url = url
        self.dialect = backend
        #: Called on the event loop after each write transaction commits; the event bus sets it.
        self.on_commit: Callable[[], None] = _nothing
        #: Called on the event loop with the events a write transaction appended, once it committed (before
        #: ``on_commit``); the event bus sets it, to hand them out without reading them back.
        self.on_events: Callable[[list[Appended]], None] = _ignore
        #: Names this Database in its notifications, so its own listener skips them (PostgreSQL only).
        self.sender = uuid.uuid4().hex[:16]
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._group: GroupCommit | None = None
        self._reads_on_loop = False
        self._loop_connection: Connection | None = None
        if backend == "sqlite":
            database = parsed.database or ""
            in_memory = database in ("", ":memory:")
            sync_url = parsed.set(drivername="sqlite+pysqlite")
            # In memory: one shared connection, since a private in-memory database exists only inside it.
            pooling: dict[str, Any] = (
                {"poolclass": pool.StaticPool}
                if in_memory
                # The readers, the writer, and the event loop's own connection (``read_now``).
                else {"poolclass": pool.QueuePool, "pool_size": _SQLITE_READERS + 2, "max_overflow": 0}
            )
            engine = create_engine(
                sync_url,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_serializer=json_dumps,
                **pooling,
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            self._sync_engine = engine
            self._reads_on_loop = not in_memory  # in memory, the one connection is the writer's
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="agentinbox-db-writer")
            self._readers = (
                self._writer
                if in_memory
                else ThreadPoolExecutor(_SQLITE_READERS, thread_name_prefix="agentinbox-db-reader")
            )
            # Write transactions take the write lock at BEGIN (IMMEDIATE): one that began deferred, read,
            # and then found another process's commit in the way would fail at once with SQLITE_BUSY,
            # where waiting for the lock (busy_timeout) is what another writing process needs.
            self._group = GroupCommit(engine.execution_options(**{_IMMEDIATE: True}), self._writer)
            self._group.on_events = self._events_committed
        elif backend == "postgresql":
            # Imported here: the asyncio extension pulls in the ORM, which SQLite users never need.
            from sqlalchemy.ext.asyncio import create_async_engine

            async_url = parsed.set(drivername="postgresql+asyncpg")
            self._async_engine = create_async_engine(
                async_url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=json_dumps
            )
            event.listen(self._async_engine.sync_engine, "after_execute", _watch)
        else:
            raise ValidationError(
                f"database_url must be a sqlite or postgresql URL, not {backend!r}", path=["database_url"]
            )

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it already is).

        This is the first use of the database, so a database that cannot be reached at all (asyncpg
        reports a missing database as an unclassified DBAPIError) is said here, as unavailable.
        """
        try:
            await self.write(migrate.upgrade)
        except DBAPIError as exc:
            raise _unavailable(exc) from exc

    async def write(self, fn: StoreFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(connection, ...)`` in a read-write transaction; returns once that is committed.

        On SQLite, writes that queue up while one runs share a transaction (each in its own savepoint).
        """
        try:
            if self._async_engine is None:
                assert self._group is not None
                result: T = await self._group.submit(fn, *args, **kwargs)
                self.on_commit()
                return result
            for attempt in range(_RETRIES):
                try:
                    appended: list[Appended] = []
                    async with self._async_engine.begin() as conn:
                        result = await conn.run_sync(_notifying, self.sender, appended, fn, *args, **kwargs)
                    if appended:
                        self.on_events(appended)
                    self.on_commit()
                    return result
                except IntegrityError as exc:
                    # Two transactions raced on a check-then-insert (a client_id, an idempotency key, an
                    # address): run again, now seeing the winner's row, and answer as for a repeat.
                    if attempt == _RETRIES - 1:
                        raise ConflictError("a concurrent change collided with this one; try again") from exc
            raise AssertionError("unreachable")  # pragma: no cover
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def _events_committed(self, appended: list[Appended]) -> None:
        self.on_events(appended)

    async def read(self, fn: StoreFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(connection, ...)`` in a transaction that is rolled back: for queries only."""
        try:
            if self._async_engine is None:
                return await self._in_thread(self._readers, fn, *args, **kwargs)
            async with self._async_engine.connect() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    async def read_now(self, fn: StoreFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``read`` for a lookup of one row by a unique key, run right here on the event loop.

        On a SQLite file such a read takes a fraction of a millisecond, less than handing it to a reader
        thread and back, and under concurrent requests the reader threads' contention with the loop for the
        GIL costs several times the read itself. The loop keeps one connection of its own for these (WAL
        readers never wait for writers). Elsewhere (PostgreSQL, in memory) this is ``read``.
        """
        if not self._reads_on_loop:
            return await self.read(fn, *args, **kwargs)
        assert self._sync_engine is not None
        try:
            if self._loop_connection is None:
                self._loop_connection = self._sync_engine.connect()
            conn = self._loop_connection
            try:
                return fn(conn, *args, **kwargs)
            finally:
                conn.rollback()
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    async def _in_thread(
        self, executor: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        assert self._sync_engine is not None and executor is not None
        engine = self._sync_engine

        def run() -> T:
            with engine.connect() as conn:
                try:
                    return fn(conn, *args, **kwargs)
                finally:
                    conn.rollback()

        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(run))

    async def close(self) -> None:
        """Close every connection and stop the worker threads."""
        if self._async_engine is not None:
            await self._async_engine.dispose()
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        if self._sync_engine is not None:
            for executor in {self._writer, self._readers}:
                if executor is not None:
                    executor.shutdown(wait=True)
            self._sync_engine.dispose()


def _notifying(
    conn: Connection,
    sender: str,
    appended: list[Appended],
    fn: StoreFunction[P, T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run ``fn`` in the transaction of ``conn``, then notify the kinds it wrote (one NOTIFY at most), so
    PostgreSQL delivers the notification at commit and drops it with a rollback. The events it appends are
    added to ``appended``, for the caller to hand over once the transaction commits."""
    kinds: set[str] = set()
    conn.info[_KINDS] = kinds
    collected = collect_appended(conn)
    try:
        result = fn(conn, *args, **kwargs)
        if kinds:
            conn.execute(_NOTIFY, {"payload": payload(sender, kinds)})
        appended.extend(collected)
        return result
    finally:
        conn.info.pop(_KINDS, None)
        stop_collecting(conn)


def _watch(conn: Connection, statement: Any, multiparams: Any, params: Any, *_: Any) -> None:
    """After each statement on PostgreSQL: note the kind of work an insert queued (a draft scheduled)."""
    kinds: set[str] | None = conn.info.get(_KINDS)
    if kinds is None or not isinstance(statement, Insert | Update):
        return
    name = getattr(statement.table, "name", None)
    if isinstance(statement, Insert) and name in _NOTIFY_ON_INSERT:
        kinds.add(_NOTIFY_ON_INSERT[name])
    elif name == "drafts" and _sets_scheduled(statement, multiparams, params):
        kinds.add("scheduler")


def _sets_scheduled(statement: Insert | Update, multiparams: Any, params: Any) -> bool:
    """Whether an insert or update of drafts sets ``send_status`` to ``scheduled`` (in its values or its
    parameters): a send another engine's scheduler should plan for."""
    values = getattr(statement, "_values", None) or {}
    bound = values.get("send_status")
    if getattr(bound, "value", bound) == "scheduled":
        return True
    rows = [params] if isinstance(params, dict) else []
    rows += [row for row in multiparams or () if isinstance(row, dict)]
    return any(row.get("send_status") == "scheduled" for row in rows)


def _unavailable(exc: Exception) -> AgentInboxError:
    """A database failure the caller cannot fix by changing the request: the database is down or broken."""
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return AgentInboxError(f"the database is unavailable or failed: {detail}", code="service_unavailable")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (pysqlite's own transaction handling defers it wrongly).
    dbapi_connection.isolation_level = None
    # SQLite's own lower() folds ASCII only; filters compare lower-cased text in any script.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")


def _nothing() -> None:
    pass


def _ignore(appended: list[Appended]) -> None:
    pass
