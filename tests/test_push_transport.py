"""The push client's guard against server-side request forgery: in production, its
connections must reach a public address, whatever a name resolves to."""

import pytest
from support.push_service import FakePushService
from urllib3.exceptions import NewConnectionError

from app.push.endpoints import endpoint_problem, is_public_address
from app.push.transport import make_pool


def test_a_production_pool_refuses_to_connect_to_a_name_that_resolves_to_loopback() -> None:
    with FakePushService() as service:
        port = service.url.rsplit(":", 1)[1]
        browser = service.subscribe()
        path = browser.endpoint.split(port, 1)[1]
        # `localhost` passes no IP-literal check: only the connection's peer address can tell
        with pytest.raises(NewConnectionError, match=r"non-public address 127\.0\.0\.1"):
            make_pool(allow_local=False, pool_size=2).request(
                "POST", f"http://localhost:{port}{path}", body=b"x"
            )
        assert service.deliveries == []
        # the development pool reaches it (and the service refuses the unsigned push)
        response = make_pool(allow_local=True, pool_size=2).request(
            "POST", f"http://localhost:{port}{path}", body=b"x"
        )
        assert response.status == 400 and len(service.deliveries) == 1


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("not an address", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_an_endpoint_is_checked_whatever_the_environment() -> None:
    assert endpoint_problem("https://fcm.googleapis.com/fcm/send/x", allow_local=False) is None
    assert endpoint_problem("http://127.0.0.1:8000/push/x", allow_local=True) is None
    assert endpoint_problem("javascript:alert(1)", allow_local=True) == "must be an https URL"
    assert endpoint_problem("https://a:b@push.example.com/", allow_local=True) is not None
    assert endpoint_problem("https://push.example.com:99999/", allow_local=True) == "must be a valid URL"
