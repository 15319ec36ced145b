"""One exception hierarchy; every error names what it concerns (a feed, a file and line)."""

from __future__ import annotations


class IngestError(Exception):
    """Root of every error ingest raises on purpose."""


class ConfigError(IngestError):
    """A configuration file (ingest.toml, watchlist.toml, OPML) is invalid.

    The message names the file, the line (when known) and the field, so the CLI can
    print it as one line and exit 2.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.message}"


class FeedError(IngestError):
    """Something went wrong with one feed; carries the feed's URL."""

    def __init__(self, feed_url: str, message: str) -> None:
        self.feed_url = feed_url
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class FetchError(FeedError):
    """The feed could not be retrieved (transport-level; HTTP statuses are results, not errors).

    `kind` is a short stable code used in `ingest status` and the fetch log:
    timeout, connect, too_large, redirects, scheme, blocked, tls, protocol.
    """

    def __init__(self, feed_url: str, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(feed_url, message)


class ParseError(FeedError):
    """The body is not a feed that can be read at all."""


class NotAFeedError(ParseError):
    """The body is an HTML page (or other non-feed); `alternate` is a feed it links to, if any."""

    def __init__(self, feed_url: str, message: str, alternate: str | None = None) -> None:
        self.alternate = alternate
        super().__init__(feed_url, message)


class StorageError(IngestError):
    """The database cannot be used as asked."""


class SchemaError(StorageError):
    """The database schema is not the one this version expects (unmigrated or newer)."""


class InstanceLockedError(StorageError):
    """Another daemon already runs on this SQLite database."""
