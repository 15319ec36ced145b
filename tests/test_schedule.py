"""Next-poll decisions (pure): adaptive intervals, hints, backoff, Retry-After, stale validators."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ingest.schedule import (
    IntervalHints,
    error_delay,
    jittered,
    retry_after_delay,
    success_interval,
    validators_stale,
)
from ingest.settings import PollingSettings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
P = PollingSettings(interval=1800, min_interval=300, max_interval=6 * 3600, max_backoff=86400)


def every(minutes: float, n: int = 10) -> list[datetime]:
    return [NOW - timedelta(minutes=minutes * i) for i in range(n)]


def test_busy_feed_is_polled_often_but_not_below_the_minimum() -> None:
    assert success_interval(IntervalHints(None, every(10)), P) == 600
    assert success_interval(IntervalHints(None, every(1)), P) == 300


def test_quiet_feed_drifts_to_the_maximum() -> None:
    assert success_interval(IntervalHints(None, every(60 * 24 * 7)), P) == 6 * 3600


def test_without_dates_the_default_interval_applies() -> None:
    assert success_interval(IntervalHints(None, []), P) == 1800


def test_operator_override_wins() -> None:
    assert success_interval(IntervalHints(900, every(1)), P) == 900


def test_publisher_hints_lengthen_within_bounds() -> None:
    assert success_interval(IntervalHints(None, every(10), ttl_hint=3600), P) == 3600
    assert success_interval(IntervalHints(None, every(10), max_age=10 * 86400), P) == 6 * 3600


def test_errors_back_off_exponentially_to_a_cap_never_forever() -> None:
    delays = [error_delay(n, 1800, P) for n in range(1, 12)]
    assert delays[:4] == [1800, 3600, 7200, 14400]
    assert delays[-1] == 86400
    assert all(d <= 86400 for d in delays)


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    assert retry_after_delay(NOW + timedelta(hours=2), NOW, 600, 86400) == 7200
    assert retry_after_delay(NOW + timedelta(seconds=5), NOW, 600, 86400) == 600
    assert retry_after_delay(NOW + timedelta(days=30), NOW, 600, 86400) == 86400


def test_jitter_stays_within_bounds() -> None:
    rng = random.Random(1)
    values = [jittered(1000, 0.1, rng) for _ in range(200)]
    assert min(values) >= 900 and max(values) <= 1100 and len(set(values)) > 100


def test_validators_become_stale_after_long_304s() -> None:
    assert not validators_stale(None, NOW, P)
    assert not validators_stale(NOW - timedelta(hours=11), NOW, P)
    assert validators_stale(NOW - timedelta(hours=13), NOW, P)
