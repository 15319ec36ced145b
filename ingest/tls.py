"""The client SSL context: certifi's CA bundle, or the operator's (SSL_CERT_FILE/DIR).

Loading a bundle costs 40-60 ms of OpenSSL reading and parsing PEM, and the fetcher needs
its context before the first poll. OpenSSL does that work without the GIL, so `ingest
run` starts it in a thread at once (`preload`), beside the imports, and the fetcher takes
that context when it opens. Kept free of heavy imports: the entry point imports it first.
"""

from __future__ import annotations

import os
import ssl
import threading
from concurrent.futures import Future

__all__ = ["default_ssl_context", "preload"]

_preloaded: Future[ssl.SSLContext] | None = None
_lock = threading.Lock()


def preload() -> None:
    """Start loading a context in a thread; the next `default_ssl_context()` returns it."""
    global _preloaded
    with _lock:
        if _preloaded is not None:
            return
        future: Future[ssl.SSLContext] = Future()
        _preloaded = future
    threading.Thread(target=_load_into, args=(future,), name="ingest-tls", daemon=True).start()


def _load_into(future: Future[ssl.SSLContext]) -> None:
    try:
        future.set_result(new_ssl_context())
    except BaseException as exc:  # the caller sees it where it would have built the context
        future.set_exception(exc)


def default_ssl_context() -> ssl.SSLContext:
    """A context of its own for the caller: the preloaded one, once, else a new one.

    (A context is mutable, so a preloaded one goes to one caller only.)
    """
    global _preloaded
    with _lock:
        future, _preloaded = _preloaded, None
    if future is None:
        return new_ssl_context()
    return future.result()


def new_ssl_context() -> ssl.SSLContext:
    """Certificates checked against certifi's CA bundle, the same on every machine, unless
    the operator names their own with SSL_CERT_FILE or SSL_CERT_DIR (a company's CA)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()  # OpenSSL reads both variables
    import certifi  # only here: the entry point imports this module before anything else

    return ssl.create_default_context(cafile=certifi.where())
