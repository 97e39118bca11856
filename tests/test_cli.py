"""Operator commands."""

import io
import os
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.uploads import TEXT, uploaded

from app.extensions import db, socketio
from app.models import Attachment, PointsTransaction
from app.services import conversations
from config import TestingConfig


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_points_grant_credits_the_wallet_with_a_ledger_row(runner, api, alice):
    result = runner.invoke(args=["points", "grant", "alice", "25"])
    assert result.exit_code == 0, result.output
    assert "balance is now 25" in result.output
    assert api.quota(alice).json["pointsBalance"] == 25
    rows = db.session.scalars(sa.select(PointsTransaction)).all()
    assert [(r.amount, r.reason, r.balance_after) for r in rows] == [(25, "grant", 25)]


def test_points_grant_tells_the_users_open_pages_the_new_quota(app, client, runner, api, alice, bob):
    alice_socket = socketio.test_client(app, auth={"token": alice.token}, flask_test_client=client)
    bob_socket = socketio.test_client(app, auth={"token": bob.token}, flask_test_client=client)
    result = runner.invoke(args=["points", "grant", "alice", "25"])
    assert result.exit_code == 0, result.output
    updates = [e["args"][0] for e in alice_socket.get_received() if e["name"] == "quota:update"]
    assert [u["pointsBalance"] for u in updates] == [25]
    assert updates[0] == api.quota(alice).json
    assert not [e for e in bob_socket.get_received() if e["name"] == "quota:update"]
    alice_socket.disconnect()
    bob_socket.disconnect()


def test_points_grant_unknown_user_is_a_clear_error(runner, api):
    result = runner.invoke(args=["points", "grant", "ghost", "5"])
    assert result.exit_code != 0
    assert "No user is called 'ghost'" in result.output


@pytest.mark.parametrize("amount", ["0", "abc", "1.5", "2000000000"])
def test_points_grant_refuses_bad_amounts(runner, api, alice, amount):
    result = runner.invoke(args=["points", "grant", "alice", amount])
    assert result.exit_code != 0
    assert "AMOUNT" in result.output
    assert api.quota(alice).json["pointsBalance"] == 0


def test_seed_demo_creates_alice_and_bob_with_points_and_a_conversation(runner, api):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    alice = api.login("alice", "password123")
    assert alice.status_code == 200
    assert api.login("bob", "password123").status_code == 200
    headers = {"Authorization": f"Bearer {alice.json['accessToken']}"}
    assert api.client.get("/api/messages/quota", headers=headers).json["pointsBalance"] == 100
    listed = api.client.get("/api/conversations", headers=headers).json["conversations"]
    assert len(listed) == 1
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert "already exists" in again.output
    assert api.client.get("/api/messages/quota", headers=headers).json["pointsBalance"] == 100
    assert len(conversations.list_conversations(alice_id(alice)).conversations) == 1


def alice_id(login_response):
    import uuid

    return uuid.UUID(login_response.json["user"]["id"])


def test_seed_demo_refuses_to_run_in_production(tmp_path):
    from app import create_app
    from config import ProductionConfig

    database = f"sqlite:///{tmp_path / 'production.db'}"
    app = create_app(
        ProductionConfig,
        SQLALCHEMY_DATABASE_URI=database,
        JWT_SECRET="production-secret-0123456789abcdefghijklmn",
        PUSH_ENABLED=False,
    )
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert "users" not in sa.inspect(db.engine).get_table_names()
    assert result.exit_code != 0
    assert "APP_ENV=production" in result.output


def test_push_generate_keys_prints_a_pair_the_app_accepts(tmp_path):
    from app import create_app
    from app.push import keys
    from config import ProductionConfig

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'keys.db'}")
    result = app.test_cli_runner().invoke(args=["push", "generate-keys"])
    assert result.exit_code == 0, result.output
    lines = dict(
        line.split("=", 1) for line in result.output.splitlines() if line and not line.startswith("#")
    )
    private = lines["VAPID_PRIVATE_KEY"]
    public = result.output.split("GET /api/push/key: ")[1].split()[0]
    production = create_app(
        ProductionConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'production.db'}",
        JWT_SECRET="production-secret-0123456789abcdefghijklmn",
        VAPID_PRIVATE_KEY=private,
        VAPID_SUBJECT="mailto:ops@example.com",
    )
    assert production.extensions["push_public_key"] == public == keys.public_key(keys.load_vapid(private))
    assert production.config["PUSH_ALLOW_LOCAL_ENDPOINTS"] is False
    again = app.test_cli_runner().invoke(args=["push", "generate-keys"]).output
    assert private not in again, "a new pair each time"


def test_the_key_generator_runs_without_an_app_or_settings():
    """The Deploy section runs it before the environment file has a key (when the app could not start)."""
    import subprocess
    import sys
    from pathlib import Path

    top_level = Path(__file__).resolve().parent.parent
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "production"}  # a production app would refuse to start
    result = subprocess.run(
        [sys.executable, "-m", "app.push.keys"],
        capture_output=True,
        text=True,
        env=env,
        cwd=top_level,
        check=True,
    )
    assert result.stdout.startswith("VAPID_PRIVATE_KEY=")


def mark_deleted(attachment_id: str) -> None:
    db.session.execute(
        sa.update(Attachment)
        .where(Attachment.id == uuid.UUID(attachment_id))
        .values(deleted_at=sa.func.now())
    )
    db.session.commit()


def test_attachments_clean_deletes_what_outlived_its_rows_and_reports_counts(app, runner, client, alice):
    root = Path(app.config["UPLOAD_DIR"])
    live = uploaded(client, alice, TEXT, "live.txt")
    gone = uploaded(client, alice, TEXT, "gone.txt")
    mark_deleted(gone["id"])
    orphan = str(uuid.uuid4())
    app.extensions["attachment_storage"].put(orphan, io.BytesIO(b"no row"))
    (root / ".put-leftover").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    for name in os.listdir(root):
        os.utime(root / name, (two_hours_ago, two_hours_ago))
    db.session.remove()

    result = runner.invoke(args=["attachments", "clean"])

    assert result.exit_code == 0, result.output
    assert result.output == (
        "Deleted 0 attachments of expired messages and 0 uploads never sent (a day old).\n"
        "Deleted 1 file of deleted attachments, 1 file with no attachment and 1 unfinished "
        "temporary file; kept 1 file (live attachments and uploads under way).\n"
    )
    assert os.listdir(root) == [live["id"]]
    again = runner.invoke(args=["attachments", "clean"])
    assert again.output.splitlines()[1].startswith(
        "Deleted 0 files of deleted attachments, 0 files with no attachment and 0 "
    )


def test_attachments_clean_fails_when_a_file_could_not_be_deleted(app, runner, client, alice, monkeypatch):
    gone = uploaded(client, alice, TEXT, "gone.txt")
    mark_deleted(gone["id"])
    db.session.remove()

    def refuse(key: str) -> None:
        raise PermissionError(13, "Permission denied", key)

    monkeypatch.setattr(app.extensions["attachment_storage"], "delete", refuse)
    result = runner.invoke(args=["attachments", "clean"])
    assert result.exit_code == 1
    assert "1 file could not be deleted (see the log)" in result.output
