"""The OpenAPI 3.1 document, generated from the routes and the schemas that validate them."""

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic.json_schema import models_json_schema

from app.api.spec import EndpointSpec
from app.schemas import ErrorOut

bp = Blueprint("openapi", __name__)

_ERROR_TEXT = {
    400: "Invalid input (validation_error, invalid_json, invalid_cursor...)",
    401: "Missing, invalid, expired or revoked token",
    402: "Not enough points (insufficient_points, with required and balance)",
    404: "Not found, or not yours",
    409: "Conflict",
    413: "Body over 64 KiB (an upload: over MAX_ATTACHMENT_BYTES, attachment_too_large)",
    415: "Body is not application/json (an upload: a file type not allowed)",
    429: "Rate limited; see Retry-After",
    503: "Database or Redis unreachable; see Retry-After",
}


def apply_configured_limits(schemas: dict[str, Any], config: Any) -> None:
    """Write the limits that come from settings (message length, expiration) into the schemas."""
    for name, schema in schemas.items():
        if not name.startswith("SendMessageRequest"):
            continue
        properties = schema.get("properties", {})
        if "content" in properties:
            properties["content"]["maxLength"] = config["MAX_MESSAGE_LENGTH"]
            properties["content"]["description"] = "Not blank after trimming, unless attachmentIds are given."
        hours = properties.get("expirationHours", {})
        for option in hours.get("anyOf", [hours]):
            if option.get("type") == "integer":
                option["minimum"] = config["MIN_EXPIRATION_HOURS"]
                option["maximum"] = config["MAX_EXPIRATION_HOURS"]


# A URL rule's variable (<uuid:conversation_id>) and the schema of each converter used.
_RULE_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")
_PATH_SCHEMAS = {"uuid": {"type": "string", "format": "uuid"}, "string": {"type": "string"}}


def _upload_body(part: str) -> dict[str, Any]:
    """A multipart/form-data body of one file part."""
    schema = {
        "type": "object",
        "properties": {part: {"type": "string", "format": "binary"}},
        "required": [part],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def build_document(app: Flask) -> dict[str, Any]:
    """Walk the URL map and describe every endpoint that carries an EndpointSpec."""
    endpoints: list[tuple[str, str, EndpointSpec]] = []  # (URL rule, method, spec)
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "api_spec", None)
        if spec is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            endpoints.append((rule.rule, method.lower(), spec))

    models = {ErrorOut}
    for _, _, spec in endpoints:
        models.update(m for m in (spec.body, spec.query, spec.response) if m is not None)
    keyed = [(m, "validation") for m in models] + [(m, "serialization") for m in models]
    schema_map, definitions = models_json_schema(
        keyed, ref_template="#/components/schemas/{model}", by_alias=True
    )

    apply_configured_limits(definitions.get("$defs", {}), app.config)

    def ref(model: Any, mode: str) -> dict[str, Any]:
        return schema_map[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for url_rule, method, spec in endpoints:
        path = _RULE_ARGUMENT.sub(r"{\2}", url_rule)
        operation: dict[str, Any] = {"summary": spec.summary, "responses": {}}
        if spec.auth:
            operation["security"] = [{"bearerAuth": []}]
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS[converter or "string"]}
            for converter, name in _RULE_ARGUMENT.findall(url_rule)
        ]
        if parameters:
            operation["parameters"] = parameters
        if spec.query is not None:
            properties = definitions["$defs"][spec.query.__name__]["properties"]
            required = set(definitions["$defs"][spec.query.__name__].get("required", []))
            operation["parameters"] = parameters + [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in properties.items()
            ]
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(spec.body, "validation")}},
            }
        if spec.upload is not None:
            operation["requestBody"] = _upload_body(spec.upload)
        success: dict[str, Any] = {"description": "Success"}
        if spec.response is not None:
            success["content"] = {"application/json": {"schema": ref(spec.response, "serialization")}}
        if spec.produces is not None:
            success["content"] = {spec.produces: {"schema": {"type": "string", "format": "binary"}}}
        operation["responses"][str(spec.status)] = success
        for code, description in spec.also:
            operation["responses"][str(code)] = {**success, "description": description}
        codes = set(spec.errors) | ({400, 413, 415} if spec.body else set())
        codes |= ({400} if spec.query else set()) | ({401} if spec.auth else set())
        for code in sorted(codes):
            operation["responses"][str(code)] = {
                "description": _ERROR_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": ref(ErrorOut, "serialization")}},
            }
        paths.setdefault(path, {})[method] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Real-time messaging API",
            "version": "1.0.0",
            "description": "REST API of the messaging service; realtime events are described in the README.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


@bp.get("/api/openapi.json")
def openapi_document() -> Any:
    """Serve the OpenAPI document (built once per process)."""
    document = current_app.extensions.get("openapi_document")
    if document is None:
        document = current_app.extensions["openapi_document"] = build_document(current_app)
    return jsonify(document)
