"""Accounts, login with its throttle and after_login hook, logout, me, user search."""

from datetime import timedelta

import sqlalchemy as sa
from support.settings import PASSWORD

from app.extensions import db
from app.models import User


def test_register_returns_the_user_without_secrets(api):
    response = api.register("dora", displayName="Dora D.")
    assert response.status_code == 201
    assert set(response.json["user"]) == {"id", "username", "displayName"}
    assert response.json["user"]["displayName"] == "Dora D."
    assert "password" not in response.get_data(as_text=True)


def test_display_name_defaults_to_username(api):
    assert api.register("erin").json["user"]["displayName"] == "erin"


def test_username_is_unique_regardless_of_case(api):
    api.register("Frank")
    response = api.register("frank")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "username_taken"


def test_passwords_are_stored_as_argon2id(api):
    api.register("gina")
    stored = db.session.scalar(sa.select(User.password_hash))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_login_returns_token_user_and_expired_count(api):
    api.register("hank")
    response = api.login("hank")
    assert response.status_code == 200
    assert response.json["user"]["username"] == "hank"
    assert response.json["expiredMessages"] == 0
    assert response.json["accessToken"].count(".") == 2


def test_login_is_case_insensitive_on_username(api):
    api.register("Ivy")
    assert api.login("ivy").status_code == 200


def test_wrong_password_and_unknown_user_answer_the_same(api):
    api.register("jack")
    wrong = api.login("jack", "not-the-password")
    unknown = api.login("nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["error"]["code"] == "invalid_credentials"


def test_pepper_is_part_of_the_hash(app, api):
    app.config["APP_SALT"] = "pepper-one"
    api.register("kate")
    assert api.login("kate").status_code == 200
    app.config["APP_SALT"] = "pepper-two"
    assert api.login("kate").status_code == 401


def test_five_failures_throttle_the_username_even_with_the_right_password(api):
    api.register("liam")
    for _ in range(5):
        assert api.login("liam", "wrong-password").status_code == 401
    refused = api.login("liam")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert api.login("LIAM").status_code == 429


def test_throttle_ends_when_the_window_passes(clock, api):
    api.register("mia")
    for _ in range(5):
        api.login("mia", "wrong-password")
    assert api.login("mia").status_code == 429
    clock.shift(timedelta(minutes=16))
    assert api.login("mia").status_code == 200


def test_other_users_are_not_throttled_by_someone_elses_failures(api):
    api.register("noah")
    api.register("olga")
    for _ in range(6):
        api.login("noah", "wrong-password")
    assert api.login("olga").status_code == 200


def test_address_throttle_after_many_failures_from_one_address(app, api):
    app.config["LOGIN_ADDRESS_FAILURE_LIMIT"] = "3 per 15 minutes"
    api.register("pete")
    for name in ("x1-user", "x2-user", "x3-user"):
        assert api.login(name, "wrong-password").status_code == 401
    assert api.login("pete").status_code == 429


def test_logout_revokes_the_token_at_once(api, alice):
    assert api.client.get("/api/auth/me", headers=alice.headers).status_code == 200
    assert api.client.post("/api/auth/logout", headers=alice.headers).status_code == 200
    response = api.client.get("/api/auth/me", headers=alice.headers)
    assert response.status_code == 401
    assert "revoked" in response.json["error"]["message"]
    assert api.client.post("/api/auth/logout", headers=alice.headers).status_code == 401
    assert api.login("alice").status_code == 200  # a new login works


def test_me_returns_the_tokens_user(api, alice):
    response = api.client.get("/api/auth/me", headers=alice.headers)
    assert response.json["user"] == {"id": alice.id, "username": "alice", "displayName": "alice"}


def test_token_expires_after_the_configured_lifetime(clock, api, alice):
    clock.shift(timedelta(hours=23, minutes=59))
    assert api.client.get("/api/auth/me", headers=alice.headers).status_code == 200
    clock.shift(timedelta(minutes=2))
    response = api.client.get("/api/auth/me", headers=alice.headers)
    assert response.status_code == 401
    assert "expired" in response.json["error"]["message"]


def test_user_search_by_prefix_excludes_me(api, alice, bob):
    api.register("bobby")
    api.register("al_b")
    response = api.client.get("/api/users", query_string={"q": "BO"}, headers=alice.headers)
    assert [u["username"] for u in response.json["users"]] == ["bob", "bobby"]
    mine = api.client.get("/api/users", query_string={"q": "al"}, headers=alice.headers)
    assert [u["username"] for u in mine.json["users"]] == ["al_b"]


def test_user_search_treats_wildcards_literally(api, alice, bob):
    api.register("a_c")
    response = api.client.get("/api/users", query_string={"q": "_"}, headers=alice.headers)
    assert response.json["users"] == []
    response = api.client.get("/api/users", query_string={"q": "%"}, headers=alice.headers)
    assert response.json["users"] == []
