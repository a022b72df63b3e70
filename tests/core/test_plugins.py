"""Tests of plugin loading, validation, blocking and the provider registry."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

from notifier import (
    ConfigurationError,
    PluginWarning,
    get_plugin_manager,
    hookimpl,
    load_plugins,
    provider_classes,
)
from notifier._plugins import new_plugin_manager, parse_names
from notifier.testing import FakeProvider

PROVIDER_TEMPLATE = """
from notifier import hookimpl
from notifier.testing import FakeProvider


class {class_name}(FakeProvider):
    name = {provider_name!r}


@hookimpl
def notifier_providers():
    return [{class_name}]
"""

BROKEN_IMPORT = """
raise RuntimeError("boom while importing")
"""

MISSPELLED_HOOK = """
from notifier import hookimpl


@hookimpl
def notifier_sendng(message, provider):
    pass
"""

EXTRA_ARGUMENT = """
from notifier import hookimpl


@hookimpl
def notifier_sent(message, result, extra):
    pass
"""

OBSERVER_WRAPPER = """
from notifier import hookimpl


@hookimpl(wrapper=True)
def notifier_sent(message, result):
    return (yield)
"""

NOT_A_PROVIDER = """
from notifier import hookimpl


@hookimpl
def notifier_providers():
    return ["eskiz"]
"""

RAISING_PROVIDERS = """
from notifier import hookimpl


@hookimpl
def notifier_providers():
    raise LookupError("no providers today")
"""


class PluginSet:
    """Plugin modules written to a temporary directory and faked as entry points."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self._directory = directory
        self._monkeypatch = monkeypatch
        self._prefix = f"plugin_{uuid.uuid4().hex[:8]}_"
        self.entry_points: list[importlib.metadata.EntryPoint] = []
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(directory))
        monkeypatch.setattr(importlib.metadata, "entry_points", self._entry_points)

    def _entry_points(self, **selection: str) -> list[importlib.metadata.EntryPoint]:
        assert selection == {"group": "notifier"}
        return list(self.entry_points)

    def add(self, name: str, source: str) -> str:
        """Write a plugin module and declare it under entry-point ``name``."""
        module = self._prefix + name.replace("-", "_")
        (self._directory / f"{module}.py").write_text(textwrap.dedent(source))
        self.entry_points.append(
            importlib.metadata.EntryPoint(name=name, value=module, group="notifier")
        )
        self.modules.append(module)
        return module

    def add_provider(self, name: str) -> str:
        class_name = "Provider_" + name.replace("-", "_")
        return self.add(name, PROVIDER_TEMPLATE.format(class_name=class_name, provider_name=name))

    def imported(self, name: str) -> bool:
        return self._prefix + name.replace("-", "_") in sys.modules

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSet]:
    monkeypatch.delenv("NOTIFIER_DISABLE_PLUGINS", raising=False)
    plugin_set = PluginSet(tmp_path, monkeypatch)
    yield plugin_set
    plugin_set.cleanup()


@pytest.fixture
def manager() -> pluggy.PluginManager:
    return new_plugin_manager()


def warning_texts(record: pytest.WarningsRecorder) -> list[str]:
    return [str(item.message) for item in record]


