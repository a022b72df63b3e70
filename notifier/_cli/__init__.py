"""The ``notifier`` command line.

The console script ``notifier`` calls ``main``. The command line needs the
``cli`` extra (rich), but the library itself does not. So rich is imported
only after ``main`` has checked that it is installed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

__all__ = ["main"]

_MISSING_RICH = (
    "notifier: the command line needs the 'rich' package, which is not installed.\n"
    "Install the cli extra of notifier-core. From a clone of the repository, run "
    "'uv sync', or pip install '.[cli]' ./providers/eskiz"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Exit codes: 0 when everything succeeded, 1 when some messages failed,
    2 for usage and configuration errors.
    """
    if importlib.util.find_spec("rich") is None:
        print(_MISSING_RICH, file=sys.stderr)
        return 2

    from ._app import run

    return run(sys.argv[1:] if argv is None else list(argv))
