"""Upgrading a database that holds data keeps every row: a migration never loses messages.

On SQLite a batch operation rebuilds its table (copy, DROP, rename); with foreign keys
enforced the DROP cascaded to the rows referencing it (participants and messages went
with a rebuilt `conversations`), so migrations run with enforcement off and end with a
foreign key check.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from support.logs import logging_config_kept

from app import create_app
from app.extensions import db
from app.models.types import UTCDateTime
from config import TestingConfig

INITIAL = "52b90345bc69"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TABLES = (  # in the order they can be filled
    "users",
    "points_wallets",
    "message_quotas",
    "conversations",
    "conversation_participants",
    "messages",
    "points_transactions",
)


@pytest.fixture(autouse=True)
def keep_logging_config() -> Iterator[None]:
    with logging_config_kept():
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'with-data.db'}"
    return request.getfixturevalue("pg_databases").create("keep_data")


def column_type(name: str) -> Any:
    """The type a column of the initial schema binds with, from its name."""
    if name == "id" or (name.endswith("_id") and name != "client_message_id"):
        return sa.Uuid()
    return UTCDateTime() if name.endswith("_at") else None


def fill_initial_schema(connection: sa.Connection) -> dict[str, Any]:
    """Two users with wallets, ledgers and quotas, their conversation and three messages,
    written with the columns of the initial schema."""
    alice, bob, chat = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows: dict[str, list[dict[str, Any]]] = {
        "users": [
            {
                "id": uid,
                "username": name,
                "display_name": name.title(),
                "password_hash": "x",
                "created_at": NOW,
            }
            for uid, name in ((alice, "alice"), (bob, "bob"))
        ],
        "points_wallets": [
            {"id": uuid.uuid4(), "user_id": uid, "balance": 90, "updated_at": NOW} for uid in (alice, bob)
        ],
        "message_quotas": [
            {
                "id": uuid.uuid4(),
                "user_id": uid,
                "messages_sent_today": 2,
                "quota_date": date(2026, 11, 20),
                "daily_free_limit": 20,
                "points_per_message": 10,
            }
            for uid in (alice, bob)
        ],
        "conversations": [{"id": chat, "pair_key": "pair", "created_at": NOW, "updated_at": NOW}],
        "conversation_participants": [
            {"conversation_id": chat, "user_id": uid, "joined_at": NOW} for uid in (alice, bob)
        ],
        "messages": [
            {
                "id": uuid.uuid4(),
                "conversation_id": chat,
                "sender_id": alice if i % 2 else bob,
                "content": f"message {i}",
                "expires_at": None,
                "is_expired": False,
                "delivered_at": None,
                "is_read": False,
                "read_at": None,
                "client_message_id": f"c{i}",
                "points_charged": 10 * i,
                "created_at": NOW.replace(minute=i),
                "updated_at": NOW,
            }
            for i in range(3)
        ],
    }
    message = rows["messages"][1]
    rows["points_transactions"] = [
        {
            "id": uuid.uuid4(),
            "user_id": uid,
            "amount": 100,
            "reason": "grant",
            "message_id": None,
            "conversation_id": None,
            "balance_after": 100,
            "created_at": NOW,
        }
        for uid in (alice, bob)
    ] + [
        {
            "id": uuid.uuid4(),
            "user_id": alice,
            "amount": -10,
            "reason": "message",
            "message_id": message["id"],
            "conversation_id": chat,
            "balance_after": 90,
            "created_at": NOW.replace(second=1),
        }
    ]
    for name in TABLES:
        columns = [sa.column(key, column_type(key)) for key in rows[name][0]]
        connection.execute(sa.insert(sa.table(name, *columns)), rows[name])
    return {"chat": chat, "contents": [m["content"] for m in rows["messages"]]}


def test_upgrading_from_the_initial_schema_keeps_every_row(database_url: str) -> None:
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=INITIAL)
            with db.engine.begin() as connection:
                filled = fill_initial_schema(connection)
                before = {t: connection.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in TABLES}
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                after = {t: connection.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in TABLES}
                contents = connection.scalars(
                    sa.text("SELECT content FROM messages ORDER BY seq"),
                ).all()
                seqs = connection.scalars(sa.text("SELECT seq FROM messages ORDER BY seq")).all()
                last_seq = connection.scalar(sa.text("SELECT last_seq FROM conversations"))
                linked = connection.scalar(
                    sa.text("SELECT count(*) FROM points_transactions WHERE message_id IS NOT NULL")
                )
            assert after == before
            assert contents == filled["contents"] and seqs == [1, 2, 3] and last_seq == 3
            assert linked == 1
        finally:
            db.session.remove()
            db.engine.dispose()


def test_attachments_sent_before_positions_keep_their_upload_order(database_url: str) -> None:
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=INITIAL)
            with db.engine.begin() as connection:
                fill_initial_schema(connection)
            flask_migrate.upgrade(revision="f1b4d6a8c2e3")  # the last one without positions
            with db.engine.begin() as connection:
                message_id, uploader_id = (
                    uuid.UUID(str(value))
                    for value in connection.execute(
                        sa.text("SELECT id, sender_id FROM messages ORDER BY seq LIMIT 1")
                    ).one()
                )
                ids = sorted(uuid.uuid4() for _ in range(4))
                columns = ("id", "uploader_id", "message_id", "filename", "content_type", "size")
                table = sa.table(
                    "attachments",
                    *(sa.column(c, column_type(c)) for c in columns),
                    sa.column("storage_key"),
                    sa.column("created_at", UTCDateTime()),
                )
                rows = [
                    {
                        "id": attachment_id,
                        "uploader_id": uploader_id,
                        "message_id": message_id,
                        "filename": "f.txt",
                        "content_type": "text/plain",
                        "size": 1,
                        "storage_key": attachment_id.hex,
                        "created_at": NOW,
                    }
                    for attachment_id in ids
                ]
                rows[-1]["message_id"] = None  # an upload never sent
                connection.execute(sa.insert(table), list(reversed(rows)))
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                positions = {
                    uuid.UUID(str(key)): position
                    for key, position in connection.execute(sa.text("SELECT id, position FROM attachments"))
                }
            assert [positions[attachment_id] for attachment_id in ids] == [0, 1, 2, None]
        finally:
            db.session.remove()
            db.engine.dispose()
