"""Column types shared by the models."""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from uuid6 import uuid7


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC (timestamptz on PostgreSQL) and always read back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Refuse naive datetimes and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Attach UTC to what SQLite hands back naive."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def new_id() -> uuid.UUID:
    """A fresh primary key: a UUIDv7, time-ordered and monotonic within a process.

    Rows created in the same instant (same created_at) still sort in creation order,
    which keeps message pages and catch-up cursors stable.
    """
    return uuid.UUID(int=uuid7().int)
