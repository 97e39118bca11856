"""The basic flow works end to end."""


def test_alice_sends_bob_a_message(api, alice, bob, chat):
    response = api.send(alice, chat, "hi bob")
    assert response.status_code == 201, response.json
    assert response.json["charged"] == {"free": True, "points": 0}
    page = api.messages(bob, chat)
    assert [m["content"] for m in page.json["messages"]] == ["hi bob"]
