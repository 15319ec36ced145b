"""Which period a day's digest covers, and which day's digest is due (pure, given `now`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def digest_period(day: date, at: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The digest of `day` is delivered at `at` local time and covers the 24 hours before it.

    Computed on local wall-clock times, so a DST change gives a 23- or 25-hour day
    rather than a digest at the wrong hour.
    """
    hour, minute = (int(part) for part in at.split(":"))
    end = datetime.combine(day, time(hour, minute), tz)
    start = datetime.combine(day - timedelta(days=1), time(hour, minute), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def due_day(now: datetime, at: str, tz: ZoneInfo) -> date:
    """The latest day whose digest time has passed."""
    local = now.astimezone(tz)
    hour, minute = (int(part) for part in at.split(":"))
    if (local.hour, local.minute) >= (hour, minute):
        return local.date()
    return local.date() - timedelta(days=1)


def period_since(since: datetime, now: datetime) -> tuple[datetime, datetime]:
    return since.astimezone(UTC), now.astimezone(UTC)
