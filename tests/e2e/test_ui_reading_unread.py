"""Reading a chat, continued: a bubble is read only when most of it was seen (a sliver at an edge
is not; a bubble taller than the scroller is once it fills most of it), messages that arrive while
scrolled up wait until scrolled to, and the unread divider above the first of more unread messages
than a page (the typing indicator's @username: test_ui_composer.py)."""

from typing import Any

import pytest
from e2e.test_ui_reading import _wait, read_flags
from playwright.sync_api import Locator, Page, expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

VIEWPORT = {"width": 1000, "height": 600}
# The page's document.visibilityState, switched by the test (as in test_ui_reading.py).
VISIBILITY_SWITCH = """
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get() { return window.testHidden ? "hidden" : "visible"; },
});
"""
# IntersectionObserver entries as the spec says (and Firefox and Safari report them): a sliver
# of a target on screen is `isIntersecting`, and coming on screen notifies, whatever the
# thresholds. Chromium reports both only from the lowest threshold up; with 0 among the
# thresholds it reports them as the spec does, so 0 is added.
PER_SPEC_OBSERVER = """
(() => {
  const Native = window.IntersectionObserver;
  window.IntersectionObserver = class extends Native {
    constructor(callback, options = {}) {
      const threshold = [].concat(options.threshold ?? 0);
      super(callback, { ...options, threshold: threshold.includes(0) ? threshold : [0, ...threshold] });
    }
  };
})();
"""
# Each read-when-seen test runs with Chromium's own observer and with one reporting per spec.
OBSERVERS = pytest.mark.parametrize("observer", ["chromium", "per-spec"])
SETTLE_MS = 1200  # well over the page's read delay (250 ms): a read would have been sent by then
PEEK_PX = 4  # how much of a bubble shows at an edge of the scroller

# Scrolls the scroller so that `px` pixels of the bubble show at its top or bottom edge.
PEEK = """(bubble, [edge, px]) => {
  const scroller = document.getElementById("message-scroller");
  const box = bubble.getBoundingClientRect();
  const view = scroller.getBoundingClientRect();
  scroller.scrollTop += edge === "top" ? box.bottom - view.top - px : box.top - view.bottom + px;
}"""
# How far the bubble's bottom is above the scroller's (scrolled to the end), and the scroller's height.
BELOW = """bubble => {
  const view = document.getElementById("message-scroller");
  return [view.getBoundingClientRect().bottom - bubble.getBoundingClientRect().bottom, view.clientHeight];
}"""
# How many pixels of the bubble show in the scroller.
SHOWN = """bubble => {
  const box = bubble.getBoundingClientRect();
  const view = document.getElementById("message-scroller").getBoundingClientRect();
  return Math.max(0, Math.min(box.bottom, view.bottom) - Math.max(box.top, view.top));
}"""


def reader(windows: Windows, observer: str, viewport: dict[str, int] = VIEWPORT) -> Page:
    """A window whose IntersectionObserver reports the `observer` way."""
    page = windows.open(viewport=viewport)
    if observer == "per-spec":
        page.add_init_script(PER_SPEC_OBSERVER)
    return page


def peek(bubble: Locator, edge: str, px: int = PEEK_PX) -> None:
    """Scroll so that only `px` pixels of `bubble` show at the scroller's `edge` ("top" or "bottom")."""
    bubble.evaluate(PEEK, [edge, px])
    shown = bubble.evaluate(SHOWN)
    assert 0 < shown <= px + 1, f"{shown} px of the bubble show, not {px}"


def stays_unread(page: Page, server: LiveServer, who: Account, conversation_id: str, *texts: str) -> None:
    """After a while, none of `texts` is read (as `who`, their sender, sees them)."""
    page.wait_for_timeout(SETTLE_MS)
    flags = read_flags(server, who, conversation_id)
    assert not any(flags[text] for text in texts), {text: flags[text] for text in texts}


@OBSERVERS
def test_a_bubble_peeking_a_few_pixels_at_either_edge_stays_unread_until_most_of_it_is_seen(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str], observer: str
) -> None:
    alice, bob, conversation_id = pair
    for number in range(1, 11):
        live_server.sent(alice, conversation_id, f"before {number}")
    live_server.sent(bob, conversation_id, "peeking")
    for number in range(1, 9):
        live_server.sent(alice, conversation_id, f"after {number}")

    # Measured in a hidden tab (which reads nothing): how tall the scroller must be for the chat
    # to open (at the latest message) with only a few pixels of the bubble showing at the top.
    hidden = windows.open(viewport=VIEWPORT)
    hidden.add_init_script("window.testHidden = true;" + VISIBILITY_SWITCH)
    ui.login(hidden, alice)
    ui.open_chat(hidden, conversation_id)
    expect(ui.message_with_text(hidden, "after 8")).to_be_in_viewport()
    below, height = ui.message_with_text(hidden, "peeking").evaluate(BELOW)
    viewport = {**VIEWPORT, "height": VIEWPORT["height"] + round(below + PEEK_PX - height)}

    page = reader(windows, observer, viewport)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, "after 8")).to_be_in_viewport()
    bubble = ui.message_with_text(page, "peeking")
    assert 0 < bubble.evaluate(SHOWN) <= PEEK_PX + 1.5, bubble.evaluate(SHOWN)
    stays_unread(page, live_server, bob, conversation_id, "peeking")

    peek(bubble, "bottom")
    stays_unread(page, live_server, bob, conversation_id, "peeking")
    peek(bubble, "top")
    stays_unread(page, live_server, bob, conversation_id, "peeking")

    bubble.evaluate("el => el.scrollIntoView({ block: 'center' })")
    assert _wait(lambda: read_flags(live_server, bob, conversation_id)["peeking"]), "seen but not read"


