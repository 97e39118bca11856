"""The web UI's server side: forms, cookies, CSRF, security headers, assets."""

import pytest
from support.forms import csrf_from
from support.settings import PASSWORD


@pytest.fixture
def browser(client, alice):
    """A test client logged in through the login form."""
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    return client


def cookie(client, name):
    return client.get_cookie(name)


def test_pages_redirect_to_login_when_logged_out(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_login_sets_an_httponly_samesite_access_cookie_and_a_csrf_cookie(client, alice):
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page)}
    )
    cookies = response.headers.getlist("Set-Cookie")
    access = next(c for c in cookies if c.startswith("access_token_cookie="))
    assert "HttpOnly" in access and "SameSite=Lax" in access
    csrf = next(c for c in cookies if c.startswith("csrf_access_token="))
    assert "HttpOnly" not in csrf


def test_login_form_without_its_csrf_token_is_refused(client, alice):
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert cookie(client, "access_token_cookie") is None


def test_wrong_password_shows_a_clear_error(client, alice):
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": "alice", "password": "nope-nope", "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 400
    assert "The username or password is wrong." in response.get_data(as_text=True)


def test_register_form_creates_and_logs_in(client):
    page = client.get("/register").get_data(as_text=True)
    response = client.post(
        "/register",
        data={
            "username": "newbie",
            "display_name": "New Bie",
            "password": PASSWORD,
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 302
    assert 'data-testid="current-user">newbie<' in client.get("/").get_data(as_text=True)


def test_cookie_authenticated_writes_need_the_csrf_header(browser, api, alice, bob, chat):
    body = {"conversationId": chat, "content": "from the browser"}
    refused = browser.post("/api/messages/send", json=body)
    assert refused.status_code == 401
    assert api.quota(alice).json["messagesSentToday"] == 0
    accepted = browser.post(
        "/api/messages/send", json=body, headers={"X-CSRF-TOKEN": cookie(browser, "csrf_access_token").value}
    )
    assert accepted.status_code == 201


def test_chat_page_has_the_composer_and_security_headers(browser, chat):
    response = browser.get(f"/c/{chat}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="composer"' in html and 'id="expiration"' in html
    assert "<script>" not in html  # no inline script
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_search_page_has_the_search_box_and_needs_a_login(client, browser):
    response = browser.get("/search?q=lunch")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="user-search"' in html and 'id="message-results"' in html
    assert 'id="composer"' not in html
    assert "<script>" not in html
    assert "no-store" in response.headers["Cache-Control"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    browser.post("/logout", data={"csrf_token": csrf_from(html)})
    response = browser.get("/search?q=lunch")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/search")


def test_api_responses_carry_the_security_headers_too(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_logout_revokes_the_cookie_token(browser, alice):
    page = browser.get("/").get_data(as_text=True)
    response = browser.post("/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert browser.get("/").status_code == 302


def test_next_parameter_never_leaves_the_site(client, alice):
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert response.headers["Location"] == "/"


def test_socket_io_client_is_served_from_node_modules(client):
    with client.get("/vendor/socket.io.esm.min.js") as response:
        if response.status_code == 404:
            pytest.fail("node_modules/socket.io-client is missing: run `make install` (npm ci)")
        assert response.status_code == 200
        assert "javascript" in response.headers["Content-Type"]
        assert b"io" in response.get_data()
    assert client.get("/vendor/../package.json").status_code == 404


def test_unknown_page_is_an_html_error_page_but_api_stays_json(client):
    page = client.get("/nowhere", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "Page not found" in page.get_data(as_text=True)
    assert client.get("/api/nowhere", headers={"Accept": "text/html"}).json["error"]["code"] == "not_found"


def test_every_cookie_authenticated_write_needs_the_csrf_header(browser, api, alice, bob, carol, chat):
    api.send(bob, chat, "unread")
    writes = [
        ("/api/messages/send", {"conversationId": chat, "content": "forged"}),
        ("/api/messages/read", {"conversationId": chat}),
        ("/api/conversations/create", {"receiverId": carol.id}),
        ("/api/auth/logout", None),
    ]
    for path, body in writes:
        response = browser.post(path, json=body) if body is not None else browser.post(path)
        assert response.status_code == 401, path
        assert "CSRF" in response.json["error"]["message"], path
    assert api.quota(alice).json["messagesSentToday"] == 0
    assert api.conversations(alice).json["conversations"][0]["unreadCount"] == 1
    assert len(api.conversations(alice).json["conversations"]) == 1
    assert browser.get("/").status_code == 200  # still logged in: logout was refused too
    page = browser.get("/").get_data(as_text=True)
    assert browser.post("/logout", data={}).status_code == 302
    assert browser.get("/").status_code == 200, "a logout form without its CSRF token logged out"
    assert browser.post("/logout", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert browser.get("/").status_code == 302


@pytest.mark.parametrize(
    ("form", "fields", "shown"),
    [
        ("/login", {"username": "ali\x00ce", "password": PASSWORD}, "must not contain NUL"),
        (
            "/register",
            {"username": "dora", "display_name": "Do\x00ra", "password": PASSWORD},
            "must not contain NUL",
        ),
        ("/register", {"username": "a b", "password": PASSWORD}, "letters, digits"),
        ("/register", {"username": "dora", "password": "short"}, "at least 8 characters"),
    ],
)
def test_forms_apply_the_api_text_rules_and_say_what_is_wrong(client, form, fields, shown):
    page = client.get(form).get_data(as_text=True)
    response = client.post(form, data={**fields, "csrf_token": csrf_from(page)})
    assert response.status_code in (200, 400), response.status_code
    assert shown in response.get_data(as_text=True)
