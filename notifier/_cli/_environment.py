"""Checks of the configuration variables whose messages name each variable and its value.

The command line validates the settings the library is about to read, so a
bad value is reported as ``ESKIZ_TIMEOUT='-1': ...`` rather than by field
name, with secrets and other ``repr=False`` fields hidden. The error for a
provider name that is not installed lists the installed names and never
suggests a package name built from what the user typed.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from .._errors import ConfigurationError
from .._plugins import (
    DISABLE_PLUGINS_ENV,
    get_plugin_manager,
    load_plugins,
    parse_names,
    provider_classes,
)
from .._provider import Provider
from .._routing_env import COUNTRIES_ENV, RESET_ENV, THRESHOLD_ENV, WEIGHTS_ENV
from .._settings import NotifierSettings, read_environ

__all__ = [
    "UnknownVariable",
    "check_environment",
    "check_provider_names",
    "check_settings",
    "installed_providers",
    "load_notifier_settings",
    "unknown_variables",
    "variable_names",
]

ENV_FILE = ".env"
NOTIFIER_PREFIX = "NOTIFIER_"

# NOTIFIER_* variables that the routing code reads itself, outside NotifierSettings.
ROUTING_VARIABLES = (COUNTRIES_ENV, WEIGHTS_ENV, THRESHOLD_ENV, RESET_ENV)

_SECRET_WORDS = ("password", "secret", "token")
_MAX_VALUE_CHARS = 60


def env_prefix(settings_class: type[BaseSettings]) -> str:
    """Return the variable prefix of ``settings_class``, upper-cased (``ESKIZ_``)."""
    return str(settings_class.model_config.get("env_prefix", "")).upper()


def _field_variable(settings_class: type[BaseSettings], name: str, field: FieldInfo) -> str:
    # pydantic-settings reads a field with a string validation_alias from
    # that name alone, without the prefix.
    if isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    return f"{env_prefix(settings_class)}{name}".upper()


def variable_names(settings_class: type[BaseSettings]) -> dict[str, str]:
    """Map each variable that ``settings_class`` reads to its field name."""
    return {
        _field_variable(settings_class, name, field): name
        for name, field in settings_class.model_fields.items()
    }


def _is_hidden(name: str, field: FieldInfo) -> bool:
    """Whether a field's value must stay out of messages: a secret or a ``repr=False`` field."""
    if not field.repr or any(word in name.lower() for word in _SECRET_WORDS):
        return True
    return "SecretStr" in repr(field.annotation)


def _shown_value(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 4] + "...'"
    return text


def _problem(settings_class: type[BaseSettings], item: Mapping[str, Any]) -> str:
    location = item["loc"]
    name = str(location[0]) if location else ""
    field = settings_class.model_fields.get(name)
    if field is None:
        variable = f"{env_prefix(settings_class)}* settings"
    else:
        variable = _field_variable(settings_class, name, field)
    if item["type"] == "missing":
        return f"{variable} is not set"
    message = str(item["msg"]).removeprefix("Value error, ").rstrip(".")
    if field is None or "input" not in item:
        return f"{variable}: {message}"
    value = "(hidden)" if _is_hidden(name, field) else _shown_value(item["input"])
    return f"{variable}={value}: {message}"


def _invalid(owner: str, problems: Iterable[str]) -> ConfigurationError:
    listed = list(problems)
    pronoun = "it" if len(listed) == 1 else "them"
    return ConfigurationError(
        f"Invalid {owner} settings: {'; '.join(listed)}. Set {pronoun} in the environment or .env."
    )


def _check_base_url(settings_class: type[BaseSettings], settings: BaseSettings) -> str | None:
    """Describe an invalid ``base_url`` by its variable, as ``HttpProvider`` would reject it."""
    field = settings_class.model_fields.get("base_url")
    value = getattr(settings, "base_url", None)
    if field is None or not isinstance(value, str):
        return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        url = httpx.URL()
    if url.scheme in ("http", "https") and url.host:
        return None
    variable = _field_variable(settings_class, "base_url", field)
    return (
        f"{variable}={_shown_value(value)}: not an http(s) URL; set the API root, "
        "such as https://host/api"
    )


