"""The curated public surface: sorted ``__all__`` lists that import and cover the errors."""

from __future__ import annotations

import importlib
import inspect
import re
from types import ModuleType

import pytest

import notifier
from notifier import AsyncNotifier, Notifier, NotifierError

PUBLIC_PACKAGES = ["notifier", "notifier.testing", "notifier_eskiz", "notifier_twilio"]


def import_or_skip(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and name.startswith(error.name):
            pytest.skip(f"{name} is not installed")
        raise


def isort_key(name: str) -> tuple[int, str]:
    """Order of ruff's RUF022: SCREAMING_SNAKE_CASE, then CamelCase, then the rest."""
    if re.fullmatch(r"[A-Z][A-Z0-9_]+", name):
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


def all_subclasses(base: type) -> set[type]:
    found: set[type] = set()
    pending: list[type] = [base]
    while pending:
        subclasses: list[type] = pending.pop().__subclasses__()
        for subclass in subclasses:
            if subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    return found


@pytest.mark.parametrize("package_name", PUBLIC_PACKAGES)
def test_all_is_sorted(package_name: str) -> None:
    package = import_or_skip(package_name)
    names = list(package.__all__)
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package_name", PUBLIC_PACKAGES)
def test_every_name_imports(package_name: str) -> None:
    package = import_or_skip(package_name)
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []
    namespace: dict[str, object] = {}
    exec(f"from {package_name} import *", namespace)  # noqa: S102 - a fixed module name
    assert set(package.__all__) <= set(namespace)


@pytest.mark.parametrize(
    ("package_name", "module_prefix"),
    [
        ("notifier", "notifier._"),
        ("notifier_eskiz", "notifier_eskiz."),
        ("notifier_twilio", "notifier_twilio."),
    ],
)
def test_every_public_error_is_exported(package_name: str, module_prefix: str) -> None:
    package = import_or_skip(package_name)
    errors = {
        error
        for error in all_subclasses(NotifierError) | {NotifierError}
        if error.__module__.startswith(module_prefix)
        and not error.__name__.startswith("_")
        and ".simulator" not in error.__module__
    }
    unexported = sorted(error.__name__ for error in errors if error.__name__ not in package.__all__)
    assert unexported == []
    for error in errors:
        assert getattr(package, error.__name__) is error


def test_core_errors_are_all_exported() -> None:
    from notifier import _errors

    assert set(_errors.__all__) <= set(notifier.__all__)


def test_version_is_a_string() -> None:
    assert isinstance(notifier.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", notifier.__version__)


def test_blocking_facade_mirrors_engine() -> None:
    engine = {name for name in vars(AsyncNotifier) if not name.startswith("_")}
    facade = {name for name in vars(Notifier) if not name.startswith("_")}
    # The blocking facade names aclose() close() and adds call().
    assert engine - {"aclose"} <= facade
    assert facade - engine == {"close", "call"}
    for name in ("send", "send_many", "build_sms", "from_env"):
        engine_parameters = list(inspect.signature(getattr(AsyncNotifier, name)).parameters)
        facade_parameters = list(inspect.signature(getattr(Notifier, name)).parameters)
        assert facade_parameters == engine_parameters, name
