"""Tests of NotifierSettings and of building notifiers from the environment."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any, ClassVar

import pluggy
import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier import (
    AsyncNotifier,
    ConfigurationError,
    Failover,
    NotifierSettings,
    Weighted,
    provider_from_env,
)
from notifier._plugins import new_plugin_manager
from notifier._settings import read_environ
from notifier.testing import FakeProvider


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test in an empty directory with no NOTIFIER_* variables."""
    for name in list(os.environ):
        if name.startswith("NOTIFIER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def manager() -> pluggy.PluginManager:
    return new_plugin_manager()


class TestNotifierSettings:
    def test_defaults(self) -> None:
        settings = NotifierSettings.load()
        assert settings.provider_names == ()
        assert settings.routing is None
        assert settings.default_region == "UZ"
        assert settings.disabled_plugins == ()

    def test_reads_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "Eskiz, twilio")
        monkeypatch.setenv("NOTIFIER_ROUTING", "By_Country")
        monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "kz")
        monkeypatch.setenv("NOTIFIER_DISABLE_PLUGINS", "audit,metrics")
        settings = NotifierSettings.load()
        assert settings.provider_names == ("eskiz", "twilio")
        assert settings.routing == "by-country"
        assert settings.default_region == "KZ"
        assert settings.disabled_plugins == ("audit", "metrics")

    def test_reads_dot_env_in_working_directory(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_PROVIDER=fake\nNOTIFIER_ROUTING=weighted\n")
        settings = NotifierSettings.load()
        assert settings.provider_names == ("fake",)
        assert settings.routing == "weighted"

    def test_environment_wins_over_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_PROVIDER=fake\n")
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        assert NotifierSettings.load().provider_names == ("eskiz",)

    def test_env_file_none_ignores_dot_env(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_PROVIDER=fake\n")
        assert NotifierSettings.load(None).provider_names == ()

    def test_other_env_file(self, tmp_path: Path) -> None:
        other = tmp_path / "production.env"
        other.write_text("NOTIFIER_PROVIDER=eskiz\n")
        assert NotifierSettings.load(other).provider_names == ("eskiz",)

    def test_invalid_routing_names_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_ROUTING", "round-robin")
        with pytest.raises(ConfigurationError) as caught:
            NotifierSettings.load()
        message = str(caught.value)
        assert "NOTIFIER_ROUTING" in message
        assert "'failover'" in message

    def test_invalid_region_names_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "Uzbekistan")
        with pytest.raises(ConfigurationError, match=r"NOTIFIER_DEFAULT_REGION.*'Uzbekistan'"):
            NotifierSettings.load()


class TestReadEnviron:
    def test_file_values_overlaid_by_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        env_file = tmp_path / ".env"
        env_file.write_text("NOTIFIER_ROUTING_WEIGHTS=fake:1\nNOTIFIER_ROUTING=weighted\n")
        monkeypatch.setenv("NOTIFIER_ROUTING", "failover")
        environ = read_environ(env_file)
        assert environ["NOTIFIER_ROUTING_WEIGHTS"] == "fake:1"
        assert environ["NOTIFIER_ROUTING"] == "failover"

    def test_missing_file_is_not_an_error(self, tmp_path: Path) -> None:
        environ = read_environ(tmp_path / "absent.env")
        assert "NOTIFIER_ROUTING" not in environ


class TestFromEnv:
    def test_missing_provider_says_to_set_it(self, manager: pluggy.PluginManager) -> None:
        with pytest.raises(ConfigurationError) as caught:
            AsyncNotifier.from_env(plugins=manager)
        message = str(caught.value)
        assert "NOTIFIER_PROVIDER is not set" in message
        assert "fake" in message

    def test_unknown_provider_lists_installed(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "smsgate")
        with pytest.raises(ConfigurationError) as caught:
            AsyncNotifier.from_env(plugins=manager)
        message = str(caught.value)
        assert "'smsgate'" in message
        assert "not installed" in message
        assert "Installed providers:" in message
        assert "fake" in message

    def test_duplicate_provider_is_rejected(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "fake,fake")
        with pytest.raises(ConfigurationError, match="'fake' more than once"):
            AsyncNotifier.from_env(plugins=manager)

    async def test_single_provider_from_dot_env(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        (tmp_path / ".env").write_text(
            "NOTIFIER_PROVIDER=fake\nNOTIFIER_DEFAULT_REGION=KZ\nNOTIFIER_FAKE_BATCH_SIZE=7\n"
        )
        notifier = AsyncNotifier.from_env(plugins=manager)
        provider = notifier.provider
        assert isinstance(provider, FakeProvider)
        assert provider.batch_size == 7
        assert notifier.default_region == "KZ"
        assert notifier.plugins is manager
        await notifier.aclose()

    async def test_provider_reads_other_env_file(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_FAKE_BATCH_SIZE=99\n")
        other = tmp_path / "staging.env"
        other.write_text("NOTIFIER_PROVIDER=fake\nNOTIFIER_FAKE_BATCH_SIZE=3\n")
        notifier = AsyncNotifier.from_env(other, plugins=manager)
        assert isinstance(notifier.provider, FakeProvider)
        assert notifier.provider.batch_size == 3
        await notifier.aclose()

    def test_invalid_provider_setting_names_variable(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        other = tmp_path / "staging.env"
        other.write_text("NOTIFIER_PROVIDER=fake\nNOTIFIER_FAKE_BATCH_SIZE=many\n")
        with pytest.raises(ConfigurationError, match="NOTIFIER_FAKE_BATCH_SIZE"):
            AsyncNotifier.from_env(other, plugins=manager)

    def test_disabled_configured_provider_is_rejected(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "fake")
        monkeypatch.setenv("NOTIFIER_DISABLE_PLUGINS", "fake")
        with pytest.raises(ConfigurationError, match=r"'fake'.*NOTIFIER_DISABLE_PLUGINS"):
            AsyncNotifier.from_env(plugins=manager)


class SecretSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_VAULT_", extra="ignore")

    token: SecretStr
    retries: int = 3


class VaultProvider(FakeProvider):
    """A provider with a required secret, to test settings errors."""

    name = "vault"
    settings_class = SecretSettings


class SecondProvider(FakeProvider):
    name = "second"


class StaticPlugin:
    def __init__(self, *classes: type[FakeProvider]) -> None:
        self._classes = classes

    @pluggy.HookimplMarker("notifier")
    def notifier_providers(self) -> list[type[FakeProvider]]:
        return list(self._classes)


class TestFromEnvSeveralProviders:
    @pytest.fixture
    def manager(self) -> pluggy.PluginManager:
        manager = new_plugin_manager()
        manager.register(StaticPlugin(SecondProvider, VaultProvider), name="static")
        return manager

    async def test_two_providers_fail_over_by_default(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "fake,second")
        notifier = AsyncNotifier.from_env(plugins=manager)
        policy = notifier.provider
        assert isinstance(policy, Failover)
        assert "fake" in policy.name
        assert "second" in policy.name
        await notifier.aclose()

    async def test_routing_variables_come_from_env_file(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        other = tmp_path / "routing.env"
        other.write_text(
            "NOTIFIER_PROVIDER=fake,second\n"
            "NOTIFIER_ROUTING=weighted\n"
            "NOTIFIER_ROUTING_WEIGHTS=fake:90,second:10\n"
        )
        notifier = AsyncNotifier.from_env(other, plugins=manager)
        assert isinstance(notifier.provider, Weighted)
        await notifier.aclose()

    def test_missing_secret_names_variable_not_value(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        other = tmp_path / "vault.env"
        other.write_text("NOTIFIER_PROVIDER=vault\nNOTIFIER_VAULT_RETRIES=x-secret-value\n")
        with pytest.raises(ConfigurationError) as caught:
            AsyncNotifier.from_env(other, plugins=manager)
        message = str(caught.value)
        assert "NOTIFIER_VAULT_TOKEN is not set" in message
        assert "NOTIFIER_VAULT_RETRIES" in message
        assert "x-secret-value" not in message

    def test_configured_broken_plugin_names_it(
        self,
        tmp_path: Path,
        manager: pluggy.PluginManager,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        (tmp_path / "notifier_broken_for_settings.py").write_text(
            "raise ImportError('needs the vendor SDK')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        entry_point = importlib.metadata.EntryPoint(
            name="broken", value="notifier_broken_for_settings", group="notifier"
        )
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: [entry_point])
        monkeypatch.setenv("NOTIFIER_PROVIDER", "broken")
        with pytest.raises(ConfigurationError) as caught:
            AsyncNotifier.from_env(plugins=manager)
        message = str(caught.value)
        assert "'broken'" in message
        assert "ImportError: needs the vendor SDK" in message


class TrackedProvider(FakeProvider):
    """A fake that keeps every instance built, to check that from_env() closes them."""

    name = "tracked"
    built: ClassVar[list[TrackedProvider]] = []

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        TrackedProvider.built.append(self)


class UncloseableProvider(TrackedProvider):
    name = "uncloseable"

    async def aclose(self) -> None:
        await super().aclose()
        raise RuntimeError("the vendor SDK failed to close")


class TestProviderFromEnv:
    @pytest.fixture
    def manager(self) -> pluggy.PluginManager:
        manager = new_plugin_manager()
        manager.register(StaticPlugin(SecondProvider, VaultProvider), name="static")
        return manager

    async def test_builds_named_provider(self, manager: pluggy.PluginManager) -> None:
        provider = provider_from_env("second", plugins=manager)
        assert type(provider) is SecondProvider
        await provider.aclose()

    async def test_name_ignores_case_and_spaces(self, manager: pluggy.PluginManager) -> None:
        provider = provider_from_env("  Fake ", plugins=manager)
        assert type(provider) is FakeProvider
        await provider.aclose()

    async def test_each_call_builds_new_provider(self, manager: pluggy.PluginManager) -> None:
        first = provider_from_env("fake", plugins=manager)
        second = provider_from_env("fake", plugins=manager)
        assert first is not second
        await first.aclose()
        await second.aclose()

    async def test_reads_dot_env_by_default(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_FAKE_BATCH_SIZE=4\n")
        provider = provider_from_env("fake", plugins=manager)
        assert isinstance(provider, FakeProvider)
        assert provider.batch_size == 4
        await provider.aclose()

    async def test_reads_other_env_file(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_FAKE_BATCH_SIZE=99\n")
        other = tmp_path / "staging.env"
        other.write_text("NOTIFIER_FAKE_BATCH_SIZE=3\n")
        provider = provider_from_env("fake", env_file=other, plugins=manager)
        assert isinstance(provider, FakeProvider)
        assert provider.batch_size == 3
        await provider.aclose()

    async def test_env_file_none_ignores_dot_env(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        (tmp_path / ".env").write_text("NOTIFIER_FAKE_BATCH_SIZE=4\n")
        provider = provider_from_env("fake", env_file=None, plugins=manager)
        assert isinstance(provider, FakeProvider)
        assert provider.batch_size is None
        await provider.aclose()

    async def test_ignores_routing_variables(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "second,vault")
        monkeypatch.setenv("NOTIFIER_ROUTING", "round-robin")
        provider = provider_from_env("fake", plugins=manager)
        assert type(provider) is FakeProvider
        await provider.aclose()

    def test_unknown_name_lists_installed(self, manager: pluggy.PluginManager) -> None:
        with pytest.raises(ConfigurationError) as caught:
            provider_from_env("smsgate", plugins=manager)
        message = str(caught.value)
        assert "'smsgate' is not installed" in message
        assert "Installed providers: eskiz, fake, second, twilio, vault." in message
        # A package name built from what the user typed could name anything.
        assert "pip install" not in message
        assert "Check the spelling" in message

    @pytest.mark.parametrize("name", ["fake,second", "", " , "])
    def test_needs_exactly_one_name(self, manager: pluggy.PluginManager, name: str) -> None:
        with pytest.raises(ConfigurationError, match="takes one provider name"):
            provider_from_env(name, plugins=manager)

    def test_non_string_name_is_type_error(self, manager: pluggy.PluginManager) -> None:
        with pytest.raises(TypeError, match="takes a provider name, got list"):
            provider_from_env(["fake"], plugins=manager)  # type: ignore[arg-type]

    def test_disabled_in_env_file_is_rejected(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        other = tmp_path / "blocked.env"
        other.write_text("NOTIFIER_DISABLE_PLUGINS=fake\n")
        with pytest.raises(ConfigurationError, match=r"'fake'.*NOTIFIER_DISABLE_PLUGINS"):
            provider_from_env("fake", env_file=other, plugins=manager)

    def test_missing_secret_names_variable_not_value(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        other = tmp_path / "vault.env"
        other.write_text("NOTIFIER_VAULT_RETRIES=x-secret-value\n")
        with pytest.raises(ConfigurationError) as caught:
            provider_from_env("vault", env_file=other, plugins=manager)
        message = str(caught.value)
        assert "NOTIFIER_VAULT_TOKEN is not set" in message
        assert "x-secret-value" not in message

    async def test_process_wide_manager_by_default(self) -> None:
        provider = provider_from_env("fake")
        assert type(provider) is FakeProvider
        await provider.aclose()


class TestFromEnvClosesBuiltProviders:
    @pytest.fixture
    def manager(self) -> pluggy.PluginManager:
        TrackedProvider.built.clear()
        manager = new_plugin_manager()
        plugin = StaticPlugin(TrackedProvider, UncloseableProvider, SecondProvider, VaultProvider)
        manager.register(plugin, name="static")
        return manager

    def test_later_build_failure_closes_earlier(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        # The vault provider's token is missing from the file.
        other = tmp_path / "vault.env"
        other.write_text("NOTIFIER_PROVIDER=tracked,vault\n")
        with pytest.raises(ConfigurationError, match="NOTIFIER_VAULT_TOKEN is not set"):
            AsyncNotifier.from_env(other, plugins=manager)
        assert len(TrackedProvider.built) == 1
        assert TrackedProvider.built[0].closed

    async def test_closes_inside_running_loop(
        self, tmp_path: Path, manager: pluggy.PluginManager
    ) -> None:
        other = tmp_path / "vault.env"
        other.write_text("NOTIFIER_PROVIDER=tracked,vault\n")
        with pytest.raises(ConfigurationError, match="NOTIFIER_VAULT_TOKEN"):
            AsyncNotifier.from_env(other, plugins=manager)
        assert len(TrackedProvider.built) == 1
        assert TrackedProvider.built[0].closed

    def test_invalid_routing_closes_every_provider(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "tracked,uncloseable")
        monkeypatch.setenv("NOTIFIER_ROUTING", "weighted")
        with pytest.raises(ConfigurationError, match="NOTIFIER_ROUTING_WEIGHTS"):
            AsyncNotifier.from_env(plugins=manager)
        assert len(TrackedProvider.built) == 2
        assert all(provider.closed for provider in TrackedProvider.built)

    def test_failed_close_is_logged_not_raised(
        self,
        tmp_path: Path,
        manager: pluggy.PluginManager,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        other = tmp_path / "vault.env"
        other.write_text("NOTIFIER_PROVIDER=uncloseable,tracked,vault\n")
        with pytest.raises(ConfigurationError, match="NOTIFIER_VAULT_TOKEN"):
            AsyncNotifier.from_env(other, plugins=manager)
        assert len(TrackedProvider.built) == 2
        assert all(provider.closed for provider in TrackedProvider.built)
        warnings = [record for record in caplog.records if record.levelname == "WARNING"]
        assert len(warnings) == 1
        assert warnings[0].getMessage() == (
            "Closing unused provider uncloseable failed: RuntimeError"
        )

    async def test_successful_build_leaves_providers_open(
        self, manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "tracked,second")
        notifier = AsyncNotifier.from_env(plugins=manager)
        assert len(TrackedProvider.built) == 1
        assert not TrackedProvider.built[0].closed
        await notifier.aclose()
        assert TrackedProvider.built[0].closed
