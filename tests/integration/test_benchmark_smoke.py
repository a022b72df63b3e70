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


def _run_client_processes(jobs: list[Job], scratch: Path) -> list[dict[str, Any]]:
    """Run each job in its own client process, all at once, as a benchmark run does."""
    outputs = [scratch / f"result-{index}.json" for index in range(len(jobs))]
    processes = [
        subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            [sys.executable, "-m", "benchmarks.client", json.dumps(asdict(job)), str(output)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job, output in zip(jobs, outputs, strict=True)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    return [json.loads(output.read_text(encoding="utf-8")) for output in outputs]


def test_notifier_runs_account_for_every_message(tmp_path: Path) -> None:
    # notifier's setups run in client processes, as in a benchmark run; their
    # logs and spans stay in those processes. Two processes keep the test short:
    # the batch setup sends its first message through send() on httpx.
    plans = [
        ("notifier-aiohttp", "send", {"concurrency": 5, "count": 30, "warmup": 5}),
        ("notifier-batch", "batch", {"concurrency": 2, "count": 1100, "warmup": 0}),
    ]
    simulators = [LoopbackSimulator({"billing": False, "auto_progress": False}) for _ in plans]
    try:
        infos = [served.start() for served in simulators]
        jobs = [
            _job(info, setup, scenario, time_limit=30.0, **fields)
            for info, (setup, scenario, fields) in zip(infos, plans, strict=True)
        ]
        results = _run_client_processes(jobs, tmp_path)
    finally:
        for served in simulators:
            served.stop()

    for (setup, _, fields), result, served in zip(plans, results, simulators, strict=True):
        measured = result["measured"]
        assert measured["failed"] == 0, (setup, measured["errors"])
        assert measured["sent"] == fields["count"], setup
        assert result["client_sent_total"] == served.simulator.stats.sends, setup
        assert served.simulator.stats.logins == 1, setup


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
