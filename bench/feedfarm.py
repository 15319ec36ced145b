"""A loopback feed farm: N generated news feeds served from pre-rendered bytes.

    .venv/bin/python -m bench.feedfarm --feeds 1000 [--seed 7] [--workers 2] [--port 0]
    .venv/bin/python -m bench.feedfarm --feeds 1000 --load 10   # measure what it sustains

Feed i is at http://127.0.0.1:PORT/feeds/i.xml. A deterministic mix (from the seed)
of RSS 2.0 (60%), Atom 1.0 (30%) and RSS 1.0/RDF (10%); 20-60 items per feed (the oldest
dropped past 120 KB); each item a news-like HTML description of 300-1,500 characters
(paragraphs, links, bold,
entities); 20-120 KB per feed. About one item in twelve mentions a tracked entity of
config/watchlist.toml, most of those next to a logistics term, some of them in Arabic.
Responses carry ETag and Last-Modified and a conditional GET that matches gets 304.

Rounds: `Farm.set_round(r)` moves every feed to its state after r rounds; in each round a
`churn` fraction of the feeds (chosen from the seed) get 1-3 new items and drop as many
old ones. Any round can be reached from any other, so several contenders see exactly
the same bytes.

The server is asyncio on raw sockets (no HTTP framework): a tiny request parser,
keep-alive, every response pre-rendered as bytes. `workers` forked processes each
listen on the same port with SO_REUSEPORT; the feeds are rendered once, in the parent,
before the fork. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import html
import os
import random
import signal
import socket
import statistics
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

HOST = "127.0.0.1"
WATCHLIST = Path(__file__).resolve().parent.parent / "config" / "watchlist.toml"
EPOCH = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
ITEM_SPACING = timedelta(minutes=41)
MAX_FEED_BYTES = 120_000

_WORDS_TEXT = (
    "officials said the ministry on monday forces near border were reported to have moved "
    "several positions after talks in capital where ministers discussed security and "
    "reconstruction while local sources told reporters that situation remained calm but "
    "tense with residents describing heavy traffic main highway new checkpoints according "
    "statement released by defense late tuesday evening parliament budget vote delayed "
    "again electricity shortages protest governor province oil exports rose percent prices "
    "markets drought water river dam farmers wheat harvest election commission candidates "
    "turnout delegation visit agreement signed cooperation investment railway project "
    "airport flights resumed"
)
_WORDS = _WORDS_TEXT.split()
_ARABIC_TEXT = (
    "قالت مصادر محلية إن القوات المنتشرة قرب الحدود نقلت مواقعها بعد "
    "محادثات في العاصمة حيث ناقش الوزراء الأمن وإعادة الإعمار فيما أفاد "
    "سكان بأن الوضع هادئ لكنه متوتر مع حركة كثيفة على الطريق الرئيسي ونقاط "
    "تفتيش جديدة وفق بيان صادر عن وزارة الدفاع مساء الثلاثاء"
)
_ARABIC_WORDS = _ARABIC_TEXT.split()
_PLACES = ("Baghdad", "Mosul", "Basra", "Erbil", "Kirkuk", "Ramadi", "Fallujah", "Najaf", "Tikrit")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    aliases: tuple[str, ...]
    arabic_aliases: tuple[str, ...]
    terms: tuple[str, ...]


def load_vocabulary(path: Path = WATCHLIST) -> Vocabulary:
    """Entity aliases and logistics terms from the watchlist, so some items get flagged."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    aliases: list[str] = []
    for entity in data.get("entities", []):
        aliases.extend(a for a in entity.get("aliases", []) if not a.startswith("re:"))
    terms: list[str] = []
    for group in data.get("keywords", []):
        terms.extend(t for t in group.get("terms", []) if not t.startswith("re:"))
    latin = tuple(a for a in aliases if a.isascii())
    arabic = tuple(a for a in aliases if not a.isascii())
    return Vocabulary(
        latin or ("Ain al-Asad",), arabic or ("عين الأسد",), tuple(terms) or ("convoy",)
    )


@dataclass(frozen=True, slots=True)
class FeedShape:
    """What never changes about feed i: its format and how many items it shows."""

    index: int
    format: str  # rss20 | atom10 | rss10
    items: int
    arabic: bool


