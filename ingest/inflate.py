"""Bounded decoding of Content-Encoding (gzip, deflate, br).

httpx's own decoders inflate a whole network read at once: one 64 KiB read of a gzip
bomb becomes 32–64 MiB before any size check can run. These decoders hand out the
decoded bytes in pieces of about `PIECE` bytes (zlib: at most; brotli: may overshoot to
about 1.5×), so the caller can stop at its cap holding no more than the cap plus a piece.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Protocol

import brotli

PIECE = 64 * 1024


class DecodeError(Exception):
    """The body is not valid for its Content-Encoding."""


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces (each about PIECE bytes at most) for the next encoded `data`."""
        ...

    def finish(self) -> Iterator[bytes]:
        """Whatever is still buffered once the encoded stream has ended."""
        ...


class _ZlibDecoder:
    """gzip (possibly several members) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._inflater = zlib.decompressobj(self._wbits)
        self._started = False  # produced output, so a raw-deflate retry is no longer possible
        self._members = 0  # complete gzip members seen
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._done:
            try:
                out = self._inflater.decompress(data, PIECE)
            except zlib.error as exc:
                if self._members:
                    self._done = True  # garbage after a complete member: ignored, as browsers do
                    return
                if self._gzip or self._started or self._wbits < 0:
                    raise DecodeError(
                        f"invalid {'gzip' if self._gzip else 'deflate'} body"
                    ) from exc
                self._wbits = -zlib.MAX_WBITS
                self._inflater = zlib.decompressobj(self._wbits)
                continue
            data = self._inflater.unconsumed_tail
            if out:
                self._started = True
                yield out
            if self._inflater.eof:
                self._members += 1
                rest = self._inflater.unused_data
                if self._gzip and rest.lstrip(b"\0"):
                    # Concatenated gzip members make one body (RFC 1952 §2.2).
                    self._inflater = zlib.decompressobj(self._wbits)
                    data = rest
                    continue
                self._done = True  # trailing bytes after the stream are ignored
                return
            # A full piece means zlib may hold more output even with no input left.
            if not data and len(out) < PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        # feed() stopped only once zlib had output room to spare, so what is left here
        # is small. A stream cut short yields what it had, as httpx and browsers do.
        if self._done:
            return
        try:
            rest = self._inflater.flush()
        except zlib.error as exc:
            raise DecodeError("invalid compressed body") from exc
        if rest:
            yield rest


class _BrotliDecoder:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._decompressor.is_finished():
            return  # trailing bytes after the stream are ignored
        try:
            out = self._decompressor.process(data, output_buffer_limit=PIECE)
            # With a limit, the decoder keeps what did not fit and hands it out on
            # calls with no input; an empty answer means it needs more input.
            while out:
                yield out
                out = self._decompressor.process(b"", output_buffer_limit=PIECE)
        except brotli.error as exc:
            raise DecodeError("invalid brotli body") from exc
        if not self._decompressor.can_accept_more_data():
            raise DecodeError("brotli decoder stalled")

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), PIECE):
            yield data[start : start + PIECE]

    def finish(self) -> Iterator[bytes]:
        return iter(())


def _brotli_is_bounded() -> bool:
    # brotli < 1.2 cannot limit the output of one call: a small brotli bomb would be
    # inflated whole, so "br" is only offered when the limit exists.
    return hasattr(brotli.Decompressor(), "can_accept_more_data")


BROTLI = _brotli_is_bounded()
ACCEPT_ENCODING = "gzip, deflate, br" if BROTLI else "gzip, deflate"


def decoder_chain(content_encoding: str | None) -> list[Decoder]:
    """Decoders to apply in order for a Content-Encoding header ("gzip", "deflate, br", ...).

    Raises DecodeError for an encoding we did not offer.
    """
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    chain: list[Decoder] = []
    for name in reversed(names):  # the last encoding applied is the first to undo
        if name in ("gzip", "x-gzip"):
            chain.append(_ZlibDecoder(gzip=True))
        elif name == "deflate":
            chain.append(_ZlibDecoder(gzip=False))
        elif name == "br" and BROTLI:
            chain.append(_BrotliDecoder())
        elif name != "identity":
            raise DecodeError(f"unsupported Content-Encoding {name!r}")
    return chain or [_Identity()]


def decode(chain: Sequence[Decoder], data: bytes, *, final: bool = False) -> Iterator[bytes]:
    """Pass `data` through every decoder of `chain`, lazily, piece by piece.

    `final` marks the end of the encoded stream, so buffered output is flushed.
    """
    if not chain:
        if data:
            yield data
        return
    first, rest = chain[0], chain[1:]
    for piece in first.feed(data):
        yield from decode(rest, piece)
    if final:
        for piece in first.finish():
            yield from decode(rest, piece)
        yield from decode(rest, b"", final=True)
