"""The composer on a slow network: what a person typed is never lost while a send is on its way."""

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

LATENCY_MS = 1500
SEND = "**/api/messages/send"


@dataclass
class Chat:
    """Alice's chat window, the sends its page made (their bodies, in order) and the server."""

    server: LiveServer
    ui: Ui
    page: Page
    alice: Account
    conversation_id: str
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def box(self) -> Locator:
        return self.page.locator("textarea#message-input")

    @property
    def error(self) -> Locator:
        return self.page.locator("#composer-error")

    def enter(self, text: str) -> None:
        """Type `text` and press Enter: the box empties at once, not when the answer comes."""
        self.box.press_sequentially(text)
        self.box.press("Enter")
        expect(self.box).to_have_value("", timeout=LATENCY_MS // 2)

    def shown(self, text: str) -> Locator:
        return self.ui.message_with_text(self.page, text)

    def stored(self) -> list[str]:
        """The texts the server stored, oldest first."""
        return [m["content"] for m in self.server.all_messages(self.alice, self.conversation_id)]

    def route_sends(self, handler: Callable[[Route], None]) -> None:
        """Answer the page's sends with `handler`, recording their bodies."""

        def recorded(route: Route) -> None:
            self.bodies.append(json.loads(route.request.post_data or "{}"))
            handler(route)

        self.page.route(SEND, recorded)

    def slow_network(self, answer: Callable[[Route], None] = Route.continue_) -> None:
        """Hold every send LATENCY_MS, then `answer(route)` (by default: pass it on)."""

        def delayed(route: Route) -> None:
            self.page.wait_for_timeout(LATENCY_MS)
            answer(route)

        self.route_sends(delayed)


@pytest.fixture
def chat(live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]) -> Iterator[Chat]:
    """Alice's window on her conversation with Bob; a send still held does not outlive it."""
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    yield Chat(live_server, ui, page, alice, conversation_id)
    with contextlib.suppress(Exception):
        page.unroute_all(behavior="ignoreErrors")


def test_typing_and_enter_while_a_send_is_slow_sends_both_texts_in_order_and_loses_nothing(
    chat: Chat,
) -> None:
    chat.slow_network()
    chat.enter("first text")
    chat.enter("second text")
    chat.box.press_sequentially("not sent yet")

    expect(chat.shown("first text")).to_have_count(1)
    expect(chat.shown("second text")).to_have_count(1)
    assert chat.stored() == ["first text", "second text"]
    assert [b["content"] for b in chat.bodies] == ["first text", "second text"]
    expect(chat.box).to_have_value("not sent yet")  # the answers did not clear what was typed since
    expect(chat.error).to_be_hidden()

    chat.box.fill("")
    chat.enter("third text")
    expect(chat.shown("third text")).to_have_count(1)
    expect(chat.box).to_have_value("")
    assert chat.stored()[-1] == "third text"


def test_a_send_the_server_fails_puts_its_text_back_before_what_was_typed_since(chat: Chat) -> None:
    failure = {"error": {"code": "internal_error", "message": "Internal server error"}}
    chat.slow_network(lambda route: route.fulfill(status=500, json=failure))
    chat.enter("lost in the server")
    chat.box.press_sequentially("typed meanwhile")

    expect(chat.error).to_be_visible()
    expect(chat.error).to_contain_text("not sent")
    expect(chat.box).to_have_value("lost in the server\ntyped meanwhile")
    expect(chat.ui.messages(chat.page)).to_have_count(0)
    assert chat.stored() == []

    chat.page.unroute(SEND)
    chat.box.press("Enter")
    expect(chat.shown("lost in the server\ntyped meanwhile")).to_have_count(1)
    expect(chat.box).to_have_value("")
    expect(chat.error).to_be_hidden()


def test_texts_queued_behind_a_send_lost_to_the_network_come_back_in_order(chat: Chat) -> None:
    chat.slow_network(lambda route: route.abort("internetdisconnected"))
    chat.enter("one")
    chat.enter("two")

    expect(chat.error).to_be_visible()
    expect(chat.error).to_contain_text("not sent")
    expect(chat.box).to_have_value("one\ntwo")
    assert [b["content"] for b in chat.bodies] == ["one"], "a text queued behind a failed one went out"
    assert chat.stored() == []

    chat.page.unroute(SEND)  # the network is back: one message with the restored text
    chat.box.press("Enter")
    expect(chat.shown("one\ntwo")).to_have_count(1)
    expect(chat.box).to_have_value("")
    expect(chat.error).to_be_hidden()
    assert chat.stored() == ["one\ntwo"]


def test_a_lost_answer_resent_unchanged_reuses_its_client_message_id(chat: Chat) -> None:
    def commit_then_lose_the_answer(route: Route) -> None:
        if len(chat.bodies) == 1:
            route.fetch()  # the server commits; the answer never reaches the page
            route.abort("connectionreset")
        else:
            route.continue_()

    chat.route_sends(commit_then_lose_the_answer)
    chat.box.press_sequentially("only once")
    chat.box.press("Enter")
    expect(chat.error).to_be_visible()
    expect(chat.box).to_have_value("only once")

    chat.box.press("Enter")
    expect(chat.shown("only once")).to_have_count(1)
    first, second = chat.bodies
    assert first["clientMessageId"] == second["clientMessageId"]
    assert chat.stored() == ["only once"]
