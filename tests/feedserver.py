"""A real HTTP server on 127.0.0.1 for tests: feeds with validators, and switchable misbehaviour.

    server.url(path) -> "http://127.0.0.1:PORT/path"
    server.add(path, body, content_type=..., *, etag=True, last_modified=True, headers=None)
        200 with ETag (hash of the body) and Last-Modified (True: now, strictly later than the
        previous body's; or a datetime / HTTP-date string), 304 to a matching conditional GET
    server.add_file(path, file, content_type=None)   the file as it is at each request
    server.fail(path, status, *, headers=None, body=b"")
    server.redirect(path, to, status=301)            `to` is sent as given (relative or absolute)
    server.slow(path, *, header_delay=0.0, trickle_bytes_per_s=None, body=..., content_type=...)
    server.gzip(path, body=b"", *, bomb_size=None, encoding="gzip")
        Content-Encoding gzip (or "deflate", "deflate-raw" sent as deflate, "br"); with
        bomb_size, a gzip/deflate stream of that many zero bytes compressed on the fly
    server.huge(path, size, *, content_length=True)  `size` bytes of filler, streamed
    server.hits(path) -> int
    server.requests(path) -> list of each request's headers (names lower-cased)
    server.max_concurrent(path=None) -> most requests in flight at once (for a path, or all)
    server.connections() -> TCP connections accepted so far
    server.reset(path) forgets a path's counts; server.remove(path) also its route

Every streamed body is generated as it is sent, never held in memory. Handlers wait on
an event, not in sleep(), and close() shuts every open connection, so a fixture ends
at once even with a slow or trickling response in flight.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import hashlib
import mimetypes
import socket
import ssl
import sys
import threading
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import brotli
import pytest

RSS = "application/rss+xml; charset=utf-8"
SLOW_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Slow</title>'
    b"<link>https://slow.example/</link><item><guid>slow-1</guid><title>Late</title></item>"
    b"</channel></rss>"
)
FILLER = b"<!-- filler, never a feed -->\n" * 2200  # ~64 KiB per write
SUFFIX_TYPES = {
    ".xml": "application/rss+xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/feed+json",
    ".html": "text/html",
    ".htm": "text/html",
}

Headers = dict[str, str]
Serve = Callable[["_Handler"], None]


class _Stop(Exception):
    """The server is closing: leave the handler."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: hundreds of requests without a connect each
    disable_nagle_algorithm = True  # headers then body in two writes; no 40 ms ACK stalls
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.feed._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def respond(
        self, status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        self.send_response(status)
        sent = {name.lower() for name, _ in headers}
        for name, value in headers:
            self.send_header(name, value)
        if status != 304 and "content-length" not in sent:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def stream(
        self, status: int, headers: Iterable[tuple[str, str]], parts: Iterator[bytes]
    ) -> None:
        """A body of unknown length, chunked, produced part by part."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.server.feed._check_stop()
            if part:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 stalls a burst of connects by 1 s

    def __init__(self, feed: FeedServer, ssl_context: ssl.SSLContext | None) -> None:
        self.feed = feed
        self.ssl_context = ssl_context
        self.lock = threading.Lock()
        self.open: dict[threading.Thread, socket.socket] = {}
        self.accepted = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self.lock:
            self.open[thread] = request
            self.accepted += 1
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if self.ssl_context is not None:
                request = self.ssl_context.wrap_socket(request, server_side=True)
                with self.lock:
                    self.open[threading.current_thread()] = request
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.lock:
                self.open.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-body (the fetcher aborting a bomb) are the point of
        # several routes, not errors worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError | _Stop):
            traceback.print_exc()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:20] + '"'


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _not_modified(request: Headers, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return etag is not None and ("*" in tags or etag in tags)
    since = request.get("if-modified-since")
    if since and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _zeros_compressed(size: int, wbits: int) -> Iterator[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = memoryview(bytes(1 << 20))
    left = size
    while left:
        step = min(left, len(zeros))
        left -= step
        yield compressor.compress(zeros[:step])
    yield compressor.flush()


def _filler(size: int) -> Iterator[bytes]:
    block = memoryview(FILLER)
    left = size
    while left:
        step = min(left, len(block))
        left -= step
        yield bytes(block[:step])


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip_module.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "deflate-raw":
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush()
    if encoding == "br":
        return bytes(brotli.compress(body))
    raise ValueError(f"unknown encoding {encoding!r}")


class FeedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (port 0); see the module docstring."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._routes: dict[str, Serve] = {}
        self._lock = threading.Lock()
        self._hits: defaultdict[str, int] = defaultdict(int)
        self._requests: defaultdict[str, list[Headers]] = defaultdict(list)
        self._in_flight: defaultdict[str, int] = defaultdict(int)
        self._peak: defaultdict[str, int] = defaultdict(int)
        self._total_in_flight = 0
        self._total_peak = 0
        self._modified: dict[str, datetime] = {}
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(self, ssl_context)
        self.port: int = self._httpd.server_address[1]
        self.scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- addresses and observations --------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(_key(path), 0)

    def requests(self, path: str) -> list[Headers]:
        with self._lock:
            return [dict(headers) for headers in self._requests.get(_key(path), [])]

    def max_concurrent(self, path: str | None = None) -> int:
        with self._lock:
            return self._total_peak if path is None else self._peak.get(_key(path), 0)

    def connections(self) -> int:
        """TCP connections accepted so far (to check that clients keep connections alive)."""
        with self._httpd.lock:
            return self._httpd.accepted

    def reset(self, path: str) -> None:
        key = _key(path)
        with self._lock:
            for table in (self._hits, self._requests, self._peak):
                table.pop(key, None)

    def remove(self, path: str) -> None:
        self.reset(path)
        with self._lock:
            self._routes.pop(_key(path), None)
            self._modified.pop(_key(path), None)

    # -- routes ------------------------------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes | str,
        content_type: str = RSS,
        *,
        etag: bool = True,
        last_modified: bool | datetime | str = True,
        headers: Headers | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        tag = _etag(data) if etag else None
        modified = self._last_modified(_key(path), last_modified)
        extra = list((headers or {}).items())
        validators = [(n, v) for n, v in (("ETag", tag), ("Last-Modified", modified)) if v]
        typed = [("Content-Type", content_type)]
        if any(name.lower() == "content-type" for name, _ in extra):
            typed = []

        def serve(handler: _Handler) -> None:
            if _not_modified(_headers_of(handler), tag, modified):
                handler.respond(304, [*validators, *extra])
            else:
                handler.respond(200, [*typed, *extra, *validators], data)

        self._route(path, serve)

    def add_file(self, path: str, file: Path, content_type: str | None = None) -> None:
        kind = content_type or SUFFIX_TYPES.get(file.suffix.lower())
        kind = kind or mimetypes.guess_type(file.name)[0] or "application/octet-stream"

        def serve(handler: _Handler) -> None:
            data = file.read_bytes()
            tag = _etag(data)
            modified = _http_date(datetime.fromtimestamp(int(file.stat().st_mtime), UTC))
            validators = [("ETag", tag), ("Last-Modified", modified)]
            if _not_modified(_headers_of(handler), tag, modified):
                handler.respond(304, validators)
            else:
                handler.respond(200, [("Content-Type", kind), *validators], data)

        self._route(path, serve)

    def fail(
        self, path: str, status: int, *, headers: Headers | None = None, body: bytes | str = b""
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        extra = list((headers or {}).items())
        if data and not any(name.lower() == "content-type" for name, _ in extra):
            extra.append(("Content-Type", "text/plain; charset=utf-8"))
        self._route(path, lambda handler: handler.respond(status, extra, data))

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        self._route(path, lambda handler: handler.respond(status, [("Location", to)]))

    def slow(
        self,
        path: str,
        *,
        header_delay: float = 0.0,
        trickle_bytes_per_s: float | None = None,
        body: bytes | str = SLOW_BODY,
        content_type: str = RSS,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body

        def serve(handler: _Handler) -> None:
            self._sleep(header_delay)
            handler.respond(
                200, [("Content-Type", content_type), ("Content-Length", str(len(data)))]
            )
            if not trickle_bytes_per_s:
                handler.wfile.write(data)
                return
            # Several small writes a second: each read succeeds long before a read
            # timeout, so only a total deadline can stop this.
            step = max(1, int(trickle_bytes_per_s / 10))
            for start in range(0, len(data), step):
                handler.wfile.write(data[start : start + step])
                self._sleep(step / trickle_bytes_per_s)

        self._route(path, serve)

    def gzip(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        bomb_size: int | None = None,
        encoding: str = "gzip",
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        sent_as = "deflate" if encoding == "deflate-raw" else encoding
        if bomb_size is not None:
            wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}[encoding]
            headers = [("Content-Type", RSS), ("Content-Encoding", sent_as)]
            self._route(
                path,
                lambda handler: handler.stream(200, headers, _zeros_compressed(bomb_size, wbits)),
            )
            return
        encoded = _encode(data, encoding)
        headers = [("Content-Type", RSS), ("Content-Encoding", sent_as), ("ETag", _etag(data))]
        self._route(path, lambda handler: handler.respond(200, headers, encoded))

    def huge(self, path: str, size: int, *, content_length: bool = True) -> None:
        def serve(handler: _Handler) -> None:
            headers = [("Content-Type", RSS)]
            if not content_length:
                handler.stream(200, headers, _filler(size))
                return
            handler.respond(200, [*headers, ("Content-Length", str(size))])
            for part in _filler(size):
                self._check_stop()
                handler.wfile.write(part)

        self._route(path, serve)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._httpd.lock:
            open_connections = dict(self._httpd.open)
        for sock in open_connections.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked in read or write
        for thread in open_connections:
            thread.join(timeout=5)
        self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _route(self, path: str, serve: Serve) -> None:
        with self._lock:
            self._routes[_key(path)] = serve

    def _last_modified(self, key: str, value: bool | datetime | str) -> str | None:
        if value is False:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, datetime):
            when = value
        else:
            # Two versions within one second must not share a Last-Modified, or a
            # client sending only If-Modified-Since would get a wrong 304.
            when = datetime.now(UTC).replace(microsecond=0)
            previous = self._modified.get(key)
            if previous is not None and when <= previous:
                when = previous + timedelta(seconds=1)
        self._modified[key] = when
        return _http_date(when)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stop

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise _Stop

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        with self._lock:
            key = handler.path if handler.path in self._routes else split.path
            serve = self._routes.get(key)
            self._hits[key] += 1
            self._requests[key].append(_headers_of(handler))
            self._in_flight[key] += 1
            self._total_in_flight += 1
            self._peak[key] = max(self._peak[key], self._in_flight[key])
            self._total_peak = max(self._total_peak, self._total_in_flight)
        try:
            if serve is None:
                handler.respond(404, [("Content-Type", "text/plain")], b"not found\n")
            else:
                serve(handler)
        except (OSError, _Stop):
            handler.close_connection = True
        finally:
            with self._lock:
                self._in_flight[key] -= 1
                self._total_in_flight -= 1


def _key(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


def _headers_of(handler: BaseHTTPRequestHandler) -> Headers:
    return {name.lower(): value for name, value in handler.headers.items()}


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A fresh FeedServer per test, closed (connections included) at teardown."""
    with FeedServer() as server:
        yield server
