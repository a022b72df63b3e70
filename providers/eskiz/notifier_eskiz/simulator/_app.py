"""The Starlette application that responds like the Eskiz API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import _routes_account as account
from . import _routes_auth as auth
from . import _routes_reports as reports
from . import _routes_send as sending
from ._callbacks import CallbackDispatcher
from ._config import SimulatorConfig
from ._http import ApiError, not_found_response
from ._middleware import FaultMiddleware
from ._state import SimulatorState

__all__ = ["create_app"]


def _routes(config: SimulatorConfig) -> list[Route]:
    routes = [
        Route("/api/auth/login", auth.login, methods=["POST"]),
        Route("/api/auth/refresh", auth.refresh, methods=["PATCH"]),
        Route("/api/auth/user", auth.user, methods=["GET"]),
        Route("/api/message/sms/send", sending.send, methods=["POST"]),
        Route("/api/message/sms/send-batch", sending.send_batch, methods=["POST"]),
        Route("/api/message/sms/send-global", sending.send_global, methods=["POST"]),
        Route("/api/message/sms/status_by_id/{message_id}", reports.status_by_id, methods=["GET"]),
        Route("/api/message/sms/get-user-messages", reports.user_messages, methods=["POST"]),
        Route(
            "/api/message/sms/get-user-messages-by-dispatch",
            reports.user_messages_by_dispatch,
            methods=["POST"],
        ),
        Route("/api/message/sms/get-dispatch-status", reports.dispatch_status, methods=["POST"]),
        Route("/api/user/totals", reports.user_totals, methods=["POST"]),
        Route("/api/user/get-limit", account.get_limit, methods=["GET"]),
        Route("/api/nick/me", account.my_nicks, methods=["GET"]),
        Route("/api/user/template", account.submit_template, methods=["POST"]),
        Route("/api/user/templates", account.templates, methods=["GET"]),
        # The collection documents GET, but the service routes only POST.
        Route("/api/message/sms/check", account.check, methods=["POST"]),
        Route("/api/message/sms/normalizer", account.normalizer, methods=["POST"]),
        Route("/api/user/prices", account.prices, methods=["GET"]),
    ]
    if config.invalidate_enabled:
        routes.append(Route("/api/auth/invalidate", auth.invalidate, methods=["DELETE"]))
    return routes


def create_app(config: SimulatorConfig | SimulatorState | None = None) -> FaultMiddleware:
    """Build the simulator's ASGI application.

    Pass a ``SimulatorState`` to share it with the caller (``EskizSimulator``
    does), a ``SimulatorConfig``, or nothing for the defaults. The returned
    app exposes the state as ``app.state``. It runs under any ASGI server,
    or in-process through ``httpx.ASGITransport``. When its lifespan runs, a
    background task moves messages on and sends delivery callbacks. Without
    the lifespan, each request does that work before it returns.
    """
    if isinstance(config, SimulatorState):
        state = config
    else:
        state = SimulatorState(config or SimulatorConfig())
    dispatcher = CallbackDispatcher(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.create_task(dispatcher.run())
        state.background_delivery = True
        try:
            yield
        finally:
            state.background_delivery = False
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def not_found(request: Request, exc: Exception) -> Response:
        # Eskiz responds 404, not 405, to a known path called with the wrong method.
        return not_found_response(state.config)

    starlette = Starlette(
        routes=_routes(state.config),
        exception_handlers={ApiError: api_error, 404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    starlette.router.redirect_slashes = False
    starlette.state.simulator = state
    return FaultMiddleware(starlette, state, dispatcher)
