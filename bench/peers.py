"""The contenders `ingest` is measured against, each run as its own process.

    python -m bench.peers reader-setup --db PATH --urls FILE   add the feeds (not timed)
    python -m bench.peers reader --db PATH [--workers 8]         one update_feeds() pass
    python -m bench.peers naive --db PATH --urls FILE            one pass of the naive loop

`reader` is lemon24's feed reader library (PyPI `reader`), the tool a Python user
would pick; `update_feeds(workers=..., scheduled=False)` updates every feed once, with
conditional GET, feedparser and its own SQLite storage.

The naive loop is what a careful person writes in an afternoon: one reused
`httpx.Client`, a conditional GET with the stored ETag/Last-Modified, feedparser on the
bytes, and one INSERT per entry (known guids skipped by the primary key) into SQLite,
committed once per feed.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
from pathlib import Path
from typing import Any


def reader_setup(db: Path, urls: list[str]) -> None:
    from reader import make_reader

    with make_reader(str(db)) as reader:
        for url in urls:
            reader.add_feed(url, exist_ok=True)


def reader_update(db: Path, workers: int) -> None:
    from reader import make_reader

    with make_reader(str(db)) as reader:
        reader.update_feeds(workers=workers, scheduled=False)
        print(f"reader entries={reader.get_entry_counts().total}")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT);
CREATE TABLE IF NOT EXISTS entries (
    feed TEXT NOT NULL, guid TEXT NOT NULL, link TEXT, title TEXT, summary TEXT,
    published TEXT, PRIMARY KEY (feed, guid)
);
"""


def naive(db: Path, urls: list[str]) -> None:
    import feedparser
    import httpx

    conn = sqlite3.connect(db)
    conn.executescript(_SCHEMA)
    conn.executemany("INSERT OR IGNORE INTO feeds (url) VALUES (?)", [(u,) for u in urls])
    conn.commit()
    validators = {
        url: (etag, modified)
        for url, etag, modified in conn.execute("SELECT url, etag, last_modified FROM feeds")
    }
    inserted = 0
    with httpx.Client(timeout=30) as client:
        for url in urls:
            etag, modified = validators.get(url, (None, None))
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
            try:
                response = client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                print(f"error {url}: {exc}", file=sys.stderr)
                continue
            if response.status_code != 200:
                continue
            parsed: Any = feedparser.parse(io.BytesIO(response.content))
            for entry in parsed.entries:
                guid = entry.get("id") or entry.get("link")
                if not guid:
                    continue
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        url,
                        guid,
                        entry.get("link"),
                        entry.get("title"),
                        entry.get("summary"),
                        entry.get("published") or entry.get("updated"),
                    ),
                )
                inserted += cursor.rowcount
            conn.execute(
                "UPDATE feeds SET etag = ?, last_modified = ? WHERE url = ?",
                (response.headers.get("etag"), response.headers.get("last-modified"), url),
            )
            conn.commit()
    conn.close()
    print(f"naive inserted={inserted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["reader-setup", "reader", "naive"])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--urls", type=Path, help="a file with one feed URL a line")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    urls = args.urls.read_text().split() if args.urls else []
    if args.which == "reader-setup":
        reader_setup(args.db, urls)
    elif args.which == "reader":
        reader_update(args.db, args.workers)
    else:
        naive(args.db, urls)


if __name__ == "__main__":
    main()
