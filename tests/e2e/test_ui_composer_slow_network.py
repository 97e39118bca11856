"""The composer on a slow network: what a person typed is never lost while a send is on its way."""

import contextlib
import json
import re
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
re_pending = re.compile(r"\bpending\b")
OUTBOX_EMPTY = "() => !Object.keys(localStorage).some(key => key.startsWith('outbox:'))"
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

    expect(chat.shown("first text")).to_have_count(1)  # at once, as "sending"
    expect(chat.shown("second text")).to_have_count(1)
    expect(chat.shown("first text")).to_have_attribute("data-state", "pending")
    expect(chat.shown("second text")).not_to_have_class(re_pending)
    expect(chat.shown("first text")).not_to_have_class(re_pending)
    assert chat.stored() == ["first text", "second text"]
    assert [b["content"] for b in chat.bodies] == ["first text", "second text"]
    expect(chat.box).to_have_value("not sent yet")  # the answers did not clear what was typed since
    expect(chat.error).to_be_hidden()

    chat.box.fill("")
    chat.enter("third text")
    expect(chat.shown("third text")).not_to_have_class(re_pending)
    expect(chat.box).to_have_value("")
    assert chat.stored()[-1] == "third text"


def test_a_send_the_server_fails_stays_in_place_with_its_reason_and_a_retry(chat: Chat) -> None:
    failure = {"error": {"code": "internal_error", "message": "Internal server error"}}
    chat.slow_network(lambda route: route.fulfill(status=500, json=failure))
    chat.enter("lost in the server")
    chat.box.press_sequentially("typed meanwhile")

    bubble = chat.shown("lost in the server")
    expect(bubble).to_have_attribute("data-state", "failed")
    expect(bubble.locator(".outbox-reason")).to_contain_text("Not sent")
    expect(chat.box).to_have_value("typed meanwhile")  # what was typed since is untouched
    assert chat.stored() == []

    chat.page.unroute(SEND)
    bubble.get_by_role("button", name="Retry").click()
    expect(chat.shown("lost in the server")).to_have_count(1)
    expect(chat.shown("lost in the server")).not_to_have_class(re_pending)
    expect(chat.box).to_have_value("typed meanwhile")
    assert chat.stored() == ["lost in the server"]


def test_texts_queued_behind_a_send_lost_to_the_network_go_out_in_order_once_it_is_back(chat: Chat) -> None:
    def lose_the_first_three(route: Route) -> None:
        if len(chat.bodies) <= 3:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    chat.route_sends(lose_the_first_three)
    chat.enter("one")
    chat.enter("two")

    expect(chat.shown("one")).to_have_attribute("data-state", "pending")
    expect(chat.shown("two")).to_have_attribute("data-state", "pending")
    expect(chat.shown("one").locator(".outbox-reason")).to_contain_text("connection")
    expect(chat.box).to_have_value("")

    # Retried by itself, one by one, the first always first, with its own id each time.
    expect(chat.shown("two")).not_to_have_class(re_pending, timeout=15_000)
    assert chat.stored() == ["one", "two"]
    contents = [b["content"] for b in chat.bodies]
    assert contents == ["one"] * 4 + ["two"], contents
    assert len({b["clientMessageId"] for b in chat.bodies[:4]}) == 1
    assert chat.bodies[4]["clientMessageId"] != chat.bodies[0]["clientMessageId"]


def test_a_lost_answer_is_retried_by_itself_with_its_client_message_id_and_stored_once(chat: Chat) -> None:
    def commit_then_lose_the_answer(route: Route) -> None:
        if len(chat.bodies) == 1:
            route.fetch()  # the server commits; the answer never reaches the page
            route.abort("connectionreset")
        else:
            route.continue_()

    chat.route_sends(commit_then_lose_the_answer)
    chat.box.press_sequentially("only once")
    chat.box.press("Enter")
    expect(chat.box).to_have_value("")

    expect(chat.shown("only once")).to_have_count(1)
    expect(chat.shown("only once")).not_to_have_class(re_pending)
    chat.page.wait_for_function(OUTBOX_EMPTY)
    first, second = chat.bodies[:2]
    assert first["clientMessageId"] == second["clientMessageId"]
    assert chat.stored() == ["only once"]