class FeedGenerator:
    """Feed bodies as pure functions of (seed, feed index, round)."""

    def __init__(
        self,
        feeds: int,
        seed: int,
        churn: float,
        vocabulary: Vocabulary,
        origin: str = "http://127.0.0.1:9",
    ) -> None:
        # Every link points back at the farm (loopback): a contender that follows article
        # links (full-text fetching) never leaves the machine.
        self.origin = origin
        self.feeds = feeds
        self.seed = seed
        self.churn = churn
        self.vocabulary = vocabulary
        rng = random.Random(f"{seed}:shapes")
        formats = ["rss20"] * 6 + ["atom10"] * 3 + ["rss10"]
        self.shapes = [
            FeedShape(i, rng.choice(formats), rng.randint(20, 60), rng.random() < 0.15)
            for i in range(feeds)
        ]
        # A pool of sentences: items are cheap to build and still all different.
        self._sentences = [self._sentence(rng, _WORDS) for _ in range(3000)]
        self._arabic = [self._sentence(rng, _ARABIC_WORDS) for _ in range(600)]
        self._churned: dict[int, dict[int, int]] = {}

    @staticmethod
    def _sentence(rng: random.Random, words: Sequence[str]) -> str:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 22)))
        return text[0].upper() + text[1:] + "."

    def new_items(self, round_no: int) -> dict[int, int]:
        """Feeds that get new items in `round_no` (>= 1), and how many."""
        cached = self._churned.get(round_no)
        if cached is None:
            rng = random.Random(f"{self.seed}:round:{round_no}")
            chosen = rng.sample(range(self.feeds), round(self.feeds * self.churn))
            cached = {i: rng.randint(1, 3) for i in sorted(chosen)}
            self._churned[round_no] = cached
        return cached

    def newest(self, index: int, round_no: int) -> int:
        """The number of the newest item of feed `index` after `round_no` rounds."""
        top = self.shapes[index].items - 1
        for r in range(1, round_no + 1):
            top += self.new_items(r).get(index, 0)
        return top

    def item(self, index: int, number: int) -> dict[str, str | datetime]:
        rng = random.Random(f"{self.seed}:{index}:{number}")
        shape = self.shapes[index]
        pool = self._arabic if shape.arabic else self._sentences
        target = rng.randint(300, 1500)
        paragraphs: list[str] = []
        length = 0
        while length < target:
            sentences = [rng.choice(pool) for _ in range(rng.randint(2, 4))]
            if rng.random() < 0.3:
                place = rng.choice(_PLACES)
                sentences.insert(1, f'Reports from <a href="/world/{place.lower()}">{place}</a>.')
            if rng.random() < 0.2:
                sentences[0] = f"<b>{sentences[0]}</b>"
            paragraph = "<p>" + " ".join(sentences) + "</p>"
            paragraphs.append(paragraph)
            length += len(paragraph)
        roll = rng.random()
        vocabulary = self.vocabulary
        if roll < 0.06:
            alias = rng.choice(vocabulary.arabic_aliases if shape.arabic else vocabulary.aliases)
            term = rng.choice(vocabulary.terms)
            paragraphs.insert(
                1, f"<p>A {term} was seen leaving {alias} on Monday, sources said.</p>"
            )
        elif roll < 0.08:
            alias = rng.choice(vocabulary.aliases)
            paragraphs.insert(1, f"<p>Officials at {alias} declined to comment &amp; left.</p>")
        words = rng.choice(self._sentences).rstrip(".").split()[:9]
        title = " ".join(words)
        if roll < 0.03:
            title = (
                f"{rng.choice(vocabulary.terms).capitalize()} near {rng.choice(vocabulary.aliases)}"
            )
        return {
            "title": title,
            "link": f"{self.origin}/site{index % 97}/{index}/story-{number}.html",
            "guid": f"urn:farm:{index}:{number}",
            "date": EPOCH + ITEM_SPACING * number + timedelta(seconds=index % 600),
            "html": "\n".join(paragraphs),
        }

    def body(self, index: int, round_no: int) -> bytes:
        shape = self.shapes[index]
        newest = self.newest(index, round_no)
        items = [self.item(index, n) for n in range(newest, newest - shape.items, -1)]
        render = {"rss20": _rss20, "atom10": _atom10, "rss10": _rss10}[shape.format]
        site = f"{self.origin}/site{index % 97}"
        body = render(index, items, site).encode("utf-8")
        while len(body) > MAX_FEED_BYTES and len(items) > 20:  # the oldest items go first
            del items[-max(1, (len(body) - MAX_FEED_BYTES) // 2400) :]
            body = render(index, items, site).encode("utf-8")
        return body


def _esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def _rss20(index: int, items: list[dict[str, str | datetime]], site: str) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>\n'
        f"<title>Farm wire {index}</title><link>{site}/</link>\n"
        f"<description>Generated news feed {index}</description><language>en</language>\n"
    ]
    for item in items:
        date = item["date"]
        assert isinstance(date, datetime)
        parts.append(
            f"<item><title>{_esc(item['title'])}</title><link>{item['link']}</link>"
            f'<guid isPermaLink="false">{item["guid"]}</guid>'
            f"<pubDate>{format_datetime(date, usegmt=True)}</pubDate>"
            f"<dc:creator>Desk {index % 13}</dc:creator>"
            f"<description>{_esc(item['html'])}</description></item>\n"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts)


def _atom10(index: int, items: list[dict[str, str | datetime]], site: str) -> str:
    first = items[0]["date"]
    assert isinstance(first, datetime)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>Farm regional {index}</title><id>urn:farm:feed:{index}</id>"
        f'<link rel="alternate" href="{site}/"/>'
        f"<updated>{first.isoformat()}</updated><author><name>Desk {index % 13}</name></author>\n"
    ]
    for item in items:
        date = item["date"]
        assert isinstance(date, datetime)
        parts.append(
            f"<entry><title>{_esc(item['title'])}</title>"
            f'<link rel="alternate" href="{item["link"]}"/><id>{item["guid"]}</id>'
            f"<published>{date.isoformat()}</published><updated>{date.isoformat()}</updated>"
            f'<summary type="html">{_esc(item["html"])}</summary></entry>\n'
        )
    parts.append("</feed>\n")
    return "".join(parts)


