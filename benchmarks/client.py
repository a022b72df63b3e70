"""One benchmark client process: build one setup, run one scenario, write the result.

Started by the harness as ``python -m benchmarks.client JOB_JSON RESULT_PATH``
with the repository root as working directory: with the project's Python
for notifier's setups and the baselines, and with a peer environment's
Python for a peer client. Before any setup is built, the process installs
the loopback guard and checks that the job's base URL is 127.0.0.1.

Standard library only at import time; each setup module is imported on use.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import platform
import sys
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .guard import install_loopback_guard, require_loopback_url
from .workload import Measurement, run_closed_loop, run_paced

__all__ = ["SETUPS", "ClientSetup", "Job", "main"]


@dataclass(frozen=True)
class Job:
    """The setup and scenario one client process runs; times are in seconds."""

    setup: str
    scenario: str  # "send", "batch" or "paced"
    base_url: str
    email: str
    password: str
    concurrency: int = 1
    count: int = 1000
    warmup: int = 50
    time_limit: float = 60.0
    rate: float = 100.0  # paced only: sends per second
    duration: float = 30.0  # paced only


class ClientSetup(Protocol):
    """A client under test. ``send(i)`` sends message ``i`` and raises if it failed."""

    async def start(self) -> None: ...

    async def send(self, index: int) -> None: ...

    async def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class BatchSetup(ClientSetup, Protocol):
    async def send_all(self, count: int, concurrency: int) -> Measurement: ...


SETUPS: dict[str, str] = {
    "notifier-httpx": "benchmarks.ours:NotifierHttpx",
    "notifier-aiohttp": "benchmarks.ours:NotifierAiohttp",
    "notifier-batch": "benchmarks.ours:NotifierBatch",
    "naive-httpx": "benchmarks.baselines:NaiveLoginPerSend",
    "raw-httpx": "benchmarks.baselines:RawHttpx",
    "raw-httpx-multipart": "benchmarks.baselines:RawHttpxMultipart",
    "raw-aiohttp": "benchmarks.baselines:RawAiohttp",
    "eskiz-sms": "benchmarks.peers:EskizSms",
    "eskiz-pkg": "benchmarks.peers:EskizPkg",
    "eskiz-sms-client": "benchmarks.peers:EskizSmsClient",
}
"""Setup name to ``module:class``; each class takes a ``Job``."""


def build_setup(job: Job) -> ClientSetup:
    target = SETUPS.get(job.setup)
    if target is None:
        raise ValueError(f"unknown setup {job.setup!r}; known setups: {', '.join(SETUPS)}")
    module_name, _, class_name = target.partition(":")
    setup_class = getattr(importlib.import_module(module_name), class_name)
    setup: ClientSetup = setup_class(job)
    return setup


async def run_job(job: Job) -> dict[str, Any]:
    require_loopback_url(job.base_url)
    setup = build_setup(job)
    await setup.start()
    try:
        result: dict[str, Any] = {"job": {**asdict(job), "password": "[hidden]"}}
        result["describe"] = setup.describe()
        if job.scenario == "send":
            if job.warmup > 0:
                warmup = await run_closed_loop(
                    setup.send,
                    count=job.warmup,
                    concurrency=job.concurrency,
                    time_limit=job.time_limit,
                )
                result["warmup"] = warmup.summary()
            measured = await run_closed_loop(
                setup.send,
                count=job.count,
                concurrency=job.concurrency,
                time_limit=job.time_limit,
                first_index=job.warmup,
            )
        elif job.scenario == "batch":
            if not hasattr(setup, "send_all"):
                raise ValueError(f"setup {job.setup!r} has no batch scenario")
            batch_setup: BatchSetup = setup  # type: ignore[assignment]
            measured = await batch_setup.send_all(job.count, job.concurrency)
        elif job.scenario == "paced":
            measured = await run_paced(
                setup.send,
                rate=job.rate,
                duration=job.duration,
                concurrency=job.concurrency,
                time_limit=job.time_limit,
            )
        else:
            raise ValueError(f"unknown scenario {job.scenario!r}; use send, batch or paced")
        result["measured"] = measured.summary()
        warmup_sent = result["warmup"]["sent"] if "warmup" in result else 0
        result["client_sent_total"] = warmup_sent + measured.sent + measured.untimed_sent
        return result
    finally:
        await setup.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmarks.client JOB_JSON RESULT_PATH", file=sys.stderr)
        return 2
    install_loopback_guard()
    job = Job(**json.loads(argv[0]))
    try:
        result = asyncio.run(run_job(job))
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["python"] = platform.python_version()
    with open(argv[1], "w", encoding="utf-8") as output:
        json.dump(result, output)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
