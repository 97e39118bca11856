"""Archive and mute (each participant's own) and the chat's shared disappearing timer."""

from datetime import timedelta

import pytest


def updates(sock):
    return [packet["args"][0] for packet in sock.get_received() if packet["name"] == "conversation:update"]


def listed(api, who, **params):
    response = api.conversations(who, **params)
    assert response.status_code == 200, response.json
    return response.json


def ids(listing):
    return [c["id"] for c in listing["conversations"]]


def test_a_new_conversation_is_not_archived_muted_or_timed(api, alice, chat):
    conversation = listed(api, alice)["conversations"][0]
    assert (conversation["archived"], conversation["muted"], conversation["expirationHours"]) == (
        False,
        False,
        None,
    )
    assert conversation["expirationSetBy"] is None and conversation["expirationSetAt"] is None


def test_archiving_moves_the_chat_to_the_archived_list_for_the_caller_only(api, alice, bob, carol, chat):
    other = api.conversation(alice, carol)
    response = api.update_conversation(alice, chat, archived=True)
    assert response.status_code == 200, response.json
    assert response.json["conversation"]["archived"] is True
    assert ids(listed(api, alice)) == [other]
    archived = listed(api, alice, archived="true")
    assert ids(archived) == [chat]
    assert archived["archivedCount"] == 1
    assert listed(api, alice)["archivedCount"] == 1
    bobs = listed(api, bob)
    assert ids(bobs) == [chat] and bobs["conversations"][0]["archived"] is False
    assert bobs["archivedCount"] == 0
    assert api.update_conversation(alice, chat, archived=False).json["conversation"]["archived"] is False
    assert set(ids(listed(api, alice))) == {chat, other}
    assert listed(api, alice, archived="true")["conversations"] == []


def test_archived_unread_count_adds_up_the_unread_messages_of_archived_chats(api, alice, bob, carol, chat):
    carols = api.conversation(carol, alice)
    for conversation in (chat, carols):
        api.update_conversation(alice, conversation, archived=True, muted=True)
    api.send(bob, chat, "one")
    api.send(bob, chat, "two")
    api.send(carol, carols, "three")
    listing = listed(api, alice)
    assert listing["conversations"] == []
    assert (listing["archivedCount"], listing["archivedUnreadCount"]) == (2, 3)
    api.read(alice, chat)
    assert listed(api, alice)["archivedUnreadCount"] == 1


def test_a_message_from_the_other_participant_brings_an_archived_chat_back(api, alice, bob, chat, connect):
    api.update_conversation(bob, chat, archived=True)
    bob_socket = connect(bob)
    assert api.send(alice, chat, "are you there?").status_code == 201
    assert ids(listed(api, bob)) == [chat]
    assert listed(api, bob)["conversations"][0]["archived"] is False
    [update] = updates(bob_socket)
    assert update["id"] == chat and update["archived"] is False and update["unreadCount"] == 1


def test_a_muted_archived_chat_stays_archived_and_silent(api, alice, bob, chat, connect):
    api.update_conversation(bob, chat, archived=True, muted=True)
    bob_socket = connect(bob)
    api.send(alice, chat, "psst")
    assert ids(listed(api, bob)) == []
    assert listed(api, bob, archived="true")["conversations"][0]["unreadCount"] == 1
    assert updates(bob_socket) == []


def test_my_own_message_does_not_unarchive_my_chat(api, alice, bob, chat):
    api.update_conversation(alice, chat, archived=True)
    api.send(alice, chat, "note to self")
    assert ids(listed(api, alice)) == []


def test_archive_and_mute_reach_only_the_callers_sockets(api, alice, bob, chat, connect):
    alice_other_tab, bob_socket = connect(alice), connect(bob)
    api.update_conversation(alice, chat, muted=True)
    [update] = updates(alice_other_tab)
    assert update["muted"] is True and update["id"] == chat
    assert updates(bob_socket) == []


def test_a_setting_that_does_not_change_emits_nothing(api, alice, bob, chat, connect):
    api.update_conversation(alice, chat, archived=True, expirationHours=8)
    alice_socket, bob_socket = connect(alice), connect(bob)
    again = api.update_conversation(alice, chat, archived=True, expirationHours=8)
    assert again.status_code == 200 and again.json["conversation"]["archived"] is True
    assert updates(alice_socket) == [] and updates(bob_socket) == []
    assert api.update_conversation(alice, chat).status_code == 200  # an empty change is a no-op