def _rss10(index: int, items: list[dict[str, str | datetime]], site: str) -> str:
    links = "".join(f'<rdf:li rdf:resource="{item["link"]}"/>' for item in items)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f'<channel rdf:about="{site}/"><title>Farm digest {index}</title>'
        f"<link>{site}/</link><description>Feed {index}</description>"
        f"<items><rdf:Seq>{links}</rdf:Seq></items></channel>\n"
    ]
    for item in items:
        date = item["date"]
        assert isinstance(date, datetime)
        parts.append(
            f'<item rdf:about="{item["link"]}"><title>{_esc(item["title"])}</title>'
            f"<link>{item['link']}</link><dc:date>{date.isoformat()}</dc:date>"
            f"<description>{_esc(item['html'])}</description></item>\n"
        )
    parts.append("</rdf:RDF>\n")
    return "".join(parts)


_TYPES = {
    "rss20": b"application/rss+xml; charset=utf-8",
    "atom10": b"application/atom+xml; charset=utf-8",
    "rss10": b"application/rdf+xml; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One feed's complete responses, ready to write."""

    full: bytes
    not_modified: bytes
    etag: bytes
    last_modified: bytes
    size: int


def render_response(body: bytes, content_type: bytes, newest: datetime) -> Rendered:
    etag = b'"' + hashlib.sha1(body).hexdigest()[:20].encode() + b'"'
    modified = format_datetime(newest, usegmt=True).encode()
    common = b"ETag: " + etag + b"\r\nLast-Modified: " + modified + b"\r\n"
    full = (
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + common
        + b"\r\n"
        + body
    )
    not_modified = b"HTTP/1.1 304 Not Modified\r\n" + common + b"Content-Length: 0\r\n\r\n"
    return Rendered(full, not_modified, etag, modified, len(body))


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _FarmProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, GET only, headers parsed just enough for validators."""

    def __init__(self, responses: list[Rendered]) -> None:
        self.responses = responses
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        transport = self.transport
        assert transport is not None
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    transport.write(_BAD)
                    transport.close()
                return
            head = self.buffer[:end]
            self.buffer = self.buffer[end + 4 :]
            close = self.answer(head, transport)
            if close:
                transport.close()
                return

    def answer(self, head: bytes, transport: asyncio.Transport) -> bool:
        line, _, headers = head.partition(b"\r\n")
        parts = line.split(b" ")
        if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
            transport.write(_BAD)
            return True
        lowered = headers.lower()
        close = b"connection: close" in lowered
        path = parts[1]
        if not (path.startswith(b"/feeds/") and path.endswith(b".xml")):
            transport.write(_NOT_FOUND)
            return close
        try:
            rendered = self.responses[int(path[7:-4])]
        except (ValueError, IndexError):
            transport.write(_NOT_FOUND)
            return close
        if _validator(lowered, b"if-none-match: ") == rendered.etag.lower() or (
            b"if-none-match" not in lowered
            and _validator(lowered, b"if-modified-since: ") == rendered.last_modified.lower()
        ):
            transport.write(rendered.not_modified)
        elif parts[0] == b"HEAD":
            transport.write(rendered.full[: rendered.full.find(b"\r\n\r\n") + 4])
        else:
            transport.write(rendered.full)
        return close


def _validator(lowered: bytes, name: bytes) -> bytes | None:
    start = lowered.find(name)
    if start < 0:
        return None
    start += len(name)
    end = lowered.find(b"\r\n", start)
    return lowered[start : end if end >= 0 else len(lowered)].strip()


def _serve(port: int, responses: list[Rendered], stop_after: float) -> None:
    """One worker process: listen on the shared port (SO_REUSEPORT) until told to stop."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((HOST, port))
        sock.listen(4096)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _FarmProtocol(responses), sock=sock)
        async with server:
            await asyncio.sleep(stop_after)  # never outlives its benchmark

    asyncio.run(main())
    os._exit(0)


