"""``notifier eskiz find``: look messages up by client_ref, against the simulator on loopback."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from notifier import Sms
from notifier._cli import main
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator

pytestmark = pytest.mark.usefixtures("instant", "eskiz_env")

LIST_PATH = "/message/sms/get-user-messages"


@pytest.fixture
def eskiz_env(sim: EskizSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point ESKIZ_* at the simulator, in an empty folder with a wide plain console."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESKIZ_EMAIL", sim.email)
    monkeypatch.setenv("ESKIZ_PASSWORD", sim.password)
    monkeypatch.setenv("ESKIZ_BASE_URL", sim.base_url)
    monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz")
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.setenv("NO_COLOR", "1")


def send(*messages: Sms) -> None:
    async def run() -> None:
        async with EskizProvider.from_env() as provider:
            if len(messages) == 1:
                await provider.send(messages[0])
            else:
                await provider.send_batch(list(messages))

    asyncio.run(run())


def table_rows(output: str) -> dict[str, str]:
    """Map each table row's first cell (the client ref) to the whole line."""
    return {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}


def test_find_shows_status_and_ids(sim: EskizSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    send(Sms("+998900000021", "Buyurtmangiz yo'lda", client_ref="order-48213"))
    send(Sms("+998900000022", "Kod: 4512", client_ref="order-48214"))
    sim.settle()
    stored = next(message for message in sim.messages if message.user_sms_id == "order-48213")

    assert main(["eskiz", "find", "order-48213"]) == 0

    output = capsys.readouterr().out
    row = table_rows(output)["order-48213"]
    assert str(stored.id) in row
    assert "DELIVERED (delivered)" in row
    assert "+998*****0021" in row
    assert "998900000021" not in output
    assert "order-48214" not in output
    assert "Searched 2 messages" in output


def test_find_reports_missing_refs(capsys: pytest.CaptureFixture[str]) -> None:
    send(Sms("+998900000021", "Salom", client_ref="r1"))

    assert main(["eskiz", "find", "r1", "nowhere-1", "nowhere-2"]) == 1

    output = capsys.readouterr().out
    assert "r1" in table_rows(output)
    assert "Not found (2): nowhere-1, nowhere-2" in output


def test_find_pages_through_messages(
    sim: EskizSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Eskiz lists 200 messages per page, newest first: the first message
    # sent is on the second page.
    send(*(Sms(f"+9989000{i:05d}", "Salom", client_ref=f"b{i}") for i in range(250)))

    assert main(["eskiz", "find", "b0", "b249"]) == 0

    assert {"b0", "b249"} <= set(table_rows(capsys.readouterr().out))
    assert sim.stats.requests[LIST_PATH] == 2


def test_find_range_excludes_messages(capsys: pytest.CaptureFixture[str]) -> None:
    send(Sms("+998900000021", "Salom", client_ref="r1"))

    code = main(["eskiz", "find", "r1", "--since", "2020-01-01", "--until", "2020-01-31"])

    assert code == 1
    output = capsys.readouterr().out
    assert "from 2020-01-01 00:00 to 2020-02-01 00:00 Tashkent time" in output
    assert "Not found (1): r1" in output


def test_find_rows_of_failed_file(capsys: pytest.CaptureFixture[str]) -> None:
    send(Sms("+998900000021", "Salom", client_ref="unknown-1"))
    failed = Path("campaign.failed.csv")
    with failed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["line", "phone", "text", "client_ref", "error_type", "error_message"])
        writer.writerow(["2", "+998900000021", "Salom", "unknown-1", "DeliveryUnknown", "x"])
        writer.writerow(["3", "+998900000022", "Salom", "cut-1", "Interrupted", "x"])
        writer.writerow(["4", "+998900000023", "Salom", "never-1", "NotSent", "x"])

    assert main(["eskiz", "find", "--failed-file", str(failed)]) == 1

    output = capsys.readouterr().out
    assert "unknown-1" in table_rows(output)
    assert "Not found (1): cut-1" in output
    assert "never-1" not in output


def test_find_after_dropped_response(
    sim: EskizSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The vendor stores the message but the response is lost: send-bulk
    # records DeliveryUnknown, and find shows that the SMS went out.
    source = tmp_path / "lost.csv"
    source.write_text("phone,text,client_ref\n+998900000031,Salom,lost-1\n", encoding="utf-8")
    sim.drop_next(path="/message/sms/send-batch", processed=True)
    assert main(["send-bulk", str(source)]) == 1
    capsys.readouterr()

    assert main(["eskiz", "find", "--failed-file", str(tmp_path / "lost.failed.csv")]) == 0

    assert "lost-1" in table_rows(capsys.readouterr().out)
    assert sim.stats.sends == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["eskiz", "find"], "nothing to look up", id="no-refs"),
        pytest.param(["eskiz", "find", "r1", "--since", "yesterday"], "YYYY-MM-DD", id="bad-date"),
        pytest.param(
            ["eskiz", "find", "r1", "--since", "2026-03-02", "--until", "2026-03-01"],
            "must be before --until",
            id="empty-range",
        ),
        pytest.param(
            ["eskiz", "find", "--failed-file", "none.failed.csv"], "does not exist", id="no-file"
        ),
    ],
)
def test_find_usage_errors(
    sim: EskizSimulator, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert main(argv) == 2

    assert expected in capsys.readouterr().err
    assert sim.stats.requests[LIST_PATH] == 0


def test_find_hides_password(
    sim: EskizSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ESKIZ_PASSWORD", "not-the-secret")

    assert main(["eskiz", "find", "r1"]) == 1

    captured = capsys.readouterr()
    assert "AuthenticationError" in captured.err
    assert "not-the-secret" not in captured.out + captured.err
