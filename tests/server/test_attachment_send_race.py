"""Sends racing for the same upload on a real gunicorn (2 eventlet workers) on PostgreSQL.

A send with attachments locks the uploads it names (after the sender's quota row, in id
order) inside its transaction: of several sends naming one upload exactly one attaches
it and the others are refused with 400, charging nothing; sends naming the same uploads
in different orders never deadlock.
"""

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from support.bursts import Outcome, burst, statuses
from support.databases import deadlocks
from support.rest import Account
from support.servers import LiveServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("gunicorn")]

SENDS = 8
ROUNDS = 4


def upload(server: LiveServer, who: Account, name: str) -> str:
    """Upload a small text file; its attachment id."""
    response = server.request(
        "POST",
        "/api/attachments",
        files={"file": (name, f"contents of {name}\n".encode(), "text/plain")},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["attachment"]["id"]


def attached_to(server: LiveServer, attachment_ids: list[str]) -> dict[str, Any]:
    """Each upload's message id (None while unsent)."""
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id::text, message_id::text FROM attachments WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": attachment_ids},
        ).all()
    return dict(rows)


def describe(outcomes: list[Outcome], server: LiveServer, since: int) -> str:
    odd = [o for o in outcomes if o.status not in (201, 400)]
    return f"statuses {dict(statuses(outcomes))}; unexpected: {odd[:3]}\n{server.log(since)[-6000:]}"


def test_of_sends_racing_for_one_upload_exactly_one_attaches_it(live_server: LiveServer) -> None:
    server = live_server
    sender, receiver = server.account("racer"), server.account("rcpt")
    chat = server.conversation(sender, receiver)
    since = server.log_size()
    for round_number in range(ROUNDS):
        attachment = upload(server, sender, f"round-{round_number}.txt")
        outcomes = burst(
            [
                lambda n=n, attachment=attachment: server.fresh_request(
                    "POST",
                    "/api/messages/send",
                    json={"conversationId": chat, "content": f"take {n}", "attachmentIds": [attachment]},
                    headers=sender.headers,
                )
                for n in range(SENDS)
            ],
            timeout=60,
        )
        assert statuses(outcomes) == Counter({201: 1, 400: SENDS - 1}), describe(outcomes, server, since)
        winner = next(o.body for o in outcomes if o.status == 201)
        assert [a["id"] for a in winner["message"]["attachments"]] == [attachment]
        for refused in (o.body for o in outcomes if o.status == 400):
            assert refused["error"]["fields"][0]["field"] == "attachmentIds", refused
        assert attached_to(server, [attachment]) == {attachment: winner["message"]["id"]}
    assert server.quota(sender)["messagesSentToday"] == ROUNDS  # the refused sends counted nothing
    assert len(server.all_messages(receiver, chat)) == ROUNDS
    server.assert_clean_log(since)
    assert deadlocks(server.engine) == 0


def test_sends_naming_the_same_uploads_in_opposite_orders_do_not_deadlock(live_server: LiveServer) -> None:
    server = live_server
    sender, receiver = server.account("order"), server.account("rcpt")
    chat = server.conversation(sender, receiver)
    since = server.log_size()
    for round_number in range(ROUNDS):
        first, second = (upload(server, sender, f"{round_number}-{k}.txt") for k in range(2))
        orders = [[first, second], [second, first]] * (SENDS // 2)
        outcomes = burst(
            [
                lambda ids=ids: server.fresh_request(
                    "POST",
                    "/api/messages/send",
                    json={"conversationId": chat, "content": "both", "attachmentIds": ids},
                    headers=sender.headers,
                )
                for ids in orders
            ],
            timeout=60,
        )
        assert statuses(outcomes) == Counter({201: 1, 400: SENDS - 1}), describe(outcomes, server, since)
        winner = next(o.body for o in outcomes if o.status == 201)["message"]["id"]
        assert attached_to(server, [first, second]) == {first: winner, second: winner}
    server.assert_clean_log(since)
    assert deadlocks(server.engine) == 0
