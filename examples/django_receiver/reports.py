"""The part of the Django example that does not import Django.

The view passes each request to ``handle_request``, which calls the same
receiver core as the ASGI app: secret check, size limit, parsing,
duplicate detection, and ``on_report`` for each new report.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Protocol

from notifier import (
    CallbackResponse,
    ConfigurationError,
    DeliveryReport,
    DeliveryReportReceiver,
    Provider,
    ReportCallback,
    mask_phone,
)

logger = logging.getLogger("delivery_reports_example")

SECRET_VARIABLE = "NOTIFIER_RECEIVER_SECRET"  # noqa: S105 -- a variable name, not a secret


class QueryParameters(Protocol):
    def getlist(self, key: str) -> list[str]: ...


class CallbackRequest(Protocol):
    """The attributes of Django's ``HttpRequest`` that the view uses."""

    method: str | None
    GET: QueryParameters
    body: bytes
    headers: Mapping[str, str]
    META: Mapping[str, object]

    def build_absolute_uri(self) -> str: ...


def log_report(report: DeliveryReport) -> None:
    """Record the new state of a message; replace the log line with an ORM update.

    It runs in a worker thread, so Django's ORM may be called here directly.
    """
    logger.info(
        "Message %s to %s is %s (%s)",
        report.client_ref,
        mask_phone(report.to) if report.to else "an unknown number",
        report.status.value,
        report.provider_status,
    )


def build_receiver(
    provider: Provider | None = None,
    *,
    secret: str | None = None,
    on_report: ReportCallback = log_report,
) -> DeliveryReportReceiver:
    """Build the receiver; by default the provider and the secret come from the environment."""
    if provider is None:
        from notifier_eskiz import EskizProvider

        provider = EskizProvider.from_env()
    if secret is None:
        secret = os.environ.get(SECRET_VARIABLE)
    if not secret:
        raise ConfigurationError(
            f"{SECRET_VARIABLE} is not set; generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    return DeliveryReportReceiver(provider, secret=secret, on_report=on_report)


async def handle_request(
    receiver: DeliveryReportReceiver, request: CallbackRequest, route: str
) -> CallbackResponse:
    """Check, parse and record one callback request, and return the response to send.

    ``wait=True`` processes the reports before responding: Django runs an
    async view under WSGI in an event loop that ends with the request, so a
    background task would be cut off.
    """
    secrets = request.GET.getlist("secret")
    client = request.META.get("REMOTE_ADDR")
    return await receiver.handle(
        route,
        method=request.method or "",
        # Two secret parameters are as good as none: the receiver rejects both.
        secret=secrets[0] if len(secrets) == 1 else None,
        body=request.body,
        content_type=request.headers.get("Content-Type", ""),
        headers=request.headers,
        url=request.build_absolute_uri(),
        client=client if isinstance(client, str) else None,
        wait=True,
    )
