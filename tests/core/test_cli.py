# ruff: noqa: RUF001
# Uzbek Cyrillic letters and the modifier letter U+02BB are test data, not typos.
"""The ``notifier`` command line, run through ``main(argv)``.

Most tests send through the fake provider (``NOTIFIER_PROVIDER=fake``) and
its magic numbers; the Eskiz tests run against the simulator on loopback.
Messages the CLI sends are observed through a recorder plugin on the
process-wide plugin manager, which ``AsyncNotifier.from_env()`` reports to.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier import NotifierError, Provider, SendResult, Sms, hookimpl
from notifier._cli import main
from notifier._plugins import get_plugin_manager
from notifier.testing import FakeProvider, instant_retries
from notifier_eskiz.simulator import EskizSimulator
from notifier_twilio.simulator import TwilioSimulator

REJECTED = FakeProvider.REJECTED_NUMBER
UNAVAILABLE = FakeProvider.UNAVAILABLE_NUMBER
UNKNOWN = FakeProvider.UNKNOWN_NUMBER
AUTH_FAILED = FakeProvider.AUTH_FAILED_NUMBER

FAILED_HEADER = [
    "line",
    "phone",
    "text",
    "client_ref",
    "sender",
    "error_type",
    "error_message",
    "raw",
    "duplicate_client_ref",
]


class Recorder:
    """Observer plugin that keeps every message the CLI sent or failed to send."""

    def __init__(self) -> None:
        self.sent: list[Sms] = []
        self.failed: list[tuple[Sms, NotifierError]] = []

    @hookimpl
    def notifier_sent(self, message: Sms, result: SendResult) -> None:
        self.sent.append(message)

    @hookimpl
    def notifier_failed(self, message: Sms, error: NotifierError) -> None:
        self.failed.append((message, error))


@pytest.fixture(autouse=True)
def cli_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run every test in an empty folder (no .env) with a wide, plain console."""
    monkeypatch.chdir(tmp_path)
    for name in ("NOTIFIER_PROVIDER", "NOTIFIER_ROUTING", "NOTIFIER_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ESKIZ_EMAIL", "ESKIZ_PASSWORD", "ESKIZ_BASE_URL", "ESKIZ_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_PROVIDER", "fake")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder()
    manager = get_plugin_manager()
    manager.register(plugin, name="test-cli-recorder")
    try:
        yield plugin
    finally:
        manager.unregister(plugin)


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EskizSimulator]:
    """An Eskiz simulator on loopback, with the provider's variables pointing at it."""
    with EskizSimulator(seed=1) as sim:
        monkeypatch.setenv("ESKIZ_EMAIL", sim.email)
        monkeypatch.setenv("ESKIZ_PASSWORD", sim.password)
        monkeypatch.setenv("ESKIZ_BASE_URL", sim.base_url)
        yield sim


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def read_failed(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == FAILED_HEADER
        return list(reader)


# --- the program ---


class TestProgram:
    def test_version_names_core_and_plugins(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--version"]) == 0
        output = capsys.readouterr().out
        assert output.startswith("notifier-core ")
        assert "notifier-eskiz" in output
        assert "notifier-twilio" in output

    def test_no_command_prints_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main([]) == 2
        assert "usage: notifier" in capsys.readouterr().err

    def test_unknown_command_is_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["sned"]) == 2
        assert "invalid choice" in capsys.readouterr().err

    def test_help_lists_builtin_and_plugin_commands(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["--help"]) == 0
        output = capsys.readouterr().out
        for command in ("send", "send-bulk", "providers", "check", "demo", "eskiz"):
            assert f"    {command} " in output

    def test_invalid_settings_do_not_break_help(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "Atlantis")
        assert main(["--help"]) == 0
        assert "send-bulk" in capsys.readouterr().out

    def test_missing_rich_is_explained(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        real_find_spec = importlib.util.find_spec

        def find_spec(name: str, package: str | None = None) -> object:
            return None if name == "rich" else real_find_spec(name, package)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        assert main(["--version"]) == 2
        error = capsys.readouterr().err
        assert "needs the 'rich' package" in error
        assert "run 'uv sync', or pip install '.[cli]' ./providers/eskiz" in error
        assert "pip install 'notifier-core[cli]'" not in error

    def test_missing_eskiz_simulator_is_explained(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setitem(sys.modules, "notifier_eskiz.simulator", None)

        assert main(["eskiz", "simulator"]) == 2

        error = " ".join(capsys.readouterr().err.split())
        assert "run 'uv sync', or pip install './providers/eskiz[simulator]'" in error
        assert "pip install 'notifier-eskiz[simulator]'" not in error

    def test_no_providers_hint_installs_from_clone(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr("notifier._cli._providers.installed_providers", lambda settings: {})

        assert main(["providers"]) == 0

        output = " ".join(capsys.readouterr().out.split())
        assert "run 'uv sync', or pip install ./providers/eskiz" in output

    def test_plugin_adds_command(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        class GreetingPlugin:
            @hookimpl
            def notifier_cli(
                self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
            ) -> None:
                parser = subparsers.add_parser("salom", help="say hello")
                parser.add_argument("--name", default="dunyo")
                parser.set_defaults(handler=lambda args: print(f"Salom, {args.name}!") or 0)

        manager = get_plugin_manager()
        plugin = GreetingPlugin()
        manager.register(plugin, name="test-greeting")
        try:
            assert main(["salom", "--name", "Toshkent"]) == 0
        finally:
            manager.unregister(plugin)
        assert capsys.readouterr().out == "Salom, Toshkent!\n"

    def test_broken_plugin_loses_only_its_commands(
        self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        class BrokenPlugin:
            @hookimpl
            def notifier_cli(
                self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
            ) -> None:
                raise RuntimeError("plugin bug")

        manager = get_plugin_manager()
        plugin = BrokenPlugin()
        manager.register(plugin, name="test-broken-cli")
        try:
            with caplog.at_level(logging.WARNING, logger="notifier"):
                assert main(["--version"]) == 0
        finally:
            manager.unregister(plugin)
        warnings = [record.getMessage() for record in caplog.records]
        assert any("'test-broken-cli' failed to add its commands" in text for text in warnings)

    def test_verbose_logs_masked_send(
        self,
        fake_env: None,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        logger = logging.getLogger("notifier")
        level_before = logger.level
        handlers_before = list(logger.handlers)

        assert main(["-v", "send", "--to", "+998900000012", "--body", "Salom"]) == 0

        error = capsys.readouterr().err
        assert "Sent SMS to +998*****0012 via fake" in error
        assert "998900000012" not in error
        assert logger.level == level_before
        assert logger.handlers == handlers_before

    @pytest.mark.parametrize(
        "argv",
        [
            pytest.param(["send", "--to", "+998900000012", "--body", "Salom", "-v"], id="after"),
            pytest.param(["send", "-v", "--to", "+998900000012", "--body", "Salom"], id="inside"),
        ],
    )
    def test_verbose_after_command(
        self, fake_env: None, capsys: pytest.CaptureFixture[str], argv: list[str]
    ) -> None:
        assert main(argv) == 0
        assert "Sent SMS to +998*****0012 via fake" in capsys.readouterr().err

    def test_verbose_counts_before_and_after(
        self, fake_env: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # -v twice, once on each side of the command, is DEBUG: the
        # plugin manager's DEBUG line appears only then.
        assert main(["-v", "send", "--to", "+998900000012", "--body", "Salom", "-v"]) == 0
        error = capsys.readouterr().err
        assert "DEBUG" in error

    def test_verbose_after_plugin_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["eskiz", "templates", "--help"]) == 0
        assert "-v, --verbose" in capsys.readouterr().out


# --- send ---


class TestSend:
    def test_sends_and_prints_masked_result(
        self, fake_env: None, recorder: Recorder, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["send", "--to", "90 000 00 12", "--body", "Kod: 4512", "--client-ref", "r1"])

        assert code == 0
        output = capsys.readouterr().out
        assert "+998*****0012" in output
        assert "998900000012" not in output
        assert "queued" in output
        assert "r1" in output
        assert [message.to for message in recorder.sent] == ["+998900000012"]
        assert recorder.sent[0].body == "Kod: 4512"
        assert recorder.sent[0].client_ref == "r1"

    def test_body_from_stdin_is_kept_exactly(
        self,
        fake_env: None,
        recorder: Recorder,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        text = "  Hurmatli mijoz,\nbuyurtmangiz tayyor.  \n"
        monkeypatch.setattr("sys.stdin", io.StringIO(text))

        assert main(["send", "--to", "+998900000012", "--body", "-"]) == 0

        # Only the final newline a pipe adds is removed.
        assert recorder.sent[0].body == text[:-1]

    def test_sender_is_passed(self, fake_env: None, recorder: Recorder) -> None:
        assert main(["send", "--to", "+998900000012", "--body", "Salom", "--sender", "4546"]) == 0
        assert recorder.sent[0].sender == "4546"

    def test_region_resolves_national_number(self, fake_env: None, recorder: Recorder) -> None:
        assert main(["send", "--to", "020 7946 0018", "--body", "Hello", "--region", "gb"]) == 0
        assert recorder.sent[0].to == "+442079460018"

    def test_unknown_region_names_option(
        self, fake_env: None, recorder: Recorder, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["send", "--to", "901234567", "--body", "Salom", "--region", "XX"]) == 2
        error = capsys.readouterr().err
        assert "argument --region: 'XX' is not an ISO 3166 alpha-2 region code" in error
        assert "Default region" not in error
        assert recorder.sent == []

    def test_rejected_message_exits_1_without_traceback(
        self, fake_env: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["send", "--to", REJECTED, "--body", "Salom"]) == 1
        error = capsys.readouterr().err
        assert error.startswith("error: RejectedError: ")
        assert "Traceback" not in error
        assert REJECTED not in error

    def test_invalid_number_exits_2(
        self, fake_env: None, recorder: Recorder, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["send", "--to", "+99890123", "--body", "Salom"]) == 2
        error = capsys.readouterr().err
        assert "InvalidMessage" in error
        assert "+99890123" not in error
        assert recorder.sent == []

    def test_missing_provider_setting_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["send", "--to", "+998900000012", "--body", "Salom"]) == 2
        error = capsys.readouterr().err
        assert "ConfigurationError" in error
        assert "NOTIFIER_PROVIDER is not set" in error

    def test_provider_option_replaces_environment(self, recorder: Recorder) -> None:
        assert main(["send", "--provider", "fake", "--to", "+998900000012", "--body", "Hi"]) == 0
        assert len(recorder.sent) == 1

    def test_uninstalled_provider_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert (
            main(["send", "--provider", "sms-nowhere", "--to", "+998900000012", "--body", "Hi"])
            == 2
        )
        error = capsys.readouterr().err
        assert "provider 'sms-nowhere', which is not installed" in error
        assert "Installed providers: eskiz, fake, twilio" in error
        # A package name built from a typo could belong to anyone.
        assert "pip install" not in error
        assert "notifier-sms-nowhere" not in error

    @pytest.mark.parametrize(
        ("argv", "source"),
        [
            pytest.param(["--provider", "eskis"], "--provider", id="option"),
            pytest.param([], "NOTIFIER_PROVIDER", id="environment"),
        ],
    )
    def test_misspelt_provider_suggests_installed(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        argv: list[str],
        source: str,
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskis")

        assert main(["send", *argv, "--to", "+998900000012", "--body", "Hi"]) == 2

        error = capsys.readouterr().err
        assert f"{source} names provider 'eskis'" in error
        assert "Did you mean 'eskiz'?" in error
        assert "notifier-eskis" not in error

    def test_missing_eskiz_credentials_exit_2(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        assert main(["send", "--to", "+998900000012", "--body", "Salom"]) == 2
        error = capsys.readouterr().err
        assert "ESKIZ_EMAIL is not set" in error
        assert "ESKIZ_PASSWORD is not set" in error

    def test_sends_through_eskiz_simulator(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        body = "Тасдиқлаш коди: 4512. Уни ҳеч кимга айтманг."

        assert main(["send", "--to", "+998900000012", "--body", body]) == 0

        output = capsys.readouterr().out
        assert "eskiz" in output
        assert "(ucs2)" in output
        assert simulator.stats.logins == 1
        assert simulator.stats.sends == 1
        assert simulator.messages[0].text == body
        assert simulator.messages[0].to == "998900000012"

    def test_eskiz_wrong_password_exits_1(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        monkeypatch.setenv("ESKIZ_PASSWORD", "not-the-secret")

        assert main(["send", "--to", "+998900000012", "--body", "Salom"]) == 1

        error = capsys.readouterr().err
        assert "AuthenticationError" in error
        assert "not-the-secret" not in error
        assert simulator.stats.sends == 0


# --- send-bulk ---


class TestSendBulk:
    def test_failures_written_beside_input(
        self,
        fake_env: None,
        recorder: Recorder,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        source = write_csv(
            cli_environment / "spring.csv",
            [
                ["phone", "text", "client_ref"],
                ["+998900000010", "Salom, do'stim!", "ok-1"],
                [REJECTED, "Chegirma 20%", "rej-1"],
                ["+99890123", "Yomon raqam", "bad-1"],
                [UNKNOWN, "Noma'lum holat", "unk-1"],
                ["90 000 00 11", "Оila: «Наврўз» муборак!", "ok-2"],
            ],
        )

        with instant_retries():
            code = main(["send-bulk", str(source)])

        assert code == 1
        failed = read_failed(cli_environment / "spring.failed.csv")
        assert [row["line"] for row in failed] == ["3", "4", "5"]
        assert [row["error_type"] for row in failed] == [
            "RejectedError",
            "InvalidMessage",
            "DeliveryUnknown",
        ]
        # The failed file keeps the row as written, so nothing is lost.
        assert failed[0]["phone"] == REJECTED
        assert failed[0]["text"] == "Chegirma 20%"
        assert failed[0]["client_ref"] == "rej-1"
        assert failed[1]["phone"] == "+99890123"
        assert "not a valid number" in failed[1]["error_message"]
        assert "+99890123" not in failed[1]["error_message"]
        assert {message.client_ref for message in recorder.sent} == {"ok-1", "ok-2"}
        output = capsys.readouterr().out
        assert "spring.failed.csv" in output
        assert "may have been delivered" in output

    def test_text_is_sent_exactly(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        texts = [
            '  Oʻzbekiston boʻylab "tez" yetkazib berish, 2–3 kun.  ',
            "Кўп қаторли\nхабар: ғ ҳ қ ў",
            "Kod: 0042",
        ]
        rows = [["phone", "text"]] + [[f"+99890000002{i}", text] for i, text in enumerate(texts)]
        source = write_csv(cli_environment / "texts.csv", rows)

        assert main(["send-bulk", str(source)]) == 0

        assert sorted(message.body for message in recorder.sent) == sorted(texts)
        assert not (cli_environment / "texts.failed.csv").exists()

    def test_row_problems_do_not_stop_run(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = cli_environment / "mixed.csv"
        source.write_text(
            "phone,text,client_ref\n"
            "+998900000010,Birinchi,a\n"
            "+998900000011,Ikkinchi,a\n"  # repeated client_ref
            "+998900000012,Uchinchi, ortiqcha,c\n"  # unquoted comma: four fields
            "+998900000013,   ,d\n"  # blank text
            "\n"
            "+998900000014,Beshinchi,e\n",
            encoding="utf-8",
        )

        assert main(["send-bulk", str(source)]) == 1

        failed = read_failed(cli_environment / "mixed.failed.csv")
        assert [row["line"] for row in failed] == ["3", "4", "5"]
        assert "already used on line 2" in failed[0]["error_message"]
        assert "has 4 fields but the header has 3" in failed[1]["error_message"]
        assert "body is empty" in failed[2]["error_message"]
        assert {message.client_ref for message in recorder.sent} == {"a", "e"}

    def test_unparsed_row_is_kept_raw(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = cli_environment / "shape.csv"
        source.write_text(
            "phone,text,client_ref\n"
            "+998900000106,too,many,fields\n"
            "+998900000107\n"
            "+998900000108,Salom,ok\n",
            encoding="utf-8",
        )

        assert main(["send-bulk", str(source)]) == 1

        long_row, short_row = read_failed(cli_environment / "shape.failed.csv")
        assert long_row["raw"] == "+998900000106,too,many,fields"
        assert short_row["raw"] == "+998900000107"
        for row in (long_row, short_row):
            # Empty columns, so no part of the row can be sent as a message.
            assert (row["phone"], row["text"], row["client_ref"]) == ("", "", "")
            assert row["error_type"] == "InvalidMessage"
        assert [message.client_ref for message in recorder.sent] == ["ok"]

    def test_unparsed_row_is_never_resent(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = cli_environment / "shape.csv"
        source.write_text(
            "phone,text,client_ref\n+998900000106,too,many,fields\n", encoding="utf-8"
        )
        assert main(["send-bulk", str(source)]) == 1

        assert main(["send-bulk", str(cli_environment / "shape.failed.csv")]) == 1

        assert recorder.sent == []
        assert recorder.failed == []
        (again,) = read_failed(cli_environment / "shape.failed.failed.csv")
        assert again["raw"] == "+998900000106,too,many,fields"
        assert "could not read" in again["error_message"]
        assert "clear raw" in again["error_message"]

    def test_fixed_raw_row_is_sent(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        failed = write_csv(
            cli_environment / "fixed.failed.csv",
            [
                FAILED_HEADER,
                ["2", "+998900000106", "too, many", "fixed-1", "", "InvalidMessage", "x", "", ""],
            ],
        )

        assert main(["send-bulk", str(failed)]) == 0

        assert [message.body for message in recorder.sent] == ["too, many"]

    def test_duplicate_ref_is_not_resent_with_it(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = write_csv(
            cli_environment / "dup.csv",
            [
                ["phone", "text", "client_ref"],
                ["+998900000101", "Kod: 1111", "a1"],
                ["+998900000105", "Kod: 2222", "a1"],
            ],
        )
        assert main(["send-bulk", str(source)]) == 1
        (row,) = read_failed(cli_environment / "dup.failed.csv")
        assert row["client_ref"] == ""
        assert row["duplicate_client_ref"] == "a1"
        assert row["text"] == "Kod: 2222"

        assert main(["send-bulk", str(cli_environment / "dup.failed.csv")]) == 1

        # Two accepted messages never share the ref a1.
        assert [message.client_ref for message in recorder.sent] == ["a1"]
        (again,) = read_failed(cli_environment / "dup.failed.failed.csv")
        assert again["duplicate_client_ref"] == "a1"
        assert "new, unique client_ref" in again["error_message"]

    @pytest.mark.parametrize(("new_ref", "sent"), [("a1", False), ("a2", True)])
    def test_duplicate_ref_needs_new_ref(
        self,
        fake_env: None,
        recorder: Recorder,
        cli_environment: Path,
        new_ref: str,
        sent: bool,
    ) -> None:
        failed = write_csv(
            cli_environment / "dup.failed.csv",
            [
                FAILED_HEADER,
                ["3", "+998900000105", "Kod: 2222", new_ref, "", "InvalidMessage", "x", "", "a1"],
            ],
        )

        code = main(["send-bulk", str(failed)])

        assert code == (0 if sent else 1)
        assert [message.client_ref for message in recorder.sent] == ([new_ref] if sent else [])

    def test_maybe_sent_rows_are_skipped(
        self,
        fake_env: None,
        recorder: Recorder,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        failed = write_csv(
            cli_environment / "run.failed.csv",
            [
                FAILED_HEADER,
                ["2", "+998900000101", "Salom", "u1", "", "DeliveryUnknown", "timed out", "", ""],
                ["3", "+998900000102", "Salom", "i1", "", "Interrupted", "in flight", "", ""],
                ["4", "+998900000103", "Salom", "n1", "", "NotSent", "never sent", "", ""],
                ["5", "+998900000104", "Salom", "r1", "", "ProviderUnavailable", "503", "", ""],
            ],
        )

        assert main(["send-bulk", str(failed)]) == 1

        assert sorted(message.client_ref for message in recorder.sent) == ["n1", "r1"]
        output = capsys.readouterr().out
        assert "Skipped 2 rows" in output
        assert "notifier eskiz find CLIENT_REF" in output
        assert "--resend-unknown" in output
        rows = {
            line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in output.splitlines()
            if line.count("│") == 3
        }
        assert rows["sent"] == "2"
        assert rows["failed"] == "0"
        assert rows["skipped"].startswith("2")
        # The skipped rows keep their error type, so the next resend skips them too.
        again = read_failed(cli_environment / "run.failed.failed.csv")
        assert [(row["client_ref"], row["error_type"]) for row in again] == [
            ("u1", "DeliveryUnknown"),
            ("i1", "Interrupted"),
        ]
        assert [row["error_message"] for row in again] == ["timed out", "in flight"]

    def test_resend_unknown_sends_with_warning(
        self,
        fake_env: None,
        recorder: Recorder,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        failed = write_csv(
            cli_environment / "run.failed.csv",
            [
                FAILED_HEADER,
                ["2", "+998900000101", "Salom", "u1", "", "DeliveryUnknown", "timed out", "", ""],
                ["3", "+998900000102", "Salom", "i1", "", "Interrupted", "in flight", "", ""],
            ],
        )

        assert main(["send-bulk", str(failed), "--resend-unknown"]) == 0

        assert sorted(message.client_ref for message in recorder.sent) == ["i1", "u1"]
        captured = capsys.readouterr()
        assert "warning: sending 2 rows again" in captured.err
        assert "may get the SMS twice" in captured.err
        assert "Skipped" not in captured.out

    def test_delivery_unknown_is_skipped_on_resend(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = write_csv(
            cli_environment / "unk.csv", [["phone", "text", "client_ref"], [UNKNOWN, "Salom", "u"]]
        )
        with instant_retries():
            assert main(["send-bulk", str(source)]) == 1
        assert len(recorder.failed) == 1

        with instant_retries():
            assert main(["send-bulk", str(cli_environment / "unk.failed.csv")]) == 1

        assert len(recorder.failed) == 1  # no second attempt

    @pytest.mark.parametrize(
        "tail",
        [
            pytest.param('+998900000307,"unterminated\n', id="last-line"),
            pytest.param('+998900000307,"unterminated', id="no-final-newline"),
        ],
    )
    def test_unterminated_quote_fails_row(
        self,
        fake_env: None,
        recorder: Recorder,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
        tail: str,
    ) -> None:
        source = cli_environment / "cut.csv"
        source.write_text("phone,text\n+998900000306,Salom\n" + tail, encoding="utf-8")

        assert main(["send-bulk", str(source)]) == 1

        assert [message.body for message in recorder.sent] == ["Salom"]
        (row,) = read_failed(cli_environment / "cut.failed.csv")
        assert row["line"] == "3"
        assert row["raw"] == '+998900000307,"unterminated'
        assert row["text"] == ""
        assert "may be truncated" in row["error_message"]
        assert "may be truncated" in capsys.readouterr().out

    def test_unclosed_quote_swallows_no_rows(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = cli_environment / "open.csv"
        source.write_text(
            'phone,text\n+998900000301,"Salom\n+998900000302,Xayr\n+998900000303,Rahmat\n',
            encoding="utf-8",
        )

        assert main(["send-bulk", str(source)]) == 1

        assert recorder.sent == []
        (row,) = read_failed(cli_environment / "open.failed.csv")
        assert "lines 2 to 4" in row["error_message"]
        assert row["raw"] == '+998900000301,"Salom\n+998900000302,Xayr\n+998900000303,Rahmat'

    def test_text_after_closing_quote_fails_row(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = cli_environment / "quote.csv"
        source.write_text(
            'phone,text\n+998900000301,"Navruz" bayrami\n+998900000302,"Xayr"\n',
            encoding="utf-8",
        )

        assert main(["send-bulk", str(source)]) == 1

        # The lenient reader would have sent 'Navruz bayrami', quotes dropped.
        assert [message.body for message in recorder.sent] == ["Xayr"]
        (row,) = read_failed(cli_environment / "quote.failed.csv")
        assert row["raw"] == '+998900000301,"Navruz" bayrami'
        assert 'written twice ("")' in row["error_message"]

    def test_short_row_names_missing_columns(self, fake_env: None, cli_environment: Path) -> None:
        source = cli_environment / "short.csv"
        source.write_text("phone,text,client_ref\n+998900000301\n", encoding="utf-8")

        assert main(["send-bulk", str(source)]) == 1

        (row,) = read_failed(cli_environment / "short.failed.csv")
        message = row["error_message"]
        assert "line 2 has 1 field but the header has 3" in message
        assert "text and client_ref are missing" in message
        assert "quote text" not in message
        assert "semicolons" not in message

    def test_semicolon_row_gets_delimiter_hint(self, fake_env: None, cli_environment: Path) -> None:
        source = cli_environment / "semi.csv"
        source.write_text("phone,text\n+998900000301;Salom\n", encoding="utf-8")

        assert main(["send-bulk", str(source)]) == 1

        (row,) = read_failed(cli_environment / "semi.failed.csv")
        assert "text is missing" in row["error_message"]
        assert "separated by semicolons" in row["error_message"]

    def test_semicolon_header_gets_delimiter_hint(
        self, fake_env: None, cli_environment: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        source = cli_environment / "semi.csv"
        source.write_text("phone;text\n+998900000301;Salom\n", encoding="utf-8")

        assert main(["send-bulk", str(source)]) == 2

        assert "separated by semicolons" in capsys.readouterr().err

    def test_oversized_field_is_usage_error(
        self,
        fake_env: None,
        recorder: Recorder,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        source = cli_environment / "huge.csv"
        source.write_text(
            f'phone,text\n+998900000301,Salom\n+998900000302,"{"x" * 140_000}\n',
            encoding="utf-8",
        )

        assert main(["send-bulk", str(source)]) == 2

        error = capsys.readouterr().err
        assert "line 3" in error
        assert "closing quote is probably missing" in error
        assert recorder.sent == []

    def test_generated_client_ref_is_recorded(
        self, fake_env: None, recorder: Recorder, cli_environment: Path
    ) -> None:
        source = write_csv(cli_environment / "noref.csv", [["phone", "text"], [REJECTED, "Salom"]])

        assert main(["send-bulk", str(source)]) == 1

        (row,) = read_failed(cli_environment / "noref.failed.csv")
        (message, _error) = recorder.failed[0]
        assert row["client_ref"] == message.client_ref
        assert len(row["client_ref"]) == 32

    def test_failed_file_can_be_sent_again(self, fake_env: None, cli_environment: Path) -> None:
        source = write_csv(
            cli_environment / "retry.csv",
            [["phone", "text", "sender"], [REJECTED, "Salom", "4546"], ["+998900000010", "Ok", ""]],
        )
        assert main(["send-bulk", str(source)]) == 1

        assert main(["send-bulk", str(cli_environment / "retry.failed.csv")]) == 1

        (again,) = read_failed(cli_environment / "retry.failed.failed.csv")
        assert again["phone"] == REJECTED
        assert again["sender"] == "4546"
        assert again["error_type"] == "RejectedError"
        # Line numbers refer to the file that was sent.
        assert again["line"] == "2"

    def test_success_removes_stale_failed_file(
        self, fake_env: None, cli_environment: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        stale = cli_environment / "done.failed.csv"
        stale.write_text("line,phone\n2,+998900000001\n", encoding="utf-8")
        source = write_csv(
            cli_environment / "done.csv", [["phone", "text"], ["+998900000010", "Ok"]]
        )

        assert main(["send-bulk", str(source)]) == 0

        assert not stale.exists()
        assert "left by an earlier run" in capsys.readouterr().out

    def test_summary_counts_rows(
        self, fake_env: None, cli_environment: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        rows = [["phone", "text"]] + [[f"+9989000001{i:02d}", "Salom"] for i in range(12)]
        rows.append([UNAVAILABLE, "Salom"])
        source = write_csv(cli_environment / "summary.csv", rows)

        with instant_retries():
            assert main(["send-bulk", str(source), "--concurrency", "3"]) == 1

        output = capsys.readouterr().out
        assert "│ rows       │" in output
        lines = {
            line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in output.splitlines()
            if line.count("│") == 3
        }
        assert lines["rows"] == "13"
        assert lines["sent"] == "12"
        assert lines["failed"] == "1"
        assert "ProviderUnavailable" in output

    def test_whole_batch_failure_recorded_per_row(
        self,
        fake_env: None,
        monkeypatch: pytest.MonkeyPatch,
        recorder: Recorder,
        cli_environment: Path,
    ) -> None:
        # The fake's batch raises AuthenticationError for the whole request
        # that carries the magic number: every row of that batch fails.
        monkeypatch.setenv("NOTIFIER_FAKE_BATCH_SIZE", "3")
        rows = [["phone", "text", "client_ref"]]
        rows += [[f"+9989000002{i:02d}", "Salom", f"b{i}"] for i in range(5)]
        rows.insert(2, [AUTH_FAILED, "Salom", "auth"])
        source = write_csv(cli_environment / "batch.csv", rows)

        code = main(["send-bulk", str(source)])

        failed = read_failed(cli_environment / "batch.failed.csv")
        sent_refs = {message.client_ref for message in recorder.sent}
        failed_refs = {row["client_ref"] for row in failed}
        assert code == 1
        assert sent_refs.isdisjoint(failed_refs)
        assert len(sent_refs) + len(failed_refs) == 6
        assert "auth" in failed_refs
        assert {row["error_type"] for row in failed} == {"AuthenticationError"}

    def test_utf8_bom_header_is_read(self, fake_env: None, cli_environment: Path) -> None:
        source = write_csv(
            cli_environment / "excel.csv",
            [["phone", "text"], ["+998900000010", "Qalaysiz?"]],
            encoding="utf-8-sig",
        )
        assert main(["send-bulk", str(source)]) == 0

    def test_sends_batches_to_eskiz_simulator(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        cli_environment: Path,
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        monkeypatch.setenv("ESKIZ_BATCH_SIZE", "4")
        rows = [["phone", "text", "client_ref"]]
        rows += [[f"+9989000003{i:02d}", f"Buyurtma #{i} yo'lda", f"e{i}"] for i in range(10)]
        source = write_csv(cli_environment / "eskiz.csv", rows)

        assert main(["send-bulk", str(source)]) == 0

        assert simulator.stats.sends == 10
        assert simulator.stats.requests["/message/sms/send-batch"] == 3
        assert {message.user_sms_id for message in simulator.messages} == {
            f"e{i}" for i in range(10)
        }

    def test_eskiz_outage_recorded_per_row(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        cli_environment: Path,
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        simulator.fail_next(503, times=10, path="/message/sms/send-batch")
        rows = [["phone", "text"]] + [[f"+9989000004{i:02d}", "Salom"] for i in range(3)]
        source = write_csv(cli_environment / "outage.csv", rows)

        with instant_retries():
            assert main(["send-bulk", str(source)]) == 1

        failed = read_failed(cli_environment / "outage.failed.csv")
        assert [row["error_type"] for row in failed] == ["ProviderUnavailable"] * 3
        assert all("status=503" in row["error_message"] for row in failed)
        assert simulator.stats.sends == 0

    def test_interrupt_records_unfinished_rows(
        self, fake_env: None, cli_environment: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        class InterruptOnThird:
            def __init__(self) -> None:
                self.seen = 0

            @hookimpl(trylast=True)
            def notifier_sending(self, message: Sms, provider: str) -> None:
                self.seen += 1
                if self.seen == 3:
                    raise KeyboardInterrupt

        rows = [["phone", "text", "client_ref"]]
        rows += [[f"+9989000005{i:02d}", "Salom", f"k{i}"] for i in range(5)]
        source = write_csv(cli_environment / "stop.csv", rows)
        manager = get_plugin_manager()
        plugin = InterruptOnThird()
        manager.register(plugin, name="test-interrupt")
        try:
            code = main(["send-bulk", str(source), "--concurrency", "1"])
        finally:
            manager.unregister(plugin)

        assert code == 130
        failed = read_failed(cli_environment / "stop.failed.csv")
        assert [(row["client_ref"], row["error_type"]) for row in failed] == [
            ("k2", "Interrupted"),
            ("k3", "NotSent"),
            ("k4", "NotSent"),
        ]
        assert "interrupted" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            pytest.param("", "is empty", id="empty-file"),
            pytest.param("phone,text\n", "no rows to send", id="header-only"),
            pytest.param("number,text\n+998900000010,Salom\n", "no column 'phone'", id="no-phone"),
            pytest.param(
                "phone,txt\n+998900000010,Salom\n", "no column 'text'", id="misspelt-text"
            ),
            pytest.param(
                "phone,text,name\n+998900000010,Salom,Ali\n",
                "unknown column(s) 'name'",
                id="unknown-column",
            ),
            pytest.param(
                "phone,text,text\n+998900000010,a,b\n",
                "more than once; remove or rename",
                id="duplicate",
            ),
        ],
    )
    def test_bad_file_is_usage_error(
        self,
        fake_env: None,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
        content: str,
        expected: str,
    ) -> None:
        source = cli_environment / "bad.csv"
        source.write_text(content, encoding="utf-8")

        assert main(["send-bulk", str(source)]) == 2

        assert expected in capsys.readouterr().err
        assert not (cli_environment / "bad.failed.csv").exists()

    def test_missing_file_is_usage_error(
        self, fake_env: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["send-bulk", "nowhere.csv"]) == 2
        assert "nowhere.csv does not exist" in capsys.readouterr().err

    def test_non_utf8_file_is_usage_error(
        self, fake_env: None, cli_environment: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        source = write_csv(
            cli_environment / "cp1251.csv",
            [["phone", "text"], ["+998900000010", "Привет"]],
            encoding="cp1251",
        )
        assert main(["send-bulk", str(source)]) == 2
        assert "is not UTF-8 text" in capsys.readouterr().err

    @pytest.mark.parametrize("value", ["0", "-3", "many"])
    def test_concurrency_must_be_positive(
        self, fake_env: None, cli_environment: Path, value: str
    ) -> None:
        source = write_csv(cli_environment / "c.csv", [["phone", "text"], ["+998900000010", "a"]])
        assert main(["send-bulk", str(source), "--concurrency", value]) == 2


# --- providers and check ---


class TestProviders:
    def test_lists_installed_providers(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["providers"]) == 0
        output = capsys.readouterr().out
        rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
        assert {"fake", "eskiz", "twilio"} <= set(rows)
        assert "ESKIZ_*" in rows["eskiz"]
        assert "yes (up to 500)" in rows["eskiz"]

    def test_marks_configured_provider(
        self, fake_env: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["providers"]) == 0
        assert "│ fake *" in capsys.readouterr().out

    def test_health_shows_breakers_of_failover(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "fake,eskiz")
        monkeypatch.setenv("ESKIZ_EMAIL", "demo@example.test")
        monkeypatch.setenv("ESKIZ_PASSWORD", "unused-secret")
        monkeypatch.setenv("ESKIZ_BASE_URL", "http://127.0.0.1:9/api")

        assert main(["providers", "--health"]) == 0

        output = capsys.readouterr().out
        health = [
            line for line in output.split("Configured routing")[1].splitlines() if "│" in line
        ]
        assert any("fake" in line and "closed" in line and "0 of 5" in line for line in health)
        assert any("eskiz" in line and "closed" in line for line in health)
        assert "unused-secret" not in output

    def test_health_without_configuration_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["providers", "--health"]) == 2
        assert "NOTIFIER_PROVIDER is not set" in capsys.readouterr().err


class PlainProvider(FakeProvider):
    """A provider without its own credential check: the base class's default applies."""

    name = "plain"
    check_credentials = Provider.check_credentials


class PlainPlugin:
    @hookimpl
    def notifier_providers(self) -> list[type[Provider]]:
        return [PlainProvider]


class TestCheck:
    def test_fake_provider_passes(self, fake_env: None, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["check"]) == 0
        output = capsys.readouterr().out
        assert "credentials accepted" in output
        assert "no credential check" not in output

    def test_provider_without_check_passes(self, capsys: pytest.CaptureFixture[str]) -> None:
        manager = get_plugin_manager()
        plugin = PlainPlugin()
        manager.register(plugin, name="test-plain-provider")
        try:
            assert main(["check", "--provider", "plain"]) == 0
        finally:
            manager.unregister(plugin)
        output = capsys.readouterr().out
        assert "no credential check" in output
        assert "credentials accepted" not in output

    def test_eskiz_credentials_accepted(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")

        assert main(["check"]) == 0

        assert "credentials accepted" in capsys.readouterr().out
        assert simulator.stats.logins == 1
        assert simulator.stats.requests["/auth/login"] == 1
        assert simulator.stats.requests["/auth/user"] == 1
        assert simulator.stats.requests["/user/get-limit"] == 0
        assert simulator.stats.sends == 0

    def test_eskiz_wrong_password_fails(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        monkeypatch.setenv("ESKIZ_PASSWORD", "not-the-secret")

        assert main(["check"]) == 1

        output = capsys.readouterr().out
        assert "AuthenticationError" in output
        assert "not-the-secret" not in output
        assert simulator.stats.login_failures == 1
        assert simulator.stats.requests["/auth/login"] == 1
        assert simulator.stats.requests["/auth/user"] == 0

    def test_checks_every_routed_provider(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with TwilioSimulator() as twilio:
            monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz,twilio")
            monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio.account_sid)
            monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio.auth_token)
            monkeypatch.setenv("TWILIO_SENDER", twilio.sender)
            monkeypatch.setenv("TWILIO_BASE_URL", twilio.base_url)

            assert main(["check"]) == 0

        output = capsys.readouterr().out
        rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
        assert "ok" in rows["eskiz"]
        assert "ok" in rows["twilio"]
        assert "eskiz: credentials accepted" in output.splitlines()
        assert "twilio: credentials accepted" in output.splitlines()
        assert simulator.stats.requests["/auth/user"] == 1
        assert twilio.auth_token not in output

    def test_invalid_configuration_exits_2(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "fake")
        monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "Atlantis")
        assert main(["check"]) == 2
        assert "NOTIFIER_DEFAULT_REGION" in capsys.readouterr().err

    def test_warns_about_misspelt_variables(
        self,
        fake_env: None,
        monkeypatch: pytest.MonkeyPatch,
        cli_environment: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        (cli_environment / ".env").write_text(
            "ESKIZ_SENDR=MYSHOP\nNOTIFIER_ROUTNG=weighted\nTWILIO_FROM=+15005550006\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("ESKIZ_CALBACK_URL", "http://127.0.0.1:9/reports")
        monkeypatch.setenv("NOTIFIER_ROUTING_WEIGHTS", "fake:1")
        monkeypatch.setenv("NOTIFIER_FAKE_DELAY", "0")

        assert main(["check"]) == 0

        error = capsys.readouterr().err
        assert (
            "ESKIZ_SENDR (in .env) is not a notifier setting and is ignored; "
            "did you mean ESKIZ_SENDER?"
        ) in error
        assert "NOTIFIER_ROUTNG (in .env)" in error
        assert "did you mean NOTIFIER_ROUTING?" in error
        assert "ESKIZ_CALBACK_URL (in environment)" in error
        assert "did you mean ESKIZ_CALLBACK_URL?" in error
        # Variables read outside the settings classes, or through an alias, are known.
        assert "NOTIFIER_ROUTING_WEIGHTS" not in error
        assert "TWILIO_FROM" not in error
        assert "NOTIFIER_FAKE_DELAY" not in error

    def test_warns_before_failed_build(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDR", "fake")

        assert main(["check"]) == 2

        error = capsys.readouterr().err
        assert "NOTIFIER_PROVIDR (in environment)" in error
        assert "did you mean NOTIFIER_PROVIDER?" in error
        assert "NOTIFIER_PROVIDER is not set" in error

    def test_shows_base_url_and_sender(
        self,
        simulator: EskizSimulator,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with TwilioSimulator() as twilio:
            monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz,twilio")
            monkeypatch.setenv("ESKIZ_SENDER", "MYSHOP")
            monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio.account_sid)
            monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio.auth_token)
            monkeypatch.setenv("TWILIO_SENDER", twilio.sender)
            monkeypatch.setenv("TWILIO_BASE_URL", twilio.base_url)

            assert main(["check"]) == 0
            twilio_url = twilio.base_url

        output = capsys.readouterr().out
        rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
        assert "base URL" in output
        assert simulator.base_url in rows["eskiz"]
        assert "MYSHOP" in rows["eskiz"]
        assert twilio_url in rows["twilio"]
        assert twilio.sender in rows["twilio"]
        assert simulator.password not in output
        assert simulator.email not in output
        assert twilio.auth_token not in output

    def test_default_base_url_is_marked(self) -> None:
        from notifier._cli._providers import _base_url_text
        from notifier_eskiz import EskizProvider
        from notifier_eskiz._settings import DEFAULT_BASE_URL

        # Building a provider makes no request, so nothing reaches the production URL.
        production = EskizProvider(email="demo@example.test", password="unused-secret")
        local = EskizProvider(
            email="demo@example.test", password="unused-secret", base_url="http://127.0.0.1:9/api"
        )

        assert _base_url_text(production) == f"{DEFAULT_BASE_URL} (default)"
        assert _base_url_text(local) == "http://127.0.0.1:9/api"
        assert _base_url_text(FakeProvider()) == "-"


class TestSettingsErrors:
    """Invalid settings are reported by variable name and value, secrets hidden."""

    @pytest.mark.parametrize(
        ("variable", "value", "expected"),
        [
            pytest.param(
                "ESKIZ_TIMEOUT",
                "-1",
                "ESKIZ_TIMEOUT='-1': Input should be greater than 0",
                id="timeout",
            ),
            pytest.param(
                "ESKIZ_BASE_URL",
                "not-a-url",
                "ESKIZ_BASE_URL='not-a-url': not an http(s) URL",
                id="base-url",
            ),
            pytest.param(
                "ESKIZ_BATCH_SIZE", "many", "ESKIZ_BATCH_SIZE='many': Input should be", id="batch"
            ),
        ],
    )
    def test_eskiz_variable_and_value_named(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        variable: str,
        value: str,
        expected: str,
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
        monkeypatch.setenv("ESKIZ_EMAIL", "demo@example.test")
        monkeypatch.setenv("ESKIZ_PASSWORD", "unused-secret")
        monkeypatch.setenv(variable, value)

        assert main(["send", "--to", "+998900000012", "--body", "Salom"]) == 2

        error = capsys.readouterr().err
        assert expected in error
        assert "base_url '" not in error
        assert "unused-secret" not in error
        assert "demo@example.test" not in error

    def test_region_error_has_one_period(
        self, fake_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "zz")

        assert main(["send", "--to", "+998900000012", "--body", "Salom"]) == 2

        error = capsys.readouterr().err
        assert "NOTIFIER_DEFAULT_REGION='zz'" in error
        assert ".." not in error

    def test_secret_and_hidden_values_not_shown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from pydantic import Field, SecretStr
        from pydantic_settings import BaseSettings, SettingsConfigDict

        from notifier import ConfigurationError
        from notifier._cli._environment import check_settings

        class AcmeSettings(BaseSettings):
            model_config = SettingsConfigDict(env_prefix="ACME_", extra="ignore")

            api_secret: SecretStr = Field(min_length=20)
            login: str = Field(repr=False, pattern="^[a-z]+$")
            access_token: str = Field(min_length=20)
            region: str = Field(pattern="^[A-Z]{2}$")

        monkeypatch.setenv("ACME_API_SECRET", "short-secret")
        monkeypatch.setenv("ACME_LOGIN", "Not-Lower")
        monkeypatch.setenv("ACME_ACCESS_TOKEN", "short-token")
        monkeypatch.setenv("ACME_REGION", "uzb")

        with pytest.raises(ConfigurationError) as caught:
            check_settings(AcmeSettings, "acme")

        message = str(caught.value)
        assert "ACME_API_SECRET=(hidden)" in message
        assert "ACME_LOGIN=(hidden)" in message
        assert "ACME_ACCESS_TOKEN=(hidden)" in message
        assert "ACME_REGION='uzb'" in message
        for secret in ("short-secret", "Not-Lower", "short-token"):
            assert secret not in message