class Farm:
    """The farm: renders the feeds, forks the server workers, moves between rounds.

    with Farm(feeds=1000, seed=7) as farm:
        farm.url(0)          # http://127.0.0.1:PORT/feeds/0.xml
        farm.set_round(1)    # 10% of the feeds get 1-3 new items (workers re-forked)
    """

    def __init__(
        self,
        feeds: int,
        *,
        seed: int = 7,
        churn: float = 0.1,
        workers: int = 2,
        port: int = 0,
        stop_after: float = 3600.0,
    ) -> None:
        # Hold the port: bound with SO_REUSEPORT but never listening, so it gets no traffic.
        self._holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._holder.bind((HOST, port))
        self.port: int = self._holder.getsockname()[1]
        self._pids: list[int] = []
        origin = f"http://{HOST}:{self.port}"
        self.generator = FeedGenerator(feeds, seed, churn, load_vocabulary(), origin)
        self.workers = workers
        self.stop_after = stop_after
        self.round = 0
        started = time.perf_counter()
        self.responses = [self._render(i, 0) for i in range(feeds)]
        self.render_seconds = time.perf_counter() - started

    def _render(self, index: int, round_no: int) -> Rendered:
        generator = self.generator
        newest = generator.newest(index, round_no)
        date = EPOCH + ITEM_SPACING * newest + timedelta(seconds=index % 600)
        body = generator.body(index, round_no)
        return render_response(body, _TYPES[generator.shapes[index].format], date)

    @property
    def feeds(self) -> int:
        return self.generator.feeds

    def url(self, index: int) -> str:
        return f"http://{HOST}:{self.port}/feeds/{index}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.feeds)]

    def entries(self) -> int:
        return sum(shape.items for shape in self.generator.shapes)

    def sizes(self) -> list[int]:
        return [r.size for r in self.responses]

    def start(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for _ in range(self.workers):
            pid = os.fork()
            if pid == 0:
                try:
                    _serve(self.port, self.responses, self.stop_after)
                finally:
                    os._exit(0)
            self._pids.append(pid)
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the feed farm did not start")

    def stop(self) -> None:
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in self._pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._pids = []

    def set_round(self, round_no: int) -> None:
        """Serve every feed as it is after `round_no` rounds of churn."""
        if round_no == self.round:
            return
        low, high = sorted((self.round, round_no))
        touched: set[int] = set()
        for r in range(low + 1, high + 1):
            touched.update(self.generator.new_items(r))
        running = bool(self._pids)
        self.stop()
        for index in touched:
            self.responses[index] = self._render(index, round_no)
        self.round = round_no
        if running:
            self.start()

    def __enter__(self) -> Farm:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        self._holder.close()


# --- load generator: how many requests per second the farm sustains -----------------


class _LoadClient(asyncio.Protocol):
    """Keep-alive GETs one after another on one connection, counting full responses."""

    def __init__(self, paths: list[bytes], etags: list[bytes] | None, done: asyncio.Future[int]):
        self.paths = paths
        self.etags = etags
        self.done = done
        self.next = 0
        self.count = 0
        self.buffer = bytearray()
        self.need = -1
        self.transport: asyncio.Transport | None = None
        self.deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        i = self.next % len(self.paths)
        self.next += 1
        extra = b"If-None-Match: " + self.etags[i] + b"\r\n" if self.etags else b""
        self.transport.write(
            b"GET " + self.paths[i] + b" HTTP/1.1\r\nHost: farm\r\n" + extra + b"\r\n"
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end]).lower()
                at = head.find(b"content-length: ") + 16
                stop = head.find(b"\r\n", at)
                self.need = end + 4 + int(head[at : stop if stop > 0 else len(head)])
            if len(self.buffer) < self.need:
                return
            del self.buffer[: self.need]
            self.need = -1
            self.count += 1
            if time.monotonic() >= self.deadline:
                assert self.transport is not None
                self.transport.close()
                if not self.done.done():
                    self.done.set_result(self.count)
                return
            self.send()


