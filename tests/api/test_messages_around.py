"""Opening a chat at one message (a search result): `around`."""

from datetime import timedelta


def contents(response):
    assert response.status_code == 200, response.json
    return [m["content"] for m in response.json["messages"]]


def send_numbered(api, who, chat, count, **extra):
    return [api.send(who, chat, f"m{i}", **extra).json["message"]["id"] for i in range(count)]


def test_around_gives_the_message_with_up_to_limit_on_each_side(api, alice, bob, chat):
    sent = send_numbered(api, alice, chat, 9)
    page = api.messages(bob, chat, around=sent[4], limit=2)
    assert contents(page) == ["m2", "m3", "m4", "m5", "m6"]
    assert (page.json["hasMore"], page.json["hasMoreBefore"], page.json["hasMoreAfter"]) == (True, True, True)


def test_around_at_the_edges_says_nothing_more_on_that_side(api, alice, bob, chat):
    sent = send_numbered(api, alice, chat, 4)
    oldest = api.messages(bob, chat, around=sent[0], limit=2)
    assert contents(oldest) == ["m0", "m1", "m2"]
    assert (oldest.json["hasMoreBefore"], oldest.json["hasMoreAfter"]) == (False, True)
    newest = api.messages(bob, chat, around=sent[3], limit=3)
    assert contents(newest) == ["m0", "m1", "m2", "m3"]
    assert (newest.json["hasMoreBefore"], newest.json["hasMoreAfter"]) == (False, False)


def test_pages_without_around_leave_the_side_flags_null(api, alice, bob, chat):
    send_numbered(api, alice, chat, 2)
    page = api.messages(bob, chat)
    assert page.json["hasMoreBefore"] is None and page.json["hasMoreAfter"] is None


def test_around_skips_expired_neighbours_and_refuses_an_expired_message(clock, api, alice, bob, chat):
    kept = api.send(alice, chat, "kept").json["message"]["id"]
    gone = api.send(alice, chat, "gone", expirationHours=1).json["message"]["id"]
    api.send(alice, chat, "after")
    clock.shift(timedelta(hours=2))
    assert contents(api.messages(bob, chat, around=kept)) == ["kept", "after"]
    refused = api.messages(bob, chat, around=gone)
    assert refused.status_code == 400
    assert refused.json["error"]["code"] == "invalid_cursor"
    assert "expired" in refused.json["error"]["message"]


def test_around_with_another_cursor_or_a_foreign_message_is_invalid(api, alice, bob, carol, chat):
    [mine] = send_numbered(api, alice, chat, 1)
    elsewhere = api.conversation(carol, bob)
    [foreign] = send_numbered(api, carol, elsewhere, 1)
    for params in ({"around": mine, "before": mine}, {"around": mine, "after": mine}, {"around": foreign}):
        response = api.messages(bob, chat, **params)
        assert response.status_code == 400, params
        assert response.json["error"]["code"] == "invalid_cursor"
    assert api.messages(carol, chat, around=mine).status_code == 404


def test_around_marks_the_pages_messages_delivered(api, alice, bob, chat):
    sent = send_numbered(api, alice, chat, 3)
    api.messages(bob, chat, around=sent[1], limit=1)
    assert all(m["deliveredAt"] for m in api.messages(alice, chat).json["messages"])
