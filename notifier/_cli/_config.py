"""Building the notifier a command sends through, from the environment."""

from __future__ import annotations

from .._errors import ConfigurationError
from .._notifier import AsyncNotifier
from .._plugins import get_plugin_manager, parse_names
from .._provider_env import provider_from_env
from ._environment import check_environment, load_notifier_settings

__all__ = ["build_notifier"]


def build_notifier(provider: str | None = None) -> AsyncNotifier:
    """Build the notifier configured by ``NOTIFIER_*`` variables and ``.env``.

    ``provider`` (a provider name, as given to ``--provider``) replaces
    ``NOTIFIER_PROVIDER``: that one provider is built from its own settings,
    with no routing policy around it. The settings are validated first by
    ``check_environment()``, whose messages name each variable and its value.

    Raises:
        ConfigurationError: the provider is not installed or its settings are
            missing or invalid.
    """
    names = parse_names(provider) if provider else ()
    if provider and len(names) != 1:
        raise ConfigurationError(
            f"--provider takes one provider name, got {provider!r}; to route between "
            "several, set NOTIFIER_PROVIDER and omit --provider."
        )
    check_environment(provider)
    if not provider:
        return AsyncNotifier.from_env()

    settings = load_notifier_settings()
    manager = get_plugin_manager()
    built = provider_from_env(names[0], plugins=manager)
    return AsyncNotifier(built, default_region=settings.default_region, plugins=manager)