async def _load(port: int, paths: list[bytes], etags: list[bytes] | None, seconds: float) -> int:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[int]] = []
    deadline = time.monotonic() + seconds
    for c in range(32):
        done: asyncio.Future[int] = loop.create_future()
        shifted = paths[c * 7 :] + paths[: c * 7]
        shifted_etags = (etags[c * 7 :] + etags[: c * 7]) if etags else None
        client = _LoadClient(shifted, shifted_etags, done)
        client.deadline = deadline
        await loop.create_connection(lambda client=client: client, HOST, port)
        futures.append(done)
    return sum(await asyncio.gather(*futures))


def _load_process(
    port: int, paths: list[bytes], etags: list[bytes] | None, seconds: float, out: int
) -> None:
    count = asyncio.run(_load(port, paths, etags, seconds))
    os.write(out, f"{count}\n".encode())
    os._exit(0)


def measure_rate(farm: Farm, seconds: float = 3.0, *, conditional: bool, clients: int = 2) -> float:
    """Requests per second the farm answers to `clients` load processes (same machine)."""
    paths = [f"/feeds/{i}.xml".encode() for i in range(farm.feeds)]
    etags = [r.etag for r in farm.responses] if conditional else None
    read, write = os.pipe()
    pids = []
    started = time.perf_counter()
    for _ in range(clients):
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _load_process(farm.port, paths, etags, seconds, write)
        pids.append(pid)
    os.close(write)
    for pid in pids:
        os.waitpid(pid, 0)
    elapsed = time.perf_counter() - started
    with os.fdopen(read) as results:
        total = sum(int(line) for line in results if line.strip())
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=600.0, help="serve this long, then stop")
    parser.add_argument("--load", type=float, default=0.0, help="measure req/s for N seconds")
    args = parser.parse_args()
    farm = Farm(
        args.feeds, seed=args.seed, workers=args.workers, port=args.port, stop_after=args.seconds
    )
    sizes = farm.sizes()
    print(
        f"rendered {farm.feeds} feeds ({farm.entries()} items) in {farm.render_seconds:.1f}s; "
        f"sizes KB min {min(sizes) / 1000:.0f} median {statistics.median(sizes) / 1000:.0f} "
        f"max {max(sizes) / 1000:.0f}",
        flush=True,
    )
    with farm:
        if args.load:
            full = measure_rate(farm, args.load, conditional=False)
            not_modified = measure_rate(farm, args.load, conditional=True)
            print(f"200 (full body): {full:,.0f} req/s; 304: {not_modified:,.0f} req/s")
            return
        print(f"serving http://{HOST}:{farm.port}/feeds/0..{farm.feeds - 1}.xml", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.seconds)


if __name__ == "__main__":
    main()
