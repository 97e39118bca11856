"""axe-core (from npm, package-lock.json) finds no violation on any page: login, register, the
list, a chat with messages both ways, profile, search with results; light and dark; desktop and phone."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
  }));
}"""


def violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core reports on the page as it is now (injected outside the page's CSP)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is a devDependency in package.json)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    return page.evaluate(RUN_AXE)


def assert_no_violations(page: Page, where: str) -> None:
    found = violations(page)
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found
    )
    assert not found, f"axe-core on {where} ({page.url}):\n{report}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_axe_finds_no_violation_on_any_page(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    scheme: str,
    width: str,
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(bob, conversation_id, "Hello Alice, see https://example.com/page for the plan")
    live_server.sent(alice, conversation_id, "Thanks, reading it now", expirationHours=24)
    live_server.sent(bob, conversation_id, "Great")
    page = windows.open(viewport=PHONE if width == "phone" else DESKTOP, color_scheme=scheme)
    tag = f"{scheme}, {width}"

    page.goto("/login")
    assert_no_violations(page, f"login ({tag})")
    page.goto("/register")
    assert_no_violations(page, f"register ({tag})")

    ui.login(page, alice)
    ui.connected(page)
    expect(ui.conversation_item(page, conversation_id)).to_be_visible()
    assert_no_violations(page, f"the list ({tag})")

    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, "Great")).to_be_visible()
    expect(ui.message_with_text(page, "Thanks, reading it now").locator(".message-status")).to_be_visible()
    assert_no_violations(page, f"a chat ({tag})")

    # A refused message, in place with its reason and actions, and the question before a paid one.
    refusal = {
        "error": {
            "code": "insufficient_points",
            "message": "Not enough points.",
            "required": 10,
            "balance": 0,
        }
    }
    page.route("**/api/messages/send", lambda route: route.fulfill(status=402, json=refusal))
    ui.send(page, "refused for want of points")
    expect(ui.message_with_text(page, "refused for want of points")).to_have_attribute("data-state", "failed")
    assert_no_violations(page, f"a chat with a refused message ({tag})")
    page.unroute("**/api/messages/send")

    page.goto("/profile")
    expect(page.locator("#profile-avatar .avatar")).to_be_visible()
    assert_no_violations(page, f"profile ({tag})")

    page.goto("/search?q=plan")
    expect(page.locator("#message-results li").first).to_be_visible()
    assert_no_violations(page, f"search ({tag})")
