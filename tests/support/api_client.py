"""Shortcuts for the REST API through Flask's test client."""

from typing import Any

from .rest import Account
from .settings import PASSWORD


class Api:
    """Shortcuts for the REST API, each returning the test client's response."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def register(self, username: str, password: str = PASSWORD, **extra: Any) -> Any:
        return self.client.post(
            "/api/auth/register", json={"username": username, "password": password, **extra}
        )

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.client.post("/api/auth/login", json={"username": username, "password": password})

    def account(self, username: str) -> Account:
        """Register and log in a user."""
        assert self.register(username).status_code == 201
        response = self.login(username)
        assert response.status_code == 200, response.json
        return Account(response.json["user"]["id"], username, response.json["accessToken"])

    def start(self, who: Account, other: Account, **extra: Any) -> Any:
        return self.client.post(
            "/api/conversations/create", json={"receiverId": other.id, **extra}, headers=who.headers
        )

    def conversation(self, who: Account, other: Account) -> str:
        """The id of the pair's conversation, started if needed."""
        response = self.start(who, other)
        assert response.status_code in (200, 201), response.json
        return response.json["conversation"]["id"]

    def send(self, who: Account, conversation_id: str, content: str = "hello", **extra: Any) -> Any:
        return self.client.post(
            "/api/messages/send",
            json={"conversationId": conversation_id, "content": content, **extra},
            headers=who.headers,
        )

    def messages(self, who: Account, conversation_id: str, **params: Any) -> Any:
        return self.client.get(
            "/api/messages", query_string={"conversationId": conversation_id, **params}, headers=who.headers
        )

    def read(self, who: Account, conversation_id: str, **extra: Any) -> Any:
        return self.client.post(
            "/api/messages/read", json={"conversationId": conversation_id, **extra}, headers=who.headers
        )

    def search(self, who: Account, q: str, **params: Any) -> Any:
        return self.client.get("/api/search", query_string={"q": q, **params}, headers=who.headers)

    def quota(self, who: Account) -> Any:
        return self.client.get("/api/messages/quota", headers=who.headers)

    def conversations(self, who: Account, **params: Any) -> Any:
        return self.client.get("/api/conversations", query_string=params, headers=who.headers)

    def update_conversation(self, who: Account, conversation_id: str, **changes: Any) -> Any:
        return self.client.patch(f"/api/conversations/{conversation_id}", json=changes, headers=who.headers)
