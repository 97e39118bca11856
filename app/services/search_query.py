"""What a search query means, in Python alone: the terms of `q`, and which words of a
message they match (the segments a client marks).

A term is a run of text between spaces, or the text between two double quotes (a
phrase). Within a term, words are runs of letters and digits; a term matches where its
words follow each other in the message, so `example.com` and `"see you soon"` match
those words in that order. Every term must match; the last one, unless it is a closed
phrase, also matches as a prefix of its last word (typing `meet` finds "meeting").
There are no operators: `&`, `|`, `!`, `-`, `:*` and the like are punctuation, which
separates words and is otherwise ignored. An unbalanced quote is dropped.

Words are compared after NFKD, without combining marks, case-folded: "Café" and
"CAFE" are one word. The databases apply their own, close rules to the index and to
the query (app/models/search_index.py); this module only reads the query and marks
the words it matched.
"""

import re
import unicodedata
from dataclasses import dataclass

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 200

# Straight and typographic double quotes (phones type the latter).
_QUOTES = frozenset('"\u201c\u201d\u201e')
# Trimmed from both ends of q besides whitespace: the zero-width characters the
# message rules also trim.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# A word: letters and digits (the underscore, which \w also matches, separates words as
# it does in both databases' tokenizers).
_WORD = re.compile(r"[^\W_]+")


class QueryProblem(ValueError):
    """A q that cannot be searched; the message says why, for the client."""


@dataclass(frozen=True)
class Term:
    """One term of a query: the user's text (sent to the database, which splits it with
    its own rules) and its normalized words (to mark matches)."""

    text: str
    words: tuple[str, ...]
    phrase: bool
    prefix: bool


@dataclass(frozen=True)
class ParsedQuery:
    """The terms of a query, in order; at least one."""

    terms: tuple[Term, ...]


def normalize(text: str) -> str:
    """Compatibility decomposition without combining marks, case-folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words_of(text: str) -> tuple[str, ...]:
    """The normalized words of a text."""
    return tuple(_WORD.findall(normalize(text)))


def parse_query(q: str) -> ParsedQuery:
    """The terms of `q`; QueryProblem when it is too short, too long or has no word."""
    if "\x00" in q:
        raise QueryProblem("The search must not contain NUL characters.")
    trimmed = q.strip().strip(_ZERO_WIDTH).strip()
    if len(trimmed) < MIN_QUERY_LENGTH:
        raise QueryProblem(f"Type at least {MIN_QUERY_LENGTH} characters to search.")
    if len(trimmed) > MAX_QUERY_LENGTH:
        raise QueryProblem(f"A search is at most {MAX_QUERY_LENGTH} characters.")
    pieces = _split(trimmed)
    terms = [(text, words, phrase) for text, phrase in pieces if (words := words_of(text))]
    if not terms:
        raise QueryProblem("The search has no word to look for (only punctuation or symbols).")
    last = len(terms) - 1
    return ParsedQuery(
        tuple(
            Term(text, words, phrase, prefix=index == last and not phrase)
            for index, (text, words, phrase) in enumerate(terms)
        )
    )


def _split(text: str) -> list[tuple[str, bool]]:
    """(text, is_phrase) pieces: closed quotes make phrases, spaces separate the rest;
    an unbalanced quote is dropped and what follows it is read as plain words."""
    pieces: list[tuple[str, bool]] = []
    rest = text
    while rest:
        start = next((i for i, char in enumerate(rest) if char in _QUOTES), None)
        if start is None:
            pieces += [(chunk, False) for chunk in rest.split()]
            break
        pieces += [(chunk, False) for chunk in rest[:start].split()]
        end = next((i for i, char in enumerate(rest[start + 1 :], start + 1) if char in _QUOTES), None)
        if end is None:  # unbalanced: drop the quote
            pieces += [(chunk, False) for chunk in rest[start + 1 :].split()]
            break
        pieces.append((rest[start + 1 : end], True))
        rest = rest[end + 1 :]
    return pieces


# -- segments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A piece of a message's content; `match` marks a word the query matched."""

    text: str
    match: bool


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _words_by_run(content: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, normalized words) of each run of letters and digits in `content`,
    with the combining marks that belong to them (accents, Indic vowel signs)."""
    spans: list[list[int]] = []
    for match in _WORD.finditer(content):
        start, end = match.span()
        if spans and spans[-1][1] == start:  # joined to the previous run by marks
            spans[-1][1] = end
        else:
            spans.append([start, end])
        while end < len(content) and _is_mark(content[end]):
            end += 1
        spans[-1][1] = end
    return [(start, end, _WORD.findall(_normalize_word(content[start:end]))) for start, end in spans]


def _normalize_word(text: str) -> str:
    """normalize(), quicker for ASCII."""
    return text.lower() if text.isascii() else normalize(text)


_SEPARATOR = "\x00"  # never inside a word


def _starts(joined: str, token_at: dict[int, int], term: Term) -> list[int]:
    """The indexes of the tokens where the term's words follow each other; `joined` is
    the tokens, each preceded by the separator and the whole followed by it (a prefix
    term's last word may continue up to the next separator)."""
    needle = _SEPARATOR + _SEPARATOR.join(term.words) + ("" if term.prefix else _SEPARATOR)
    found = []
    position = joined.find(needle)
    while position != -1:
        found.append(token_at[position])
        position = joined.find(needle, position + 1)
    return found


def segments(content: str, query: ParsedQuery) -> list[Segment]:
    """`content` cut into pieces that join to it exactly, the words the query matched
    marked (each run of letters and digits is marked whole)."""
    runs = _words_by_run(content)
    tokens: list[str] = []
    owner: list[int] = []  # the run each normalized token came from
    for number, (_, _, words) in enumerate(runs):
        tokens += words
        owner += [number] * len(words)
    joined = "".join(_SEPARATOR + token for token in tokens) + _SEPARATOR
    token_at: dict[int, int] = {}
    offset = 0
    for index, token in enumerate(tokens):
        token_at[offset] = index
        offset += len(token) + 1
    cover = [0] * (len(tokens) + 1)  # +1 where a match starts, -1 just after it ends
    for term in set(query.terms):
        for at in _starts(joined, token_at, term):
            cover[at] += 1
            cover[at + len(term.words)] -= 1
    marked: set[int] = set()
    depth = 0
    for index, run in enumerate(owner):
        depth += cover[index]
        if depth > 0:
            marked.add(run)
    pieces: list[Segment] = []
    position = 0
    for number, (start, end, _) in enumerate(runs):
        if number not in marked:
            continue
        if start > position:
            pieces.append(Segment(content[position:start], False))
        pieces.append(Segment(content[start:end], True))
        position = end
    if position < len(content):
        pieces.append(Segment(content[position:], False))
    return pieces