@OBSERVERS
def test_a_message_taller_than_the_scroller_is_read_once_it_fills_the_scroller_not_at_a_sliver(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str], observer: str
) -> None:
    alice, bob, conversation_id = pair
    tall = "\n".join(f"line {number} of a long message" for number in range(1, 61))
    for number in range(1, 13):
        live_server.sent(alice, conversation_id, f"before {number}")
    live_server.sent(bob, conversation_id, tall)
    for number in range(1, 9):
        live_server.sent(alice, conversation_id, f"after {number}")

    page = reader(windows, observer)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, "after 8")).to_be_in_viewport()
    bubble = ui.messages(page).filter(has_text="line 60 of a long message")
    scroller = page.locator("#message-scroller")
    height, view = bubble.evaluate("el => el.offsetHeight"), scroller.evaluate("el => el.clientHeight")
    assert height > 1.5 * view, (height, view)

    peek(bubble, "bottom")
    stays_unread(page, live_server, bob, conversation_id, tall)

    # Scrolled down bit by bit (as a wheel does) until the message covers the whole scroller.
    for _ in range(60):
        if bubble.evaluate(SHOWN) >= view - 1:
            break
        scroller.evaluate("el => { el.scrollTop += 40; }")
        page.wait_for_timeout(30)
    assert _wait(lambda: read_flags(live_server, bob, conversation_id)[tall]), "filled the scroller, not read"


@OBSERVERS
def test_messages_arriving_while_scrolled_up_stay_unread_until_scrolled_to(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str], observer: str
) -> None:
    alice, bob, conversation_id = pair
    for number in range(1, 21):
        live_server.sent(alice, conversation_id, f"mine {number}")

    page = reader(windows, observer)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, "mine 20")).to_be_in_viewport()
    scroller = page.locator("#message-scroller")
    scroller.evaluate("el => { el.scrollTop = 0; }")
    expect(ui.message_with_text(page, "mine 1")).to_be_in_viewport()

    live_server.sent(bob, conversation_id, "new while up 1")
    live_server.sent(bob, conversation_id, "new while up 2")
    button = page.locator("#new-messages")
    expect(button).to_contain_text("New messages (2)")
    assert scroller.evaluate("el => el.scrollTop") == 0
    stays_unread(page, live_server, bob, conversation_id, "new while up 1", "new while up 2")

    # Scrolled down until the first of them only peeks in at the bottom: still not seen.
    peek(ui.message_with_text(page, "new while up 1"), "bottom")
    stays_unread(page, live_server, bob, conversation_id, "new while up 1", "new while up 2")

    scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    arrived = ("new while up 1", "new while up 2")
    assert _wait(lambda: all(read_flags(live_server, bob, conversation_id)[text] for text in arrived))
    expect(button).to_be_hidden()


def test_with_more_unread_than_a_page_the_divider_and_its_jump_are_at_the_first_unread(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    total = 80  # more than the newest page the chat opens with (50)
    live_server.grant(bob, 10 * (5 + total - 20))  # 20 free a day, then 10 points each
    for number in range(1, 6):
        live_server.sent(bob, conversation_id, f"read {number}")
    assert live_server.read(alice, conversation_id).status_code == 200
    first = live_server.sent(bob, conversation_id, "unread 1")["message"]["id"]
    for number in range(2, total + 1):
        live_server.sent(bob, conversation_id, f"unread {number}")

    page = windows.open(viewport=VIEWPORT)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, f"unread {total}")).to_be_in_viewport()
    # The chat opens with the newest page only (cheap however many are unread); the jump
    # says there is more unread above and loads back to it when asked.
    expect(page.locator("ol#messages li.message")).to_have_count(50)
    expect(ui.message(page, first)).to_have_count(0)
    jump = page.locator("#jump-unread")
    expect(jump).to_be_visible()
    jump.click()
    divider = page.locator("ol#messages li.unread-divider")
    expect(divider).to_have_count(1)
    expect(ui.message(page, first)).to_be_attached()
    after = divider.evaluate("el => el.nextElementSibling && el.nextElementSibling.dataset.messageId")
    assert after == first, "the divider is not right above the first unread message"
    expect(divider).to_be_in_viewport()
    expect(ui.message(page, first)).to_be_in_viewport()
    assert _wait(lambda: read_flags(live_server, bob, conversation_id)["unread 1"])
    expect(jump).to_be_hidden()
