"""``/auth/*``: login, refresh, the current user and token invalidation."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._clock import format_iso
from ._http import (
    ApiError,
    authenticate,
    bearer_token,
    read_fields,
    require,
    simulator_state,
    token_error,
)
from ._tokens import IssuedToken, TokenProblem

__all__ = ["invalidate", "login", "refresh", "user"]

logger = logging.getLogger("notifier.eskiz.simulator")

# Older servers responded to a wrong password with 400 and this Russian text.
_BAD_CREDENTIALS_RU = "Неверный email или пароль"
_BAD_CREDENTIALS_EN = "Invalid email or password"


def _token_answer(issued: IssuedToken) -> Response:
    return JSONResponse(
        {"message": "token_generated", "data": {"token": issued.token}, "token_type": "bearer"}
    )


async def login(request: Request) -> Response:
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    try:
        email = require(fields, "email", config)
        password = require(fields, "password", config)
    except ApiError:
        state.stats.increment("login_failures")
        raise
    account = state.find_account(email, password)
    if account is None:
        state.stats.increment("login_failures")
        logger.info("Rejected a login: wrong e-mail or password")
        status = config.bad_credentials_status
        text = _BAD_CREDENTIALS_RU if status == 400 else _BAD_CREDENTIALS_EN
        raise ApiError(status, {"status": "error", "message": text})
    issued = state.tokens.issue(account.id, account.role)
    state.stats.increment("logins")
    logger.info("Issued token #%d to account %d by login", issued.serial, account.id)
    return _token_answer(issued)


async def refresh(request: Request) -> Response:
    state = simulator_state(request)
    config = state.config
    checked = state.tokens.check(bearer_token(request), allow_expired=config.refresh_expired)
    if isinstance(checked, TokenProblem):
        logger.info("Rejected a token refresh: the token is %s", checked.value)
        raise token_error(config, checked)
    account = state.account(checked.account_id)
    issued = state.tokens.issue(account.id, account.role)
    if config.refresh_revokes_old:
        state.tokens.revoke(checked)
    state.stats.increment("refreshes")
    logger.info(
        "Issued token #%d to account %d by refreshing token #%d",
        issued.serial,
        account.id,
        checked.serial,
    )
    return _token_answer(issued)


async def user(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    return JSONResponse(
        {
            "status": "success",
            "data": {
                "id": account.id,
                "created_at": format_iso(account.created_at),
                "updated_at": format_iso(account.created_at),
                "name": account.name,
                "email": account.email,
                "password": "",
                "role": account.role,
                "status": account.status,
                "is_vip": account.is_vip,
                "balance": state.balance(account.id),
            },
            "id": None,
        }
    )


async def invalidate(request: Request) -> Response:
    _, issued = authenticate(request)
    simulator_state(request).tokens.revoke(issued)
    logger.info("Revoked token #%d by invalidate", issued.serial)
    return JSONResponse({"message": "token_invalidated"})
