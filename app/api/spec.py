"""The `endpoint` decorator: parses and validates input with a schema, serializes the
view's result through the response schema and records the endpoint for the OpenAPI document."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError

from app.errors import AppError, InvalidJson, ValidationFailed
from app.schemas import dump


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    status = 415
    message = "Send the body as application/json."


@dataclass(frozen=True)
class EndpointSpec:
    """What the OpenAPI document says of one endpoint."""

    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[int, ...] = field(default_factory=tuple)
    tag: str = ""
    # Other success statuses with the same body, and what each means (e.g. 200 for a replay).
    also: tuple[tuple[int, str], ...] = field(default_factory=tuple)
    # A multipart/form-data body with one file part of this name (the view reads it).
    upload: str | None = None
    # The media type of a success that is not JSON (a file: "*/*").
    produces: str | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text} is too large")
    return value


def _field_problems(error: ValidationError) -> list[dict[str, str]]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        message = "is not an allowed field" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append({"field": location, "message": message})
    return problems


def validate(model: type[BaseModel], data: Any) -> Any:
    """Validate `data` with `model`; a ValidationFailed names every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(fields=_field_problems(error)) from None


def parse_json_body(model: type[BaseModel]) -> Any:
    """The request's JSON object body, validated by `model`."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidJson(f"The body is not valid JSON: {error}") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise InvalidJson("The body is not valid JSON: it is nested too deeply.") from None
    if not isinstance(data, dict):
        raise InvalidJson("The body must be a JSON object.")
    return validate(model, data)


def parse_query(model: type[BaseModel]) -> Any:
    """The query string, validated by `model` (repeated parameters are refused)."""
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise ValidationFailed(fields=[{"field": name, "message": "give it once"} for name in repeated])
    return validate(model, request.args.to_dict())


def endpoint(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    auth: bool = True,
    errors: tuple[int, ...] = (),
    also: tuple[tuple[int, str], ...] = (),
    upload: str | None = None,
    produces: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate the body and/or query of a view, answer what it returns (a domain object
    or a dict; `(value, status)` for another success status) through `response`, with
    `status`, and describe the endpoint for OpenAPI (`upload`: a multipart body with that
    file part, which the view parses; `produces`: a success that is a file, not JSON)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_json_body(body)
            result = view(*args, **kwargs)
            if response is None:
                return result
            value, code = result if isinstance(result, tuple) else (result, status)
            return dump(response, value), code

        wrapper.api_spec = EndpointSpec(  # type: ignore[attr-defined]
            summary, body, query, response, status, auth, errors, also=also, upload=upload, produces=produces
        )
        return wrapper

    return decorate
