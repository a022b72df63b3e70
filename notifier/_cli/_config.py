"""Building the notifier a command sends through, from the environment."""

from __future__ import annotations

from .._errors import ConfigurationError
from .._notifier import AsyncNotifier
from .._plugins import get_plugin_manager, parse_names
from .._provider_env import provider_from_env
from .._settings import NotifierSettings

__all__ = ["build_notifier"]


def build_notifier(provider: str | None = None) -> AsyncNotifier:
    """Build the notifier configured by ``NOTIFIER_*`` variables and ``.env``.

    ``provider`` (a provider name, as given to ``--provider``) replaces
    ``NOTIFIER_PROVIDER``: that one provider is built from its own settings,
    with no routing policy around it.

    Raises:
        ConfigurationError: the provider is not installed or its settings are
            missing or invalid.
    """
    if not provider:
        return AsyncNotifier.from_env()

    names = parse_names(provider)
    if len(names) != 1:
        raise ConfigurationError(
            f"--provider takes one provider name, got {provider!r}; to route between "
            "several, set NOTIFIER_PROVIDER and omit --provider."
        )
    settings = NotifierSettings.load()
    manager = get_plugin_manager()
    built = provider_from_env(names[0], plugins=manager)
    return AsyncNotifier(built, default_region=settings.default_region, plugins=manager)
