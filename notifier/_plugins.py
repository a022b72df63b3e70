"""Plugin loading, the provider registry and the observer hooks.

Plugins are modules registered under the ``notifier`` entry-point group.
Nothing is imported when ``notifier`` is imported: ``load_plugins()`` reads
the entry points in one call and registers each plugin on a pluggy
``PluginManager`` whose hook specifications come from ``notifier._hookspecs``.

A plugin that fails to import or to validate is skipped with a
``PluginWarning`` that names it, unless it is one of the plugins the caller
requires (the configured providers): then ``ConfigurationError`` names the
plugin and the exception it raised.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import warnings
from collections.abc import Iterable
from typing import Any, cast

import pluggy

from . import _hookspecs
from ._errors import ConfigurationError
from ._hookspecs import PROJECT_NAME
from ._provider import Provider

__all__ = [
    "DISABLE_PLUGINS_ENV",
    "ENTRY_POINT_GROUP",
    "PluginWarning",
    "call_observers",
    "get_plugin_manager",
    "load_plugins",
    "new_plugin_manager",
    "parse_names",
    "provider_classes",
]

ENTRY_POINT_GROUP = "notifier"
DISABLE_PLUGINS_ENV = "NOTIFIER_DISABLE_PLUGINS"

# Hooks called one implementation at a time so a failing observer does not
# stop the others; pluggy's wrappers cannot be run that way.
_OBSERVER_HOOKS = frozenset(
    {"notifier_sending", "notifier_sent", "notifier_failed", "notifier_delivery_report"}
)

logger = logging.getLogger("notifier")


class PluginWarning(UserWarning):
    """A plugin could not be loaded and was skipped; the message names it and the cause."""


def parse_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Split a comma-separated list of plugin or provider names.

    Blank entries are dropped and names are lower-cased, so ``" Eskiz, ,twilio"``
    gives ``("eskiz", "twilio")``.
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(name.strip().lower() for name in items if name.strip())


def new_plugin_manager() -> pluggy.PluginManager:
    """Create a plugin manager with notifier's hook specifications and no plugins."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(_hookspecs)
    return manager


_default_manager: pluggy.PluginManager | None = None
_default_manager_lock = threading.Lock()


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, creating it on first use.

    It starts with no plugins; ``load_plugins()`` adds the installed ones.
    Notifiers created without ``plugins=`` report to this manager.
    """
    global _default_manager
    with _default_manager_lock:
        if _default_manager is None:
            _default_manager = new_plugin_manager()
        return _default_manager


# Entry-point loading is serialised: two threads loading at once would race
# on "is this plugin registered yet".
_load_lock = threading.RLock()


def load_plugins(
    manager: pluggy.PluginManager | None = None,
    *,
    disabled: str | Iterable[str] | None = None,
    required: Iterable[str] = (),
) -> list[str]:
    """Load the plugins installed under the ``notifier`` entry-point group.

    Args:
        manager: the manager to register on; the process-wide one by default.
        disabled: names to block; defaults to the comma-separated
            ``NOTIFIER_DISABLE_PLUGINS`` environment variable. A blocked
            plugin is never imported.
        required: names that must load, usually the configured providers.

    Returns the names of the plugins registered by this call. Calling it
    again is harmless: plugins already registered are left as they are.

    Raises:
        ConfigurationError: a required plugin failed to import or validate,
            or is blocked. The message names it and the exception it raised.
    """
    manager = manager if manager is not None else get_plugin_manager()
    blocked = parse_names(os.environ.get(DISABLE_PLUGINS_ENV) if disabled is None else disabled)
    required_names = set(parse_names(required))
    conflict = sorted(required_names.intersection(blocked))
    if conflict:
        raise ConfigurationError(
            f"Plugin {conflict[0]!r} is configured as a provider but blocked by "
            f"{DISABLE_PLUGINS_ENV}; remove it from one of the two."
        )

    loaded: list[str] = []
    with _load_lock:
        for name in blocked:
            manager.set_blocked(name)
        # One call, as the importlib.metadata documentation recommends: each
        # call scans every installed distribution.
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            if manager.is_blocked(name):
                logger.debug("Plugin %r is disabled by %s", name, DISABLE_PLUGINS_ENV)
                continue
            if manager.has_plugin(name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:  # a plugin's import may raise anything
                _report_broken(name, entry_point.value, exc, required=name in required_names)
                continue
            if manager.is_registered(plugin):
                # The same module under a second entry-point name: one registration is enough.
                continue
            try:
                _register_checked(manager, plugin, name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                _report_broken(name, entry_point.value, exc, required=name in required_names)
                continue
            logger.debug("Loaded plugin %r from %s", name, entry_point.value)
            loaded.append(name)
    return loaded


def _register_checked(manager: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register ``plugin`` and validate it, unregistering it again if it is invalid."""
    manager.register(plugin, name=name)
    try:
        _check_wrappers(manager, plugin, name)
        # A hook implementation whose name matches no specification, usually
        # a misspelling, would otherwise never be called.
        manager.check_pending()
    except pluggy.PluginValidationError:
        manager.unregister(plugin, name=name)
        raise


