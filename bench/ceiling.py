"""Bench-only endpoints that measure the ceiling of the stack inside the same server process.

They exist only in a process started with BENCH_CEILING=1 through bench/wsgi_bench.py;
the service's own wsgi.py never registers them.

- POST /bench/ceiling/insert: one bare INSERT into messages and a COMMIT on the app's
  own engine and pool (no auth, no validation, no locks, no quota, no emit). The
  ceiling of the send path: HTTP + Flask + one write transaction.
- POST /bench/ceiling/emit: emits the given payload as `message:new` to a user's room
  (no auth, no database). The floor of the fan-out path: HTTP + Socket.IO emit + websocket.
- POST /bench/ceiling/upload: the request body streamed to the attachment directory
  through the same durable write (temporary name, fsync, rename) and nothing else: no
  auth, no multipart parsing, no type checks, no database. The ceiling of an upload.
- GET /bench/ceiling/tracemalloc/baseline and /diff: where Python memory went since the
  baseline (only in a process started with BENCH_EXPERIMENT=tracemalloc).
"""

import os
import tracemalloc
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, request

from app import clock
from app.extensions import db, socketio
from app.realtime.notify import user_room
from app.storage import app_storage

ENV_FLAG = "BENCH_CEILING"

bp = Blueprint("bench_ceiling", __name__, url_prefix="/bench/ceiling")

# The least a stored message costs: its conversation's next seq (the row lock that
# orders a conversation's messages by commit) and the INSERT.
_INSERT = sa.text(
    "WITH sequenced AS (UPDATE conversations SET last_seq = last_seq + 1 "
    "WHERE id = :conversation_id RETURNING last_seq) "
    "INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired, "
    "delivered_at, is_read, read_at, client_message_id, points_charged, created_at, updated_at) "
    "SELECT :id, :conversation_id, last_seq, :sender_id, :content, NULL, false, NULL, false, NULL, "
    "NULL, 0, :now, :now FROM sequenced"
)


@bp.post("/insert")
def insert() -> Any:
    """One bare INSERT (with its seq) + COMMIT into messages."""
    body = request.get_json()
    db.session.execute(
        _INSERT,
        {
            "id": uuid.uuid4(),
            "conversation_id": uuid.UUID(body["conversationId"]),
            "sender_id": uuid.UUID(body["senderId"]),
            "content": body["content"],
            "now": clock.now(),
        },
    )
    db.session.commit()
    return {"ok": True}, 201


@bp.post("/emit")
def emit() -> Any:
    """Emit the payload as message:new to one user's room; nothing else."""
    body = request.get_json()
    socketio.emit("message:new", body["payload"], to=user_room(body["userId"]))
    return {"ok": True}, 200


@bp.post("/upload")
def upload() -> Any:
    """Stream the raw body into the attachment storage under a new key; nothing else."""
    request.max_content_length = current_app.config["MAX_ATTACHMENT_BYTES"] + 1024 * 1024
    size = app_storage().put(f"bare-{uuid.uuid4()}", request.stream)
    return {"size": size}, 201


_baseline: list[tracemalloc.Snapshot] = []


def _memory_report(action: str, limit: int) -> dict[str, Any]:
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    if action == "baseline" or not _baseline:
        _baseline[:] = [snapshot]
        return {"ok": True}

    def top(key: str) -> list[dict[str, Any]]:
        stats = snapshot.compare_to(_baseline[0], key)
        where = os.getcwd() + "/"
        return [
            {
                "where": str(stat.traceback).replace(where, ""),
                "kib": stat.size_diff / 1024,
                "count": stat.count_diff,
            }
            for stat in stats[:limit]
        ]

    by_file = top("filename")
    total = sum(stat.size_diff for stat in snapshot.compare_to(_baseline[0], "filename"))
    return {"total_kib": total / 1024, "by_line": top("lineno"), "by_file": by_file}


@bp.get("/tracemalloc/<action>")
def memory(action: str) -> Any:
    """baseline: remember a snapshot; diff: the allocations that grew since, by line and by file."""
    if not tracemalloc.is_tracing():
        return {"error": "start the server with BENCH_EXPERIMENT=tracemalloc"}, 409
    from app.green import run_blocking  # a native thread: the worker's heartbeat keeps running

    return run_blocking(_memory_report, action, int(request.args.get("limit", 30)))


def register_ceiling(app: Flask) -> None:
    """Add the ceiling endpoints; refuses unless the process was started with BENCH_CEILING=1."""
    if os.environ.get(ENV_FLAG) != "1":
        raise RuntimeError(f"the bench ceiling endpoints need {ENV_FLAG}=1")
    app.register_blueprint(bp)
