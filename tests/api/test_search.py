"""GET /api/search: what matches, in what order, in which conversations, and the segments.

Every test runs on SQLite (FTS5) and PostgreSQL (full text with a GIN index).
"""

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from support.snapshot import db_state

from app.extensions import db
from app.models import Message

# -- helpers ------------------------------------------------------------------------------


def found(response: Any) -> list[str]:
    """The contents of the results, in order."""
    assert response.status_code == 200, response.get_json()
    return [result["message"]["content"] for result in response.json["results"]]


def marked(result: dict[str, Any]) -> list[str]:
    """The texts a result marks as matched."""
    return [segment["text"] for segment in result["segments"] if segment["match"]]


def send_all(api: Any, who: Any, chat: str, *contents: str) -> list[str]:
    """Send each content in turn; their ids."""
    ids = []
    for content in contents:
        response = api.send(who, chat, content)
        assert response.status_code == 201, response.get_json()
        ids.append(response.json["message"]["id"])
    return ids


# -- what matches -------------------------------------------------------------------------


def test_every_word_must_match(api, alice, bob, chat):
    send_all(api, alice, chat, "lunch with bob tomorrow", "lunch today", "dinner tomorrow")
    assert found(api.search(bob, "lunch tomorrow")) == ["lunch with bob tomorrow"]
    assert found(api.search(bob, "tomorrow lunch")) == ["lunch with bob tomorrow"]
    assert found(api.search(bob, "lunch breakfast")) == []


def test_only_the_last_word_matches_as_a_prefix(api, alice, bob, chat):
    send_all(api, alice, chat, "meeting at noon", "we meet at noon")
    assert found(api.search(bob, "meet")) == ["we meet at noon", "meeting at noon"]
    assert found(api.search(bob, "meet noo")) == ["we meet at noon"]  # "meet" is whole here
    assert found(api.search(bob, "noon mee")) == ["we meet at noon", "meeting at noon"]


def test_a_quoted_phrase_matches_its_words_in_order(api, alice, bob, chat):
    send_all(api, alice, chat, "the new york pizza", "york is new", "new pizza in york")
    assert found(api.search(bob, '"new york"')) == ["the new york pizza"]
    assert found(api.search(bob, '"york new"')) == []
    assert found(api.search(bob, '"pizza in york" new')) == ["new pizza in york"]
    assert found(api.search(bob, '"new yo"')) == []  # a closed phrase is no prefix
    assert found(api.search(bob, "new yo")) == ["new pizza in york", "york is new", "the new york pizza"]


def test_words_joined_by_punctuation_match_in_that_order(api, alice, bob, chat):
    send_all(api, alice, chat, "see example.com/x for details", "an example of com")
    assert found(api.search(bob, "example.com")) == ["see example.com/x for details"]
    assert found(api.search(bob, "com example")) == ["an example of com", "see example.com/x for details"]
    assert found(api.search(bob, "/x")) == ["see example.com/x for details"]


def test_case_and_accents_are_ignored(api, alice, bob, chat):
    send_all(api, alice, chat, "Café au lait", "ÜNÏCÖDÉ rocks", "crème brûlée")
    for q in ("cafe", "CAFÉ", "café", "Cafe"):
        assert found(api.search(bob, q)) == ["Café au lait"], q
    assert found(api.search(bob, "unicode")) == ["ÜNÏCÖDÉ rocks"]
    assert found(api.search(bob, "Ünïcödé")) == ["ÜNÏCÖDÉ rocks"]
    assert found(api.search(bob, "creme brulee")) == ["crème brûlée"]


def test_stop_words_are_words_like_any_other(api, alice, bob, chat):
    """No stop word list: a multilingual chat, and "to be or not to be" must be findable."""
    send_all(api, alice, chat, "to be or not to be", "the end")
    assert found(api.search(bob, "to be or not")) == ["to be or not to be"]
    assert found(api.search(bob, '"not to be"')) == ["to be or not to be"]
    assert found(api.search(bob, "the")) == ["the end"]


def test_operators_are_plain_punctuation(api, alice, bob, chat):
    send_all(api, alice, chat, "rock & roll", "rock only")
    assert found(api.search(bob, "rock & roll")) == ["rock & roll"]
    assert found(api.search(bob, "rock | jazz")) == []  # every word, not either
    assert found(api.search(bob, "!roll")) == ["rock & roll"]
    assert found(api.search(bob, "roll:*")) == ["rock & roll"]
    assert found(api.search(bob, "-only")) == ["rock only"]  # no exclusion either


