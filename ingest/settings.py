"""ingest.toml: pydantic models, loading, validation with file:line errors, env overrides.

Nothing here touches the database or the network. Relative paths in the file are
relative to the file itself, so one directory is one instance.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ingest.errors import ConfigError

ENV_PREFIX = "INGEST_"
CONFIG_ENV = "INGEST_CONFIG"

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}


def parse_duration(value: Any) -> float:
    """Seconds from 90, "90", "90s", "15m", "1h30m", "1d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration (examples: 30s, 15m, 2h, 1d, 1h30m)")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_size(value: Any) -> int:
    """Bytes from 1048576, "16MiB", "500 KB"."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 16MiB")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", str(value).strip().lower())
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size (examples: 512KiB, 16MiB, 1GB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60}s"
    return f"{seconds}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollingSettings(_Section):
    interval: Duration = Field(1800, description="default poll interval of a feed")
    min_interval: Duration = 300
    max_interval: Duration = 6 * 3600
    max_backoff: Duration = 24 * 3600
    jitter: float = Field(0.1, ge=0, le=0.5)
    tick: Duration = Field(5, gt=0)
    concurrency: int = Field(128, ge=1, le=4096)
    per_host: int = Field(4, ge=1, le=256)
    stale_validators_after: Duration = 12 * 3600
    shutdown_deadline: Duration = 20
    claim_lease: Duration = 600
    fetch_log_days: int = Field(30, ge=1)


class HttpSettings(_Section):
    connect_timeout: Duration = 10
    read_timeout: Duration = 30
    total_timeout: Duration = 60
    max_body_size: Size = 16 * 2**20
    max_redirects: int = Field(5, ge=0, le=30)
    user_agent: str = "ingest/0.1 (media-monitoring feed reader; +https://pypi.org/project/ingest/)"
    allow_private_networks: bool = False
    connections: int = Field(64, ge=1, le=4096, description="open at once, over all hosts")


class ParseSettings(_Section):
    workers: int = Field(0, ge=0, le=64, description="parser processes; 0 = one per core")
    # "auto": well-formed RSS 2.0/Atom 1.0/RSS 1.0 through the fast lxml path (the same
    # records), the rest through feedparser; "feedparser": feedparser for every feed.
    parser: Literal["auto", "feedparser"] = "auto"


class FullTextSettings(_Section):
    """Article pages fetched for entries whose feed text is cut (`ingest.fulltext`)."""

    enabled: bool = True
    mode: Literal["auto", "always", "never"] = "auto"  # a feed's fullText="…" overrides it
    min_chars: int = Field(500, ge=0, description="auto: feed text shorter than this is cut")
    concurrency: int = Field(8, ge=1, le=256)
    per_host: int = Field(2, ge=1, le=64)
    per_host_delay: Duration = 1.0  # between two page requests to one host
    queue_size: int = Field(200, ge=1, le=100_000)  # in memory; the rest wait in the database
    max_page_size: Size = 2 * 2**20  # a longer page is cut here (its start holds the story)
    extract_workers: int = Field(1, ge=1, le=64)
    claim_lease: Duration = 600  # a claimed page is free again after this if the daemon died
    robots_ttl: Duration = 6 * 3600


class EmailSettings(_Section):
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    # The name of an environment variable holding the password, to keep it out of the file.
    password_env: str | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
    timeout: Duration = 30

    def resolved_password(self, env: dict[str, str] | None = None) -> str | None:
        if self.password_env:
            return (env if env is not None else os.environ).get(self.password_env)
        return self.password


def _parse_clock(value: Any) -> str:
    text = str(value).strip()
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ValueError(f"{value!r} is not a time of day (HH:MM, e.g. 07:00)")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _parse_timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone (e.g. UTC, Asia/Baghdad, Europe/London)"
        ) from None
    return str(value)


ClockTime = Annotated[str, BeforeValidator(_parse_clock)]
TimeZoneName = Annotated[str, BeforeValidator(_parse_timezone)]


class DigestSettings(_Section):
    time: ClockTime = "07:00"
    timezone: TimeZoneName = "UTC"
    output_dir: Path | None = None  # default: <data_dir>/digests
    formats: list[Literal["md", "html", "json"]] = ["md", "html", "json"]
    title: str = "ingest daily digest"
    email: EmailSettings | None = None

    @property
    def hour(self) -> int:
        return int(self.time.split(":")[0])

    @property
    def minute(self) -> int:
        return int(self.time.split(":")[1])


class AlertSettings(_Section):
    min_priority: Literal["high", "medium", "low", "off"] = "high"
    webhook_url: str | None = None
    email: bool = False  # through the [digest.email] server
    max_per_hour: int = Field(30, ge=1)


class Settings(_Section):
    config_path: Path | None = None
    data_dir: Path = Path("data")
    database_url: str | None = None
    feeds_file: Path = Path("feeds.opml")
    watchlist_file: Path = Path("watchlist.toml")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    polling: PollingSettings = PollingSettings()
    http: HttpSettings = HttpSettings()
    parse: ParseSettings = ParseSettings()
    digest: DigestSettings = DigestSettings()
    alerts: AlertSettings = AlertSettings()
    fulltext: FullTextSettings = FullTextSettings()

    @property
    def digest_dir(self) -> Path:
        return self.digest.output_dir or self.data_dir / "digests"

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ingest.db'}"

    @property
    def watchlist_path(self) -> Path:
        return self.watchlist_file

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite")


_SECTIONS = {"polling", "http", "parse", "digest", "alerts", "fulltext"}
_PATH_KEYS = ("data_dir", "feeds_file", "watchlist_file")


def find_config(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """--config, else $INGEST_CONFIG, else ./config/ingest.toml, else the user's config dir."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = (cwd or Path.cwd()) / "config" / "ingest.toml"
    if local.exists():
        return local
    return user_config_dir() / "ingest.toml"


