"""Message search on the production stack: gunicorn with eventlet workers on PostgreSQL.

The in-process tests (tests/api/test_search*.py) cover the rules on both databases; this
proves the same endpoint behind a real server, where a long query string meets the
server's request-line limit before the app sees it.
"""

import pytest
from support.servers import LiveServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("gunicorn")]


def search(live_server: LiveServer, who, q: str):
    return live_server.request("GET", "/api/search", params={"q": q}, headers=who.headers)


def test_search_finds_marks_and_refuses_bad_queries_on_gunicorn(live_server: LiveServer) -> None:
    a, b, outsider = live_server.account("a"), live_server.account("b"), live_server.account("c")
    chat = live_server.conversation(a, b)
    assert live_server.send(a, chat, "Meet me at the Zürich café").status_code == 201

    found = search(live_server, b, "zurich caf")
    assert found.status_code == 200, found.text
    [result] = found.json()["results"]
    assert "".join(s["text"] for s in result["segments"]) == "Meet me at the Zürich café"
    assert [s["text"] for s in result["segments"] if s["match"]] == ["Zürich", "café"]
    assert search(live_server, outsider, "zurich").json()["results"] == []

    # Under the request-line limit the app answers, with the error shape of the API.
    refused = search(live_server, a, "word " * 600)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_query"
    # 10 kB of text is a request line gunicorn refuses itself (limit_request_line,
    # 4,094 bytes): a 400 before the app, never a 5xx, and the server carries on.
    too_long = search(live_server, a, "x" * 10_000)
    assert too_long.status_code == 400
    assert search(live_server, b, "café").status_code == 200
