"""GET /api/search with bad input: a clear 400 in the one error shape, never a 500 and
never a database error, whatever the text (on SQLite and PostgreSQL)."""

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# -- helpers ------------------------------------------------------------------------------


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """`status` with the one JSON error shape and this code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"].strip()
    return body["error"]


def assert_validation_error(response: Any, field: str) -> None:
    error = assert_error(response, 400, "validation_error")
    assert field in [problem["field"] for problem in error["fields"]], error


@pytest.fixture(autouse=True)
def searches_unlimited(app: Any) -> None:
    """These tests search far more than 30 times a minute (the limit has its own tests)."""
    app.config["SEARCH_RATE_LIMIT"] = "100000 per minute"


@pytest.fixture
def history(api: Any, alice: Any, chat: str) -> str:
    """A message to find; its id."""
    response = api.send(alice, chat, 'hello world, "quoted" & rock:* roll')
    assert response.status_code == 201
    return response.json["message"]["id"]


# -- q ------------------------------------------------------------------------------------


def test_a_missing_q_is_a_validation_error(client, alice):
    assert_validation_error(client.get("/api/search", headers=alice.headers), "q")


@pytest.mark.parametrize(
    "q",
    ["", " ", "a", " a ", "\u200ba\u200b", "\t\n", "é"],
    ids=["empty", "space", "one", "one-padded", "one-zero-width", "whitespace", "one-accented"],
)
def test_a_q_under_2_characters_after_trimming_is_an_invalid_query(api, alice, q):
    error = assert_error(api.search(alice, q), 400, "invalid_query")
    assert "2 characters" in error["message"]


def test_200_characters_are_enough_and_201_too_many(api, alice, history):
    assert api.search(alice, "h" * 200).status_code == 200
    assert api.search(alice, "  " + "h" * 200 + "  ").status_code == 200  # counted after trimming
    error = assert_error(api.search(alice, "h" * 201), 400, "invalid_query")
    assert "200 characters" in error["message"]
    assert_error(api.search(alice, "hello " * 2000), 400, "invalid_query")  # 12 kB


def test_q_with_nul_is_an_invalid_query(api, alice, history):
    assert_error(api.search(alice, "hello\x00world"), 400, "invalid_query")
    assert_error(api.search(alice, "\x00\x00"), 400, "invalid_query")


@pytest.mark.parametrize(
    "q",
    [
        "!!",
        "...",
        "& | ! :*",
        "&&",
        "||",
        ":*",
        "<->",
        "()",
        '""',
        '" "',
        "''",
        "\\\\",
        "%_",
        "-- ;",
        "* *",
        "🎉🎉",
        "\u200b\u200b\u200b",
        "\u0301\u0301",
    ],
)
def test_a_q_without_a_searchable_word_is_an_invalid_query(api, alice, history, q):
    error = assert_error(api.search(alice, q), 400, "invalid_query")
    assert "no word" in error["message"] or "characters" in error["message"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"hello', 1),  # an unbalanced quote is dropped
        ('hello"', 1),
        ('"hello world', 1),
        ('"world hello', 1),  # ... and its words need not be in order
        ('"hello" "world', 1),
        ('"hello world" "', 1),
        ('"quoted"', 1),
        ("\u201chello world\u201d", 1),  # typographic quotes
        ('"world hello"', 0),
    ],
)
def test_unbalanced_quotes_are_dropped(api, alice, history, q, expected):
    response = api.search(alice, q)
    assert response.status_code == 200, response.get_json()
    assert len(response.json["results"]) == expected


@pytest.mark.parametrize(
    "q",
    [
        "'; DROP TABLE messages; --",
        "a' OR '1'='1",
        "hello & world",
        "hello | world",
        "!hello",
        "hello:*",
        "hello:A",
        "hello <-> world",
        "hello <2> world",
        "(hello)",
        "NEAR(hello world)",
        "hello AND world",
        "hello OR world",
        "hello NOT world",
        "content:hello",
        "^hello",
        "hello*",
        '"hello" + "world"',
        "{hello world}",
        "hello\\",
        "\\'hello\\'",
        "héllo wörld",
        "HELLO WORLD",
        "hello\u200dworld",
        "hello\ufeff",
        "\ud7ff\ue000hello",
        "rock:* roll",
    ],
)
def test_query_syntax_of_either_database_is_plain_text(api, alice, history, q):
    response = api.search(alice, q)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert isinstance(response.json["results"], list)


def test_a_long_q_of_many_words_and_phrases_is_answered(api, alice, history):
    many = " ".join(f"w{n}" for n in range(66))[:200]
    assert api.search(alice, many).json["results"] == []
    phrases = " ".join(f'"a{n} b{n}"' for n in range(20))[:200]
    assert api.search(alice, phrases).json["results"] == []
    assert api.search(alice, "hello " * 33).json["results"] != []  # 198 characters


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=0, max_size=210))
def test_any_text_answers_200_or_invalid_query(api, alice, history, q):
    response = api.search(alice, q)
    if response.status_code != 200:
        assert_error(response, 400, "invalid_query")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(alphabet=st.sampled_from(list("\"'&|!:*()<>-^\\ ~.,;%_ab")), min_size=2, max_size=40))
def test_any_mix_of_operators_answers_200_or_invalid_query(api, alice, history, q):
    response = api.search(alice, q)
    if response.status_code != 200:
        assert_error(response, 400, "invalid_query")


# -- limit, before, conversationId and the rest -------------------------------------------


@pytest.mark.parametrize("limit", ["0", "51", "-1", "abc", "1.5", "", "1e3"])
def test_a_limit_outside_1_to_50_is_a_validation_error(api, alice, limit):
    assert_validation_error(api.search(alice, "hello", limit=limit), "limit")


@pytest.mark.parametrize("limit", ["1", "50"])
def test_limits_1_and_50_are_accepted(api, alice, history, limit):
    assert len(api.search(alice, "hello", limit=limit).json["results"]) == 1


@pytest.mark.parametrize("before", ["abc", "1", "", "00000000-0000-0000-0000"])
def test_a_before_that_is_not_an_id_is_a_validation_error(api, alice, before):
    assert_validation_error(api.search(alice, "hello", before=before), "before")


def test_a_before_that_is_no_message_is_an_invalid_cursor(api, alice, history):
    assert_error(api.search(alice, "hello", before=str(uuid.uuid4())), 400, "invalid_cursor")


def test_a_before_outside_the_given_conversation_is_an_invalid_cursor(api, alice, carol, chat, history):
    with_carol = api.conversation(alice, carol)
    other = api.send(carol, with_carol, "hello there").json["message"]["id"]
    assert api.search(alice, "hello", before=other).status_code == 200  # within all my conversations
    assert_error(api.search(alice, "hello", before=other, conversationId=chat), 400, "invalid_cursor")


def test_a_conversation_id_that_is_not_an_id_is_a_validation_error(api, alice):
    assert_validation_error(api.search(alice, "hello", conversationId="nope"), "conversationId")


def test_an_unknown_conversation_is_not_found(api, alice):
    assert_error(api.search(alice, "hello", conversationId=str(uuid.uuid4())), 404, "conversation_not_found")


def test_unknown_or_repeated_parameters_are_validation_errors(client, api, alice):
    assert_validation_error(api.search(alice, "hello", sort="oldest"), "sort")
    assert_validation_error(api.search(alice, "hello", conversation_id=str(uuid.uuid4())), "conversation_id")
    repeated = client.get("/api/search?q=hello&q=world", headers=alice.headers)
    assert_validation_error(repeated, "q")