def test_the_chat_timer_is_shared_and_says_who_set_it(clock, api, alice, bob, chat, connect):
    alice_socket, bob_socket = connect(alice), connect(bob)
    response = api.update_conversation(bob, chat, expirationHours=8)
    assert response.status_code == 200
    assert response.json["conversation"]["expirationHours"] == 8
    [for_alice], [for_bob] = updates(alice_socket), updates(bob_socket)
    for update in (for_alice, for_bob):
        assert update["expirationHours"] == 8
        assert update["expirationSetBy"] == bob.id
        assert update["expirationSetAt"] == "2026-11-25T12:00:00Z"
    assert listed(api, alice)["conversations"][0]["expirationHours"] == 8


def test_a_send_without_expiration_uses_the_chat_timer(clock, api, alice, bob, chat):
    api.update_conversation(alice, chat, expirationHours=8)
    timed = api.send(bob, chat, "uses the chat's timer")
    assert timed.status_code == 201
    assert timed.json["message"]["expiresAt"] == "2026-11-25T20:00:00Z"
    own = api.send(bob, chat, "my own choice", expirationHours=1).json["message"]
    assert own["expiresAt"] == "2026-11-25T13:00:00Z"
    forever = api.send(bob, chat, "never expires", expirationHours=None).json["message"]
    assert forever["expiresAt"] is None
    clock.shift(timedelta(hours=8))
    assert [m["content"] for m in api.messages(alice, chat).json["messages"]] == ["never expires"]


def test_turning_the_timer_off_with_null(clock, api, alice, bob, chat):
    api.update_conversation(alice, chat, expirationHours=24)
    off = api.update_conversation(bob, chat, expirationHours=None)
    assert off.json["conversation"]["expirationHours"] is None
    assert off.json["conversation"]["expirationSetBy"] == bob.id
    assert api.send(alice, chat, "kept").json["message"]["expiresAt"] is None


def test_a_replayed_send_keeps_the_expiry_it_was_stored_with(clock, api, alice, bob, chat):
    api.update_conversation(alice, chat, expirationHours=8)
    first = api.send(alice, chat, "once", clientMessageId="cmid-1").json["message"]
    api.update_conversation(alice, chat, expirationHours=None)
    again = api.send(alice, chat, "once", clientMessageId="cmid-1")
    assert again.status_code == 200
    assert again.json["message"]["expiresAt"] == first["expiresAt"] == "2026-11-25T20:00:00Z"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"expirationHours": 0}, "expirationHours"),
        ({"expirationHours": 8761}, "expirationHours"),
        ({"expirationHours": "8"}, "expirationHours"),
        ({"expirationHours": 1.5}, "expirationHours"),
        ({"archived": None}, "archived"),
        ({"archived": "yes"}, "archived"),
        ({"muted": 1}, "muted"),
        ({"pinned": True}, "pinned"),
    ],
)
def test_bad_settings_are_a_validation_error_and_change_nothing(api, alice, bob, chat, body, field):
    response = api.client.patch(f"/api/conversations/{chat}", json=body, headers=alice.headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"
    assert field in {problem["field"] for problem in response.json["error"]["fields"]}
    conversation = listed(api, alice)["conversations"][0]
    assert (conversation["archived"], conversation["muted"], conversation["expirationHours"]) == (
        False,
        False,
        None,
    )


def test_an_outsider_cannot_change_or_see_a_chat(api, alice, bob, carol, chat, connect):
    alice_socket = connect(alice)
    response = api.update_conversation(carol, chat, expirationHours=1, archived=True)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "conversation_not_found"
    missing = api.update_conversation(carol, "00000000-0000-4000-8000-000000000000", archived=True)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "conversation_not_found"
    assert listed(api, alice)["conversations"][0]["expirationHours"] is None
    assert updates(alice_socket) == []


def test_a_malformed_id_is_404_and_a_missing_token_401(api, alice, chat):
    assert api.update_conversation(alice, "not-a-uuid", archived=True).status_code == 404
    assert api.client.patch(f"/api/conversations/{chat}", json={"archived": True}).status_code == 401


def test_the_archived_query_is_validated(api, alice):
    response = api.conversations(alice, archived="maybe")
    assert response.status_code == 400 and response.json["error"]["code"] == "validation_error"
