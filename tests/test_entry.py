"""The console script's exit: it skips freeing the heap, and must lose nothing for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def ingest(*args: str) -> subprocess.CompletedProcess[str]:
    # Buffered streams, as a user's shell gives them (CI may set PYTHONUNBUFFERED).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_long_output_reaches_its_pipe_whole(tmp_path: Path) -> None:
    # `feeds list` in a pipe writes a line at a time: the last lines sit in the stream's
    # buffer until it is flushed, which the quick exit must still do.
    assert ingest("init", str(tmp_path)).returncode == 0
    outlines = "\n".join(
        f'<outline type="rss" text="f{n}" xmlUrl="https://news{n}.example/feed.xml"/>'
        for n in range(3000)
    )
    (tmp_path / "feeds.opml").write_text(
        f'<opml version="2.0"><head/><body>{outlines}</body></opml>\n'
    )
    done = ingest("feeds", "list", "--config", str(tmp_path / "ingest.toml"))
    assert done.returncode == 0, done.stderr
    urls = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert urls == [f"https://news{n}.example/feed.xml" for n in range(3000)]


def test_a_usage_error_keeps_its_code_and_message(tmp_path: Path) -> None:
    done = ingest("run", "--once", "--config", str(tmp_path / "missing.toml"))
    assert done.returncode == 2
    assert "configuration file not found" in done.stderr


def test_the_collector_is_back_on_once_started() -> None:
    # Start-up imports with the collector off; a daemon left that way would keep every
    # reference cycle its polls make, growing for as long as it runs.
    probe = (
        "import gc, sys, ingest.cli\n"
        "ingest.cli.main = lambda: print('collector on' if gc.isenabled() else 'off')\n"
        "sys.argv = ['ingest', 'version']\n"
        "from ingest.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "collector on"


def test_a_parser_worker_runs_with_the_collector_on() -> None:
    import gc
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ingest.parse_pool import _init_worker

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker) as pool:
        assert pool.submit(gc.isenabled).result(timeout=60) is True
