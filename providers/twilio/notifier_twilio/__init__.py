"""Twilio Programmable Messaging provider for notifier.

::

    from notifier import AsyncNotifier, Sms
    from notifier_twilio import TwilioProvider

    provider = TwilioProvider(account_sid="AC…", auth_token="…", sender="+15005550006")
    async with AsyncNotifier(provider) as notifier:
        result = await notifier.send(Sms("+998900000001", "Kodingiz: 4512"))

The local simulator lives in ``notifier_twilio.simulator`` (extra
``notifier-twilio[simulator]``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._callback import parse_status_callback
from ._error_codes import MessageNotFound, TwilioInvalidRecipient, twilio_error_code
from ._provider import TwilioProvider
from ._settings import DEFAULT_BASE_URL, TwilioSettings
from ._signature import SIGNATURE_HEADER, compute_signature, signature_matches
from ._status import TwilioStatus, delivery_status_for, send_status_for
from ._wire import CLIENT_REF_PARAM, MAX_BODY_LENGTH, MessageResource

try:
    __version__ = version("notifier-twilio")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "CLIENT_REF_PARAM",
    "DEFAULT_BASE_URL",
    "MAX_BODY_LENGTH",
    "SIGNATURE_HEADER",
    "MessageNotFound",
    "MessageResource",
    "TwilioInvalidRecipient",
    "TwilioProvider",
    "TwilioSettings",
    "TwilioStatus",
    "__version__",
    "compute_signature",
    "delivery_status_for",
    "parse_status_callback",
    "send_status_for",
    "signature_matches",
    "twilio_error_code",
]
