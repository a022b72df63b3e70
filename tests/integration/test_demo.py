# ruff: noqa: RUF001
# Uzbek Cyrillic letters and the modifier letter U+02BB are test data, not typos.
"""``notifier demo`` end to end: the Eskiz provider against the simulator on loopback.

The runs are short (tens of rows, one-second tokens) but last longer than a
token lifetime, so every run must renew its token while requests are in
flight. Retries are instant, so injected 503 responses cost no waiting.
"""

from __future__ import annotations

import csv
import itertools
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

from notifier import count_segments, normalize_phone
from notifier._cli import main
from notifier._demo import DemoOptions, DemoOutcome, find_campaign, run_demo
from notifier._errors import ConfigurationError
from notifier._telemetry import BATCH_SPAN_NAME
from notifier.testing import instant_retries

REPOSITORY = Path(__file__).resolve().parents[2]
CAMPAIGN = REPOSITORY / "examples" / "campaign.csv"


@pytest.fixture(autouse=True)
def quiet_retries() -> Iterator[None]:
    with instant_retries():
        yield


@pytest.fixture
def console() -> Console:
    return Console(file=sys.stderr, width=120)


def check_accounting(outcome: DemoOutcome, rows: int) -> None:
    report = outcome.report
    assert len(report.rows) == rows
    assert len(report.results) + len(report.failed) == rows
    assert not report.interrupted
    assert outcome.accounted_for
    assert all(item.error_type for item in report.failed)
    # Both sides agree on what was accepted.
    assert outcome.simulator_stats["sends"] == len(report.results)


def test_single_sends_renew_token(console: Console) -> None:
    # 15 rounds of 4 requests at 0.1 s: the run outlasts the 1 s token.
    options = DemoOptions(
        rows=60, token_ttl=1.0, fail_rate=0.05, concurrency=4, latency=0.1, seed=11
    )

    outcome = run_demo(options, console)

    check_accounting(outcome, 60)
    assert outcome.token_renewals >= 1
    assert outcome.provider_stats["logins"] == outcome.simulator_stats["logins"]
    assert outcome.provider_stats["refreshes"] == outcome.simulator_stats["refreshes"]
    assert outcome.simulator_requests["/message/sms/send"] >= 60
    assert outcome.simulator_requests["/message/sms/send-batch"] == 0
    # 5 % of about 70 requests: the seed makes at least one 503 certain.
    assert outcome.simulator_stats["faults"] >= 1
    assert outcome.provider_stats["retries"] >= 1


def test_batch_endpoint_renews_token(console: Console) -> None:
    # 10 batch requests, one after another, of at least 0.1 s each.
    options = DemoOptions(
        rows=60, token_ttl=1.0, fail_rate=0.0, batch=True, batch_size=6, latency=0.2
    )

    outcome = run_demo(options, console)

    check_accounting(outcome, 60)
    assert outcome.report.failed == ()
    assert outcome.token_renewals >= 1
    assert outcome.simulator_requests["/message/sms/send-batch"] == 10
    assert outcome.simulator_requests["/message/sms/send"] == 0


def test_batch_requests_never_overlap(console: Console, spans: InMemorySpanExporter) -> None:
    # --concurrency does not apply with --batch: each send-batch request
    # starts after the previous one ended, as the help text says.
    options = DemoOptions(
        rows=40,
        token_ttl=5.0,
        fail_rate=0.0,
        batch=True,
        batch_size=10,
        concurrency=8,
        latency=0.05,
    )

    outcome = run_demo(options, console)

    check_accounting(outcome, 40)
    batches = sorted(
        (span for span in spans.get_finished_spans() if span.name == BATCH_SPAN_NAME),
        key=lambda span: span.start_time or 0,
    )
    assert len(batches) == 4
    for earlier, later in itertools.pairwise(batches):
        assert earlier.end_time is not None
        assert later.start_time is not None
        assert earlier.end_time <= later.start_time


def test_help_says_concurrency_skips_batches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--help"]) == 0

    help_text = " ".join(capsys.readouterr().out.split())
    assert "with --batch, batch requests go out one after another and this does not apply" in (
        help_text
    )


