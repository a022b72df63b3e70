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

from ._blocking import Notifier
from ._circuit import CircuitBreaker, CircuitState
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
from ._health import ProviderHealth, provider_health
from ._hookspecs import hookimpl
from ._http import HttpCall, HttpProvider, HttpStats, TransportName
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
from ._notifier import AsyncNotifier
from ._phone import mask_phone, normalize_phone
from ._plugins import PluginWarning, get_plugin_manager, load_plugins, provider_classes
from ._policy import NoRouteError, RoutingPolicy
from ._provider import BatchOutcome, Capabilities, Provider
from ._provider_env import provider_from_env
from ._receiver import CallbackResponse, DeliveryReportReceiver, ReportCallback
from ._report_store import InMemoryReportStore, MessageState, ReportOutcome, ReportStore
from ._retry import RetryPolicy, instant_retries
from ._routing import ByCountry, Failover, Weighted
from ._segments import SegmentInfo, count_segments, split_segments
from ._settings import NotifierSettings
from ._transliterate import CharacterReplacement, TransliterationResult, to_gsm7

try:
    __version__ = version("notifier-core")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "AsyncNotifier",
    "Attempt",
    "AuthenticationError",
    "BatchOutcome",
    "ByCountry",
    "CallbackResponse",
    "Capabilities",
    "CharacterReplacement",
    "CircuitBreaker",
    "CircuitOpen",
    "CircuitState",
    "ConfigurationError",
    "DeliveryReport",
    "DeliveryReportReceiver",
    "DeliveryStatus",
    "DeliveryUnknown",
    "Encoding",
    "Failover",
    "HttpCall",
    "HttpProvider",
    "HttpStats",
    "InMemoryReportStore",
    "InvalidMessage",
    "MessageState",
    "NoRouteError",
    "Notifier",
    "NotifierClosed",
    "NotifierError",
    "NotifierSettings",
    "PluginWarning",
    "Provider",
    "ProviderError",
    "ProviderHealth",
    "ProviderUnavailable",
    "RateLimitedError",
    "RejectedError",
    "ReportCallback",
    "ReportOutcome",
    "ReportStore",
    "RetryPolicy",
    "RoutingPolicy",
    "SegmentInfo",
    "SendResult",
    "SendStatus",
    "Sms",
    "TransliterationResult",
    "TransportName",
    "UnsupportedFeature",
    "Weighted",
    "__version__",
    "count_segments",
    "get_plugin_manager",
    "hookimpl",
    "instant_retries",
    "load_plugins",
    "mask_phone",
    "new_client_ref",
    "normalize_phone",
    "provider_classes",
    "provider_from_env",
    "provider_health",
    "split_segments",
    "to_gsm7",
]
