"""The chat's timer against a send in flight (gunicorn, PostgreSQL).

A send reads the chat's disappearing timer under the same row lock that gives the
message its seq, so a timer change that commits before the send takes its seq always
applies to it, and one that commits after never does.
"""

import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from support.servers import LiveServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("gunicorn")]


def test_a_send_waiting_on_a_timer_change_expires_after_the_new_timer(live_server: LiveServer) -> None:
    a, b = live_server.account("a"), live_server.account("b")
    chat = live_server.conversation(a, b)
    answers: list = []
    with live_server.engine.connect() as holder:
        holder.execute(
            sa.text("UPDATE conversations SET expiration_hours = 8 WHERE id = :id"), {"id": chat}
        )  # uncommitted: the row stays locked, as during a PATCH
        sender = threading.Thread(target=lambda: answers.append(live_server.send(a, chat, "in flight")))
        sender.start()
        sender.join(1.0)
        assert sender.is_alive(), "the send did not wait for the conversation row"
        holder.commit()
    sender.join(20)
    [answer] = answers
    assert answer.status_code == 201, answer.text
    message = answer.json()["message"]
    created = datetime.fromisoformat(message["createdAt"])
    assert datetime.fromisoformat(message["expiresAt"]) - created == timedelta(hours=8)
