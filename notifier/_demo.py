"""``notifier demo``: send the sample campaign to a local Eskiz simulator."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="send the sample campaign to a local Eskiz simulator"
    )
    parser.set_defaults(handler=lambda args: 0)