def test_failed_rows_are_recorded(console: Console, tmp_path: Path) -> None:
    campaign = tmp_path / "small.csv"
    campaign.write_text(
        "phone,text,client_ref\n"
        "+998900000101,Kod: 1111,x1\n"
        "+99890123,Yomon raqam,x2\n"
        "+998900000103,Kod: 3333,x3\n",
        encoding="utf-8",
    )
    # Every request fails: logins too, so nothing can be sent.
    options = DemoOptions(token_ttl=1.0, fail_rate=1.0, latency=0.0, campaign=campaign)

    outcome = run_demo(options, console)

    check_accounting(outcome, 3)
    failures = Counter(item.error_type for item in outcome.report.failed)
    assert failures == {"ProviderUnavailable": 2, "InvalidMessage": 1}


def test_more_rows_than_file_repeat_it(console: Console, tmp_path: Path) -> None:
    campaign = tmp_path / "three.csv"
    campaign.write_text(
        "phone,text,client_ref\n"
        "+998900000201,Salom,a\n"
        "+998900000202,Салом,b\n"
        "+998900000203,Oʻzbekiston,c\n",
        encoding="utf-8",
    )
    options = DemoOptions(rows=7, token_ttl=5.0, fail_rate=0.0, latency=0.0, campaign=campaign)

    outcome = run_demo(options, console)

    check_accounting(outcome, 7)
    refs = [result.client_ref for result in outcome.report.results]
    assert sorted(refs) == ["a", "a-1", "a-2", "b", "b-1", "c", "c-1"]


def test_command_exits_0_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "demo",
            "--rows",
            "40",
            "--token-ttl",
            "1",
            "--concurrency",
            "4",
            "--latency",
            "0.1",
            "--seed",
            "5",
        ]
    )

    assert code == 0
    output = capsys.readouterr().out
    assert "Every row accounted for" in output
    assert "token refreshes" in output
    assert "one request per message, 4 in flight" in output


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(["--fail-rate", "1.5"], "--fail-rate must be between 0 and 1", id="fail-rate"),
        pytest.param(["--token-ttl", "0"], "--token-ttl must be a positive", id="token-ttl"),
        pytest.param(["--latency", "-1"], "--latency must be between 0", id="latency"),
        pytest.param(["--campaign", "missing.csv"], "missing.csv does not exist", id="campaign"),
    ],
)
def test_command_rejects_bad_options(
    capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    assert main(["demo", *arguments]) == 2
    assert expected in capsys.readouterr().err


def test_missing_simulator_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "notifier_eskiz.simulator", None)

    assert main(["demo", "--rows", "1"]) == 2

    # The hint installs from a clone, as the README does.
    error = " ".join(capsys.readouterr().err.split())
    assert "run 'uv sync', or pip install './providers/eskiz[simulator]'" in error
    assert "pip install 'notifier-eskiz[simulator]'" not in error


def test_sample_campaign_found_from_checkout() -> None:
    assert find_campaign().resolve() == CAMPAIGN.resolve()


def test_explicit_campaign_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        find_campaign(tmp_path / "none.csv")


@pytest.fixture
def rows() -> list[dict[str, str]]:
    """The rows of examples/campaign.csv."""
    with CAMPAIGN.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class TestSampleCampaign:
    def test_has_enough_rows(self, rows: list[dict[str, str]]) -> None:
        assert len(rows) >= 220

    def test_numbers_are_fake_and_valid(self, rows: list[dict[str, str]]) -> None:
        numbers = [normalize_phone(row["phone"], "UZ") for row in rows]
        assert all(number.startswith("+99890000") for number in numbers)
        assert len(set(numbers)) == len(numbers)

    def test_client_refs_are_unique(self, rows: list[dict[str, str]]) -> None:
        refs = [row["client_ref"] for row in rows]
        assert all(refs)
        assert len(set(refs)) == len(refs)

    def test_mixes_scripts_and_apostrophes(self, rows: list[dict[str, str]]) -> None:
        texts = [row["text"] for row in rows]
        cyrillic = [text for text in texts if any(letter in text for letter in "ўқғҳ")]
        modifier = [text for text in texts if "ʻ" in text or "ʼ" in text]
        apostrophe = [text for text in texts if "'" in text]
        assert len(cyrillic) >= 40
        assert len(modifier) >= 20
        assert len(apostrophe) >= 40

    def test_has_multipart_texts(self, rows: list[dict[str, str]]) -> None:
        parts = Counter(count_segments(row["text"]).parts for row in rows)
        assert parts[2] >= 10
        assert parts[3] >= 5
        assert max(parts) <= 3
