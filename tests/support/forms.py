"""The web UI's forms through Flask's test client: the CSRF token comes from the form page."""

import re
from typing import Any


def csrf_from(html: str) -> str:
    """The CSRF token of the form in a page."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


def submit(client: Any, path: str, fields: dict[str, str], **kwargs: Any) -> Any:
    """GET the form at `path`, then POST `fields` with its CSRF token (kwargs go to the POST)."""
    token = csrf_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={**fields, "csrf_token": token}, **kwargs)