def _check_wrappers(manager: pluggy.PluginManager, plugin: object, name: str) -> None:
    for hook_caller in manager.get_hookcallers(plugin) or ():
        if hook_caller.name not in _OBSERVER_HOOKS:
            continue
        for impl in hook_caller.get_hookimpls():
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                raise pluggy.PluginValidationError(
                    plugin,
                    f"Plugin {name!r} implements observer hook {hook_caller.name!r} as a "
                    "wrapper; observer hooks take plain implementations only.",
                )


def _report_broken(name: str, target: str, error: BaseException, *, required: bool) -> None:
    cause = f"{type(error).__name__}: {error}"
    if required:
        raise ConfigurationError(
            f"Plugin {name!r} ({target}) is configured but failed to load: {cause}. "
            "Fix or reinstall the plugin's package."
        ) from error
    warnings.warn(
        f"Plugin {name!r} ({target}) failed to load and was skipped: {cause}",
        PluginWarning,
        stacklevel=3,
    )


def provider_classes(
    manager: pluggy.PluginManager | None = None,
    *,
    required: Iterable[str] = (),
) -> dict[str, type[Provider]]:
    """Collect the provider classes contributed by registered plugins, by name.

    Each plugin's ``notifier_providers()`` result is read separately so a
    broken one can be named: it is skipped with a ``PluginWarning``, or
    raises ``ConfigurationError`` when its name is in ``required``.

    Raises:
        ConfigurationError: two plugins contribute different classes under
            one provider name, or a required plugin's hook failed.
    """
    manager = manager if manager is not None else get_plugin_manager()
    required_names = set(parse_names(required))
    classes: dict[str, type[Provider]] = {}
    owners: dict[str, str] = {}
    for impl in reversed(manager.hook.notifier_providers.get_hookimpls()):
        plugin_name = impl.plugin_name
        try:
            returned = cast("Iterable[object]", impl.function())
            contributed = [_check_provider_class(plugin_name, item) for item in returned]
        except Exception as exc:  # a plugin's hook may raise anything
            _report_broken(
                plugin_name,
                "notifier_providers()",
                exc,
                required=plugin_name in required_names,
            )
            continue
        for provider_class in contributed:
            name = provider_class.name
            existing = classes.get(name)
            if existing is not None and existing is not provider_class:
                raise ConfigurationError(
                    f"Provider name {name!r} is contributed twice: by plugin "
                    f"{owners[name]!r} ({_qualified(existing)}) and by plugin "
                    f"{plugin_name!r} ({_qualified(provider_class)}); "
                    f"uninstall one or block it with {DISABLE_PLUGINS_ENV}."
                )
            classes[name] = provider_class
            owners[name] = plugin_name
    return classes


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_provider_class(plugin_name: str, candidate: object) -> type[Provider]:
    if not (isinstance(candidate, type) and issubclass(candidate, Provider)):
        raise ConfigurationError(
            f"Plugin {plugin_name!r} returned {candidate!r} from notifier_providers(); "
            "return Provider subclasses."
        )
    name = getattr(candidate, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"Provider class {_qualified(candidate)} of plugin {plugin_name!r} has no "
            "'name'; set the class attribute to its entry-point name."
        )
    return candidate


def call_observers(manager: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of an observer hook, isolating failures.

    Implementations run in pluggy's order (last registered first, honouring
    ``tryfirst``/``trylast``). An exception raised by one is logged at ERROR
    with the plugin's name and the hook, then the next implementation runs.
    """
    hook_caller = getattr(manager.hook, hook_name)
    for impl in reversed(hook_caller.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            logger.debug(
                "Skipping wrapper of plugin %r on observer hook %s", impl.plugin_name, hook_name
            )
            continue
        try:
            impl.function(*(kwargs[argument] for argument in impl.argnames))
        except Exception:
            logger.error(
                "Plugin %r raised in %s; the exception was ignored",
                impl.plugin_name,
                hook_name,
                exc_info=True,
            )
