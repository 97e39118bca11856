"""The search query's meaning and the segments, in Python alone (app/services/search_query.py)."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.search_query import (
    MAX_QUERY_LENGTH,
    QueryProblem,
    normalize,
    parse_query,
    segments,
    words_of,
)


def terms(q: str) -> list[tuple[str, tuple[str, ...], bool, bool]]:
    return [(t.text, t.words, t.phrase, t.prefix) for t in parse_query(q).terms]


def marked(content: str, q: str) -> list[str]:
    return [piece.text for piece in segments(content, parse_query(q)) if piece.match]


# -- normalization ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café", "cafe"),
        ("Ünïcödé", "unicode"),
        ("e\u0301te\u0301", "ete"),
        ("ΣΟΦΊΑ", "σοφια"),
        ("Ёлка", "елка"),
        ("Straße", "strasse"),
        ("ﬁne", "fine"),
        ("\uff46\uff55\uff4c\uff4c", "full"),
        ("東京", "東京"),
    ],
)
def test_normalize_decomposes_drops_marks_and_folds_case(text, expected):
    assert normalize(text) == expected


def test_words_are_runs_of_letters_and_digits():
    assert words_of("example.com/x snake_case it's 3.14 🎉 ok") == (
        "example",
        "com",
        "x",
        "snake",
        "case",
        "it",
        "s",
        "3",
        "14",
        "ok",
    )


# -- parsing ------------------------------------------------------------------------------


def test_spaces_separate_terms_and_the_last_is_a_prefix():
    assert terms("lunch Tomorrow") == [
        ("lunch", ("lunch",), False, False),
        ("Tomorrow", ("tomorrow",), False, True),
    ]


def test_quotes_make_a_phrase_that_is_never_a_prefix():
    assert terms('"new york" pizza') == [
        ("new york", ("new", "york"), True, False),
        ("pizza", ("pizza",), False, True),
    ]
    assert terms('pizza "new york"') == [
        ("pizza", ("pizza",), False, False),
        ("new york", ("new", "york"), True, False),
    ]


def test_typographic_quotes_make_phrases_too():
    assert terms("\u201cnew york\u201d") == [("new york", ("new", "york"), True, False)]


def test_an_unbalanced_quote_is_dropped():
    assert terms('"new york') == [("new", ("new",), False, False), ("york", ("york",), False, True)]
    assert terms('a "b c" "d e') == [
        ("a", ("a",), False, False),
        ("b c", ("b", "c"), True, False),
        ("d", ("d",), False, False),
        ("e", ("e",), False, True),
    ]


def test_terms_without_a_word_are_left_out():
    assert terms("rock & roll") == [("rock", ("rock",), False, False), ("roll", ("roll",), False, True)]
    assert terms('hello "" !') == [("hello", ("hello",), False, True)]


def test_a_term_keeps_the_users_text_for_the_database():
    assert terms("Example.COM") == [("Example.COM", ("example", "com"), False, True)]


@pytest.mark.parametrize("q", ["", "a", "  b  ", "\u200bc\u200b", "x" * (MAX_QUERY_LENGTH + 1), "a\x00b"])
def test_too_short_too_long_or_nul_is_refused(q):
    with pytest.raises(QueryProblem):
        parse_query(q)


@pytest.mark.parametrize("q", ["!!", "& | ! :*", '""', "🎉🎉", "\u0301\u0301", "<->"])
def test_no_word_is_refused(q):
    with pytest.raises(QueryProblem, match="no word"):
        parse_query(q)


# -- segments -----------------------------------------------------------------------------


def test_segments_mark_every_occurrence_and_join_to_the_content():
    content = "Café, cafe and CAFÉ; not cafeteria"
    pieces = segments(content, parse_query("café cafe"))  # the last term is a prefix
    assert "".join(piece.text for piece in pieces) == content
    assert [piece.text for piece in pieces if piece.match] == ["Café", "cafe", "CAFÉ", "cafeteria"]
    assert marked(content, '"cafe"') == ["Café", "cafe", "CAFÉ"]


def test_a_phrase_marks_only_its_words_in_order():
    assert marked("york new york new", '"new york"') == ["new", "york"]
    assert marked("new, york!", '"new york"') == ["new", "york"]
    assert marked("new old york", '"new york"') == []


def test_a_prefix_applies_to_the_last_word_only():
    assert marked("meeting meet", "meet") == ["meeting", "meet"]
    assert marked("meeting meet noon", "meet noo") == ["meet", "noon"]


@pytest.mark.parametrize(
    ("content", "q", "expected"),
    [
        ("e\u0301te\u0301 à Paris", "ete", ["e\u0301te\u0301"]),
        ("नमस्ते दोस्त", "नमस्ते", ["नमस्ते"]),
        ("👩‍💻 writes code", "code", ["code"]),
        ("مرحبا بالعالم", "مرحبا", ["مرحبا"]),
        ("東京タワー", "東京タワー", ["東京タワー"]),
        ("x² ½", "x²", ["x²"]),
        (
            "\U0001d401\U0001d428\U0001d425\U0001d41d text",
            "bold",
            ["\U0001d401\U0001d428\U0001d425\U0001d41d"],
        ),
        ("ﬁne", "fine", ["ﬁne"]),
    ],
)
def test_segments_of_odd_unicode(content, q, expected):
    pieces = segments(content, parse_query(q))
    assert "".join(piece.text for piece in pieces) == content
    assert [piece.text for piece in pieces if piece.match] == expected


def test_no_match_is_one_unmarked_piece_and_empty_content_none():
    assert [(p.text, p.match) for p in segments("nothing here", parse_query("zebra"))] == [
        ("nothing here", False)
    ]
    assert segments("", parse_query("zebra")) == []


def test_a_long_message_with_a_long_phrase_marks_every_word():
    """2,500 one-letter words against a phrase of 99 of them: every word is in a match.
    How long it takes (linear work) is measured by bench/search.py, not here."""
    content = " ".join(["a"] * 2500)
    query = parse_query('"' + " ".join(["a"] * 99) + '"')
    pieces = segments(content, query)
    assert sum(piece.match for piece in pieces) == 2500


@given(content=st.text(max_size=300), q=st.text(min_size=2, max_size=60))
def test_segments_always_join_to_the_content(content, q):
    try:
        query = parse_query(q)
    except QueryProblem:
        return
    pieces = segments(content, query)
    assert "".join(piece.text for piece in pieces) == content
    assert all(piece.text for piece in pieces)
    assert not any(a.match is b.match is False for a, b in itertools.pairwise(pieces))


@given(words=st.lists(st.from_regex(r"[^\W_]{1,8}", fullmatch=True), min_size=2, max_size=8))
def test_searching_a_message_by_its_own_words_marks_every_word(words):
    content = " ".join(words)
    try:
        query = parse_query(content)
    except QueryProblem:  # e.g. words that normalize to nothing
        return
    pieces = segments(content, query)
    assert all(piece.match for piece in pieces if words_of(piece.text))
