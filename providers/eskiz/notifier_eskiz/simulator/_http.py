"""Request parsing, authentication and error responses shared by every endpoint."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._config import SimulatorConfig
from ._faults import ErrorBody
from ._state import Account, SimulatorState
from ._tokens import IssuedToken, TokenProblem

__all__ = [
    "ApiError",
    "authenticate",
    "business_error",
    "error_response",
    "not_found_response",
    "read_fields",
    "read_json",
    "require",
    "simulator_state",
    "validation_error",
]

_NGINX_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """Raised by a handler to respond with an error status and body."""

    def __init__(
        self, status: int, body: ErrorBody, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return body_response(self.status, self.body, self.headers)


def simulator_state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


def body_response(
    status: int, body: ErrorBody, headers: Mapping[str, str] | None = None
) -> Response:
    """Build a response with ``body``: JSON for a mapping or list, HTML or plain text for text."""
    if isinstance(body, (str, bytes)):
        text = body.decode() if isinstance(body, bytes) else body
        media_type = "text/html" if text.lstrip().startswith("<") else "text/plain"
        return Response(text, status_code=status, media_type=media_type, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def nginx_page(status: int) -> str:
    return _NGINX_PAGE.format(status=status, phrase=HTTPStatus(status).phrase)


def format_retry_after(value: float | str) -> str:
    """Render a ``Retry-After`` value: whole seconds as an integer, text (an HTTP date) as-is."""
    if isinstance(value, str):
        return value
    return str(math.ceil(value))


def default_error_body(status: int, config: SimulatorConfig) -> ErrorBody:
    """Return the body the simulator sends with an injected error of this status."""
    if status == 401:
        return dict(config.expired_token_body)
    if status == 404:
        return not_found_body(config)
    if status in (502, 504):
        # Gateway errors come from the nginx in front of the application, as HTML.
        return nginx_page(status)
    if status == 429:
        return {"status": "error", "message": "Too Many Attempts."}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"status": "error", "message": phrase}


def error_response(
    status: int,
    config: SimulatorConfig,
    *,
    body: ErrorBody | None = None,
    retry_after: float | str | None = None,
) -> Response:
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else {}
    return body_response(
        status, default_error_body(status, config) if body is None else body, headers
    )


def not_found_body(config: SimulatorConfig) -> ErrorBody:
    if config.not_found_style == "nginx":
        return nginx_page(404)
    return {"status": "error", "message": "Not found"}


def not_found_response(config: SimulatorConfig) -> Response:
    return body_response(404, not_found_body(config))


def validation_error(config: SimulatorConfig, message: str) -> ApiError:
    return ApiError(config.validation_status, {"status": "error", "message": message})


def business_error(status: int, message: str) -> ApiError:
    return ApiError(status, {"status": "error", "message": message})


async def read_json(request: Request, config: SimulatorConfig) -> Any:
    """Parse a JSON body; a missing or malformed body is a validation error."""
    raw = await request.body()
    if not raw.strip():
        raise validation_error(config, "The request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise validation_error(config, "The request body is not valid JSON") from None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


async def read_fields(request: Request, config: SimulatorConfig) -> dict[str, str]:
    """Read form fields from a multipart, urlencoded or JSON body.

    Eskiz documents multipart forms; clients also send urlencoded forms and
    JSON, and the service accepts all three. Values that are not text (files,
    nested JSON) are ignored.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, str] = {}
    if content_type == "application/json":
        data = await read_json(request, config)
        if not isinstance(data, dict):
            raise validation_error(config, "The JSON body must be an object of fields")
        items: list[tuple[str, Any]] = list(data.items())
    elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form()
        items = list(form.multi_items())
    else:
        items = []
    for name, value in items:
        text = _as_text(value)
        if text is not None:
            fields[name] = text
    return fields


def require(fields: Mapping[str, str], name: str, config: SimulatorConfig) -> str:
    """Return a non-empty field, or raise the validation error Eskiz returns."""
    value = fields.get(name, "")
    if not value.strip():
        raise validation_error(config, f"{name} is required")
    return value


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request) -> tuple[Account, IssuedToken]:
    """Return the account and token of a protected call, or raise the 401 Eskiz returns."""
    state = simulator_state(request)
    checked = state.tokens.check(bearer_token(request))
    if isinstance(checked, TokenProblem):
        raise token_error(state.config, checked)
    return state.account(checked.account_id), checked


def token_error(config: SimulatorConfig, problem: TokenProblem) -> ApiError:
    if problem in (TokenProblem.EXPIRED, TokenProblem.REVOKED):
        return ApiError(401, dict(config.expired_token_body))
    return ApiError(401, dict(config.invalid_token_body))