def alerts_configured(settings: Settings) -> bool:
    """Alerts have somewhere to go (a webhook, or mail with [digest.email]) and are on."""
    alerts = settings.alerts
    has_target = bool(alerts.webhook_url) or (alerts.email and settings.digest.email is not None)
    return has_target and alerts.min_priority != "off"


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ingest"


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read, override from the environment, validate. Raises ConfigError (exit code 2)."""
    config_path = find_config(path)
    env = dict(os.environ) if env is None else env
    if not config_path.exists():
        raise ConfigError(
            "configuration file not found (run `ingest init` to create one, or pass --config)",
            file=str(config_path),
        )
    text = config_path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"invalid TOML: {exc}", file=str(config_path), line=_toml_error_line(exc)
        ) from exc
    _apply_env_overrides(raw, env, config_path)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, text, config_path) from exc
    return _resolve_paths(settings, config_path.resolve())


def _resolve_paths(settings: Settings, config_path: Path) -> Settings:
    base = config_path.parent
    updates: dict[str, Any] = {"config_path": config_path}
    for key in _PATH_KEYS:
        value: Path = getattr(settings, key)
        updates[key] = _relative_to(base, value)
    if settings.digest.output_dir is not None:
        digest = settings.digest.model_copy(
            update={"output_dir": _relative_to(base, settings.digest.output_dir)}
        )
        updates["digest"] = digest
    return settings.model_copy(update=updates)


def _relative_to(base: Path, value: Path) -> Path:
    value = value.expanduser()
    return value if value.is_absolute() else (base / value).resolve()


def _apply_env_overrides(raw: dict[str, Any], env: dict[str, str], config_path: Path) -> None:
    """INGEST_DATABASE_URL=…, INGEST_POLLING_INTERVAL=15m, INGEST_HTTP_USER_AGENT=…"""
    top_keys = set(Settings.model_fields) - _SECTIONS - {"config_path"}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in top_keys:
            raw[key] = value
            continue
        section, _, sub = key.partition("_")
        if section in _SECTIONS and sub:
            model = Settings.model_fields[section].annotation
            fields = getattr(model, "model_fields", {})
            if sub not in fields:
                raise ConfigError(
                    f"unknown setting {section}.{sub}", file=f"${name}", field=f"{section}.{sub}"
                )
            table = raw.setdefault(section, {})
            table[sub] = value


def _config_error(exc: ValidationError, text: str, path: Path) -> ConfigError:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif "input" in error and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(message, file=str(path), line=find_key_line(text, loc), field=field)


def find_key_line(text: str, loc: list[str]) -> int | None:
    """The 1-based line where a dotted key is set, given `[section]` tables."""
    if not loc:
        return None
    *tables, key = loc
    current: list[str] = []
    table_re = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = table_re.match(line)
        if header:
            current = [part.strip().strip("\"'") for part in header.group(1).split(".")]
            if current == loc:
                return number
            continue
        if current == tables and key_re.match(line):
            return number
    return None


def _toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    match = re.search(r"line (\d+)", str(exc))
    return int(match.group(1)) if match else None
