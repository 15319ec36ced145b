"""Shared fixtures: a real feed server on 127.0.0.1, real SQLite files, a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner, Result

from ingest.cli import app
from ingest.db import create_db_engine, upgrade
from ingest.settings import Settings, load_settings
from tests.feedserver import FeedServer
from tests.feedserver import feed_server as feed_server  # fixture re-exported for every test

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
POSTGRES_ENV = "INGEST_TEST_POSTGRES_URL"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the real PostgreSQL named by $INGEST_TEST_POSTGRES_URL, dropped after."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run sets it to the local PostgreSQL)")
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The storage suite runs on both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@dataclass
class Instance:
    """One ingest instance in a temporary directory: config/, data/, and the CLI to drive it."""

    root: Path
    server: FeedServer
    database_url: str | None = None

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def config(self) -> Path:
        return self.config_dir / "ingest.toml"

    @property
    def settings(self) -> Settings:
        return load_settings(self.config, env={})

    def write_feeds(self, *paths: str, extra: str = "") -> None:
        outlines = "\n".join(
            f'    <outline type="rss" text="{p}" xmlUrl="{self.server.url(p)}"/>' for p in paths
        )
        (self.config_dir / "feeds.opml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
            "  <head><title>t</title></head>\n"
            f"  <body>\n{outlines}\n{extra}  </body>\n</opml>\n",
            encoding="utf-8",
        )

    def cli(self, *args: str, expect: int | None = 0) -> Result:
        result = CliRunner().invoke(
            app, [*args, "--config", str(self.config)], catch_exceptions=False
        )
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}: {result.output}"
        return result

    def run_once(self, *extra: str) -> Result:
        return self.cli("run", "--once", *extra)


def write_config(config_dir: Path, database_url: str | None = None, extra: str = "") -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    db_line = f'database_url = "{database_url}"\n' if database_url else ""
    (config_dir / "ingest.toml").write_text(
        f'data_dir = "../data"\n{db_line}feeds_file = "feeds.opml"\n'
        'watchlist_file = "watchlist.toml"\n'
        '[polling]\ninterval = "30m"\ntick = "0.2s"\njitter = 0\nshutdown_deadline = "5s"\n'
        '[http]\nallow_private_networks = true\ntotal_timeout = "5s"\nread_timeout = "3s"\n'
        'connect_timeout = "2s"\n[parse]\nworkers = 1\n' + extra,
        encoding="utf-8",
    )
    default = (REPO / "config" / "watchlist.toml").read_text(encoding="utf-8")
    (config_dir / "watchlist.toml").write_text(default, encoding="utf-8")
    return config_dir / "ingest.toml"


@pytest.fixture
def instance(tmp_path: Path, feed_server: FeedServer) -> Instance:
    """A migrated SQLite instance whose feeds come from the test server."""
    inst = Instance(tmp_path, feed_server)
    write_config(inst.config_dir)
    inst.write_feeds()
    inst.cli("db", "upgrade")
    return inst
