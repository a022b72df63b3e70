"""Provider-neutral notifications: one API, SMS vendors as plugins.

Applications build messages and send them through a notifier; which vendor
carries them is configuration::

    from notifier import AsyncNotifier, Sms
    from notifier_eskiz import EskizProvider

    async with AsyncNotifier(EskizProvider(email=..., password=...)) as notifier:
        result = await notifier.send(Sms("+998901234567", "Kod: 4512"))

Every public name is importable from this package; the modules behind it are
private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._errors import (
    AuthenticationError,
    CircuitOpen,
    ConfigurationError,
    DeliveryUnknown,
    InvalidMessage,
    NotifierClosed,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    UnsupportedFeature,
)
from ._hookspecs import hookimpl
from ._models import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    SendResult,
    SendStatus,
    Sms,
    new_client_ref,
)
from ._phone import mask_phone, normalize_phone
from ._provider import BatchOutcome, Capabilities, Provider
from ._segments import SegmentInfo, count_segments, split_segments
from ._transliterate import CharacterReplacement, TransliterationResult, to_gsm7

try:
    __version__ = version("notifier-core")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "Attempt",
    "AuthenticationError",
    "BatchOutcome",
    "Capabilities",
    "CharacterReplacement",
    "CircuitOpen",
    "ConfigurationError",
    "DeliveryReport",
    "DeliveryStatus",
    "DeliveryUnknown",
    "Encoding",
    "InvalidMessage",
    "NotifierClosed",
    "NotifierError",
    "Provider",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimitedError",
    "RejectedError",
    "SegmentInfo",
    "SendResult",
    "SendStatus",
    "Sms",
    "TransliterationResult",
    "UnsupportedFeature",
    "__version__",
    "count_segments",
    "hookimpl",
    "mask_phone",
    "new_client_ref",
    "normalize_phone",
    "split_segments",
    "to_gsm7",
]
