"""Engine and session factory, SQLite pragmas, migrations, the single-daemon lock."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ingest.errors import InstanceLockedError, SchemaError, StorageError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# Alembic is imported where it is used: it costs ~0.2 s, which every command (and the
# daemon's start) would pay for nothing.

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16384
T = TypeVar("T")


def create_db_engine(url: str) -> Engine:
    """An engine with the pragmas the embedded default needs (WAL, busy timeout, FKs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so a write
        # transaction starts with BEGIN IMMEDIATE and never dies on an upgrade deadlock.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see create_db_engine)
    cursor = dbapi_conn.cursor()
    # A new database only (it is fixed once the first page is written, so before WAL): an
    # article's row is about 2.3 KB, and 4 KiB pages held one each, the rest wasted. 16 KiB
    # pages pack rows of mixed sizes tighter than 8 KiB (a cold 1,000-feed cycle: 136 MB
    # against 152 MB) and halve the pages a commit writes (the database thread's CPU 8%
    # less); 32 KiB saved little more and made each index page a commit dirties bigger.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 16 MiB of page cache (the default is 2 MiB): the article indexes of a busy instance
    # no longer fit in 2 MiB, and every insert would re-read index pages from the OS.
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or went away (server down or restarting, the
    connection cut, disk full): retry later, unlike a bug in a statement."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    # The SQLite write paths run through the driver (`sqlite_driver`): its own errors.
    if isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def describe_db_error(exc: BaseException) -> str:
    """One short line for the log: the driver's message without SQLAlchemy's appendix."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrations_dir() -> Path:
    """db/ in a checkout, ingest/_db inside an installed wheel."""
    packaged = Path(__file__).parent / "_db"
    if (packaged / "env.py").exists():
        return packaged
    return Path(__file__).resolve().parent.parent / "db"


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# The newest migration in db/versions (a test holds it to Alembic's own answer): the
# schema check of every start compares with it instead of importing Alembic (~0.15 s).
HEAD_REVISION = "20261204_0006"


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # no version table yet, or no database: the full check says which
        return False
    return [row[0] for row in found] == [HEAD_REVISION]


def check_schema(engine: Engine) -> None:
    """Refuse to run on an unmigrated or newer schema, saying which command fixes it."""
    if _at_head(engine):
        return
    try:
        current = current_revision(engine)
    except Exception as exc:  # the server is down, the file unreadable…
        raise StorageError(f"cannot open the database {engine.url!r}: {exc}") from exc
    head = head_revision()
    if current == head:
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    if current is None:
        raise SchemaError(
            f"the database {_describe(engine)} has no schema yet: run `ingest db upgrade`"
        )
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"the database {_describe(engine)} is at schema {current}, newer than this version of "
            f"ingest knows (head {head}): upgrade ingest"
        )
    raise SchemaError(
        f"the database {_describe(engine)} is at schema {current}, not {head}: "
        "run `ingest db upgrade`"
    )


def _describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def instance_lock(url: str) -> Iterator[None]:
    """One daemon per SQLite file: a second one refuses instead of double-polling.

    PostgreSQL needs no lock: daemons share it by claiming feeds with SKIP LOCKED.
    """
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        yield
        return
    lock_path = Path(parsed.database).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(lock_path, "a+")  # noqa: SIM115 (held for the daemon's life)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InstanceLockedError(
                f"another ingest daemon ({holder}) is already running on {parsed.database}; "
                "stop it first, or use PostgreSQL to run several daemons"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


@dataclass(slots=True)
class _Write:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    light: bool = False


class Database:
    """The engine plus ONE thread that every database call of the daemon goes through.

    SQLite allows one writer; funnelling calls through a single thread keeps the
    event loop free and avoids "database is locked" between our own writers.

    `write` is a group commit: the writes that queue up while the thread is busy go
    into one transaction. A commit costs a fixed few milliseconds on either engine, so
    a cycle of a thousand polls would otherwise spend seconds committing; each poll is
    still all or nothing, and one poll's failure costs only that poll.

    The transaction is tried first with no SAVEPOINT at all: on SQLite each SAVEPOINT
    journals the original of every page its poll touches (index leaves, the feed's
    row), in a cold cycle of 10,000 feeds more bytes than the WAL itself, and the
    database thread spent 12% of its time on them. Only if a write in it fails is the
    transaction rolled back and the batch written again, each write in a SAVEPOINT of
    its own: so a write function must leave nothing behind but its rows when it raises
    or is rolled back, and may run twice.
    """

    MAX_BATCH = 200  # writes per transaction: bounds how long the write lock is held

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-db")
        self._writes: list[_Write] = []
        self._lock = threading.Lock()
        self._flush_queued = False

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, self.engine, *args, **kwargs))

    async def write(self, fn: Callable[..., T], /, *args: Any, light: bool = False) -> T:
        """`fn(conn, *args)` inside the next group commit; its value once committed.

        `fn` may run twice: if another write of its batch fails, the batch is rolled
        back and written again (see the class). `light`: a write of a few rows that is
        not expected to fail (a 304's feed state and log line); when a batch is written
        again, its light writes share one SAVEPOINT, and go one by one if that fails.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._writes.append(_Write(fn, args, future, loop, light))
            if not self._flush_queued:
                self._flush_queued = True
                self._executor.submit(self._flush)
        return await future

    def _flush(self) -> None:
        with self._lock:
            batch, self._writes = self._writes[: self.MAX_BATCH], self._writes[self.MAX_BATCH :]
            if self._writes:
                self._executor.submit(self._flush)
            else:
                self._flush_queued = False
        try:
            try:
                outcomes = self._commit_together(batch)
            except _WriteFailed:
                outcomes = self._commit_apart(batch)
        except Exception as exc:  # the commit, or the database itself: every write failed
            outcomes = [(write, None, exc) for write in batch]
        # One wake-up of each event loop for the whole batch, not one per write: each
        # call_soon_threadsafe writes to the loop's self-pipe.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)

    def _commit_together(self, batch: list[_Write]) -> list[_Outcome]:
        """Every write of the batch in one transaction without savepoints; `_WriteFailed`
        (the transaction rolled back) if one of them raised."""
        outcomes: list[_Outcome] = []
        with self.engine.begin() as conn:
            for write in batch:
                try:
                    outcomes.append((write, write.fn(conn, *write.args), None))
                except Exception as exc:
                    if database_unavailable(exc):
                        raise  # nothing after it can be written either
                    raise _WriteFailed from exc
        return outcomes

    def _commit_apart(self, batch: list[_Write]) -> list[_Outcome]:
        """The batch again after a write failed: each in a SAVEPOINT, so that one's
        failure undoes only its own rows (the light ones share one while none fails)."""
        outcomes: list[_Outcome] = []
        with self.engine.begin() as conn:
            outcomes.extend(_light_writes(conn, [write for write in batch if write.light]))
            for write in batch:
                if not write.light:
                    outcomes.append(_write_in_savepoint(conn, write))
        return outcomes

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


class _WriteFailed(Exception):
    """A write of a batch tried without savepoints raised: the batch goes again, apart."""


_Outcome = tuple[_Write, Any, BaseException | None]


def _write_in_savepoint(conn: Connection, write: _Write) -> _Outcome:
    try:
        with savepoint(conn):
            return write, write.fn(conn, *write.args), None
    except Exception as exc:
        if database_unavailable(exc):
            raise  # nothing after it can be written either
        return write, None, exc


def _light_writes(conn: Connection, writes: list[_Write]) -> list[_Outcome]:
    """The light writes in one SAVEPOINT; one SAVEPOINT each if any of them fails."""
    if len(writes) < 2:
        return [_write_in_savepoint(conn, write) for write in writes]
    try:
        with savepoint(conn):
            return [(write, write.fn(conn, *write.args), None) for write in writes]
    except Exception as exc:
        if database_unavailable(exc):
            raise
    return [_write_in_savepoint(conn, write) for write in writes]


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A SAVEPOINT of the open transaction: what `conn` wrote in the block is undone if
    it raises.

    On SQLite through the driver: SQLAlchemy's `begin_nested` took about 200 µs a
    SAVEPOINT here (the statements 5 µs), and the group commit makes one per poll.
    """
    if conn.dialect.name != "sqlite":
        with conn.begin_nested():
            yield
        return
    driver = sqlite_driver(conn)
    driver.execute("SAVEPOINT ingest_write")
    try:
        yield
    except BaseException:
        # An I/O error or a full disk can make SQLite roll back the whole transaction:
        # then there is no savepoint left to undo, and the commit reports the loss.
        with suppress(sqlite3.Error):
            driver.execute("ROLLBACK TO ingest_write")
            driver.execute("RELEASE ingest_write")
        raise
    driver.execute("RELEASE ingest_write")


def sqlite_driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under `conn`, in its transaction (BEGIN IMMEDIATE is sent
    through it, and it runs with `isolation_level = None`: it starts nothing itself).

    For the write paths every poll takes: a statement through SQLAlchemy's
    `exec_driver_sql` cost 15-20 µs of Python here, straight through the driver 2-3 µs,
    time in which the database thread holds the GIL the event loop needs.
    """
    driver = conn.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise TypeError(f"not a sqlite3 connection: {type(driver).__name__}")
    return driver


def _settle_all(outcomes: list[_Outcome]) -> None:
    for write, value, error in outcomes:
        future = write.future
        if future.done():  # the poll was cancelled (shutdown); what it wrote stands
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
