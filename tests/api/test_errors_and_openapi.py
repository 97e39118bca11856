"""HTTP-level errors share the one JSON shape; the OpenAPI document describes every route."""

import json
import logging
import re
from typing import Any

import pytest
from support.settings import PASSWORD

from app.schemas import RequestModel

SECRET_DETAIL = "database password is hunter2"
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]


# -- HTTP errors --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/api/nope", "/api/messages/nope", "/api/auth/login/extra"])
def test_unknown_api_path_answers_404_not_found_in_json(client, app, method, path):
    response = client.open(path, method=method)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/messages/send", {"POST"}),
        ("PUT", "/api/messages/read", {"POST"}),
        ("DELETE", "/api/messages", {"GET", "HEAD"}),
        ("POST", "/api/messages/quota", {"GET", "HEAD"}),
        ("GET", "/api/auth/login", {"POST"}),
    ],
)
def test_wrong_method_answers_405_with_allow_header(client, app, method, path, allowed):
    response = client.open(path, method=method)
    assert_error(response, 405, "method_not_allowed")
    methods = {item.strip() for item in response.headers["Allow"].split(",")}
    assert allowed <= methods
    assert methods <= allowed | {"OPTIONS", "HEAD"}


def test_body_over_64_kib_answers_413_in_json(client, app):
    body = json.dumps({"username": "zed", "password": PASSWORD, "displayName": "d" * (1 << 20)})
    response = client.post("/api/auth/register", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_413_starts_just_over_64_kib(api, alice, chat):
    """64 KiB is accepted (and refused by validation); one byte more is refused as too large."""

    def body_of_size(size: int) -> bytes:
        prefix = json.dumps({"conversationId": chat, "content": ""})[:-2].encode()
        return prefix + b"x" * (size - len(prefix) - 2) + b'"}'

    headers = {**alice.headers, "Content-Type": "application/json"}
    at_limit = api.client.post("/api/messages/send", data=body_of_size(64 * 1024), headers=headers)
    assert len(body_of_size(64 * 1024)) == 64 * 1024
    assert_error(at_limit, 400, "validation_error")
    over = api.client.post("/api/messages/send", data=body_of_size(64 * 1024 + 1), headers=headers)
    assert_error(over, 413, "payload_too_large")


@pytest.mark.parametrize("mimetype", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_body_that_is_not_json_answers_415_in_json(client, app, mimetype):
    body = json.dumps({"username": "zed", "password": PASSWORD})
    response = client.post("/api/auth/register", data=body, headers={"Content-Type": mimetype})
    assert_error(response, 415, "unsupported_media_type")


def test_unexpected_exception_answers_500_internal_error_without_a_trace(app, client, caplog):
    def explode() -> Any:
        raise RuntimeError(SECRET_DETAIL)

    app.add_url_rule("/api/test-only/explode", "test_only_explode", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/test-only/explode")
    error = assert_error(response, 500, "internal_error")
    assert set(error) == {"code", "message"}
    text = response.get_data(as_text=True)
    for leak in (SECRET_DETAIL, "RuntimeError", "Traceback", "explode", ".py"):
        assert leak not in text
    # ... but the operators get the trace in the log
    assert any(record.exc_info and record.exc_info[0] is RuntimeError for record in caplog.records)


def test_after_a_500_the_app_keeps_answering(app, client):
    def explode() -> Any:
        raise RuntimeError(SECRET_DETAIL)

    app.add_url_rule("/api/test-only/explode", "test_only_explode", explode)
    assert client.get("/api/test-only/explode").status_code == 500
    assert client.get("/healthz").status_code == 200
    assert (
        client.post("/api/auth/register", json={"username": "zed", "password": PASSWORD}).status_code == 201
    )


# -- health -------------------------------------------------------------------------------


def test_healthz_answers_ok_without_a_token(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok"}


# -- the OpenAPI document -----------------------------------------------------------------


@pytest.fixture
def document(client: Any, app: Any) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix)
        schema = document["components"]["schemas"][schema["$ref"][len(prefix) :]]
    return schema


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_openapi_is_served_without_a_token_as_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["paths"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_openapi_describes_every_api_route_with_its_methods(app, document):
    expected = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/openapi.json":
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            expected.add((_openapi_path(rule.rule), method.lower()))
    described = {(path, method) for path, method, _ in _operations(document)}
    assert expected, "the app has no /api routes"
    assert expected <= described, sorted(expected - described)
    assert ("/healthz", "get") in described
    # and it describes nothing the app does not serve
    served = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert described <= served, sorted(described - served)


def test_openapi_send_message_request_forbids_unknown_fields_in_camel_case(document):
    send = document["paths"]["/api/messages/send"]["post"]
    reference = send["requestBody"]["content"]["application/json"]["schema"]
    assert reference == {"$ref": "#/components/schemas/SendMessageRequest"}
    schema = _resolve(document, reference)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "conversationId",
        "content",
        "expirationHours",
        "clientMessageId",
        "maxCost",
        "attachmentIds",
    }
    assert set(schema["required"]) == {"conversationId", "content"}
    assert schema["properties"]["attachmentIds"]["maxItems"] == 10
    assert schema["properties"]["conversationId"]["format"] == "uuid"
    for name in ("expirationHours", "maxCost"):
        types = {option.get("type") for option in schema["properties"][name]["anyOf"]}
        assert types == {"integer", "null"}
    client_id = next(o for o in schema["properties"]["clientMessageId"]["anyOf"] if o.get("type") == "string")
    assert client_id["maxLength"] == 64


def test_openapi_every_request_body_forbids_unknown_fields_in_camel_case(document):
    bodies = 0
    for path, method, operation in _operations(document):
        if "requestBody" not in operation:
            continue
        bodies += 1
        content = operation["requestBody"]["content"]
        media_type = "application/json" if path != "/api/attachments" else "multipart/form-data"
        assert set(content) == {media_type}, (path, method)
        schema = _resolve(document, content[media_type]["schema"])
        assert schema["additionalProperties"] is False, (path, method)
        for name in schema["properties"]:
            assert CAMEL_CASE.match(name), (path, method, name)
    assert bodies >= 5


def test_openapi_post_endpoints_with_a_body_describe_it(document):
    with_body = {
        path for path, method, op in _operations(document) if method == "post" and "requestBody" in op
    }
    assert with_body == {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/password",
        "/api/conversations/create",
        "/api/messages/send",
        "/api/messages/read",
        "/api/attachments",
        "/api/push/subscriptions",
    }


def test_openapi_response_schemas_use_camel_case(document):
    for name, schema in document["components"]["schemas"].items():
        for prop in schema.get("properties", {}):
            assert CAMEL_CASE.match(prop), (name, prop)


def test_openapi_messages_query_parameters(document):
    fetch = document["paths"]["/api/messages"]["get"]
    parameters = {p["name"]: p for p in fetch["parameters"]}
    assert set(parameters) == {"conversationId", "limit", "before", "after", "around"}
    assert all(p["in"] == "query" for p in parameters.values())
    assert parameters["conversationId"]["required"] is True
    assert not parameters["limit"]["required"]
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert parameters["limit"]["schema"]["maximum"] == 100


def test_openapi_marks_protected_operations_with_bearer_auth_and_401(document):
    public = {("/api/auth/register", "post"), ("/api/auth/login", "post"), ("/healthz", "get")}
    for path, method, operation in _operations(document):
        if (path, method) in public:
            assert "security" not in operation, path
            assert "401" not in operation["responses"] or path == "/api/auth/login", path
        else:
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            assert "401" in operation["responses"], (path, method)


def test_openapi_send_lists_its_error_answers(document):
    responses = document["paths"]["/api/messages/send"]["post"]["responses"]
    # 200: a retry with a used clientMessageId answers with the message first created
    assert set(responses) == {"200", "201", "400", "401", "402", "404", "409", "413", "415", "429"}
    error_schema = _resolve(document, responses["402"]["content"]["application/json"]["schema"])
    assert set(error_schema["required"]) == {"error"}


def test_openapi_every_ref_resolves(document):
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.split("/")[-1] in document["components"]["schemas"], ref


def test_openapi_document_passes_openapi_spec_validator(document):
    from openapi_spec_validator import validate  # a dev dependency (pyproject.toml)

    validate(document)


def test_every_request_model_forbids_unknown_fields():
    """The schemas that validate requests (and feed the document) all refuse extra fields."""
    models = list(RequestModel.__subclasses__())
    assert models
    for model in models:
        assert model.model_config["extra"] == "forbid", model.__name__
