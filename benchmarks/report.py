"""Turn the runs of one benchmark into tables, a JSON record and a Markdown page."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .harness import REPO_ROOT, Plan, Results, Run, describe_plan

__all__ = ["load_results", "machine_info", "markdown_report", "pick_median", "write_results"]

_VERSIONED_PACKAGES = (
    "notifier-core",
    "notifier-eskiz",
    "httpx",
    "httpcore",
    "aiohttp",
    "httpx-aiohttp",
    "uvicorn",
    "starlette",
    "h11",
    "python-multipart",
    "pydantic",
    "phonenumbers",
    "tenacity",
    "opentelemetry-api",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    return None


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "usable_cores": len(affinity) if affinity is not None else None,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "command": " ".join(["uv run python benchmarks/run.py", *sys.argv[1:]]),
        "packages": versions,
    }


def pick_median(runs: list[Run]) -> tuple[Run, list[float]]:
    """Return the run with the median throughput, and every run's throughput.

    With an even number of runs the lower middle one is taken, so the row
    shows numbers one real run produced.
    """
    ordered = sorted(runs, key=lambda run: float(run.measured["per_second"]))
    return ordered[(len(ordered) - 1) // 2], [float(r.measured["per_second"]) for r in ordered]


def _grouped(results: Results, scenario: str) -> dict[tuple[str, int], list[Run]]:
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in results.runs:
        if run.scenario == scenario:
            groups.setdefault((run.setup, run.concurrency), []).append(run)
    return groups


def _simulator_cpu_per_message(run: Run) -> float | None:
    seconds = run.simulator.get("cpu_seconds")
    accepted = run.counters.get("sends")
    if seconds is None or not accepted:
        return None
    return round(float(seconds) / accepted * 1e6, 1)


def throughput_rows(results: Results, baseline: tuple[str, int]) -> list[dict[str, Any]]:
    """Build one row per setup and concurrency from its median run, and its ratio to the baseline.

    ``baseline`` is ``(setup, concurrency)`` of the row every ratio divides by.
    """
    rows: list[dict[str, Any]] = []
    medians: dict[tuple[str, int], float] = {}
    for scenario in ("send", "batch"):
        for (setup, concurrency), runs in _grouped(results, scenario).items():
            good = [run for run in runs if run.ok]
            if not good:
                rows.append(
                    {
                        "setup": setup,
                        "scenario": scenario,
                        "concurrency": concurrency,
                        "error": runs[0].client.get("error"),
                    }
                )
                continue
            median, spread = pick_median(good)
            measured = median.measured
            medians[(setup, concurrency)] = float(measured["per_second"])
            rows.append(
                {
                    "setup": setup,
                    "scenario": scenario,
                    "concurrency": concurrency,
                    "per_second": float(measured["per_second"]),
                    "spread": (min(spread), max(spread)),
                    "runs": len(good),
                    "p50_ms": measured["p50_ms"],
                    "p99_ms": measured["p99_ms"],
                    "sent": measured["sent"],
                    "failed": measured["failed"],
                    "client_cpu_us": measured.get("cpu_us_per_message"),
                    "simulator_cpu_us": _simulator_cpu_per_message(median),
                    "logins": median.counters.get("logins"),
                    "accounted": all(run.accounted for run in good),
                }
            )
    base = medians.get(baseline)
    for row in rows:
        if base and "per_second" in row:
            row["ratio"] = row["per_second"] / base
    return rows


def churn_rows(results: Results) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ttl = results.plan.churn_ttl
    for run in results.runs:
        if run.scenario != "churn":
            continue
        if not run.ok:
            rows.append({"setup": run.setup, "error": run.client.get("error")})
            continue
        measured = run.measured
        counters = run.counters
        requests = run.simulator.get("requests", {})
        sent = int(measured["sent"])
        login_calls = int(requests.get("/auth/login", 0))
        refresh_calls = int(requests.get("/auth/refresh", 0))
        rows.append(
            {
                "setup": run.setup,
                "sent": sent,
                "failed": int(measured["failed"]),
                "errors": measured.get("errors", {}),
                "seconds": float(measured["seconds"]),
                "lifetimes": float(measured["seconds"]) / ttl,
                "logins": int(counters.get("logins", 0)),
                "login_calls": login_calls,
                "refresh_calls": refresh_calls,
                # Send requests the simulator rejected; under churn these are the 401s.
                "rejected_sends": int(counters.get("rejected_sends", 0)),
                "logins_per_1000": 1000 * login_calls / sent if sent else None,
                "token_calls_per_1000": 1000 * (login_calls + refresh_calls) / sent
                if sent
                else None,
                "p99_ms": measured["p99_ms"],
                "accounted": run.accounted,
            }
        )
    return rows


_PEER_HTTP_PACKAGES = ("httpx", "aiohttp", "requests")


def _peer_summaries(results: Results) -> list[str]:
    """Describe each peer environment as ``name==version (httpx==x, ...)``, from its freeze."""
    summaries = []
    for name, packages in results.environments.items():
        own = [line for line in packages if line.lower().startswith(name + "==")]
        http = [line for line in packages if line.split("==")[0] in _PEER_HTTP_PACKAGES]
        summaries.append(f"{', '.join(own) or name} ({', '.join(http)})")
    return summaries


def _load(machine: dict[str, Any], when: str) -> str:
    value = machine.get("load_average_1min", {}).get(when)
    return "unknown" if value is None else f"{value:.2f}"


def _optional(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.0f}"


def _number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _throughput_table(rows: list[dict[str, Any]], baseline: tuple[str, int]) -> list[str]:
    name, concurrency = baseline
    lines = [
        f"| setup | in flight | msg/s | ratio to {name} c={concurrency} | p50 ms | p99 ms "
        "| client CPU µs/msg | simulator CPU µs/msg | timed sends | failed | logins "
        "| accounted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        label = row["setup"] + (" (send_many)" if row["scenario"] == "batch" else "")
        if "error" in row:
            lines.append(f"| {label} | {row['concurrency']} | failed: {row['error']} ||||||||||")
            continue
        low, high = row["spread"]
        rate = _number(row["per_second"])
        if row["runs"] > 1:
            rate += f" ({_number(low)} to {_number(high)})"
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "n/a"
        lines.append(
            f"| {label} | {row['concurrency']} | {rate} | {ratio} | {row['p50_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {_optional(row['client_cpu_us'])} "
            f"| {_optional(row['simulator_cpu_us'])} | {row['sent']:,} | {row['failed']} "
            f"| {row['logins']} "
            f"| {'yes' if row['accounted'] else 'NO'} |"
        )
    return lines


def _churn_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| setup | sent | failed | token lifetimes | login calls | refresh calls "
        "| sends answered 401 | logins per 1,000 sends | token calls per 1,000 sends "
        "| p99 ms | accounted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['setup']} | failed: {row['error']} ||||||||||")
            continue
        failed = str(row["failed"])
        if row["errors"]:
            failed += " (" + ", ".join(f"{k} {v}" for k, v in row["errors"].items()) + ")"
        lines.append(
            f"| {row['setup']} | {row['sent']:,} | {failed} | {row['lifetimes']:.1f} "
            f"| {row['login_calls']:,} | {row['refresh_calls']:,} | {row['rejected_sends']:,} "
            f"| {row['logins_per_1000']:.1f} | {row['token_calls_per_1000']:.1f} "
            f"| {row['p99_ms']:.1f} | {'yes' if row['accounted'] else 'NO'} |"
        )
    return lines


def markdown_report(results: Results, machine: dict[str, Any], baseline: tuple[str, int]) -> str:
    plan = results.plan
    lines = [
        f"Run on {machine['date_utc']}, commit {machine['git_commit']}: `{machine['command']}`",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu_model']}), "
        f"{machine['memory_gib']} GiB, {machine['implementation']} {machine['python']}, "
        f"{machine['platform']}. Load average (1 min) "
        f"{_load(machine, 'before')} before the run, {_load(machine, 'after')} after it.",
        "",
        "Packages: "
        + ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
        + ".",
        "",
        f"One message per request: {plan.count:,} timed sends per run after a warm-up of "
        f"max({plan.warmup}, 2 * in flight) sends, or fewer when a run reaches its "
        f"{plan.time_limit:.0f} s limit. Each row shows the median of {plan.repeats} "
        "run(s), with the range of all runs in brackets. Logins include the warm-up. "
        "Client CPU is the client process's CPU time per message in the timed phase. "
        "Simulator CPU is the simulator process's CPU time per accepted message over "
        "the whole run, warm-up and login included.",
        "",
        f"`send_many` row: {plan.batch_count:,} messages in batches of 500, sent one "
        "batch request after another. A message's latency is the time until the "
        "response to its batch arrived.",
        "",
        *_throughput_table(throughput_rows(results, baseline), baseline),
    ]
    if results.environments:
        lines += ["", "Peer environments: " + "; ".join(_peer_summaries(results)) + "."]
    churn = churn_rows(results)
    if churn:
        lines += [
            "",
            f"Token churn: token lifetime {plan.churn_ttl:.0f} s, each client sending "
            f"{plan.churn_rate:.0f} msg/s with up to {plan.churn_concurrency} in flight for "
            f"{plan.churn_duration:.0f} s. Every response is delayed by "
            f"{plan.churn_latency * 1000:.0f} ms. All clients run at once, each against its "
            "own simulator. Login and refresh calls count every request to those endpoints, "
            "failed ones included.",
            "",
            *_churn_table(churn),
        ]
    if results.skipped:
        lines += ["", "Skipped:", ""]
        lines += [f"- {name}: {reason}" for name, reason in results.skipped.items()]
    return "\n".join(lines) + "\n"


def load_results(path: Path) -> tuple[Results, dict[str, Any], tuple[str, int]]:
    """Read a results file written by ``write_results``: the runs, machine and baseline."""
    record = json.loads(path.read_text(encoding="utf-8"))
    plan_fields = {name: value for name, value in record["plan"].items() if name != "simulator"}
    for name, value in plan_fields.items():
        if isinstance(value, list):
            plan_fields[name] = tuple(value)
    results = Results(
        plan=Plan(**plan_fields),
        runs=[Run(**run) for run in record["runs"]],
        skipped=record["skipped"],
        environments=record["peer_environments"],
    )
    baseline = (record["baseline"]["setup"], int(record["baseline"]["concurrency"]))
    return results, record["machine"], baseline


def write_results(
    results: Results,
    machine: dict[str, Any],
    baseline: tuple[str, int],
    directory: Path,
) -> tuple[Path, Path]:
    """Write ``<stamp>.json`` (every run) and ``<stamp>.md`` (the tables); return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "machine": machine,
        "plan": describe_plan(results.plan),
        "baseline": {"setup": baseline[0], "concurrency": baseline[1]},
        "throughput": throughput_rows(results, baseline),
        "churn": churn_rows(results),
        "skipped": results.skipped,
        "peer_environments": results.environments,
        "runs": [asdict(run) for run in results.runs],
    }
    json_path = directory / f"{stamp}.json"
    json_path.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    markdown_path = directory / f"{stamp}.md"
    markdown_path.write_text(markdown_report(results, machine, baseline), encoding="utf-8")
    return json_path, markdown_path