@pytest.mark.parametrize(
    ("content", "queries"),
    [
        ("Καλημέρα κόσμε", ["καλημέρα", "ΚΑΛΗΜΈΡΑ", "κόσμε"]),
        ("Привет, мир! Ёлка", ["привет", "ПРИВЕТ мир", "ёлка"]),
        ("東京タワーに行く", ["東京タワーに行く"]),
        ("🎉 party time 🎉", ["party", "🎉 party"]),
        ("مرحبا بالعالم", ["مرحبا"]),
        ("नमस्ते दोस्त", ["नमस्ते", "दोस्त"]),
        ("Straße in İstanbul", ["straße", "istanbul"]),
    ],
)
def test_words_of_other_scripts_are_found_as_typed(api, alice, bob, chat, content, queries):
    send_all(api, alice, chat, content, "something else")
    for q in queries:
        results = api.search(bob, q).json["results"]
        assert [r["message"]["content"] for r in results] == [content], q
        assert marked(results[0]), q


def test_accents_of_other_scripts_are_ignored_where_the_database_can(api, alice, bob, chat, backend):
    """PostgreSQL's unaccent knows Greek and Cyrillic accents; SQLite's tokenizer only Latin ones."""
    send_all(api, alice, chat, "σοφία", "ёлка")
    expected = (["σοφία"], ["ёлка"]) if backend == "postgresql" else ([], [])
    assert (found(api.search(bob, "σοφια")), found(api.search(bob, "елка"))) == expected


def test_a_message_is_found_whatever_its_unicode_form(api, alice, bob, chat):
    decomposed = "e\u0301te\u0301 a\u0300 Paris"  # "été à Paris" with combining accents
    send_all(api, alice, chat, decomposed)
    for q in ("ete", "été", "e\u0301te\u0301", "ETE paris"):
        results = api.search(bob, q).json["results"]
        assert [r["message"]["content"] for r in results] == [decomposed], q
    assert marked(api.search(bob, "ete").json["results"][0]) == ["e\u0301te\u0301"]


# -- order and pages ----------------------------------------------------------------------


def test_results_are_newest_first_and_before_pages_on(clock, api, alice, bob, chat):
    ids = []
    for number in range(5):
        ids += send_all(api, alice if number % 2 else bob, chat, f"report {number}")
        clock.shift(timedelta(seconds=1))
    send_all(api, alice, chat, "unrelated")
    first = api.search(bob, "report", limit=2)
    assert found(first) == ["report 4", "report 3"]
    assert first.json["hasMore"] is True
    second = api.search(bob, "report", limit=2, before=first.json["results"][-1]["message"]["id"])
    assert found(second) == ["report 2", "report 1"]
    assert second.json["hasMore"] is True
    last = api.search(bob, "report", limit=2, before=second.json["results"][-1]["message"]["id"])
    assert found(last) == ["report 0"]
    assert last.json["hasMore"] is False
    assert [r["message"]["id"] for r in last.json["results"]] == [ids[0]]


def test_messages_sent_in_the_same_instant_page_without_loss_or_repeat(clock, api, alice, bob, chat):
    """The clock stands still: created_at ties, and the id breaks them."""
    sent = send_all(api, alice, chat, *[f"tick {n}" for n in range(7)])
    seen: list[str] = []
    before = None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        page = api.search(bob, "tick", **params).json
        seen += [r["message"]["id"] for r in page["results"]]
        if not page["hasMore"]:
            break
        before = page["results"][-1]["message"]["id"]
    assert seen == list(reversed(sent))


def test_the_default_limit_is_20(api, alice, bob, chat):
    send_all(api, alice, chat, *[f"note {n}" for n in range(11)])  # within the free quota
    send_all(api, bob, chat, *[f"note {n}" for n in range(11, 21)])
    page = api.search(bob, "note")
    assert len(page.json["results"]) == 20
    assert page.json["hasMore"] is True
    assert len(api.search(bob, "note", limit=50).json["results"]) == 21


# -- where it looks -----------------------------------------------------------------------


