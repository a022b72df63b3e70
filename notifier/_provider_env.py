"""Building providers from the environment by their entry-point names.

A provider plugin registers its class under an entry-point name, such as
``eskiz``, and the class's ``from_env()`` reads the vendor's own variables
(``ESKIZ_*``). ``provider_from_env()`` turns a name into a built provider for
applications and the command line's ``--provider``; ``AsyncNotifier.from_env()``
builds every provider named in ``NOTIFIER_PROVIDER`` with ``build_providers()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pluggy
from pydantic import ValidationError

from ._errors import ConfigurationError
from ._plugins import (
    DISABLE_PLUGINS_ENV,
    get_plugin_manager,
    load_plugins,
    parse_names,
    provider_classes,
)
from ._provider import Provider
from ._settings import read_environ, settings_error, settings_values

__all__ = ["build_provider", "build_providers", "close_unused", "provider_from_env"]

logger = logging.getLogger("notifier")


def provider_from_env(
    name: str,
    *,
    env_file: str | Path | None = ".env",
    plugins: pluggy.PluginManager | None = None,
) -> Provider:
    """Build the provider installed under the entry-point name ``name`` from its settings.

    Loads the installed plugins, except those blocked by
    ``NOTIFIER_DISABLE_PLUGINS``, finds the provider class registered under
    ``name`` and calls its ``from_env()``. That reads the vendor's variables
    (``ESKIZ_EMAIL``, ...) from the environment and ``env_file``;
    ``env_file=None`` reads the environment only. Other ``NOTIFIER_*``
    variables are not read, so no routing policy is built::

        eskiz = provider_from_env("eskiz")
        async with AsyncNotifier(eskiz) as notifier:
            ...

    The caller owns the provider: pass it to a notifier, which closes it, or
    close it with ``await provider.aclose()``.

    Args:
        name: the provider's entry-point name, such as ``"eskiz"``; case and
            surrounding spaces are ignored.
        env_file: the dotenv file to read besides the environment.
        plugins: the plugin manager to load plugins into; the process-wide
            one from ``get_plugin_manager()`` by default.

    Raises:
        ConfigurationError: ``name`` is blank or lists several providers, no
            installed plugin provides it, its plugin is broken or blocked, or
            its settings are missing or invalid.
        TypeError: ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"provider_from_env() takes a provider name, got {type(name).__name__}; "
            "pass for example 'eskiz'."
        )
    names = parse_names(name)
    if len(names) != 1:
        raise ConfigurationError(
            f"provider_from_env() takes one provider name, got {name!r}; to route between "
            "several, set NOTIFIER_PROVIDER and use AsyncNotifier.from_env()."
        )
    provider_name = names[0]
    manager = plugins if plugins is not None else get_plugin_manager()
    disabled = read_environ(env_file).get(DISABLE_PLUGINS_ENV, "")
    load_plugins(manager, disabled=disabled, required=[provider_name])
    classes = provider_classes(manager, required=[provider_name])
    provider_class = classes.get(provider_name)
    if provider_class is None:
        installed = ", ".join(sorted(classes)) or "none"
        raise ConfigurationError(
            f"Provider {provider_name!r} is not installed. Installed providers: {installed}. "
            "Check the spelling, or install the package that provides it."
        )
    return build_provider(provider_class, env_file)


def build_providers(
    classes: Sequence[type[Provider]], env_file: str | Path | None
) -> list[Provider]:
    """Build each class with ``build_provider()``, in order.

    When one fails, the providers already built are closed before the error
    is raised, so a configuration error leaves nothing open.
    """
    built: list[Provider] = []
    try:
        for provider_class in classes:
            built.append(build_provider(provider_class, env_file))
    except BaseException:
        close_unused(built)
        raise
    return built


def close_unused(providers: Sequence[Provider]) -> None:
    """Close providers that were built but will never send, from synchronous code.

    ``aclose()`` is a coroutine, and the caller may be inside a running event
    loop (``asyncio.run()`` cannot start there) or outside any. So the
    providers are closed on a short-lived loop in a thread of their own.
    That is safe for a provider that never sent anything: notifier's HTTP
    providers create their connections on first use, in the loop that uses
    them. An error from one ``aclose()`` is logged and the others still run,
    because the caller is already raising the error that matters.
    """
    if not providers:
        return

    async def close_all() -> None:
        for provider in providers:
            try:
                await provider.aclose()
            except Exception as error:
                logger.warning(
                    "Closing unused provider %s failed: %s",
                    provider.name,
                    type(error).__qualname__,
                )

    thread = threading.Thread(
        target=anyio.run, args=(close_all,), name="notifier-close-unused", daemon=True
    )
    thread.start()
    thread.join()


def build_provider(provider_class: type[Provider], env_file: str | Path | None) -> Provider:
    """Build ``provider_class`` from the environment, reading ``env_file`` for it."""
    name = provider_class.name
    settings_class = provider_class.settings_class
    try:
        if settings_class is None or env_file == ".env":
            # The provider's settings class reads ./.env itself.
            return provider_class.from_env()
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        try:
            provider_settings = settings_class(_env_file=env_file)
        except ValidationError as exc:
            raise settings_error(exc, prefix, name) from None
        return provider_class.from_env(**settings_values(provider_settings))
    except ConfigurationError:
        raise
    except ValidationError as exc:
        prefix = str(settings_class.model_config.get("env_prefix", "")) if settings_class else ""
        raise settings_error(exc, prefix, name) from None
    except NotImplementedError as exc:
        raise ConfigurationError(
            f"Provider {name!r} cannot be built from the environment; "
            "construct it in code and pass it to AsyncNotifier()."
        ) from exc
    except Exception as exc:
        raise ConfigurationError(
            f"Provider {name!r} failed to build from the environment: {type(exc).__qualname__}. "
            "Check its settings; the exception is attached as __cause__."
        ) from exc
