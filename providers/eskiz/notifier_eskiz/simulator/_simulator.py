"""``EskizSimulator``: the simulator as a context manager, and ``run()`` for the command line."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import uvicorn

from ._app import create_app
from ._clock import SimulatorClock
from ._config import SimulatorConfig, build_config
from ._faults import ErrorBody, ScriptedFault
from ._messages import StoredMessage, Template
from ._server import LOOPBACK, BackgroundServer, bind_loopback, server_config
from ._state import Account, SimulatorState
from ._stats import SimulatorStats

__all__ = ["ASGI_BASE_URL", "EskizSimulator", "run"]

logger = logging.getLogger("notifier.eskiz.simulator")

ASGI_BASE_URL = "http://127.0.0.1/api"
"""Base URL to use with ``httpx.ASGITransport(app=sim.app)``; no socket is opened."""

# The options configure() may change while the simulator runs, because every
# request reads them again. The others shape accounts and tokens at start.
_RUNTIME_OPTIONS = frozenset(
    {
        "fail_rate",
        "fail_status",
        "fail_retry_after",
        "rate_limit_rate",
        "rate_limit_retry_after",
        "latency",
        "drop_rate",
        "login_fail_rate",
        "login_fail_status",
    }
)


class EskizSimulator:
    """A local stand-in for the Eskiz SMS API.

    As a context manager it serves on a free port of 127.0.0.1 in a
    background thread::

        with EskizSimulator(token_ttl=60, fail_rate=0.1, seed=7) as sim:
            provider = EskizProvider(email=sim.email, password=sim.password,
                                     base_url=sim.base_url)

    Keyword options are the fields of ``SimulatorConfig``. Without starting
    it, ``sim.app`` serves in-process through ``httpx.ASGITransport`` with
    ``ASGI_BASE_URL``. Every method is safe to call from any thread while the
    server runs.
    """

    def __init__(self, config: SimulatorConfig | None = None, **options: Any) -> None:
        self.config = build_config(config, options)
        self.state = SimulatorState(self.config)
        self.app = create_app(self.state)
        self._server: BackgroundServer | None = None

    def configure(self, **options: Any) -> None:
        """Change the random faults and the latency while the simulator runs.

        ``options`` are these ``SimulatorConfig`` fields, as for
        ``TwilioSimulator.configure()``: ``fail_rate``, ``fail_status``,
        ``fail_retry_after``, ``rate_limit_rate``, ``rate_limit_retry_after``,
        ``latency``, ``drop_rate``, ``login_fail_rate`` and
        ``login_fail_status``. Other settings shape accounts and tokens when
        the simulator is created, so pass them to the constructor.

        Raises:
            TypeError: an option is not a ``SimulatorConfig`` field.
            ValueError: an option cannot change at run time, or its value is invalid.
        """
        fixed = sorted(set(options) - _RUNTIME_OPTIONS)
        config = build_config(self.config, options)
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change while the simulator runs; pass it to "
                f"EskizSimulator(...). configure() accepts: {', '.join(sorted(_RUNTIME_OPTIONS))}"
            )
        self.config = config
        self.state.config = config

    # --- Lifecycle ---

    def start(self) -> EskizSimulator:
        """Start serving on a free loopback port; returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running; stop() it before starting again")
        server = BackgroundServer(self.app)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving; a stopped simulator keeps its state and can start again."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> EskizSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._require_server().port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api``, the value for the provider's ``base_url``."""
        server = self._require_server()
        return f"http://{server.host}:{server.port}/api"

    def _require_server(self) -> BackgroundServer:
        if self._server is None:
            raise RuntimeError(
                "the simulator is not running: use 'with EskizSimulator() as sim' or call "
                f"start(); for in-process use pass sim.app to httpx.ASGITransport with "
                f"base URL {ASGI_BASE_URL}"
            )
        return self._server

    # --- Account ---

    @property
    def email(self) -> str:
        return self.state.main_account.email

    @property
    def password(self) -> str:
        return self.state.main_account.password

    @property
    def account(self) -> Account:
        """The main account, the one ``email`` and ``password`` log in to."""
        return self.state.main_account

    @property
    def balance(self) -> int:
        """Balance of the main account in UZS."""
        return self.state.balance(self.account.id)

    def set_balance(self, balance: int) -> None:
        self.state.set_balance(self.account.id, balance)

    def add_account(
        self,
        email: str,
        password: str,
        *,
        role: str = "user",
        balance: int = 1_000_000,
        nicks: Iterable[str] = ("4546",),
        name: str = "Simulator",
    ) -> Account:
        """Add another account, e.g. to check that two credentials never share a token."""
        return self.state.add_account(
            email=email, password=password, role=role, balance=balance, nicks=nicks, name=name
        )

    # --- Counters and stored data ---

    @property
    def stats(self) -> SimulatorStats:
        return self.state.stats

    def reset_stats(self) -> None:
        """Set every counter, the per-path request counts included, back to zero."""
        self.state.stats.reset()

    @property
    def messages(self) -> list[StoredMessage]:
        """Snapshots of every accepted message as it is now, oldest first."""
        return self.state.messages()

    def message(self, message_id: int) -> StoredMessage:
        """Return the message with this numeric id; raises KeyError when there is none."""
        found = self.state.message(message_id)
        if found is None:
            raise KeyError(f"no message with id {message_id}")
        return found

    @property
    def templates(self) -> list[Template]:
        return self.state.templates()

    def approve_template(self, template: int | str, *, status: str | None = None) -> Template:
        """Approve a submitted template, found by id or exact text."""
        return self.state.approve_template(template, status=status)

    # --- Time and message progress ---

    @property
    def clock(self) -> SimulatorClock:
        return self.state.clock

    def expire_tokens(self) -> int:
        """Expire every token issued so far; return how many were issued.

        Tokens issued later are valid as usual.
        """
        return self.state.tokens.expire_all()

    def advance(self, seconds: float) -> int:
        """Move the clock forward and apply every status change that became due.

        Tokens whose lifetime passed expire too. Returns the number of changes.
        """
        self.state.clock.advance(seconds)
        return self.state.apply_due()

    def tick(self) -> int:
        """Apply the status changes due now; return how many were made."""
        return self.state.apply_due()

    def settle(self) -> int:
        """Move every pending message to its final state now, timers ignored."""
        return self.state.settle()

    def set_outcome(self, phone: str, outcome: str) -> None:
        """Make later messages to ``phone`` (digits, country code first) end in ``outcome``."""
        self.state.set_outcome(phone, outcome)

    async def flush_callbacks(self) -> int:
        """Send the queued delivery callbacks from the caller's event loop.

        For in-process use, where no background server sends them; returns the
        number of status changes reported.
        """
        return await self.app.dispatcher.flush()

    # --- Scripted faults ---

    def fail_next(
        self,
        status: int,
        times: int = 1,
        path: str | None = None,
        retry_after: float | str | None = None,
        body: ErrorBody | None = None,
    ) -> None:
        """Respond to the next ``times`` requests to ``path`` with ``status``.

        ``path`` is an fnmatch pattern without the ``/api`` prefix, such as
        ``"/message/sms/send"`` or ``"/message/sms/status_by_id/*"``; ``None``
        matches every request, login included. ``retry_after`` sets the
        ``Retry-After`` header (seconds, or an HTTP date as text). ``body``
        replaces the default error body: a mapping or list is sent as JSON,
        text as-is.
        """
        self.state.faults.add_failure(
            status, times=times, path=path, retry_after=retry_after, body=body
        )

    def drop_next(
        self,
        times: int = 1,
        path: str | None = None,
        *,
        processed: bool | None = None,
        after_processing: bool | None = None,
    ) -> None:
        """Close the connection of the next ``times`` requests without a response.

        The request is read first. With ``processed=True`` it is also handled
        (a send is stored and billed) before the connection closes, as when a
        response is lost on the way back. ``after_processing`` is the same
        option under the Twilio simulator's name.
        """
        if processed is not None and after_processing is not None:
            raise TypeError("pass either processed or after_processing, not both")
        handled = processed if processed is not None else after_processing
        self.state.faults.add_drop(times=times, path=path, processed=bool(handled))

    def delay_next(self, seconds: float, times: int = 1, path: str | None = None) -> None:
        """Hold back the response to the next ``times`` requests for ``seconds``.

        The request itself is handled at once, so a client that gives up
        early leaves a processed request behind.
        """
        self.state.faults.add_delay(seconds, times=times, path=path)

    @property
    def pending_faults(self) -> list[ScriptedFault]:
        return self.state.faults.pending()

    def clear_faults(self) -> None:
        """Forget every scripted fault not yet used."""
        self.state.faults.clear()

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "not running"
        return f"<EskizSimulator {where}>"


def run(host: str = LOOPBACK, port: int = 8765, **options: Any) -> None:
    """Serve the simulator in the foreground until interrupted (Ctrl+C).

    Prints the base URL and the credentials it accepts. ``options`` are
    ``SimulatorConfig`` fields. The default address is 127.0.0.1; another
    address exposes the simulator to the network and is logged as a warning.
    """
    simulator = EskizSimulator(**options)
    if host not in (LOOPBACK, "::1", "localhost"):
        logger.warning("The Eskiz simulator listens on %s, not only on loopback", host)
    sock: socket.socket = bind_loopback(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Eskiz simulator serving on http://{shown_host}:{bound_port}/api")
    print(f"  ESKIZ_BASE_URL=http://{shown_host}:{bound_port}/api")
    print(f"  ESKIZ_EMAIL={simulator.email}")
    print(f"  ESKIZ_PASSWORD={simulator.password}")
    print("Press Ctrl+C to stop.", flush=True)
    server = uvicorn.Server(server_config(simulator.app))
    server.run(sockets=[sock])
