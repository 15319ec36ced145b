"""ingest: a media-monitoring feed ingester."""

__version__ = "0.1.0"
