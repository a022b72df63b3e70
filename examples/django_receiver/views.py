"""The Django view: one URL per provider, ``/delivery-reports/<provider>?secret=...``.

Set ``NOTIFIER_RECEIVER_SECRET`` and the provider's variables (``ESKIZ_EMAIL``,
``ESKIZ_PASSWORD``) before Django loads this module. Each Django process has
its own ``InMemoryReportStore``; with several worker processes, pass a shared
``ReportStore`` to ``build_receiver`` so duplicates are caught across them.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from .reports import build_receiver, handle_request

receiver = build_receiver()


async def delivery_report(request: HttpRequest, provider: str) -> HttpResponse:
    result = await handle_request(receiver, request, provider)
    response = HttpResponse(
        result.body, status=result.status_code, content_type=result.content_type
    )
    for name, value in result.headers:
        response[name] = value
    return response


# Vendors post without a CSRF token; the secret in the URL protects this view.
# The attribute works on async views in every Django version, where the
# csrf_exempt decorator supports them only from Django 5.0.
delivery_report.csrf_exempt = True  # type: ignore[attr-defined]