def test_search_covers_all_my_conversations_unless_one_is_given(api, alice, bob, carol, chat):
    with_carol = api.conversation(alice, carol)
    send_all(api, bob, chat, "hello from bob")
    send_all(api, carol, with_carol, "hello from carol")
    assert found(api.search(alice, "hello")) == ["hello from carol", "hello from bob"]
    assert found(api.search(alice, "hello", conversationId=chat)) == ["hello from bob"]
    assert found(api.search(alice, "hello", conversationId=with_carol)) == ["hello from carol"]
    assert found(api.search(bob, "hello")) == ["hello from bob"]


def test_archived_conversations_are_searched_too(api, alice, bob, chat):
    send_all(api, bob, chat, "the archived plan")
    archived = api.update_conversation(alice, chat, archived=True)
    assert archived.status_code == 200, archived.get_json()
    assert api.conversations(alice).json["conversations"] == []  # it really is archived
    assert found(api.search(alice, "plan")) == ["the archived plan"]
    assert found(api.search(alice, "plan", conversationId=chat)) == ["the archived plan"]


def test_an_outsider_finds_nothing_of_a_conversation_they_are_not_in(api, alice, bob, carol, chat):
    send_all(api, alice, chat, "our secret recipe")
    # Carol has a chat of her own with alice holding the same words: she finds only that one.
    theirs = api.conversation(carol, alice)
    send_all(api, carol, theirs, "my secret recipe")
    assert found(api.search(carol, "secret recipe")) == ["my secret recipe"]
    assert found(api.search(bob, "secret recipe")) == ["our secret recipe"]
    assert sorted(found(api.search(alice, "secret recipe"))) == ["my secret recipe", "our secret recipe"]


def test_someone_elses_conversation_answers_like_a_missing_one(api, alice, carol, chat):
    send_all(api, alice, chat, "our secret recipe")
    theirs = api.search(carol, "secret", conversationId=chat)
    missing = api.search(carol, "secret", conversationId=str(uuid.uuid4()))
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "conversation_not_found"
    assert (theirs.status_code, theirs.get_json()) == (missing.status_code, missing.get_json())


def test_a_cursor_from_someone_elses_conversation_is_refused(api, alice, carol, chat):
    (secret,) = send_all(api, alice, chat, "our secret recipe")
    response = api.search(carol, "secret", before=secret)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_cursor"


def test_expired_messages_are_never_found_marked_or_not(clock, api, alice, bob, chat):
    send_all(api, alice, chat, "the code is 4711")
    assert api.send(alice, chat, "the vanishing code", expirationHours=1).status_code == 201
    assert found(api.search(bob, "code")) == ["the vanishing code", "the code is 4711"]
    clock.shift(timedelta(hours=1))  # expired, not marked yet
    assert db.session.scalar(sa.select(sa.func.count()).where(Message.is_expired)) == 0
    assert found(api.search(bob, "code")) == ["the code is 4711"]
    assert found(api.search(bob, "vanishing")) == []
    assert api.login("bob").json["expiredMessages"] == 1  # the login hook marks it
    assert db.session.scalar(sa.select(sa.func.count()).where(Message.is_expired)) == 1
    assert found(api.search(bob, "code")) == ["the code is 4711"]
    assert found(api.search(alice, "vanishing")) == []


def test_an_expired_message_is_no_cursor(clock, api, alice, bob, chat):
    send_all(api, alice, chat, "code one")
    vanishing = api.send(alice, chat, "code two", expirationHours=1).json["message"]["id"]
    assert found(api.search(bob, "code", before=vanishing)) == ["code one"]
    clock.shift(timedelta(hours=1))
    response = api.search(bob, "code", before=vanishing)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_cursor"


# -- the answer ---------------------------------------------------------------------------


def test_a_result_is_the_message_and_its_segments(api, alice, bob, chat):
    (sent,) = send_all(api, alice, chat, "Meeting at the Café, then meet Bob")
    (result,) = api.search(bob, "cafe meet").json["results"]
    assert set(result) == {"message", "segments"}
    message = api.messages(bob, chat).json["messages"][0]
    assert result["message"]["id"] == sent
    assert set(result["message"]) == set(message)
    assert result["segments"] == [
        {"text": "Meeting", "match": True},
        {"text": " at the ", "match": False},
        {"text": "Café", "match": True},
        {"text": ", then ", "match": False},
        {"text": "meet", "match": True},
        {"text": " Bob", "match": False},
    ]


