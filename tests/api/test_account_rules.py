"""What an account may be: no common password, and a display name with nothing hidden in it
(control, direction-changing or invisible characters)."""

import pytest
import sqlalchemy as sa
from support.forms import submit

from app.extensions import db
from app.models import User

PASSWORD = "a-long-unguessable-passphrase"


def problems(response) -> dict[str, str]:
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "validation_error"
    return {problem["field"]: problem["message"] for problem in response.json["error"]["fields"]}


def user_count() -> int:
    db.session.remove()
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


# -- common passwords ----------------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "password", "Password123", "qwertyuiop", "iloveyou1"])
def test_a_common_password_is_refused(api, password):
    response = api.register("dora", password)
    assert "common" in problems(response)["password"]
    assert user_count() == 0


def test_an_uncommon_password_is_accepted(api):
    assert api.register("dora", PASSWORD).status_code == 201


def test_the_register_form_says_the_password_rule_and_applies_it(client):
    assert "not a common password" in client.get("/register").get_data(as_text=True)
    response = submit(client, "/register", {"username": "dora", "password": "password"})
    assert response.status_code == 400
    assert "too common" in response.get_data(as_text=True)
    assert user_count() == 0


# -- display names -------------------------------------------------------------------------

HIDDEN = {
    "right-to-left override": "alice\u202efdp.exe",
    "left-to-right embedding": "\u202abob",
    "first-strong isolate": "\u2068bob\u2069",
    "right-to-left mark": "bob\u200f",
    "zero-width space": "b\u200bob",
    "zero-width joiner between letters": "b\u200dob",
    "byte order mark": "\ufeffbob",
    "soft hyphen": "bo\u00adb",
    "bell": "bob\x07",
    "newline": "bob\nAdmin",
    "tab": "bob\tx",
    "delete": "bob\x7f",
    "line separator": "bob\u2028x",
    "hangul filler": "\u3164",
    "combining grapheme joiner": "bo\u034fb",
}


@pytest.mark.parametrize("name", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_display_name_with_hidden_characters_is_refused(api, name):
    response = api.register("dora", PASSWORD, displayName=name)
    assert "displayName" in problems(response)
    assert user_count() == 0


@pytest.mark.parametrize(
    "name",
    ["Zoë Ünal", "李小龍", "محمد علي", "Ana 👩\u200d💻", "🏳\ufe0f\u200d🌈 Sam", "O'Brien-Smith Jr."],
)
def test_a_display_name_in_any_script_or_with_emoji_is_accepted(api, name):
    response = api.register("dora", PASSWORD, displayName=name)
    assert response.status_code == 201, response.json
    assert response.json["user"]["displayName"] == name


def test_two_people_may_share_a_display_name_and_their_usernames_tell_them_apart(api):
    first = api.register("bob", PASSWORD, displayName="Bob").json["user"]
    second = api.register("bob2", PASSWORD, displayName="Bob").json["user"]
    assert (first["displayName"], first["username"]) == ("Bob", "bob")
    assert (second["displayName"], second["username"]) == ("Bob", "bob2")


def test_the_register_form_refuses_a_hidden_character_and_says_why(client):
    fields = {"username": "dora", "display_name": "alice\u202efdp", "password": PASSWORD}
    response = submit(client, "/register", fields)
    assert response.status_code == 400
    assert "invisible" in response.get_data(as_text=True)
    assert user_count() == 0
