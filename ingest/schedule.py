"""When to poll a feed next: pure functions of its state, the outcome and `now`."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from ingest.settings import PollingSettings


@dataclass(frozen=True, slots=True)
class IntervalHints:
    """What the publisher and the feed's history say about how often to poll."""

    override: float | None  # the operator's per-feed interval: used as given
    publish_times: Sequence[datetime] = ()  # recent entries' dates, any order
    ttl_hint: int | None = None  # RSS <ttl>, sy:updatePeriod (seconds)
    max_age: int | None = None  # Cache-Control max-age (seconds)


def success_interval(hints: IntervalHints, polling: PollingSettings) -> float:
    """The interval after a successful poll, adapted to how often the feed publishes.

    A feed publishing every 10 minutes is polled every 10 minutes (but not below
    min_interval); one that publishes weekly drifts towards max_interval. Publisher
    hints (ttl, max-age) can lengthen the interval, never beyond max_interval.
    """
    if hints.override is not None:
        return hints.override
    interval = polling.interval
    gaps = _publish_gaps(hints.publish_times)
    if len(gaps) >= 2:
        interval = statistics.median(gaps)
    hint = max(hints.ttl_hint or 0, hints.max_age or 0)
    interval = max(interval, min(hint, polling.max_interval))
    return _clamp(interval, polling.min_interval, polling.max_interval)


def _publish_gaps(times: Sequence[datetime], keep: int = 10) -> list[float]:
    newest = sorted(times, reverse=True)[:keep]
    return [(a - b).total_seconds() for a, b in pairwise(newest) if a > b]


def error_delay(consecutive_errors: int, base: float, polling: PollingSettings) -> float:
    """Exponential backoff from the feed's interval, capped; never drops the feed."""
    exponent = max(0, min(consecutive_errors - 1, 30))
    return _clamp(base * (2**exponent), polling.min_interval, polling.max_backoff)


def retry_after_delay(
    retry_after: datetime | None, now: datetime, computed: float, cap: float
) -> float:
    """A server's Retry-After wins over our own backoff when it asks for longer, within a cap."""
    if retry_after is None:
        return computed
    asked = (retry_after - now).total_seconds()
    return _clamp(max(asked, computed), 0, cap)


def jittered(delay: float, jitter: float, rng: random.Random) -> float:
    """Spread polls so feeds added together do not all fire together."""
    if jitter <= 0:
        return delay
    return delay * (1 + rng.uniform(-jitter, jitter))


def first_poll_at(now: datetime, spread: float, rng: random.Random) -> datetime:
    """New feeds are due now, spread over a few seconds so a large import does not spike."""
    return now + timedelta(seconds=rng.uniform(0, spread))


def validators_stale(
    not_modified_since: datetime | None, now: datetime, polling: PollingSettings
) -> bool:
    """Some servers answer 304 forever with wrong validators: fetch fully now and then."""
    if not_modified_since is None:
        return False
    return (now - not_modified_since).total_seconds() > polling.stale_validators_after


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
