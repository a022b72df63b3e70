"""The sending examples run as a user runs them, against their own simulator."""

from __future__ import annotations

import csv
import runpy
from pathlib import Path

import pytest

from notifier.testing import instant_retries

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_send_one_sends_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "send_one.py"), run_name="__main__")

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("eskiz: queued")
    assert "in gsm7" in lines[0]
    assert lines[1].startswith("eskiz: queued")
    assert "in ucs2" in lines[1]


def test_bulk_csv_keeps_failed_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "orders.csv"
    rows = [["phone", "text", "client_ref"]]
    rows += [[f"+9989000006{i:02d}", f"Buyurtma #{i} tayyor", f"o{i}"] for i in range(8)]
    rows.append(["+99890123", "Yomon raqam", "bad"])
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    monkeypatch.setattr("sys.argv", ["bulk_csv.py", str(source)])

    with instant_retries():
        runpy.run_path(str(EXAMPLES / "bulk_csv.py"), run_name="__main__")

    output = capsys.readouterr().out
    assert "8 of 9 rows sent" in output
    with (tmp_path / "orders.failed.csv").open(encoding="utf-8", newline="") as handle:
        failed = list(csv.DictReader(handle))
    assert [row["client_ref"] for row in failed] == ["bad"]
    assert failed[0]["error_type"] == "InvalidMessage"
