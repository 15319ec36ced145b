"""The parser's worker processes (`ParserPool`): `parse_feed` off the event loop's core.

One worker starts with the daemon; the others start when feeds that were never parsed
come in numbers (a first cycle, a feeds file that grew) or when parses queue up behind the
first worker (a burst of changed feeds), and stop again once they have had nothing to do
for `retire_after` seconds: each holds the parser and the compiled watchlist (about 50 MB,
130-140 MB with a 10,000-alias list), which a daemon back to a trickle of changed feeds
would keep for nothing. A steady cycle, a few changed feeds among thousands of 304s, is
parsed by one process: the others' start-up (~0.3 s of CPU each, on the cores the daemon
polls with) and their memory are spent only when work calls for them. While the first
worker starts, a steady cycle's changed feeds queue up behind it (30-45 of them at 1,000
feeds), so the backlog that counts is most of the polls in flight.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.dedupe import with_keys
from ingest.errors import NotAFeedError, ParseError
from ingest.records import ParsedFeed
from ingest.runtime import settle_heap

if TYPE_CHECKING:
    from ingest.prepare import ShippedWatchlist

__all__ = ["ParserPool"]

log = logging.getLogger("ingest.parse")

# `ingest.parse.parse_feed`'s parsers. That module (feedparser, lxml) is imported by the
# workers and by an inline pool only: the daemon's own start-up, which the first polls
# wait for, does without it (~30 ms).
PARSERS = ("auto", "feedparser")


@dataclass
class _Lane:
    """An executor and the parses sent to it that have not come back yet."""

    executor: ProcessPoolExecutor
    size: int
    pending: int = 0
    idle_since: float = field(default_factory=time.monotonic)

    def load(self) -> float:
        return self.pending / self.size

    def idle_for(self, now: float) -> float:
        return 0.0 if self.pending else now - self.idle_since


class ParserPool:
    """Runs `parse_feed` in worker processes; results and errors come back as values.

    Workers are spawned, not forked: the daemon has threads (database, scheduler), and a
    fork copies their locks in whatever state they are.
    """

    # Feeds never parsed, announced together (`expect`), that start every worker.
    EXPECTED_AT = 16
    # Parses waiting on the first worker before the others take any: below it a parse
    # queues behind the first (a few ms) and leaves the others idle, so they can retire.
    SPILL_AT = 2

    def __init__(
        self,
        workers: int | None = None,
        *,
        parser: str = "auto",
        backlog: int = 48,
        retire_after: float = 300.0,
    ) -> None:
        """`backlog`: parses waiting on the first worker that start the others;
        `retire_after`: seconds without a parse after which the others stop."""
        if workers is not None and workers < 0:
            raise ValueError("workers must be 0 (parse inline) or more")
        if parser not in PARSERS:
            raise ValueError(f"parser must be one of {', '.join(PARSERS)}")
        self.parser = parser
        self.backlog = max(1, backlog)
        self.retire_after = retire_after
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._first = _adopt_prestarted(1 if self.workers else 0) or (
            self._new_lane(1) if self.workers else None
        )
        self._rest: _Lane | None = None  # the other workers, once a backlog calls for them
        self._closed = False

    @staticmethod
    def _new_lane(size: int) -> _Lane:
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(size, mp_context=context, initializer=_init_worker)
        _widen_pipes(executor)
        return _Lane(executor, size)

    def start(self) -> None:
        """Spawn the first worker now, importing the parser and the matcher, instead of on
        the first feed: its start-up overlaps the daemon's own."""
        if self._first is not None and not self._closed:
            _warm(self._first)

    def expect(self, parses: int) -> None:
        """`parses` feeds that were never parsed are about to be polled: each will be."""
        if parses >= self.EXPECTED_AT:
            self._grow(f"expected={parses}")

    @property
    def started(self) -> int:
        """Worker processes started so far (the pool grows under a backlog)."""
        lanes = (self._first, self._rest)
        # Processes, not lane sizes: a lane's executor spawns its workers as parses come.
        return sum(len(lane.executor._processes or {}) for lane in lanes if lane is not None)

    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str | None,
        watchlist: ShippedWatchlist | None = None,
    ) -> ParsedFeed | ParseError:
        """The feed's records; with `watchlist`, each entry's match results too (in the
        worker, see ingest.prepare)."""
        if self._closed:
            return ParseError(url, "the parser pool is closed")
        lane = self._lane_for_next()
        if lane is None:
            return _from_outcome(_parse_outcome(body, url, content_type, self.parser), url)
        executor = lane.executor
        lane.pending += 1
        try:
            # Even the fast path goes to a worker: it costs ~3 ms per 60 KB feed, the trip
            # there and back ~0.5 ms, and the event loop's core is busy with HTTP and SQL.
            outcome = await asyncio.get_running_loop().run_in_executor(
                executor, _parse_outcome, body, url, content_type, self.parser, watchlist
            )
        except BrokenProcessPool:
            self._replace(lane, executor)
            log.warning("parser_crashed feed=%s", url)
            return ParseError(
                url, "the parser process died while reading this feed (crash or out of memory)"
            )
        finally:
            lane.pending -= 1
            if not lane.pending:
                lane.idle_since = time.monotonic()
        return _from_outcome(outcome, url)

    def _lane_for_next(self) -> _Lane | None:
        first = self._first
        if first is None:
            return None
        if first.pending >= self.backlog:
            self._grow(f"backlog={first.pending}")
        rest = self._rest
        if rest is not None and first.pending >= self.SPILL_AT and rest.load() < first.load():
            return rest
        return first

    def retire_idle(self, now: float | None = None) -> bool:
        """Stop the workers beyond the first if none has parsed for `retire_after`
        seconds (the daemon asks every minute); a backlog starts them again."""
        rest = self._rest
        now = time.monotonic() if now is None else now
        if rest is None or self._closed or rest.idle_for(now) < self.retire_after:
            return False
        self._rest = None
        rest.executor.shutdown(wait=False, cancel_futures=True)
        log.info("parser_pool_shrunk workers=1 idle=%.0fs", rest.idle_for(now))
        return True

    def _grow(self, why: str) -> None:
        if self._rest is None and self.workers > 1 and not self._closed:
            self._rest = self._new_lane(self.workers - 1)
            _warm(self._rest)
            log.info("parser_pool_grown workers=%d %s", self.workers, why)

    def _replace(self, lane: _Lane, broken: ProcessPoolExecutor) -> None:
        # Every parse in flight on the broken executor lands here; replace it only once.
        if lane.executor is broken and not self._closed:
            broken.shutdown(wait=False, cancel_futures=True)
            lane.executor = self._new_lane(lane.size).executor

    def close(self) -> None:
        self._closed = True
        for lane in (self._first, self._rest):
            if lane is not None:
                lane.executor.shutdown(wait=True, cancel_futures=True)


