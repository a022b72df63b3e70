"""Parser construction, logging set-up and dispatch for the ``notifier`` command."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points

from rich.logging import RichHandler

from .. import __version__
from .._errors import NotifierError
from .._hookspecs import PROJECT_NAME
from ._output import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    error_console,
    exit_code_for,
    print_error,
)

__all__ = ["build_parser", "run"]

_LOGGER = logging.getLogger("notifier")

Handler = Callable[[argparse.Namespace], int]

_VERBOSE_HELP = "log to stderr: -v for INFO, -vv for DEBUG"
_COMMAND_VERBOSE = "verbose_after_command"


def _version_text() -> str:
    """Return the core version, the Python version and each installed plugin distribution."""
    plugins = []
    for entry_point in entry_points(group=PROJECT_NAME):
        dist = entry_point.dist
        if dist is not None and dist.name != "notifier-core":
            plugins.append(f"{dist.name} {dist.version}")
    text = f"notifier-core {__version__} (Python {platform.python_version()})"
    if plugins:
        text += "\nplugins: " + ", ".join(sorted(set(plugins)))
    return text


class _VersionAction(argparse.Action):
    """Print the version text unwrapped; argparse's own action reflows it into one paragraph."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(_version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with the built-in commands and those added by plugins."""
    from .. import _demo
    from . import _bulk, _providers, _send

    parser = argparse.ArgumentParser(
        prog="notifier",
        description=(
            "Send SMS through the configured provider, inspect providers and "
            "run the local demo. The provider and its credentials come from "
            "environment variables and .env (NOTIFIER_PROVIDER, ESKIZ_EMAIL, ...)."
        ),
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show the versions of notifier-core, Python and the installed plugins, then exit",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _send.register(subparsers)
    _bulk.register(subparsers)
    _providers.register(subparsers)
    _demo.register(subparsers)
    _add_plugin_commands(subparsers)
    _add_verbose_to_commands(parser)
    return parser


def _add_verbose_to_commands(parser: argparse.ArgumentParser) -> None:
    """Accept ``-v`` after every command too, plugin commands included.

    The command's count goes to its own attribute, because argparse copies a
    sub-parser's values over the main parser's: ``-v send -v`` then counts 2.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for command in set(action.choices.values()):
            try:
                command.add_argument(
                    "-v",
                    "--verbose",
                    action="count",
                    dest=_COMMAND_VERBOSE,
                    default=argparse.SUPPRESS,
                    help=_VERBOSE_HELP,
                )
            except argparse.ArgumentError:
                continue  # the command defines its own -v; leave it alone
            _add_verbose_to_commands(command)


def _add_plugin_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Let every plugin add its commands through the ``notifier_cli`` hook.

    Each plugin is called on its own, so one that raises loses only its own
    commands; the failure is logged with the plugin's name.
    """
    from .._errors import ConfigurationError
    from .._plugins import get_plugin_manager, load_plugins
    from .._settings import NotifierSettings

    try:
        disabled: tuple[str, ...] | None = NotifierSettings.load().disabled_plugins
    except ConfigurationError:
        # Invalid settings must not break --help and --version; the command
        # that needs the settings reports them.
        disabled = None  # load_plugins() then reads NOTIFIER_DISABLE_PLUGINS itself
    manager = get_plugin_manager()
    load_plugins(manager, disabled=disabled)
    for implementation in manager.hook.notifier_cli.get_hookimpls():
        arguments = {"subparsers": subparsers}
        try:
            implementation.function(*(arguments[name] for name in implementation.argnames))
        except Exception:
            _LOGGER.warning(
                "Plugin %r failed to add its commands; they are unavailable",
                implementation.plugin_name,
                exc_info=True,
            )


@contextmanager
def _verbose_logging(verbosity: int) -> Iterator[None]:
    """Send notifier's log records to stderr while a verbose command runs.

    Without ``-v`` logging is left as the caller configured it, so warnings
    still reach stderr through Python's last-resort handler.
    """
    if verbosity <= 0:
        yield
        return
    level = logging.INFO if verbosity == 1 else logging.DEBUG
    handler = RichHandler(console=error_console(), show_path=False, level=level)
    previous_level = _LOGGER.level
    _LOGGER.addHandler(handler)
    if _LOGGER.getEffectiveLevel() > level:
        _LOGGER.setLevel(level)
    try:
        yield
    finally:
        _LOGGER.removeHandler(handler)
        _LOGGER.setLevel(previous_level)


def _status_from_system_exit(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return EXIT_USAGE


def run(argv: list[str]) -> int:
    """Parse ``argv``, run the chosen command and return its exit code."""
    try:
        parser = build_parser()
    except NotifierError as error:  # a plugin that cannot load is a configuration error
        print_error(error)
        return exit_code_for(error)

    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse exits for --help, --version and bad usage
        return _status_from_system_exit(exit_request.code)

    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    verbosity = args.verbose + getattr(args, _COMMAND_VERBOSE, 0)
    with _verbose_logging(verbosity):
        try:
            return int(handler(args))
        except (NotifierError, UsageError) as error:
            print_error(error)
            return exit_code_for(error)
        except KeyboardInterrupt:
            error_console().print("interrupted")
            return EXIT_INTERRUPTED
