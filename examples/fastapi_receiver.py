"""Receive Eskiz delivery reports in a FastAPI app.

The receiver is mounted at ``/delivery-reports``, so Eskiz posts to
``/delivery-reports/eskiz?secret=...``. ``GET /orders/{client_ref}/delivery``
returns the latest report of a message, which is how the sending side
finds out what happened to a message it sent with that ``client_ref``.

Run it on this machine (the secret must be at least 16 characters)::

    python -c 'import secrets; print(secrets.token_urlsafe(32))'
    export NOTIFIER_RECEIVER_SECRET=<the printed secret>
    export ESKIZ_EMAIL=... ESKIZ_PASSWORD=...
    uvicorn examples.fastapi_receiver:create_app --factory --host 127.0.0.1 --port 8000

The app that sends the messages then sets ``ESKIZ_CALLBACK_URL`` to
``https://<public host>/delivery-reports/eskiz?secret=<the same secret>``;
``receiver.callback_url("https://<public host>/delivery-reports")`` builds
that URL with the secret quoted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException

from notifier import (
    ConfigurationError,
    DeliveryReport,
    DeliveryReportReceiver,
    Provider,
    mask_phone,
)

logger = logging.getLogger("delivery_reports_example")

MOUNT_PATH = "/delivery-reports"
SECRET_VARIABLE = "NOTIFIER_RECEIVER_SECRET"  # noqa: S105 -- a variable name, not a secret


class DropQueryString(logging.Filter):
    """Remove the query string, which carries the secret, from uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access logs (client, method, path with query, HTTP version, status).
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return True


async def record_delivery(report: DeliveryReport) -> None:
    """Store the new state of a message; replace the log line with your own update."""
    logger.info(
        "Message %s to %s is %s (%s)",
        report.client_ref,
        mask_phone(report.to) if report.to else "an unknown number",
        report.status.value,
        report.provider_status,
    )


def create_app(provider: Provider | None = None, *, secret: str | None = None) -> FastAPI:
    """Build the app; without arguments the provider and the secret come from the environment."""
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
    receiver = DeliveryReportReceiver(provider, secret=secret, on_report=record_delivery)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("uvicorn.access").addFilter(DropQueryString())
        yield
        # FastAPI sends no lifespan events to mounted apps, so the receiver
        # is closed here: it waits for the reports still being processed.
        await receiver.aclose()
        await provider.aclose()

    app = FastAPI(lifespan=lifespan)
    app.state.receiver = receiver
    app.mount(MOUNT_PATH, receiver)

    @app.get("/orders/{client_ref}/delivery")
    async def latest_delivery(client_ref: str) -> dict[str, str | None]:
        report = await receiver.store.latest(provider.name, client_ref=client_ref)
        if report is None:
            raise HTTPException(status_code=404, detail="No delivery report for this message yet.")
        return {
            "status": report.status.value,
            "provider_status": report.provider_status,
            "occurred_at": report.occurred_at.isoformat() if report.occurred_at else None,
        }

    return app
