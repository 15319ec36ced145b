"""The `ingest` console script's entry point, kept free of imports.

multiprocessing's spawn start method runs the parent's main module again in every
worker (as `__mp_main__`). For the console script that module is the script pip
writes, which imports whatever the entry point names: naming `ingest.cli` made each
parser worker import the whole command line, SQLAlchemy and the digest stack with it
(~1 s of CPU per worker, competing with the daemon for the same cores).
"""

from __future__ import annotations


def main() -> None:
    import gc
    import sys

    # Start-up builds the modules, the ORM and the settings: long-lived objects, never
    # garbage, which the collector would walk on every few hundred allocations (about a
    # tenth of the import time). `settle_heap` turns it back on, with the heap frozen.
    gc.disable()
    if sys.argv[1:2] == ["run"]:
        from ingest import tls
        from ingest.parse_pool import prestart

        tls.preload()  # the CA bundle, read in a thread while the imports below run
        prestart()  # its start-up overlaps the imports below
    from ingest.cli import main as cli_main
    from ingest.runtime import settle_heap

    settle_heap()
    try:
        cli_main()
    except SystemExit as done:
        exit_without_teardown(done.code)
        raise
    exit_without_teardown(0)


def exit_without_teardown(code: object) -> None:
    """End the process once its work is done and flushed, skipping the heap's teardown.

    Python frees every object and module at exit. After a cycle of `ingest run --once`
    that heap holds the matcher, the known-article keys and the ORM: freeing it took
    0.3-0.5 s, a tenth of a steady cycle at 1,000 feeds. The exit handlers still run
    (logging's flush, multiprocessing's joins, finalizers); only the freeing is skipped.
    Returns, for the normal exit, while any other thread is still running (it would be
    waited for), under a profiler or debugger, or when a stream cannot be flushed (the
    error must be reported).
    """
    import atexit
    import contextlib
    import os
    import sys
    import threading

    if threading.active_count() > 1:
        return
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return  # a profiler, debugger or coverage tool writes its report at the real exit
    status = code if isinstance(code, int) else 0 if code is None else 1
    if not isinstance(code, int | None):
        print(code, file=sys.stderr)  # what SystemExit("message") would print
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):  # an exit handler may have written
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)
