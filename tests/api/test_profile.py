"""The profile: PATCH /api/auth/me (display name) and POST /api/auth/password (revokes the
user's other tokens), on both backends."""

import pytest
from support.settings import PASSWORD

NEW_PASSWORD = "a-new-passphrase-42"


def patch_me(api, who, **body):
    return api.client.patch("/api/auth/me", json=body, headers=who.headers)


def change_password(api, who, current=PASSWORD, new=NEW_PASSWORD, **extra):
    body = {"currentPassword": current, "newPassword": new, **extra}
    return api.client.post("/api/auth/password", json=body, headers=who.headers)


def me(api, token):
    return api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_the_display_name_changes_and_shows_everywhere(api, alice, bob, chat):
    response = patch_me(api, alice, displayName="  Alice Liddell ")
    assert response.status_code == 200, response.json
    assert response.json["user"] == {"id": alice.id, "username": "alice", "displayName": "Alice Liddell"}
    assert me(api, alice.token).json["user"]["displayName"] == "Alice Liddell"
    listed = api.conversations(bob).json["conversations"][0]["participants"]
    assert {p["username"]: p["displayName"] for p in listed}["alice"] == "Alice Liddell"


@pytest.mark.parametrize(
    "body",
    [
        {"displayName": ""},
        {"displayName": "   "},
        {"displayName": "x" * 65},
        {"displayName": "evil\u202eman"},
        {"displayName": "zero\u200bwidth"},
        {"displayName": 42},
        {},
        {"displayName": "ok", "username": "mallory"},
    ],
)
def test_a_display_name_is_validated_like_registrations(api, alice, body):
    response = api.client.patch("/api/auth/me", json=body, headers=alice.headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert me(api, alice.token).json["user"]["displayName"] == "alice"


def test_profile_changes_need_a_token(api):
    assert api.client.patch("/api/auth/me", json={"displayName": "x"}).status_code == 401
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert api.client.post("/api/auth/password", json=body).status_code == 401


def test_a_password_change_keeps_this_token_and_revokes_the_users_other_tokens(api, alice, bob):
    other_session = api.login("alice").json["accessToken"]
    assert me(api, other_session).status_code == 200

    response = change_password(api, alice)
    assert response.status_code == 200, response.json
    assert me(api, alice.token).status_code == 200  # the token that changed it
    refused = me(api, other_session)
    assert refused.status_code == 401
    assert me(api, bob.token).status_code == 200  # nobody else's

    assert api.login("alice").status_code == 401
    fresh = api.login("alice", NEW_PASSWORD)
    assert fresh.status_code == 200
    assert me(api, fresh.json["accessToken"]).status_code == 200  # issued after the change


def test_a_second_change_from_another_session_revokes_the_first_changer(api, alice):
    assert change_password(api, alice).status_code == 200
    second = api.login("alice", NEW_PASSWORD).json["accessToken"]
    body = {"currentPassword": NEW_PASSWORD, "newPassword": "yet-another-passphrase-7"}
    response = api.client.post("/api/auth/password", json=body, headers={"Authorization": f"Bearer {second}"})
    assert response.status_code == 200, response.json
    assert me(api, second).status_code == 200
    assert me(api, alice.token).status_code == 401


def test_a_wrong_current_password_is_refused_clearly_and_changes_nothing(api, alice):
    other_session = api.login("alice").json["accessToken"]
    response = change_password(api, alice, current="not-my-password")
    assert response.status_code == 403
    assert response.json["error"]["code"] == "wrong_password"
    assert "current password" in response.json["error"]["message"]
    assert me(api, other_session).status_code == 200
    assert api.login("alice").status_code == 200


@pytest.mark.parametrize("new", ["short", "password123", "x" * 129])
def test_the_new_password_is_validated_like_registrations(api, alice, new):
    response = change_password(api, alice, new=new)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"
    assert [f["field"] for f in response.json["error"]["fields"]] == ["newPassword"]
    assert api.login("alice").status_code == 200


def test_wrong_current_passwords_are_throttled_like_logins(api, alice):
    codes = [change_password(api, alice, current=f"wrong-{n}").status_code for n in range(7)]
    assert codes[:5] == [403] * 5
    assert codes[-1] == 429
    assert api.login("alice").status_code in (200, 429)


def test_a_password_change_disconnects_the_open_sockets_of_the_other_tokens(api, alice, bob, connect):
    other_token = api.login("alice").json["accessToken"]
    mine, other, bobs = connect(alice), connect(auth={"token": other_token}), connect(bob)
    assert mine.is_connected() and other.is_connected()

    assert change_password(api, alice).status_code == 200
    assert not other.is_connected()  # the stolen session's live socket is gone too
    assert mine.is_connected() and bobs.is_connected()
    refused = connect(auth={"token": other_token})
    assert not refused.is_connected()
