"""How the long-running processes (the daemon and its parser workers) treat their heap."""

from __future__ import annotations

import gc

# The young generation's size, then how many of its collections make one of the middle
# generation, and how many of those one of the whole heap (Python's default: 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 100)
_settled = False


def settle_heap() -> None:
    """Keep the cyclic garbage collector off what start-up built, and run it less often.

    Called by the processes ingest starts: the console script's and the parser workers.

    After start-up the heap holds the modules, the ORM, the settings and the parser:
    long-lived, and never garbage. The collector walked all of it again and again: 0.80 s
    of the daemon's CPU in a cold cycle of 1,000 feeds (4 full collections, 45 of the
    middle generation), 0.40 s in a steady one; frozen, with a larger young generation,
    0.14 s and 0.16 s. What a cycle allocates is still collected: reference counting
    frees nearly all of it, and the collector runs for the rest.
    """
    global _settled
    _settled = True
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()  # the console script and the workers import with it off


def settle_more() -> None:
    """Freeze what start-up has built since, in a process that `settle_heap` settled.

    Only there: in a process that embeds ingest (a test run, a notebook), freezing would
    keep its own garbage of cycles forever.
    """
    if _settled:
        gc.freeze()
