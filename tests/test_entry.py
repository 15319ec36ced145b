"""The console script's exit: it skips freeing the heap, and must lose nothing for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ingest.feedsfile import read_feeds_file


def ingest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args], capture_output=True, text=True, timeout=120
    )


def test_a_long_output_reaches_its_pipe_whole(tmp_path: Path) -> None:
    assert ingest("init", str(tmp_path)).returncode == 0
    feeds = tmp_path / "feeds.opml"
    outlines = "\n".join(
        f'<outline type="rss" text="f{n}" xmlUrl="https://news{n}.example/feed.xml"/>'
        for n in range(3000)
    )
    feeds.write_text(f'<opml version="2.0"><head/><body>{outlines}</body></opml>\n')
    done = ingest("feeds", "export", "--config", str(tmp_path / "ingest.toml"))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 200_000  # far past any stream buffer
    exported = tmp_path / "exported.opml"
    exported.write_text(done.stdout)
    assert len(read_feeds_file(exported)) == 3000


def test_a_usage_error_keeps_its_code_and_message(tmp_path: Path) -> None:
    done = ingest("run", "--once", "--config", str(tmp_path / "missing.toml"))
    assert done.returncode == 2
    assert "configuration file not found" in done.stderr
