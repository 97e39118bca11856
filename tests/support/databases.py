"""Private databases on the shared PostgreSQL and Redis: created or claimed, then dropped or flushed."""

import contextlib
import os
import random
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from .processes import migrate
from .settings import server_environment

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_unavailable_reason() -> str | None:
    """Why the shared Redis cannot be used (None when it answers)."""
    try:
        redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({error})"
    return None


class PostgresDatabases:
    """Throw-away databases on the shared PostgreSQL, each dropped at the end.

    `migrated` clones a database from a template migrated once (much faster than
    running the migrations for every database).
    """

    def __init__(self, workdir: Path, prefix: str = "live", admin_url: str = POSTGRES_ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self.workdir = workdir
        self.prefix = prefix
        self.template: str | None = None
        self.created: list[str] = []

    def url(self, name: str) -> str:
        """The URL of one of the databases."""
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def _create(self, label: str, template: str | None = None) -> str:
        name = f"{self.prefix}_{label}_{uuid.uuid4().hex[:10]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
        self.created.append(name)
        return name

    def create(self, label: str) -> str:
        """A new empty database; its URL."""
        return self.url(self._create(label))

    def migrated(self, label: str) -> str:
        """A new database with the service's schema (a clone of the migrated template); its URL."""
        if self.template is None:
            template = self._create("template")
            migrate(server_environment(self.url(template), self.workdir / "instance-migrate"))
            self.template = template
        return self.url(self._create(label, self.template))

    def drop(self, url: str) -> None:
        """Drop one of the databases (closing its sessions)."""
        name = url.rsplit("/", 1)[1]
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        """Drop every database created here (the template last)."""
        for name in list(reversed(self.created)):
            with contextlib.suppress(Exception):
                self.drop(self.url(name))
        self.engine.dispose()


def deadlocks(engine: sa.Engine) -> int:
    """How many deadlocks PostgreSQL has detected in the engine's database (cumulative)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


class RedisDatabase:
    """An empty Redis database number of the shared Redis, claimed with a marker key; flushed on release."""

    CLAIM_KEY = "live-tests:claimed-by"

    def __init__(self) -> None:
        probe = redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3)
        count = int(probe.config_get("databases").get("databases", 16))
        probe.close()
        me = uuid.uuid4().hex
        numbers = list(range(1, count))
        random.shuffle(numbers)
        for number in numbers:
            conn = redis.Redis(REDIS_HOST, REDIS_PORT, db=number, socket_timeout=3)
            if conn.set(self.CLAIM_KEY, me, nx=True, ex=3600):
                if conn.dbsize() == 1:
                    self.number, self.conn = number, conn
                    self.url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
                    return
                conn.delete(self.CLAIM_KEY)  # someone else's data lives here
            conn.close()
        raise RuntimeError("no empty Redis database is free")

    def release(self) -> None:
        """Flush the database and let it go."""
        with contextlib.suppress(redis.RedisError):
            self.conn.flushdb()
            self.conn.close()
