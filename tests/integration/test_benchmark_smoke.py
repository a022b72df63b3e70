"""The benchmark harness counts right: every message a client reports as sent reached the simulator.

Correctness only; no timing is asserted. The simulators run in threads of
the test process here, not in a process of their own as in a benchmark run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from benchmarks.client import Job, run_job
from benchmarks.guard import LoopbackViolation, is_loopback, require_loopback_url
from benchmarks.harness import REPO_ROOT
from benchmarks.simulator_process import LoopbackSimulator
from benchmarks.workload import percentile
from notifier_eskiz import DEFAULT_BASE_URL


@pytest.fixture
def simulator() -> Iterator[tuple[LoopbackSimulator, dict[str, str]]]:
    served = LoopbackSimulator({"billing": False, "auto_progress": False})
    info = served.start()
    yield served, info
    served.stop()


def _job(info: dict[str, str], setup: str, scenario: str, **fields: Any) -> Job:
    return Job(
        setup=setup,
        scenario=scenario,
        base_url=info["base_url"],
        email=info["email"],
        password=info["password"],
        **fields,
    )


def _run_client_process(job: Job, scratch: Path) -> dict[str, Any]:
    """Run the job in a client process of its own, as a benchmark run does."""
    output = scratch / "result.json"
    completed = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-m", "benchmarks.client", json.dumps(asdict(job)), str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return result


def test_notifier_batch_run_accounted(
    simulator: tuple[LoopbackSimulator, dict[str, str]], tmp_path: Path
) -> None:
    # notifier's setups run in a client process, as in a benchmark run, so
    # their logs and spans stay there. The batch setup sends its first
    # message through send() on httpx, then 1100 through send_many().
    served, info = simulator
    job = _job(info, "notifier-batch", "batch", concurrency=1, count=1100, warmup=0)

    result = _run_client_process(job, tmp_path)

    measured = result["measured"]
    stats = served.simulator.stats
    assert measured["failed"] == 0, measured["errors"]
    assert measured["sent"] == 1100
    assert result["client_sent_total"] == stats.sends
    assert stats.logins == 1
    assert stats.requests["/message/sms/send-batch"] == 3  # 500 + 500 + 100
    assert stats.requests["/message/sms/send"] == 1


@pytest.mark.parametrize(
    ("setup", "scenario", "fields", "sent"),
    [
        ("naive-httpx", "send", {"concurrency": 3, "count": 15, "warmup": 2}, 15),
        ("raw-aiohttp", "send", {"concurrency": 3, "count": 15, "warmup": 2}, 15),
        ("naive-httpx", "paced", {"concurrency": 4, "rate": 200.0, "duration": 0.1}, 20),
    ],
)
async def test_baseline_runs_account_for_every_message(
    simulator: tuple[LoopbackSimulator, dict[str, str]],
    setup: str,
    scenario: str,
    fields: dict[str, Any],
    sent: int,
) -> None:
    served, info = simulator
    result = await run_job(_job(info, setup, scenario, time_limit=30.0, **fields))

    measured = result["measured"]
    assert measured["failed"] == 0, measured["errors"]
    assert measured["sent"] == sent
    assert result["client_sent_total"] == served.simulator.stats.sends


async def test_naive_baseline_logs_in_per_send(
    simulator: tuple[LoopbackSimulator, dict[str, str]],
) -> None:
    served, info = simulator
    await run_job(_job(info, "naive-httpx", "send", concurrency=2, count=12, warmup=0))

    assert served.simulator.stats.logins == 12


def test_loopback_url_check() -> None:
    assert require_loopback_url("http://127.0.0.1:8765/api") == "http://127.0.0.1:8765/api"
    for url in (DEFAULT_BASE_URL, "http://localhost:8765/api", "http://127.0.0.1.example/api"):
        with pytest.raises(LoopbackViolation):
            require_loopback_url(url)


def test_loopback_host_check() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.3.2.1")
    assert is_loopback("::1")
    assert is_loopback("[::1]")
    assert is_loopback("localhost")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("0.0.0.0")  # noqa: S104 - a value under test, nothing binds it
    assert not is_loopback("notify.example")
    assert not is_loopback(None)


def test_percentile_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
