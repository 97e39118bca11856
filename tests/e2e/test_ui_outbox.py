"""The outbox: a bubble shows at once as "sending", and nothing typed is lost or sent twice on a
slow network, across a reload in the middle of the sends, or while the server restarts."""

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PENDING = re.compile(r"\bpending\b")
ARRIVAL_S = 30.0
OUTBOX_EMPTY = "() => !Object.keys(localStorage).some(key => key.startsWith('outbox:'))"


def slow_network(page: Page, latency_ms: int) -> None:
    """Chromium's own network emulation: every request of the page waits `latency_ms`."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def stored_when_settled(
    server: LiveServer, who: Account, conversation_id: str, count: int
) -> list[dict[str, Any]]:
    """The stored messages once there are `count` (or what there is after ARRIVAL_S)."""
    deadline = time.monotonic() + ARRIVAL_S
    while True:
        messages = server.all_messages(who, conversation_id)
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def outbox_of(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('outbox:'))"
        ".flatMap(k => JSON.parse(localStorage.getItem(k)))"
    )


def test_quick_sends_on_a_slow_network_with_a_reload_in_the_middle_arrive_once_each_in_order(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    slow_network(page, 700)
    box = page.locator("textarea#message-input")

    before_reload = [f"quick {n}" for n in range(1, 7)]
    for text in before_reload:
        box.fill(text)
        box.press("Enter")
        # The bubble is there at once, as "sending", and the box is free for the next one.
        expect(ui.message_with_text(page, text)).to_have_attribute("data-state", "pending", timeout=300)
        expect(box).to_have_value("", timeout=300)
    queued = outbox_of(page)
    assert [item["content"] for item in queued][-3:] == before_reload[-3:]
    assert len(live_server.all_messages(alice, conversation_id)) < len(before_reload), "nothing was in flight"

    page.reload()  # in the middle: one send on its way, the others only in the outbox
    ui.connected(page)
    expect(ui.message_with_text(page, before_reload[-1])).to_have_count(1)  # the chat is shown again
    after_reload = ["after the reload 1", "after the reload 2"]
    for text in after_reload:
        box.fill(text)
        box.press("Enter")

    texts = before_reload + after_reload
    stored = stored_when_settled(live_server, alice, conversation_id, len(texts))
    assert [m["content"] for m in stored] == texts
    assert len({m["clientMessageId"] for m in stored}) == len(texts)
    for text in texts:
        expect(ui.message_with_text(page, text)).to_have_count(1)
        expect(ui.message_with_text(page, text)).not_to_have_class(PENDING)
    page.wait_for_function(OUTBOX_EMPTY)  # each answer came back (the socket may bring the message first)
    # Nothing arrives later (a late retry would be answered with the first message anyway).
    page.wait_for_timeout(1000)
    assert [m["content"] for m in live_server.all_messages(alice, conversation_id)] == texts


def test_texts_typed_while_the_server_restarts_are_sent_in_order_once_it_is_back(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    ui.send(page, "before the restart")
    expect(ui.message_with_text(page, "before the restart")).not_to_have_class(PENDING)

    live_server.stop()
    texts = ["while it was down 1", "while it was down 2", "while it was down 3"]
    for text in texts:
        ui.send(page, text)
    for text in texts:
        expect(ui.message_with_text(page, text)).to_have_attribute("data-state", "pending")
    expect(ui.message_with_text(page, texts[0]).locator(".outbox-reason")).to_contain_text("Waiting")

    live_server.start()
    expected = ["before the restart", *texts]
    stored = stored_when_settled(live_server, alice, conversation_id, len(expected))
    assert [m["content"] for m in stored] == expected
    for text in texts:
        expect(ui.message_with_text(page, text)).not_to_have_class(PENDING, timeout=ARRIVAL_S * 1000)
    # Bob sees them once each, in order.
    other = windows.open()
    ui.login(other, bob)
    ui.open_chat(other, conversation_id)
    expect(ui.messages(other).locator(".message-text")).to_have_text(expected)


def test_quick_sends_on_a_slow_network_across_a_reload_and_a_server_restart_arrive_once_each_in_order(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    """The whole scenario of the issue in one go: a slow network, Enter several times quickly, a
    reload while sends are on their way, then a server restart while more texts are typed."""
    alice, bob, conversation_id = pair
    bobs = windows.open()  # Bob watches live, from before the first send to after the restart
    ui.login(bobs, bob)
    ui.open_chat(bobs, conversation_id)
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    slow_network(page, 1000)  # each send takes a second at least: the last ones queue up
    box = page.locator("textarea#message-input")

    def enter(text: str) -> None:
        """Type `text` and press Enter: its bubble at once, the box free for the next one. (Whether
        the bubble is still "sending" when looked at depends on the machine's speed; the
        separate tests above check that state, and the texts typed while the server is down
        below must be.)"""
        box.press_sequentially(text)
        box.press("Enter")
        expect(box).to_have_value("", timeout=2000)
        expect(ui.message_with_text(page, text)).to_have_count(1)

    quick = [f"quick {n}" for n in range(1, 7)]
    for text in quick:
        enter(text)
    # Typed in less time than five sends take: the last one at least is still waiting.
    assert quick[-1] in [item["content"] for item in outbox_of(page)], "nothing was in flight"

    page.reload()  # in the middle: one send on its way, the others only in the outbox
    ui.connected(page)
    expect(ui.message_with_text(page, quick[-1])).to_have_count(1)  # the chat is shown again
    after_reload = ["after the reload 1", "after the reload 2"]
    for text in after_reload:
        enter(text)

    waiting = [item["content"] for item in outbox_of(page)]
    live_server.stop()  # with sends still waiting (perhaps one on its way, its answer lost)
    assert after_reload[-1] in waiting, "nothing was waiting at the stop"
    while_down = ["while it was down 1", "while it was down 2", "while it was down 3"]
    for text in while_down:
        enter(text)
    # They wait in the outbox (which survives anything), in order, behind what was already there.
    expect(page.locator("ol#messages li.message.pending").first.locator(".outbox-reason")).to_contain_text(
        re.compile("wait", re.IGNORECASE), timeout=ARRIVAL_S * 1000
    )
    assert [item["content"] for item in outbox_of(page)][-3:] == while_down
    for text in while_down:
        expect(ui.message_with_text(page, text)).to_have_attribute("data-state", "pending")

    live_server.start()
    texts = quick + after_reload + while_down
    stored = stored_when_settled(live_server, alice, conversation_id, len(texts))
    assert [m["content"] for m in stored] == texts
    assert len({m["id"] for m in stored}) == len(texts)
    assert len({m["clientMessageId"] for m in stored}) == len(texts)
    # Each text once, in order, in both windows; Alice's are all stored, her outbox empty.
    expect(ui.messages(bobs).locator(".message-text")).to_have_text(texts, timeout=ARRIVAL_S * 1000)
    expect(ui.messages(page).locator(".message-text")).to_have_text(texts, timeout=ARRIVAL_S * 1000)
    expect(page.locator("ol#messages li.message.pending")).to_have_count(0, timeout=ARRIVAL_S * 1000)
    page.wait_for_function(OUTBOX_EMPTY, timeout=ARRIVAL_S * 1000)
    # Nothing arrives later (a late retry would be answered with the first message anyway).
    page.wait_for_timeout(1000)
    assert [m["content"] for m in live_server.all_messages(alice, conversation_id)] == texts
    expect(ui.messages(bobs).locator(".message-text")).to_have_text(texts)
    bobs.reload()  # and what Bob finds when he opens the chat again is the same
    ui.connected(bobs)
    expect(ui.messages(bobs).locator(".message-text")).to_have_text(texts)
