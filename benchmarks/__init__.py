"""Benchmark harness: notifier's Eskiz provider against a local simulator and peer clients.

Run ``uv run python benchmarks/run.py --help``. Every module here except
``harness``, ``ours`` and ``simulator_process`` uses only the standard
library, because the client processes of peer setups run in separate
environments where notifier is not installed.
"""
