"""``notifier providers`` and ``notifier check``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._errors import NotifierError, UnsupportedFeature
from .._health import ProviderHealth, provider_health
from .._policy import RoutingPolicy
from .._provider import Capabilities, Provider
from ._config import build_notifier
from ._environment import installed_providers, load_notifier_settings, unknown_variables
from ._output import EXIT_FAILED, EXIT_OK, error_console, stdout_console

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    providers = subparsers.add_parser(
        "providers",
        help="list installed providers and their capabilities",
        description=(
            "List the providers contributed by installed plugins with their "
            "capabilities. With --health, also build the configured notifier "
            "and show the circuit-breaker state of every provider it routes to."
        ),
    )
    providers.add_argument(
        "--health",
        action="store_true",
        help="show the circuit state of each configured provider (needs a valid configuration)",
    )
    providers.set_defaults(handler=run_providers)

    check = subparsers.add_parser(
        "check",
        help="check the configuration and the provider credentials",
        description=(
            "Build the notifier from NOTIFIER_* variables and .env, then verify the "
            "credentials of each provider with its check_credentials() call, the "
            "vendor's cheapest authenticated request (for Eskiz: a login and a read "
            "of the account), without sending any SMS. Prints the base URL and the "
            "default sender of each provider, and warns about NOTIFIER_* and provider "
            "variables that no setting reads, such as a misspelt ESKIZ_SENDR. Exit "
            "code 0 when every check passed, 1 when a provider check failed, 2 for a "
            "configuration error."
        ),
    )
    check.add_argument(
        "--provider",
        metavar="NAME",
        help="check this provider instead of those in NOTIFIER_PROVIDER",
    )
    check.set_defaults(handler=run_check)


def _yes_no(value: bool) -> str:
    return "[green]yes[/]" if value else "[dim]no[/]"


def _batch_text(capabilities: Capabilities) -> str:
    if not capabilities.batch:
        return _yes_no(False)
    if capabilities.max_batch_size:
        return f"[green]yes[/] (up to {capabilities.max_batch_size})"
    return _yes_no(True)


def _countries_text(capabilities: Capabilities) -> str:
    if capabilities.countries is None:
        return "all"
    return ", ".join(sorted(capabilities.countries)) or "none"


def _env_prefix(provider_class: type[Provider]) -> str:
    settings_class = provider_class.settings_class
    if settings_class is None:
        return "-"
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    return f"{prefix}*" if prefix else "-"


def run_providers(args: argparse.Namespace) -> int:
    """Print the installed providers, and their circuit states with ``--health``."""
    settings = load_notifier_settings()
    classes = installed_providers(settings)
    console = stdout_console()

    table = Table(
        title="Installed providers",
        title_justify="left",
        caption="* named in NOTIFIER_PROVIDER",
        caption_justify="left",
    )
    table.add_column("name", style="bold")
    table.add_column("settings")
    table.add_column("unicode")
    table.add_column("batch")
    table.add_column("delivery reports")
    table.add_column("countries")
    configured = set(settings.provider_names)
    for name in sorted(classes):
        provider_class = classes[name]
        capabilities = provider_class.capabilities
        label = f"{name} [cyan]*[/]" if name in configured else name
        table.add_row(
            label,
            _env_prefix(provider_class),
            _yes_no(capabilities.unicode),
            _batch_text(capabilities),
            _yes_no(capabilities.delivery_reports),
            _countries_text(capabilities),
        )
    if classes:
        console.print(table)
    else:
        console.print(
            "No providers are installed. From a clone of the repository, run 'uv sync', "
            "or pip install ./providers/eskiz."
        )

    if args.health:
        _print_health(console)
    return EXIT_OK


def _print_health(console: Console) -> None:
    async def read_health() -> list[ProviderHealth]:
        async with build_notifier() as notifier:
            return provider_health(notifier.provider)

    report = asyncio.run(read_health())
    table = Table(title="Configured routing and circuit state", title_justify="left")
    table.add_column("provider", style="bold")
    table.add_column("route")
    table.add_column("circuit")
    table.add_column("failures in a row", justify="right")
    table.add_column("next probe")
    for entry in report:
        table.add_row(
            entry.provider,
            " > ".join(entry.path) or "-",
            _circuit_text(entry),
            _failures_text(entry),
            f"in {entry.retry_in:.1f} s" if entry.retry_in is not None else "-",
        )
    console.print(table)
    console.print(
        "[dim]Circuit state lives in the process that sends: a fresh command shows the "
        "configured breakers, all closed.[/]"
    )


def _circuit_text(entry: ProviderHealth) -> str:
    if entry.state is None:
        return "[dim]no breaker[/]"
    colour = {"closed": "green", "half_open": "yellow", "open": "red"}[entry.state.value]
    return f"[{colour}]{entry.state.value}[/]"


def _failures_text(entry: ProviderHealth) -> str:
    if entry.failure_threshold is None:
        return "-"
    return f"{entry.consecutive_failures} of {entry.failure_threshold}"


def _vendor_providers(root: Provider) -> Iterator[Provider]:
    """Yield each vendor provider under ``root`` once, in routing order."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, RoutingPolicy):
            stack[0:0] = list(node.children)
        else:
            yield node


