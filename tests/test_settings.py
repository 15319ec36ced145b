"""ingest.toml: defaults, relative paths, env overrides, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.settings import find_config, load_settings, parse_duration, parse_size

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ingest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_paths_are_relative_to_it() -> None:
    settings = load_settings(REPO / "config" / "ingest.toml", env={})
    assert settings.data_dir == (REPO / "data").resolve()
    assert settings.feeds_file == (REPO / "config" / "feeds.opml").resolve()
    assert settings.database == f"sqlite:///{REPO / 'data' / 'ingest.db'}"
    assert settings.polling.interval == 1800
    assert settings.http.max_body_size == 16 * 2**20


def test_relative_paths_follow_the_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, 'data_dir = "var"\nfeeds_file = "sub/f.opml"\n')
    monkeypatch.chdir("/")
    settings = load_settings(path, env={})
    assert settings.data_dir == tmp_path / "var"
    assert settings.feeds_file == tmp_path / "sub" / "f.opml"


def test_env_overrides_top_level_and_section_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[polling]\ninterval = "30m"\n')
    settings = load_settings(
        path,
        env={
            "INGEST_DATABASE_URL": "postgresql://x@db/ingest",
            "INGEST_POLLING_INTERVAL": "15m",
            "INGEST_HTTP_USER_AGENT": "test-agent",
            "INGEST_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        },
    )
    assert settings.database == "postgresql://x@db/ingest"
    assert settings.polling.interval == 900
    assert settings.http.user_agent == "test-agent"
    assert settings.http.allow_private_networks is True


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            'log_level = "info"\n[polling]\ninterval = "soon"\n',
            3,
            "polling.interval",
            "not a duration",
        ),
        ('[http]\nmax_redirects = "many"\n', 2, "http.max_redirects", "integer"),
        ('\n\n[polling]\nintervall = "5m"\n', 4, "polling.intervall", "unknown key"),
        ('colour = "blue"\n', 1, "colour", "unknown key"),
        ('[http]\nmax_body_size = "lots"\n', 2, "http.max_body_size", "not a size"),
        ("[polling]\njitter = 0.9\n", 2, "polling.jitter", "less than or equal"),
    ],
)
def test_bad_values_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: [{field}]"), message
    assert words in message


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "x"\n[polling\ninterval = 3\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert f"{path}:2:" in str(info.value)
    assert "invalid TOML" in str(info.value)


def test_unknown_env_setting_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"unknown setting polling\.intervall"):
        load_settings(path, env={"INGEST_POLLING_INTERVALL": "5m"})


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ingest init"):
        load_settings(tmp_path / "nope.toml", env={})


def test_config_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "a.toml"
    monkeypatch.setenv("INGEST_CONFIG", str(tmp_path / "env.toml"))
    assert find_config(explicit) == explicit
    assert find_config(None) == tmp_path / "env.toml"
    monkeypatch.delenv("INGEST_CONFIG")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ingest.toml").write_text("")
    assert find_config(None, cwd=tmp_path) == tmp_path / "config" / "ingest.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert (
        find_config(None, cwd=tmp_path / "elsewhere") == tmp_path / "xdg" / "ingest" / "ingest.toml"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90", 90.0), ("15m", 900.0), ("1h30m", 5400.0), ("1d", 86400.0), ("250ms", 0.25)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_sizes() -> None:
    assert parse_size("16MiB") == 16 * 2**20
    assert parse_size("500 KB") == 500_000
    with pytest.raises(ValueError):
        parse_size("16 parsecs")
