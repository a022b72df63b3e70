"""The Eskiz plugin: entry point, provider registry, `notifier eskiz` commands, public names."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import notifier_eskiz
from notifier import AsyncNotifier, Sms
from notifier._cli._app import run
from notifier._plugins import load_plugins, new_plugin_manager, provider_classes
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator

pytestmark = pytest.mark.usefixtures("instant")


@pytest.fixture
def eskiz_env(sim: EskizSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point ESKIZ_* at the simulator, with no .env of the working tree in the way."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESKIZ_EMAIL", sim.email)
    monkeypatch.setenv("ESKIZ_PASSWORD", sim.password)
    monkeypatch.setenv("ESKIZ_BASE_URL", sim.base_url)
    monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")


def test_entry_point_registers_provider() -> None:
    manager = new_plugin_manager()
    load_plugins(manager)
    assert provider_classes(manager)["eskiz"] is EskizProvider


@pytest.mark.usefixtures("eskiz_env")
async def test_notifier_from_env(sim: EskizSimulator) -> None:
    async with AsyncNotifier.from_env(env_file=None) as notifier:
        result = await notifier.send(Sms("+998900000011", "Salom"))
    assert result.provider == "eskiz"
    assert sim.stats.sends == 1


@pytest.mark.usefixtures("eskiz_env")
class TestCommands:
    def test_balance(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["eskiz", "balance"]) == 0
        assert "1 000 000 UZS" in capsys.readouterr().out

    def test_status(self, sim: EskizSimulator, capsys: pytest.CaptureFixture[str]) -> None:
        async def send() -> str:
            async with EskizProvider.from_env() as provider:
                result = await provider.send(Sms("+998900000011", "Salom", client_ref="cli-1"))
            return result.message_id or ""

        message_id = asyncio.run(send())
        sim.settle()
        assert run(["eskiz", "status", message_id]) == 0
        output = capsys.readouterr().out
        assert "cli-1" in output
        assert "DELIVERED" in output

    def test_status_not_found(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["eskiz", "status", "12345"]) == 1
        assert "MessageNotFound" in capsys.readouterr().err

    def test_templates(self, sim: EskizSimulator, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["eskiz", "templates"]) == 0
        assert "No templates" in capsys.readouterr().out

    def test_check(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["eskiz", "check", "Buyurtmangiz tayyor"]) == 0
        output = capsys.readouterr().out
        assert "yes" in output
        assert "50 UZS" in output

    def test_wrong_password(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("ESKIZ_PASSWORD", "not-the-secret")
        assert run(["eskiz", "balance"]) == 1
        error = capsys.readouterr().err
        assert "AuthenticationError" in error
        assert "not-the-secret" not in error

    def test_simulator_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["eskiz", "simulator", "--help"]) == 0
        assert "--token-ttl" in capsys.readouterr().out


def test_public_names_sorted_and_exported() -> None:
    source = Path(notifier_eskiz.__file__).read_text()
    tree = ast.parse(source)
    exported = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets)
    )
    assert exported == notifier_eskiz.__all__
    for name in notifier_eskiz.__all__:
        assert hasattr(notifier_eskiz, name), name
    public = {
        name
        for name in vars(notifier_eskiz)
        if not name.startswith("_") and name not in {"annotations", "simulator"}
    }
    assert public == set(notifier_eskiz.__all__)
