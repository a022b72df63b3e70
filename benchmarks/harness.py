"""Run every benchmark setup against one simulator process and collect the results.

Each client runs in its own process (see ``client``): notifier's setups and
the hand-written baselines on the project's Python, each peer on the Python
of its own environment (see ``peer_env``). The simulators run in one more
process (see ``simulator_process``). Between runs the harness resets the
simulator's counters and reads them back, so every run also reports how
many logins it caused and whether the simulator accepted exactly the
messages the client counted as sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .client import Job
from .guard import require_loopback_url
from .peer_env import PEERS, PeerEnvironment, prepare
from .simulator_process import SimulatorEndpoint, SimulatorProcess

__all__ = [
    "CHURN_SETUPS",
    "FULL",
    "QUICK",
    "SEND_SETUPS",
    "Plan",
    "Run",
    "run_benchmarks",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

SEND_SETUPS: tuple[str, ...] = (
    "naive-httpx",
    "raw-httpx",
    "raw-httpx-multipart",
    "raw-aiohttp",
    "notifier-httpx",
    "notifier-aiohttp",
    "eskiz-sms",
    "eskiz-pkg",
    "eskiz-sms-client",
)
"""Setups measured one message per request at every concurrency of the plan."""

CHURN_SETUPS: tuple[str, ...] = (
    "notifier-httpx",
    "notifier-aiohttp",
    "naive-httpx",
    "eskiz-sms",
    "eskiz-pkg",
    "eskiz-sms-client",
)
"""Setups that keep sending while tokens expire; the raw loops never renew a token."""

_PEER_NAMES = frozenset(peer.name for peer in PEERS)

# The simulator as the benchmark uses it: no billing (the balance would run
# out), no automatic message progress (its timer would compete for the CPU).
_SIMULATOR_OPTIONS: dict[str, Any] = {"billing": False, "auto_progress": False, "seed": 1}

_PROCESS_GRACE = 90.0  # seconds a client process may take beyond its own time limit


@dataclass(frozen=True)
class Plan:
    """How much each scenario sends; times are in seconds."""

    concurrencies: tuple[int, ...] = (1, 10, 50)
    count: int = 2000  # timed sends per run
    warmup: int = 100  # untimed sends before each timed phase (the first one logs in)
    repeats: int = 3  # runs per setup and concurrency; the table shows the median
    time_limit: float = 30.0  # per timed phase; a slow setup sends fewer than count
    batch_count: int = 20_000
    churn_ttl: float = 20.0  # token lifetime of the churn simulators
    churn_duration: float = 90.0
    churn_rate: float = 50.0  # sends per second per client
    churn_concurrency: int = 30
    # Delay of every churn response, standing in for the network round trip
    # to Eskiz. At churn_rate it keeps about rate * latency = 10 requests in
    # flight per client when a token expires, and six clients at once still
    # leave the two cores room.
    churn_latency: float = 0.2


FULL = Plan()
QUICK = Plan(count=500, warmup=50, repeats=1, batch_count=5000, churn_duration=30.0)


@dataclass
class Run:
    """One client process: what it was asked, what it measured, what the simulator saw."""

    setup: str
    scenario: str
    concurrency: int
    repeat: int
    client: dict[str, Any]
    simulator: dict[str, Any]
    wall_seconds: float

    @property
    def ok(self) -> bool:
        return "error" not in self.client

    @property
    def measured(self) -> dict[str, Any]:
        measured: dict[str, Any] = self.client.get("measured", {})
        return measured

    @property
    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = self.simulator.get("counters", {})
        return counters

    @property
    def accounted(self) -> bool:
        """Whether the simulator accepted exactly the messages the client counted as sent."""
        return self.ok and self.counters.get("sends") == self.client.get("client_sent_total")


@dataclass
class Results:
    plan: Plan
    runs: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    environments: dict[str, list[str]] = field(default_factory=dict)


def _python_for(setup: str, environments: dict[str, PeerEnvironment]) -> Path:
    if setup in _PEER_NAMES:
        return environments[setup].python
    return Path(sys.executable)


def _client_command(python: Path, job: Job, output: Path) -> list[str]:
    return [str(python), "-m", "benchmarks.client", json.dumps(asdict(job)), str(output)]


def _read_result(output: Path, stderr: str, returncode: int | None) -> dict[str, Any]:
    try:
        result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {"error": f"the client process exited with code {returncode} and no result"}
    if returncode != 0:
        result.setdefault("error", f"the client process exited with code {returncode}")
        result["stderr_tail"] = stderr[-2000:]
    return result


def _run_client(python: Path, job: Job, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as scratch:
        output = Path(scratch) / "result.json"
        try:
            completed = subprocess.run(  # noqa: S603 - fixed argument list, no shell
                _client_command(python, job, output),
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"the client process did not finish within {timeout:.0f} s"}
        return _read_result(output, completed.stderr, completed.returncode)


def _job(setup: str, scenario: str, endpoint: SimulatorEndpoint, **fields: Any) -> Job:
    return Job(
        setup=setup,
        scenario=scenario,
        base_url=require_loopback_url(endpoint.base_url),
        email=endpoint.email,
        password=endpoint.password,
        **fields,
    )


def _measure(
    results: Results,
    endpoint: SimulatorEndpoint,
    python: Path,
    job: Job,
    repeat: int,
    log: Any,
) -> Run:
    endpoint.reset_stats()
    cpu_before = endpoint.process_cpu_seconds()
    began = time.perf_counter()
    client = _run_client(python, job, job.time_limit * 2 + _PROCESS_GRACE)
    simulator = endpoint.stats()
    # Covers the whole client process: start-up, warm-up and login included.
    simulator["cpu_seconds"] = round(endpoint.process_cpu_seconds() - cpu_before, 4)
    run = Run(
        setup=job.setup,
        scenario=job.scenario,
        concurrency=job.concurrency,
        repeat=repeat,
        client=client,
        simulator=simulator,
        wall_seconds=round(time.perf_counter() - began, 2),
    )
    results.runs.append(run)
    if run.ok:
        measured = run.measured
        log(
            f"  {job.setup:<17} {job.scenario:<6} c={job.concurrency:<3} "
            f"{measured['per_second']:>9.1f} msg/s  p50 {measured['p50_ms']:.2f} ms  "
            f"p99 {measured['p99_ms']:.2f} ms  cpu {measured['cpu_us_per_message']:.0f} us/msg  "
            f"logins {run.counters.get('logins')}  "
            f"{'accounted' if run.accounted else 'NOT ACCOUNTED'}"
        )
    else:
        log(f"  {job.setup:<17} {job.scenario:<6} c={job.concurrency:<3} FAILED: {client['error']}")
    return run


def _run_churn(
    results: Results,
    simulators: SimulatorProcess,
    setups: Sequence[str],
    environments: dict[str, PeerEnvironment],
    plan: Plan,
    log: Any,
) -> None:
    """Run every churn setup at once, each against its own short-TTL simulator.

    The simulators start here, not with the process, so that their idle
    timers do not run during the throughput measurements.
    """
    time_limit = plan.churn_duration + 30.0
    endpoints = {
        setup: simulators.start_simulator(
            f"churn:{setup}",
            {**_SIMULATOR_OPTIONS, "token_ttl": plan.churn_ttl, "latency": plan.churn_latency},
        )
        for setup in setups
    }
    started: list[tuple[str, Job, subprocess.Popen[str], Path, tempfile.TemporaryDirectory[str]]]
    started = []
    for setup in setups:
        endpoint = endpoints[setup]
        job = _job(
            setup,
            "paced",
            endpoint,
            concurrency=plan.churn_concurrency,
            rate=plan.churn_rate,
            duration=plan.churn_duration,
            time_limit=time_limit,
        )
        scratch = tempfile.TemporaryDirectory(prefix="notifier-bench-")
        output = Path(scratch.name) / "result.json"
        process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            _client_command(_python_for(setup, environments), job, output),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((setup, job, process, output, scratch))

    deadline = time.monotonic() + time_limit + _PROCESS_GRACE
    for setup, job, process, output, scratch in started:
        try:
            _, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            client = _read_result(output, stderr, process.returncode)
        except subprocess.TimeoutExpired:
            process.kill()  # our own child, by its handle
            process.communicate()
            client = {"error": "the client process did not finish in time"}
        finally:
            scratch.cleanup()
        run = Run(setup, "churn", job.concurrency, 0, client, endpoints[setup].stats(), 0.0)
        results.runs.append(run)
        counters = run.counters
        log(
            f"  {setup:<17} churn  sent {run.measured.get('sent')} "
            f"failed {run.measured.get('failed')} logins {counters.get('logins')} "
            f"refreshes {counters.get('refreshes')} 401s {counters.get('rejected_sends')}"
            + ("" if run.ok else f" FAILED: {client['error']}")
        )


def run_benchmarks(
    plan: Plan,
    *,
    setups: Sequence[str] = SEND_SETUPS,
    batch: bool = True,
    churn: bool = True,
    log: Any = print,
) -> Results:
    """Run the plan for ``setups`` and return every run; progress goes to ``log``."""
    results = Results(plan)
    environments: dict[str, PeerEnvironment] = {}
    for peer in PEERS:
        if peer.name not in setups and peer.requirement is not None:
            continue
        if peer.requirement is None:
            results.skipped[peer.name] = peer.skip_reason or "skipped"
            continue
        log(f"Preparing the environment of {peer.requirement} ...")
        try:
            environments[peer.name] = prepare(peer)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            results.skipped[peer.name] = f"environment could not be made: {exc}"
            log(f"  skipped {peer.name}: {exc}")
            continue
        results.environments[peer.name] = environments[peer.name].packages
    runnable = [setup for setup in setups if setup not in results.skipped]
    churn_setups = [setup for setup in CHURN_SETUPS if setup in runnable]

    log("Starting the simulator process ...")
    with SimulatorProcess({"main": dict(_SIMULATOR_OPTIONS)}) as simulators:
        main = simulators["main"]
        log(f"Simulator process {simulators.pid} serving {main.base_url}")
        for repeat in range(plan.repeats):
            log(f"Round {repeat + 1} of {plan.repeats}: one message per request")
            for concurrency in plan.concurrencies:
                for setup in runnable:
                    job = _job(
                        setup,
                        "send",
                        main,
                        concurrency=concurrency,
                        count=plan.count,
                        warmup=max(plan.warmup, 2 * concurrency),
                        time_limit=plan.time_limit,
                    )
                    _measure(results, main, _python_for(setup, environments), job, repeat, log)
            if batch:
                # send_many() sends one batch request after another, so the
                # batch scenario has one request in flight.
                job = _job(
                    "notifier-batch",
                    "batch",
                    main,
                    concurrency=1,
                    count=plan.batch_count,
                    warmup=0,
                    time_limit=plan.time_limit,
                )
                _measure(results, main, Path(sys.executable), job, repeat, log)
        if churn and churn_setups:
            log(
                f"Token churn: {len(churn_setups)} clients at once, token lifetime "
                f"{plan.churn_ttl:.0f} s, {plan.churn_duration:.0f} s at "
                f"{plan.churn_rate:.0f} msg/s each"
            )
            _run_churn(results, simulators, churn_setups, environments, plan, log)
    return results


def describe_plan(plan: Plan) -> dict[str, Any]:
    return {**asdict(plan), "simulator": dict(_SIMULATOR_OPTIONS)}
