"""The one source of time: every rule that depends on 'now' asks this module."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def local_date(moment: datetime, timezone_name: str) -> date:
    """The calendar date of `moment` in the given IANA time zone."""
    return moment.astimezone(ZoneInfo(timezone_name)).date()


def start_of_next_day(day: date, timezone_name: str) -> datetime:
    """The UTC instant at which the day after `day` begins in the given time zone."""
    zone = ZoneInfo(timezone_name)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
