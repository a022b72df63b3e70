"""Eskiz.uz SMS provider for notifier.

::

    from notifier import AsyncNotifier, Sms
    from notifier_eskiz import EskizProvider

    async with AsyncNotifier(EskizProvider(email=..., password=...)) as notifier:
        result = await notifier.send(Sms("+998901234567", "Kod: 4512"))

``EskizProvider.from_env()`` reads ``ESKIZ_EMAIL``, ``ESKIZ_PASSWORD`` and
the other ``ESKIZ_*`` settings. The simulator in ``notifier_eskiz.simulator``
(extra ``[simulator]``) serves the same API on loopback for tests and demos.
"""

from __future__ import annotations

from ._auth import InMemoryTokenStore, TokenState, TokenStore, read_token_expiry
from ._callbacks import TASHKENT, parse_delivery_report, parse_tashkent_time
from ._endpoints import MessageListStatus
from ._errors import MessageNotFound
from ._models import (
    EskizMessage,
    EskizTemplate,
    EskizUser,
    GlobalPrice,
    LocalPrice,
    MessagePart,
    MonthlyTotal,
    NormalizedText,
    Prices,
    SpecialCharacter,
    StatusTotal,
    TemplateSubmission,
    TextCheck,
    TextCheckInfo,
    TextRecommendation,
    delivery_status,
)
from ._provider import DEFAULT_REFRESH_MARGIN, EskizProvider, EskizStats
from ._settings import DEFAULT_BASE_URL, DEFAULT_SENDER, EskizSettings

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_REFRESH_MARGIN",
    "DEFAULT_SENDER",
    "TASHKENT",
    "EskizMessage",
    "EskizProvider",
    "EskizSettings",
    "EskizStats",
    "EskizTemplate",
    "EskizUser",
    "GlobalPrice",
    "InMemoryTokenStore",
    "LocalPrice",
    "MessageListStatus",
    "MessageNotFound",
    "MessagePart",
    "MonthlyTotal",
    "NormalizedText",
    "Prices",
    "SpecialCharacter",
    "StatusTotal",
    "TemplateSubmission",
    "TextCheck",
    "TextCheckInfo",
    "TextRecommendation",
    "TokenState",
    "TokenStore",
    "delivery_status",
    "parse_delivery_report",
    "parse_tashkent_time",
    "read_token_expiry",
]