class TestLoadPlugins:
    def test_broken_plugin_is_skipped_with_warning(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add("broken", BROKEN_IMPORT)
        plugins.add_provider("good_b")

        with pytest.warns(PluginWarning) as record:
            loaded = load_plugins(manager)

        assert loaded == ["good_a", "good_b"]
        texts = warning_texts(record)
        assert len(texts) == 1
        assert "'broken'" in texts[0]
        assert "RuntimeError: boom while importing" in texts[0]
        assert sorted(provider_classes(manager)) == ["good_a", "good_b"]

    def test_configured_broken_plugin_raises(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add("broken", BROKEN_IMPORT)

        with pytest.raises(ConfigurationError) as caught:
            load_plugins(manager, required=["broken"])

        message = str(caught.value)
        assert "'broken'" in message
        assert "RuntimeError: boom while importing" in message
        assert isinstance(caught.value.__cause__, RuntimeError)

    def test_missing_module_names_the_plugin(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.entry_points.append(
            importlib.metadata.EntryPoint(
                name="ghost", value="notifier_ghost_plugin_missing", group="notifier"
            )
        )
        with pytest.warns(PluginWarning, match=r"'ghost'.*ModuleNotFoundError"):
            assert load_plugins(manager) == []

    def test_loading_twice_is_harmless(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        assert load_plugins(manager) == ["good_a"]
        assert load_plugins(manager) == []
        assert manager.has_plugin("good_a")
        assert list(provider_classes(manager)) == ["good_a"]

    def test_same_module_under_two_names_registers_once(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        module = plugins.add_provider("good_a")
        plugins.entry_points.append(
            importlib.metadata.EntryPoint(name="alias", value=module, group="notifier")
        )
        assert load_plugins(manager) == ["good_a"]
        assert not manager.has_plugin("alias")

    def test_plugin_registered_by_hand_is_kept(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        class Audit:
            @hookimpl
            def notifier_sent(self) -> None:
                pass

        manager.register(Audit(), name="audit")
        plugins.add_provider("good_a")
        assert load_plugins(manager) == ["good_a"]
        assert manager.has_plugin("audit")


class TestDisabledPlugins:
    def test_environment_blocks_plugin_before_import(
        self,
        plugins: PluginSet,
        manager: pluggy.PluginManager,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add("broken", BROKEN_IMPORT)
        monkeypatch.setenv("NOTIFIER_DISABLE_PLUGINS", " Broken , ")

        assert load_plugins(manager) == ["good_a"]
        assert not plugins.imported("broken")
        assert manager.is_blocked("broken")

    def test_argument_overrides_environment(
        self,
        plugins: PluginSet,
        manager: pluggy.PluginManager,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add_provider("good_b")
        monkeypatch.setenv("NOTIFIER_DISABLE_PLUGINS", "good_a")

        assert load_plugins(manager, disabled="good_b") == ["good_a"]

    def test_required_and_disabled_is_configuration_error(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        with pytest.raises(ConfigurationError, match=r"'good_a'.*NOTIFIER_DISABLE_PLUGINS"):
            load_plugins(manager, disabled=["good_a"], required=["good_a"])


class TestValidation:
    def test_misspelled_hook_is_rejected_at_load(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add("typo", MISSPELLED_HOOK)

        with pytest.warns(PluginWarning) as record:
            loaded = load_plugins(manager)

        assert loaded == ["good_a"]
        texts = warning_texts(record)
        assert len(texts) == 1
        assert "'typo'" in texts[0]
        assert "unknown hook 'notifier_sendng'" in texts[0]
        assert not manager.has_plugin("typo")
        # The rejected plugin left no hook behind for a later check to trip on.
        manager.check_pending()

    def test_misspelled_hook_in_configured_plugin_raises(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add("typo", MISSPELLED_HOOK)
        with pytest.raises(ConfigurationError, match=r"'typo'.*notifier_sendng"):
            load_plugins(manager, required=["typo"])

    def test_extra_argument_names_the_plugin(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add("extra", EXTRA_ARGUMENT)
        with pytest.warns(PluginWarning) as record:
            assert load_plugins(manager) == []

        text = warning_texts(record)[0]
        assert "'extra'" in text
        assert "notifier_sent" in text
        assert "{'extra'}" in text
        assert not manager.has_plugin("extra")

    def test_wrapper_on_observer_hook_is_rejected(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add("wrapper", OBSERVER_WRAPPER)
        with pytest.warns(PluginWarning, match=r"'wrapper'.*plain implementations"):
            assert load_plugins(manager) == []
        assert not manager.has_plugin("wrapper")


class TestProviderClasses:
    def test_duplicate_provider_names_are_rejected(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add("copy", PROVIDER_TEMPLATE.format(class_name="Copy", provider_name="good_a"))
        load_plugins(manager)

        with pytest.raises(ConfigurationError) as caught:
            provider_classes(manager)
        message = str(caught.value)
        assert "'good_a' is contributed twice" in message
        assert "'copy'" in message
        assert "NOTIFIER_DISABLE_PLUGINS" in message

    def test_same_class_from_two_plugins_is_one_entry(self, manager: pluggy.PluginManager) -> None:
        class First:
            @hookimpl
            def notifier_providers(self) -> list[type[FakeProvider]]:
                return [FakeProvider]

        class Second(First):
            pass

        manager.register(First(), name="first")
        manager.register(Second(), name="second")
        assert provider_classes(manager) == {"fake": FakeProvider}

    def test_non_provider_result_is_skipped(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add_provider("good_a")
        plugins.add("strings", NOT_A_PROVIDER)
        load_plugins(manager)

        with pytest.warns(PluginWarning, match=r"'strings'.*return Provider subclasses"):
            classes = provider_classes(manager)
        assert list(classes) == ["good_a"]

    def test_raising_hook_is_skipped_or_raised(
        self, plugins: PluginSet, manager: pluggy.PluginManager
    ) -> None:
        plugins.add("raising", RAISING_PROVIDERS)
        load_plugins(manager)

        with pytest.warns(PluginWarning, match=r"'raising'.*LookupError: no providers today"):
            assert provider_classes(manager) == {}
        with pytest.raises(ConfigurationError, match=r"'raising'.*LookupError"):
            provider_classes(manager, required=["raising"])

    def test_installed_fake_provider_is_found(self, manager: pluggy.PluginManager) -> None:
        # The real entry points of this environment: the fake is registered
        # through the same group as every vendor.
        load_plugins(manager, disabled=())
        assert manager.has_plugin("fake")
        assert provider_classes(manager)["fake"] is FakeProvider


class TestDefaultManager:
    def test_is_cached(self) -> None:
        assert get_plugin_manager() is get_plugin_manager()

    def test_import_loads_no_plugins(self) -> None:
        script = (
            "import sys, notifier, notifier.testing.pytest_plugin\n"
            "manager = notifier.get_plugin_manager()\n"
            "print(len(manager.get_plugins()), 'notifier_eskiz' in sys.modules)\n"
        )
        # A constant script run with this interpreter.
        completed = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert completed.stdout.split() == ["0", "False"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, (), id="none"),
        pytest.param("", (), id="empty"),
        pytest.param(" Eskiz, ,twilio ", ("eskiz", "twilio"), id="spaces-and-case"),
        pytest.param(["A", " b "], ("a", "b"), id="list"),
    ],
)
def test_parse_names(value: str | list[str] | None, expected: tuple[str, ...]) -> None:
    assert parse_names(value) == expected
