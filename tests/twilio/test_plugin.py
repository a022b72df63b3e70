"""The plugin: provider registration and the ``notifier twilio`` commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from notifier import provider_classes
from notifier._cli import main
from notifier._plugins import load_plugins, new_plugin_manager
from notifier_twilio import TwilioProvider
from notifier_twilio.simulator import TwilioSimulator
from tests.twilio.support import sms


def test_entry_point_registers_provider() -> None:
    manager = new_plugin_manager()
    load_plugins(manager, required=("twilio",))

    assert provider_classes(manager, required=("twilio",))["twilio"] is TwilioProvider


@pytest.fixture
def twilio_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: TwilioSimulator
) -> TwilioSimulator:
    """Point the TWILIO_* variables at the simulator, from an empty directory."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "NOTIFIER_", "ESKIZ_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NOTIFIER_PROVIDER", "twilio")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", sim.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", sim.auth_token)
    monkeypatch.setenv("TWILIO_SENDER", sim.sender)
    monkeypatch.setenv("TWILIO_BASE_URL", sim.base_url)
    return sim


class TestCommands:
    def test_status(self, twilio_env: TwilioSimulator, capsys: pytest.CaptureFixture[str]) -> None:
        sid = _send_one()
        twilio_env.settle()

        code = main(["twilio", "status", sid])

        assert code == 0
        assert capsys.readouterr().out.strip() == f"{sid}: delivered -> delivered"

    def test_status_of_unknown_message(
        self, twilio_env: TwilioSimulator, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["twilio", "status", "SM" + "0" * 32])

        assert code == 1
        assert "MessageNotFound" in capsys.readouterr().err

    def test_check_uses_credentials(
        self, twilio_env: TwilioSimulator, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["check"])

        output = capsys.readouterr().out
        assert code == 0
        assert "twilio" in output
        assert "ok" in output
        assert twilio_env.stats.requests[f"/2010-04-01/Accounts/{twilio_env.account_sid}.json"] == 1

    def test_check_reports_wrong_token(
        self,
        twilio_env: TwilioSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", "0" * 32)

        code = main(["check"])

        assert code == 1
        assert "AuthenticationError" in capsys.readouterr().out

    def test_group_without_command_prints_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["twilio"]) == 2
        assert "simulator" in capsys.readouterr().err


def _send_one() -> str:
    """Send one message with the TWILIO_* settings and return its SID."""

    async def send() -> str:
        async with TwilioProvider.from_env() as provider:
            result = await provider.send(sms())
        return result.message_id or ""

    return asyncio.run(send())


@pytest.mark.slow
def test_simulator_command_serves_until_interrupted(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("notifier")
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "NOTIFIER_"))
    }
    command = [str(script), "twilio", "simulator", "--port", "0", "--step-delay", "0.01"]
    with subprocess.Popen(  # noqa: S603 - our own console script with fixed arguments
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
        env=environment,
    ) as process:
        try:
            settings = _read_settings(process)
            base_url = settings["TWILIO_BASE_URL"]
            account = settings["TWILIO_ACCOUNT_SID"]
            assert base_url.startswith("http://127.0.0.1:")
            response = httpx.get(
                f"{base_url}/2010-04-01/Accounts/{account}.json",
                auth=(account, settings["TWILIO_AUTH_TOKEN"]),
            )
            assert response.status_code == 200

            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def _read_settings(process: subprocess.Popen[str]) -> dict[str, str]:
    """Read the NAME=value lines the simulator command prints on start."""
    assert process.stdout is not None
    settings: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while "TWILIO_MESSAGING_SERVICE_SID" not in settings and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        name, separator, value = line.strip().partition("=")
        if separator:
            settings[name] = value
    return settings