@pytest.mark.parametrize(
    ("content", "q", "expected"),
    [
        ("New York, new york!", '"new york"', ["New", "York", "new", "york"]),
        ("york new york", '"new york"', ["new", "york"]),
        ("été à Paris", "ete", ["été"]),
        ("e\u0301te\u0301 !", "ete", ["e\u0301te\u0301"]),
        ("👩‍💻 writes code 👩‍💻", "code", ["code"]),
        ("مرحبا بالعالم", "بالعالم", ["بالعالم"]),
        ("x² and ½", "x²", ["x²"]),
        ("\uff46\uff55\uff4c\uff4c width", "width", ["width"]),
        ("snake_case_name here", "case", ["case"]),
        ("tab\there\nnewline", "here", ["here"]),
    ],
)
def test_segments_join_to_the_content_and_mark_the_matched_words(api, alice, bob, chat, content, q, expected):
    send_all(api, alice, chat, content)
    (result,) = api.search(bob, q).json["results"]
    assert "".join(segment["text"] for segment in result["segments"]) == content
    assert all(segment["text"] for segment in result["segments"])
    assert marked(result) == expected


def test_searching_changes_nothing(api, alice, bob, chat):
    """Unlike a page fetch, search marks nothing delivered or read."""
    send_all(api, alice, chat, "are you there")
    before = db_state()
    assert found(api.search(bob, "there")) == ["are you there"]
    assert db_state() == before


def test_a_word_too_long_for_the_index_is_stored_and_searching_still_answers(api, alice, bob, chat):
    """PostgreSQL leaves words over 2047 bytes out of a tsvector (with a notice): the send
    must not fail, nor the search, and the message's other words are still found."""
    send_all(api, alice, chat, "start " + "é" * 1200 + " end", "x" * 5000)
    assert found(api.search(bob, "start end")) == ["start " + "é" * 1200 + " end"]
    assert api.search(bob, "xx").status_code == 200
    assert api.search(bob, "é" * 200).status_code == 200


def test_new_messages_are_found_at_once(api, alice, bob, chat):
    assert found(api.search(bob, "fresh")) == []
    send_all(api, alice, chat, "fresh news")
    assert found(api.search(bob, "fresh")) == ["fresh news"]


def test_the_index_follows_edits_and_deletions_made_in_the_database(api, alice, bob, chat, backend):
    """The app never edits or deletes a message, but an operator (or a cascade) may."""
    edited, deleted, _ = send_all(api, alice, chat, "first draft", "doomed words", "kept words")
    db.session.execute(sa.update(Message).where(Message.id == uuid.UUID(edited)).values(content="final text"))
    db.session.execute(sa.delete(Message).where(Message.id == uuid.UUID(deleted)))
    db.session.commit()
    assert found(api.search(bob, "draft")) == []
    assert found(api.search(bob, "final")) == ["final text"]
    assert found(api.search(bob, "words")) == ["kept words"]
    if backend == "sqlite":  # FTS5 checks its external-content index against the messages
        db.session.execute(
            sa.text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
        )
        db.session.commit()


# -- the rate limit -----------------------------------------------------------------------


def test_searches_beyond_the_per_user_limit_get_429_with_retry_after(app, api, alice, bob, chat):
    app.config["SEARCH_RATE_LIMIT"] = "3 per minute"
    assert [api.search(alice, "hello").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.search(alice, "hello")
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json["error"]["retryAfter"] == int(limited.headers["Retry-After"])
    assert api.search(bob, "hello").status_code == 200  # bob has his own budget
    assert api.send(alice, chat, "sending is limited apart").status_code == 201


def test_every_search_request_counts_even_a_refused_one(app, api, alice):
    app.config["SEARCH_RATE_LIMIT"] = "2 per minute"
    assert api.search(alice, "!").status_code == 400
    assert api.search(alice, "ok").status_code == 200
    assert api.search(alice, "ok again").status_code == 429


def test_the_default_search_limit_is_30_a_minute(app, api, alice):
    assert app.config["SEARCH_RATE_LIMIT"] == "30 per minute"
    assert {api.search(alice, "hello").status_code for _ in range(30)} == {200}
    assert api.search(alice, "hello").status_code == 429
