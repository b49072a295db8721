"""Reading request bodies into pydantic models, and the one shape of every error answer.

Every refusal is an ``ErrorBody``: ``{"error": "...", "errors": [{"field", "message", "column"}]}``.

- 413 for a body over ``NEWSALERT_API_MAX_BODY_BYTES`` (refused, never truncated);
- 400 for a body that is not UTF-8 JSON, naming the line and column;
- 422 for JSON that does not fit the model: one entry per problem, ``field`` being the path
  written as in JSON Path without the ``$``: ``queries[1]``, ``article.title``, ``<body>`` for the
  body as a whole. pydantic's messages are kept, the input values are never echoed.
"""

from __future__ import annotations

import json
from typing import Iterable, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from newsalert.schemas.api import ErrorBody, FieldError

M = TypeVar("M", bound=BaseModel)

ROOT = "<body>"
_VALUE_ERROR_PREFIX = "Value error, "


class Refused(Exception):
    """A request refused with ``status`` and an ``ErrorBody``; handlers turn it into the answer."""

    def __init__(self, status: int, message: str, errors: Iterable[FieldError] = (), headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=message, errors=list(errors))
        self.headers = headers or {}

    def response(self) -> web.Response:
        """The JSON answer of this refusal."""
        return error_response(self.status, self.body, self.headers)


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> web.Response:
    """``body`` as a JSON answer with ``status``."""
    return web.json_response(body.model_dump(mode="json", exclude_none=True), status=status, headers=headers)


def field_path(loc: Iterable[str | int]) -> str:
    """``('queries', 1)`` -> ``queries[1]``; ``('article', 'title')`` -> ``article.title``; () -> ``<body>``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or ROOT


def validation_errors(exc: ValidationError) -> list[FieldError]:
    """One ``FieldError`` per pydantic error, with the JSON path of the field."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        message = err["msg"]
        if message.startswith(_VALUE_ERROR_PREFIX):
            message = message[len(_VALUE_ERROR_PREFIX) :]
        errors.append(FieldError(field=field_path(err["loc"]), message=message))
    return errors


async def read_model(request: web.Request, model: type[M], limit: int) -> M:
    """The request body validated as ``model``; raises ``Refused`` (413, 400 or 422) otherwise."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None
    if len(raw) > limit:
        raise _too_large(limit)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Refused(400, f"the body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Refused(400, f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Refused(400, "the body is JSON nested too deeply") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(422, f"the body is not a valid {model.__name__}", validation_errors(exc)) from None


def _too_large(limit: int) -> Refused:
    return Refused(413, f"the body is larger than the limit of {limit} bytes")