@dataclass(frozen=True)
class _CheckResult:
    provider: str
    base_url: str
    sender: str
    passed: bool
    detail: str


def _base_url_text(provider: Provider) -> str:
    """Return the provider's base URL, marked when it is its settings' default."""
    base_url = getattr(provider, "base_url", None)
    if not isinstance(base_url, str):
        return "-"
    settings_class = provider.settings_class
    field = settings_class.model_fields.get("base_url") if settings_class else None
    default = field.default if field is not None else None
    if isinstance(default, str) and base_url == default.rstrip("/"):
        return f"{base_url} (default)"
    return base_url


def _sender_text(provider: Provider) -> str:
    sender = getattr(provider, "sender", None)
    return sender if isinstance(sender, str) and sender else "-"


async def _check_provider(provider: Provider) -> _CheckResult:
    """Call the provider's ``check_credentials()`` and describe the outcome.

    A provider without a credential check passes: its settings were valid,
    because the notifier was built. Only the base URL and the sender are
    read from the provider, never a credential.
    """
    passed, detail = True, "credentials accepted"
    try:
        await provider.check_credentials()
    except UnsupportedFeature:
        detail = "settings valid; this provider has no credential check"
    except NotifierError as error:
        passed, detail = False, f"{type(error).__name__}: {error}"
    return _CheckResult(
        provider.name, _base_url_text(provider), _sender_text(provider), passed, detail
    )


def _warn_unknown_variables() -> None:
    """Warn about variables with a known prefix that no setting reads, with the closest name."""
    for variable in unknown_variables(installed_providers()):
        error_console().print(f"[yellow]warning:[/] {escape(variable.describe())}", soft_wrap=True)


def run_check(args: argparse.Namespace) -> int:
    """Build the configured notifier and check each provider's credentials."""
    # Before building: a misspelt variable is often why the build fails.
    _warn_unknown_variables()

    async def check_all() -> list[_CheckResult]:
        async with build_notifier(args.provider) as notifier:
            return [
                await _check_provider(provider) for provider in _vendor_providers(notifier.provider)
            ]

    results = asyncio.run(check_all())
    console = stdout_console()
    table = Table(title="Configuration check", title_justify="left")
    table.add_column("provider", style="bold")
    table.add_column("base URL")
    table.add_column("sender")
    table.add_column("result")
    for result in results:
        table.add_row(
            result.provider,
            escape(result.base_url),
            escape(result.sender),
            "[green]ok[/]" if result.passed else "[red]failed[/]",
        )
    console.print(table)
    # The details go below the table, unwrapped: an error message squeezed
    # into a table cell on an 80-column terminal is cut off with an ellipsis.
    for result in results:
        if result.detail:
            console.print(f"{escape(result.provider)}: {escape(result.detail)}", soft_wrap=True)
    return EXIT_OK if all(result.passed for result in results) else EXIT_FAILED
