"""Exit codes, consoles and error printing shared by the commands."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

from .._errors import ConfigurationError, InvalidMessage, NotifierError, UnsupportedFeature

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "error_console",
    "exit_code_for",
    "print_error",
    "stdout_console",
]

EXIT_OK = 0
EXIT_FAILED = 1  # some or all messages were not sent
EXIT_USAGE = 2  # bad arguments, bad input file or bad configuration
EXIT_INTERRUPTED = 130  # Ctrl+C, as shells report a process ended by SIGINT


class UsageError(Exception):
    """A command-line argument or input file is wrong; printed without a traceback."""


def stdout_console() -> Console:
    """Return a console on ``sys.stdout`` as it is now, so tests that swap it capture output."""
    return Console(file=sys.stdout, highlight=False)


def error_console() -> Console:
    """Return a console on the current ``sys.stderr``."""
    return Console(file=sys.stderr, highlight=False)


def exit_code_for(error: BaseException) -> int:
    """Map an error to the process exit code: bad input or settings give 2, failed sends 1."""
    if isinstance(error, (UsageError, ConfigurationError, InvalidMessage, UnsupportedFeature)):
        return EXIT_USAGE
    return EXIT_FAILED


def print_error(error: BaseException) -> None:
    """Print ``error`` as one line on stderr, naming its type for library errors."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, NotifierError) else str(error)
    error_console().print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)
