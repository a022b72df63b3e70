"""Benchmark notifier's Eskiz provider against a local simulator and published clients.

Usage::

    uv run python benchmarks/run.py            # full run, about 10 minutes on 2 cores
    uv run python benchmarks/run.py --quick    # one round with fewer messages, about 2 minutes

Everything runs on this machine: the Eskiz simulator in one child process on
127.0.0.1, each client in a process of its own. Peer clients are installed
into throwaway environments under benchmarks/.peers/. The tables go to
standard output and, with every run's raw numbers, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

# Run as a script, this file's folder is on sys.path, but the repository root
# that contains the "benchmarks" package is not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import FULL, QUICK, SEND_SETUPS, run_benchmarks
from benchmarks.peer_env import PEERS
from benchmarks.report import load_results, machine_info, markdown_report, write_results

_KNOWN = (*SEND_SETUPS, *(peer.name for peer in PEERS if peer.requirement is None))


def _parse_baseline(text: str) -> tuple[str, int]:
    setup, _, concurrency = text.partition("@")
    if setup not in SEND_SETUPS or not concurrency.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected SETUP@CONCURRENCY with SETUP one of {', '.join(SEND_SETUPS)}, got {text!r}"
        )
    return setup, int(concurrency)


def _render(path: Path) -> int:
    results, machine, baseline = load_results(path)
    page = markdown_report(results, machine, baseline)
    path.with_suffix(".md").write_text(page, encoding="utf-8")
    print(page)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round with fewer messages and a shorter churn"
    )
    parser.add_argument(
        "--setups",
        default=",".join(SEND_SETUPS),
        help="comma-separated setups to run (default: all): " + ", ".join(SEND_SETUPS),
    )
    parser.add_argument(
        "--baseline",
        type=_parse_baseline,
        default=("naive-httpx", 1),
        help="the row every ratio is relative to, as SETUP@CONCURRENCY (default: naive-httpx@1)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs per setup and concurrency, the table showing the median "
        "(default: 3, or 1 with --quick)",
    )
    parser.add_argument("--no-batch", action="store_true", help="skip the send_many runs")
    parser.add_argument("--no-churn", action="store_true", help="skip the token churn runs")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print the tables of an earlier results file and write its .md beside it; "
        "runs nothing",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="where the JSON and Markdown results go (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        return _render(args.render)

    setups = [name.strip() for name in args.setups.split(",") if name.strip()]
    unknown = [name for name in setups if name not in _KNOWN]
    if unknown:
        parser.error(f"unknown setup(s) {', '.join(unknown)}; known: {', '.join(SEND_SETUPS)}")
    plan = QUICK if args.quick else FULL
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats must be at least 1, got {args.repeats}")
        plan = replace(plan, repeats=args.repeats)

    load_before = os.getloadavg()
    results = run_benchmarks(plan, setups=setups, batch=not args.no_batch, churn=not args.no_churn)
    machine = machine_info()
    # Other processes on the machine slow every setup; the load shows how busy it was.
    machine["load_average_1min"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    print()
    print(markdown_report(results, machine, args.baseline))
    json_path, markdown_path = write_results(results, machine, args.baseline, args.results_dir)
    print(f"Results: {json_path}")
    print(f"Tables:  {markdown_path}")
    failed = [run for run in results.runs if not run.ok]
    unaccounted = [run for run in results.runs if run.ok and not run.accounted]
    if unaccounted:
        print(
            f"{len(unaccounted)} run(s) reported a number of sent messages that differs "
            "from what the simulator accepted: "
            + ", ".join(sorted({f"{run.setup} ({run.scenario})" for run in unaccounted})),
            file=sys.stderr,
        )
    if failed:
        print(f"{len(failed)} run(s) failed; see the JSON file for their errors.", file=sys.stderr)
    # A peer that loses messages is a finding; notifier losing one is a bug.
    ours_unaccounted = [run for run in unaccounted if run.setup.startswith("notifier-")]
    return 1 if failed or ours_unaccounted else 0


if __name__ == "__main__":
    sys.exit(main())