# What a pipe to or from a worker holds: several feeds' bodies or parsed results (60-160
# KB each). Linux's default, 64 KB, held less than one: a worker sat blocked writing its
# result until the daemon's executor thread, which contends for the GIL with the event
# loop and the database thread, had read the rest. In a cold cycle of 1,000 feeds the
# workers were parsing 65% of the time, 82% with 1 MiB, and the cycle took 7% less time
# (bench.compare). 1 MiB is Linux's ceiling for a process without privileges
# (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20


def _widen_pipes(executor: ProcessPoolExecutor) -> None:
    """Enlarge the executor's call and result pipes to `PIPE_BYTES`, where the platform
    allows: elsewhere, or if a Python release renames the queues, they keep their size."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    for queue_name in ("_call_queue", "_result_queue"):
        reader = getattr(getattr(executor, queue_name, None), "_reader", None)
        if reader is None:
            continue
        with contextlib.suppress(OSError, ValueError):
            # One end sets it for the pipe; refused past a user's pipe budget (EPERM).
            fcntl.fcntl(reader.fileno(), set_size, PIPE_BYTES)


_prestarted: list[_Lane] = []


def prestart() -> None:
    """Spawn a first worker before the daemon is even set up; the next pool adopts it.

    `ingest run` calls this before importing the command line: the worker's start-up
    (~0.3 s of CPU) then runs beside the daemon's own imports (~0.6 s, one core),
    rather than on the cores the first polls need.
    """
    if not _prestarted:
        lane = ParserPool._new_lane(1)
        _warm(lane)
        _prestarted.append(lane)


def _adopt_prestarted(size: int) -> _Lane | None:
    """The prestarted lane if it has the `size` this pool wants, else None (it is shut
    down: `parse.workers` asked for another size, or 0: parse inline)."""
    if not _prestarted:
        return None
    lane = _prestarted.pop()
    if lane.size == size:
        return lane
    lane.executor.shutdown(wait=False, cancel_futures=True)
    return None


def _warm(lane: _Lane) -> None:
    # Submitting a task per worker makes the executor spawn them all now.
    for _ in range(lane.size):
        lane.executor.submit(_warm_worker)


def _init_worker() -> None:
    # A terminal's Ctrl-C and hang-up reach the whole process group: the daemon stops (or
    # reloads) and closes the pool itself, while a worker they killed printed a
    # KeyboardInterrupt traceback and failed the parses in flight. SIGTERM keeps its
    # default: the executor stops a broken pool's workers with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    gc.disable()  # the imports build only long-lived objects; settle_heap turns it on
    import ingest.parse  # parse_feed, for _parse_outcome
    import ingest.prepare  # noqa: F401  (the matcher's tables are built on import)

    settle_heap()
    atexit.register(_exit_without_teardown)


def _exit_without_teardown() -> None:
    """A worker's last exit handler: end the process without freeing its heap.

    Handlers run last-registered first, so this runs before the ones registered at
    import (logging's, which it runs itself); multiprocessing's own clean-up has run by
    then. The daemon's `close` waits for its workers to exit, and a worker freeing its
    heap (the matcher, the parser's tables) was on the path of every `ingest run
    --once`: closing the pool after a steady cycle took 0.05-0.15 s, 0.02-0.10 s with
    this handler. A worker that crashes never gets here.
    """
    logging.shutdown()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


def _warm_worker() -> None:
    """Nothing: submitting it makes the pool spawn a worker (which runs `_init_worker`)."""


# An error crosses the process boundary as (kind, message, alternate): exception objects
# with required constructor arguments do not survive pickling.
_Outcome = ParsedFeed | tuple[str, str, str | None]


def _parse_outcome(
    body: bytes,
    url: str,
    content_type: str | None,
    parser: str = "auto",
    watchlist: ShippedWatchlist | None = None,
) -> _Outcome:
    from ingest.parse import parse_feed  # imported at the worker's start (_init_worker)

    try:
        feed = with_keys(parse_feed(body, url=url, content_type=content_type, parser=parser))
        if watchlist is not None:
            from ingest.prepare import with_matches  # the worker's matcher, made once

            feed = with_matches(feed, watchlist)
        return feed
    except NotAFeedError as exc:
        return ("not_a_feed", exc.message, exc.alternate)
    except ParseError as exc:
        return ("parse", exc.message, None)
    except Exception as exc:  # a parser bug must cost one feed, not the batch
        return ("bug", f"the parser failed on this feed: {type(exc).__name__}: {exc}"[:500], None)


def _from_outcome(outcome: _Outcome, url: str) -> ParsedFeed | ParseError:
    if isinstance(outcome, ParsedFeed):
        return outcome
    kind, message, alternate = outcome
    if kind == "not_a_feed":
        return NotAFeedError(url, message, alternate)
    if kind == "bug":
        log.error("parser_failed feed=%s error=%s", url, message)
    return ParseError(url, message)