def check_settings(settings_class: type[BaseSettings], owner: str) -> BaseSettings:
    """Read ``settings_class`` from the environment and ``.env`` and return it.

    Raises:
        ConfigurationError: a variable is missing or invalid. The message
            names each variable and shows its value unless the field is
            secret or excluded from ``repr``.
    """
    try:
        settings = settings_class(_env_file=ENV_FILE)
    except ValidationError as error:
        items = error.errors(include_url=False)
        raise _invalid(owner, (_problem(settings_class, item) for item in items)) from None
    base_url_problem = _check_base_url(settings_class, settings)
    if base_url_problem is not None:
        raise _invalid(owner, [base_url_problem])
    return settings


def load_notifier_settings() -> NotifierSettings:
    """Read the ``NOTIFIER_*`` settings, reporting invalid ones with their values."""
    settings = check_settings(NotifierSettings, "notifier")
    assert isinstance(settings, NotifierSettings)
    return settings


def installed_providers(settings: NotifierSettings | None = None) -> dict[str, type[Provider]]:
    """Load the plugins that ``NOTIFIER_DISABLE_PLUGINS`` allows; return their providers by name.

    Without ``settings`` the variable is read as it is, so this works while
    other ``NOTIFIER_*`` settings are invalid.
    """
    if settings is not None:
        disabled: str | tuple[str, ...] = settings.disabled_plugins
    else:
        disabled = read_environ(ENV_FILE).get(DISABLE_PLUGINS_ENV, "")
    manager = get_plugin_manager()
    load_plugins(manager, disabled=disabled)
    return provider_classes(manager)


def check_provider_names(
    names: Iterable[str], installed: Mapping[str, type[Provider]], source: str
) -> list[type[Provider]]:
    """Return the classes of ``names``, raising for a name that no installed plugin provides.

    ``source`` names where the names came from, such as ``NOTIFIER_PROVIDER``
    or ``--provider``. The message lists the installed providers and the
    closest one, and suggests no package to install: a package name built
    from a typo could belong to anyone.
    """
    classes = []
    for name in names:
        provider_class = installed.get(name)
        if provider_class is None:
            available = ", ".join(sorted(installed)) or "none"
            close = difflib.get_close_matches(name, list(installed), n=1)
            suggestion = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"{source} names provider {name!r}, which is not installed.{suggestion} "
                f"Installed providers: {available} (see 'notifier providers')."
            )
        classes.append(provider_class)
    return classes


def check_environment(provider: str | None) -> None:
    """Validate the settings that building the notifier will read, naming each variable.

    ``provider`` is the ``--provider`` value, or ``None`` for the providers
    of ``NOTIFIER_PROVIDER``. Problems the command line does not check here,
    such as a missing ``NOTIFIER_PROVIDER``, are left to the library.

    Raises:
        ConfigurationError: a setting is missing or invalid, or a provider
            name is not installed.
    """
    settings = load_notifier_settings()
    installed = installed_providers(settings)
    if provider:
        names, source = parse_names(provider), "--provider"
    else:
        names, source = settings.provider_names, "NOTIFIER_PROVIDER"
    for provider_class in check_provider_names(names, installed, source):
        if provider_class.settings_class is not None:
            check_settings(provider_class.settings_class, provider_class.name)


@dataclass(frozen=True)
class UnknownVariable:
    """A variable with a known prefix that no setting reads, probably a misspelt one."""

    name: str
    source: str  # "environment" or ".env"
    suggestion: str | None

    def describe(self) -> str:
        """Return the warning line for this variable."""
        text = f"{self.name} (in {self.source}) is not a notifier setting and is ignored"
        if self.suggestion:
            return f"{text}; did you mean {self.suggestion}?"
        return f"{text}."


def unknown_variables(
    installed: Mapping[str, type[Provider]],
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ENV_FILE,
) -> list[UnknownVariable]:
    """List the variables with a prefix of notifier or an installed provider that nothing reads.

    Names are compared upper-cased, because pydantic-settings matches them
    without regard to case.
    """
    known = set(variable_names(NotifierSettings)) | set(ROUTING_VARIABLES)
    prefixes = {NOTIFIER_PREFIX}
    for provider_class in installed.values():
        if provider_class.settings_class is not None:
            known |= set(variable_names(provider_class.settings_class))
            prefix = env_prefix(provider_class.settings_class)
            if prefix:
                prefixes.add(prefix)

    sources: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        sources.update((name, ".env") for name in dotenv_values(env_file))
    sources.update((name, "environment") for name in (os.environ if environ is None else environ))

    unknown = []
    for name, source in sorted(sources.items()):
        upper = name.upper()
        if upper in known or not upper.startswith(tuple(prefixes)):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.75)
        unknown.append(UnknownVariable(name, source, close[0] if close else None))
    return unknown
