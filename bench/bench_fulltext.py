"""Full text: article pages per second through extraction, and the page queue's memory.

    .venv/bin/python bench/bench_fulltext.py [--pages 200] [--pending 1000]

1. Extraction: `ingest.extract.extract_outcome` (trafilatura) over a news page as sites
   serve it (~150 KB: navigation, scripts, the story, comments, related stories, footer),
   inline, in a thread pool and in a process pool of 2 (this machine has 2 cores).
2. Queue: 1,000 articles pending in a SQLite database; the worker's in-memory state
   (bounded queue of ids plus the set of known ids) after every one of them is offered
   and after a refill from the database, measured with tracemalloc; beside it, what
   holding the same 1,000 pages as claimed jobs (with their feed text) would cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from ingest.db import Database, create_db_engine, upgrade
from ingest.extract import ExtractedPage, extract_outcome
from ingest.fulltext import PageWorker
from ingest.models import Article, Feed
from ingest.pagestore import PageJob
from ingest.settings import FullTextSettings

PAGES = Path(__file__).resolve().parent.parent / "tests" / "data" / "pages"
URL = "https://desertwire.example/2026/11/20/anbar-convoy-movements"


def news_page() -> bytes:
    """The English fixture page, grown to the size and clutter of a real news page."""
    html = (PAGES / "anbar-trucks-en.html").read_text(encoding="utf-8")
    nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(300))
    script = "<script>" + "var analytics = {id: 12345, events: []};" * 1500 + "</script>"
    paragraphs = "".join(
        f"<p>Paragraph {i}: officials in al-Anbar said traffic on the highway west of Ramadi "
        "returned to normal by midday, and that checkpoints had been reinforced overnight "
        "while civilian vehicles were waved through after brief inspections.</p>"
        for i in range(12)
    )
    comments = "".join(
        f'<div class="comment"><p>reader{i}: I saw the convoy too, near the base.</p></div>'
        for i in range(60)
    )
    html = html.replace('<ul>\n        <li><a href="/">Home</a></li>', f"<ul>{nav}", 1)
    html = html.replace("</head>", script + "</head>", 1)
    html = html.replace("<p>The provincial council", paragraphs + "<p>The provincial council", 1)
    html = html.replace('<div class="comment">', comments + '<div class="comment">', 1)
    return html.encode("utf-8")


def pages_per_second(page: bytes, count: int, executor: Executor | None) -> float:
    started = time.perf_counter()
    if executor is None:
        results = [extract_outcome(page, URL, "text/html; charset=utf-8") for _ in range(count)]
    else:
        results = list(
            executor.map(
                extract_outcome, [page] * count, [URL] * count, ["text/html; charset=utf-8"] * count
            )
        )
    elapsed = time.perf_counter() - started
    assert all(isinstance(r, ExtractedPage) and "Ain al-Asad" in r.text for r in results)
    return count / elapsed


def queue_memory(pending: int) -> tuple[int, int, int, int]:
    """Bytes held by the worker after offering `pending` ids, and after a database refill;
    the queue's length; and the bytes of the same pages held as jobs in memory."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        now = datetime.now(UTC)
        teaser = "Officials in al-Anbar described unusual traffic on the highway… Read more"
        with engine.begin() as conn:
            conn.execute(
                insert(Feed).values(
                    id=1, source_url="https://a.example/f.xml", url="https://a.example/f.xml",
                    next_poll_at=now, created_at=now,
                )
            )  # fmt: skip
            conn.execute(
                insert(Article),
                [
                    {
                        "feed_id": 1, "guid": f"g{i}", "url": f"https://a.example/{i}",
                        "url_key": f"a.example/{i}", "content_key": f"c{i}", "fingerprint": f"f{i}",
                        "title": f"Story {i}", "summary": teaser, "summary_html": teaser,
                        "content_html": "", "content_text": "", "published_at": now,
                        "first_seen_at": now, "changed_at": now, "version": 1,
                        "page_status": "pending", "page_version": 1,
                    }
                    for i in range(pending)
                ],
            )  # fmt: skip
        database = Database(engine)

        async def measure() -> tuple[int, int, int]:
            settings = FullTextSettings()
            warm = PageWorker(None, database, settings, "ingest/bench")  # type: ignore[arg-type]
            await warm.refill()  # SQLAlchemy's statement cache and the connection, not the queue
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            worker = PageWorker(None, database, settings, "ingest/bench")  # type: ignore[arg-type]
            worker.offer(list(range(1, pending + 1)))
            offered = _grown(before)
            tracemalloc.stop()
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            restarted = PageWorker(None, database, settings, "ingest/bench")  # type: ignore[arg-type]
            await restarted.refill()
            refilled = _grown(before)
            tracemalloc.stop()
            return offered, refilled, restarted.queue.qsize()

        offered, refilled, length = asyncio.run(measure())
        database.close()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    jobs = [
        PageJob(i, 1, 1, f"https://a.example/{i}", False, f"Story {i}", teaser)
        for i in range(pending)
    ]
    unbounded = _grown(before)
    tracemalloc.stop()
    del jobs
    return offered, refilled, length, unbounded


def _grown(before: tracemalloc.Snapshot) -> int:
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--pending", type=int, default=1000)
    args = parser.parse_args()
    page = news_page()
    extract_outcome(page, URL)  # warm up (imports, lxml)
    print(f"page: {len(page) / 1024:.0f} KiB of HTML, python {sys.version.split()[0]}")
    print(f"extraction inline:          {pages_per_second(page, args.pages, None):7.1f} pages/s")
    with ThreadPoolExecutor(2) as threads:
        rate = pages_per_second(page, args.pages, threads)
    print(f"extraction 2 threads:       {rate:7.1f} pages/s")
    with ProcessPoolExecutor(2) as processes:
        pages_per_second(page, 4, processes)  # start the workers
        rate = pages_per_second(page, args.pages, processes)
    print(f"extraction 2 processes:     {rate:7.1f} pages/s")
    offered, refilled, length, unbounded = queue_memory(args.pending)
    print(
        f"queue, {args.pending} pending: {length} ids in memory (queue_size), "
        "the rest in the database"
    )
    print(f"  worker memory after offering all: {offered / 1024:7.1f} KiB")
    print(f"  a restarted worker after a refill: {refilled / 1024:7.1f} KiB")
    print(f"  the same pages held as jobs:      {unbounded / 1024:7.1f} KiB (unbounded, for scale)")


if __name__ == "__main__":
    main()
