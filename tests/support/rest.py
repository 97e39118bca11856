"""The REST client of live servers (requests), and the accounts it registers."""

import threading
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from .settings import PASSWORD


@dataclass
class Account:
    """A registered, logged-in user."""

    id: str
    username: str
    token: str
    display_name: str = ""
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


def unique_name(prefix: str) -> str:
    """A username nobody has: `prefix_<12 hex>`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class RestClient:
    """Shortcuts for a live server's REST API.

    With `keep_alive` each thread keeps one connection (a requests.Session of its own);
    without, every request opens a new connection, which spreads them over several
    workers of one port.
    """

    def __init__(self, url: str, *, keep_alive: bool = True, timeout: float = 20.0) -> None:
        self.url = url
        self.keep_alive = keep_alive
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    # ---- requests

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request with a timeout."""
        if not self.keep_alive:
            return self.fresh_request(method, path, **kwargs)
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        kwargs.setdefault("timeout", self.timeout)
        return session.request(method, self.url + path, **kwargs)

    def fresh_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request on a new connection."""
        kwargs.setdefault("timeout", self.timeout)
        return requests.request(method, self.url + path, **kwargs)

    def close_sessions(self) -> None:
        """Close the kept connections of every thread."""
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        self._local = threading.local()

    # ---- accounts

    def register(self, username: str, password: str = PASSWORD, **extra: Any) -> requests.Response:
        """POST /api/auth/register."""
        return self.request(
            "POST", "/api/auth/register", json={"username": username, "password": password, **extra}
        )

    def login(self, username: str, password: str = PASSWORD, **kwargs: Any) -> requests.Response:
        """POST /api/auth/login (kwargs go to the request, e.g. headers)."""
        return self.request(
            "POST", "/api/auth/login", json={"username": username, "password": password}, **kwargs
        )

    def logged_in(self, username: str, password: str = PASSWORD) -> Account:
        """Log in (asserting 200): the account with a new token."""
        response = self.login(username, password)
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(
            body["user"]["id"], username, body["accessToken"], body["user"]["displayName"], password
        )

    def account(self, prefix: str = "u", display_name: str | None = None) -> Account:
        """Register and log in a new user named `prefix_<hex>` (display name: the server's default)."""
        username = unique_name(prefix)
        extra = {"displayName": display_name} if display_name is not None else {}
        response = self.register(username, **extra)
        assert response.status_code == 201, response.text
        return self.logged_in(username)

    def logout(self, who: Account) -> requests.Response:
        """POST /api/auth/logout with the account's token."""
        return self.request("POST", "/api/auth/logout", headers=who.headers)

    # ---- conversations and messages

    def start_conversation(self, who: Account, other: Account, **extra: Any) -> requests.Response:
        """POST /api/conversations/create."""
        return self.request(
            "POST", "/api/conversations/create", json={"receiverId": other.id, **extra}, headers=who.headers
        )

    def conversation(self, who: Account, other: Account) -> str:
        """The pair's conversation id (started if needed)."""
        response = self.start_conversation(who, other)
        assert response.status_code in (200, 201), response.text
        return response.json()["conversation"]["id"]

    def send(
        self, who: Account, conversation_id: str, content: str = "hello", **extra: Any
    ) -> requests.Response:
        """POST /api/messages/send."""
        return self.request(
            "POST",
            "/api/messages/send",
            json={"conversationId": conversation_id, "content": content, **extra},
            headers=who.headers,
        )

    def sent(
        self, who: Account, conversation_id: str, content: str = "hello", **extra: Any
    ) -> dict[str, Any]:
        """Send a message, asserting 201: the answer (`message` and `quota`)."""
        response = self.send(who, conversation_id, content, **extra)
        assert response.status_code == 201, response.text
        return response.json()

    def messages(self, who: Account, conversation_id: str, **params: Any) -> requests.Response:
        """GET /api/messages."""
        return self.request(
            "GET", "/api/messages", params={"conversationId": conversation_id, **params}, headers=who.headers
        )

    def all_messages(self, who: Account, conversation_id: str) -> list[dict[str, Any]]:
        """Every message `who` sees, oldest first (the newest page, then older pages with `before=`)."""
        response = self.messages(who, conversation_id, limit=100)
        assert response.status_code == 200, response.text
        page = response.json()
        found, more = page["messages"], page["hasMore"]
        while more:
            response = self.messages(who, conversation_id, limit=100, before=found[0]["id"])
            assert response.status_code == 200, response.text
            found, more = response.json()["messages"] + found, response.json()["hasMore"]
        return found

    def update_conversation(self, who: Account, conversation_id: str, **changes: Any) -> requests.Response:
        """PATCH a conversation's settings."""
        return self.request(
            "PATCH", f"/api/conversations/{conversation_id}", json=changes, headers=who.headers
        )

    def read(self, who: Account, conversation_id: str, **extra: Any) -> requests.Response:
        """POST /api/messages/read."""
        return self.request(
            "POST",
            "/api/messages/read",
            json={"conversationId": conversation_id, **extra},
            headers=who.headers,
        )

    def quota(self, who: Account) -> dict[str, Any]:
        """GET /api/messages/quota (asserting 200)."""
        response = self.request("GET", "/api/messages/quota", headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()
