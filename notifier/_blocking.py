"""``Notifier``: the blocking facade over ``AsyncNotifier`` for sync code.

Every call runs the same async code on one event-loop thread per process,
reached through an anyio blocking portal. The thread starts on first use,
is shared by every ``Notifier``, and stops when the last notifier that used
it closes. Sharing one loop is what lets threads and notifiers share one
provider: an async provider (its token lock, its connection pool) may only
be used from one event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pluggy
from anyio.from_thread import BlockingPortal
from typing_extensions import ParamSpec, Self

from ._errors import NotifierClosed, NotifierError
from ._models import SendResult, Sms
from ._notifier import DEFAULT_CLOSE_TIMEOUT, AsyncNotifier, ProviderInput, check_close_timeout
from ._provider import Provider

__all__ = ["Notifier"]

T = TypeVar("T")
P = ParamSpec("P")

_THREAD_NAME = "notifier-event-loop"


def _start_loop_thread() -> tuple[BlockingPortal, threading.Thread]:
    """Start a daemon thread running an asyncio loop that serves a blocking portal.

    This does the work of ``anyio.from_thread.start_blocking_portal()``
    without its context-manager generator: in a child process after
    ``os.fork()``, finalizing that generator would wait forever for a loop
    thread that only exists in the parent.
    """
    started: Future[BlockingPortal] = Future()

    async def serve() -> None:
        async with BlockingPortal() as portal:
            started.set_result(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        try:
            anyio.run(serve, backend="asyncio")
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
            raise

    thread = threading.Thread(target=run, name=_THREAD_NAME, daemon=True)
    thread.start()
    return started.result(), thread


class _LoopThread:
    """The process-wide event-loop thread behind every ``Notifier``.

    Reference-counted: each notifier that has made a call holds one
    reference until it closes, and the thread stops when none is left.
    After ``os.fork()`` the child drops its reference to the parent's thread,
    which does not exist in the child, and starts its own on first use.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._users = 0

    def acquire_locked(self) -> BlockingPortal:
        """Take a reference, starting the thread if needed. Call with ``lock`` held."""
        if self._portal is None:
            self._portal, self._thread = _start_loop_thread()
        self._users += 1
        return self._portal

    def release(self) -> None:
        """Drop a reference, stopping the thread when it was the last one."""
        with self.lock:
            self._users -= 1
            if self._users > 0:
                return
            portal, thread = self._portal, self._thread
            self._portal = self._thread = None
            self._users = 0
        if portal is not None and thread is not None:
            # stop() lets calls still running on the loop finish first.
            portal.call(portal.stop)
            thread.join()

    def reset_after_fork(self) -> None:
        self.lock = threading.Lock()
        self._portal = None
        self._thread = None
        self._users = 0

    def is_current(self) -> bool:
        """Whether the calling thread is the loop thread."""
        return self._thread is not None and self._thread is threading.current_thread()

    @property
    def running(self) -> bool:
        """Whether the loop thread is started in this process."""
        return self._portal is not None


_loop_thread = _LoopThread()
if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork()
    os.register_at_fork(after_in_child=_loop_thread.reset_after_fork)


def _start_in_context(function: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
    # Runs inside the caller's copied context: the task created here copies
    # that context, so the caller's current span and other context variables
    # are current in the task too (asyncio.create_task(context=...) would do
    # the same but needs Python 3.11).
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None:
        # A caller on a trio worker thread carries sniffio's "trio" marker;
        # the loop thread runs asyncio.
        sniffio.current_async_library_cvar.set(None)
    return asyncio.ensure_future(function())


async def _run_in_context(context: contextvars.Context, function: Callable[[], Awaitable[T]]) -> T:
    # Cancelling this coroutine cancels the task it awaits.
    return await context.run(_start_in_context, function)


class Notifier:
    """Send messages from blocking code: Django, Flask, scripts, worker threads.

    It takes the same arguments as ``AsyncNotifier`` and runs it on a private
    event-loop thread, so providers are written once, async::

        with Notifier(EskizProvider.from_env()) as notifier:
            result = notifier.send(Sms("+998901234567", "Kod: 4512"))

    The thread starts on the first call and is shared by every ``Notifier``
    in the process. It stops when the last of them is closed, and a child
    process starts its own after ``os.fork()``. A notifier is safe to use
    from many threads at once: they all share its provider, and with it one
    token and one connection pool.

    Each call runs in a copy of the calling thread's ``contextvars`` context,
    so the ``notifier.send`` span is a child of the caller's current span.
    ``loop.run_in_executor()`` does not copy the context into the worker
    thread; use ``asyncio.to_thread()`` or ``contextvars.copy_context().run``
    to keep the parent span.

    ``close()`` lets sends in flight in other threads finish, for up to
    ``close_timeout`` seconds (10 by default). Then it closes the provider
    unless another open notifier uses it; see ``close()``.

    NOTE: a provider must not be shared between a ``Notifier`` and an
    ``AsyncNotifier`` on an application's own loop: it would then be used
    from two event loops.
    """

    def __init__(
        self,
        provider: ProviderInput,
        *,
        default_region: str = "UZ",
        plugins: pluggy.PluginManager | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        self._init_from(
            AsyncNotifier(
                provider,
                default_region=default_region,
                plugins=plugins,
                close_timeout=close_timeout,
            )
        )

    def _init_from(self, engine: AsyncNotifier) -> None:
        self._engine = engine
        self._portal: BlockingPortal | None = None
        self._pid = os.getpid()
        self._closed = False
        # Set when the first close() has finished, for other threads that call close().
        self._close_finished = threading.Event()

    @classmethod
    def _wrap(cls, engine: AsyncNotifier) -> Self:
        notifier = cls.__new__(cls)
        notifier._init_from(engine)
        return notifier

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Notifier provider={self._engine.provider.name!r} state={state}>"

    @classmethod
    def from_env(
        cls,
        env_file: str | Path | None = ".env",
        *,
        plugins: pluggy.PluginManager | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> Self:
        """Build a notifier from ``NOTIFIER_*`` variables and ``env_file``.

        See ``AsyncNotifier.from_env()``; it raises the same errors.
        """
        return cls._wrap(
            AsyncNotifier.from_env(env_file, plugins=plugins, close_timeout=close_timeout)
        )

    @property
    def provider(self) -> Provider:
        """The provider or routing policy every message goes through."""
        return self._engine.provider

    @property
    def default_region(self) -> str:
        """The region ``build_sms()`` resolves national numbers with."""
        return self._engine.default_region

    @property
    def plugins(self) -> pluggy.PluginManager:
        """The plugin manager whose observer hooks this notifier calls."""
        return self._engine.plugins

    @property
    def close_timeout(self) -> float:
        """Seconds ``close()`` waits for sends in flight before it cancels them."""
        return self._engine.close_timeout

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called; true while it still waits for sends in flight."""
        return self._closed

    def build_sms(self, to: str, body: str, **fields: Any) -> Sms:
        """Build an ``Sms``, resolving a national number with ``default_region``."""
        return self._engine.build_sms(to, body, **fields)

    def send(self, message: Sms) -> SendResult:
        """Send one message and return the provider's result.

        Blocks until the provider responds or fails. Raises what ``AsyncNotifier.send()``
        raises.
        """
        return self._run(functools.partial(self._engine.send, message))

    def send_many(
        self,
        messages: Iterable[Sms],
        *,
        concurrency: int = 16,
        batch: bool | None = None,
    ) -> list[SendResult | NotifierError]:
        """Send many messages; return one result or error per message, in input order.

        ``batch`` chooses between the provider's batch endpoint and one
        request per message; see ``AsyncNotifier.send_many()``, whose errors
        it raises.
        """
        items = list(messages)
        return self._run(
            functools.partial(self._engine.send_many, items, concurrency=concurrency, batch=batch)
        )

    def call(self, function: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a coroutine function on the notifier's event loop and return its result.

        This is the blocking way to reach a provider's own endpoints::

            balance = notifier.call(notifier.provider.balance)
        """
        return self._run(functools.partial(function, *args, **kwargs))

    def close(self, *, timeout: float | None = None) -> None:
        """Close the notifier and, unless another open notifier uses it, its provider.

        Safe to call from any thread while other threads send. New calls
        raise ``NotifierClosed`` at once. Sends in flight go on for up to
        ``timeout`` seconds (``close_timeout`` when ``None``) and return as
        usual. Those still running after that raise ``DeliveryUnknown`` with
        their ``client_ref``, because the provider may already have accepted
        the message. See ``AsyncNotifier.aclose()``.

        Idempotent: a call from another thread while the first one runs waits
        until it has finished.

        Raises:
            ValueError: ``timeout`` is not a finite number of seconds >= 0.
            RuntimeError: called on the notifier's own event-loop thread.
        """
        if timeout is not None:
            check_close_timeout(timeout, "timeout")
        if _loop_thread.is_current():
            # Waiting here for the loop to finish the close would block that same loop.
            raise RuntimeError(
                "Notifier.close() was called on the notifier's own event-loop thread, for "
                "example from an observer hook or a provider; close it from another thread."
            )
        with _loop_thread.lock:
            first = not self._closed
            self._closed = True
        if not first:
            self._close_finished.wait()
            return
        try:
            self._run(functools.partial(self._engine.aclose, timeout=timeout), check_closed=False)
        finally:
            with _loop_thread.lock:
                held = self._portal is not None and self._pid == os.getpid()
                self._portal = None
            if held:
                _loop_thread.release()
            self._close_finished.set()

    def __enter__(self) -> Self:
        if self._closed:
            raise _closed_error()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _portal_for_call(self, *, check_closed: bool) -> BlockingPortal:
        portal = self._portal
        if portal is not None and self._pid == os.getpid() and not self._closed:
            return portal
        with _loop_thread.lock:
            if check_closed and self._closed:
                raise _closed_error()
            if self._portal is None or self._pid != os.getpid():
                # First call, or first call in a forked child, where the
                # parent's loop thread does not exist.
                self._portal = _loop_thread.acquire_locked()
                self._pid = os.getpid()
            return self._portal

    def _run(self, function: Callable[[], Awaitable[T]], *, check_closed: bool = True) -> T:
        if _loop_thread.is_current():
            # Waiting here for the loop to run the call would block that same loop.
            raise RuntimeError(
                "A blocking Notifier method was called on the notifier's own event-loop "
                "thread, for example from an observer hook or a provider; use an "
                "AsyncNotifier and await it there instead."
            )
        portal = self._portal_for_call(check_closed=check_closed)
        context = contextvars.copy_context()
        try:
            future = portal.start_task_soon(_run_in_context, context, function)
        except RuntimeError:
            # close() in another thread stopped the loop thread after this
            # call found the notifier open.
            if self._closed:
                raise _closed_error() from None
            raise
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt while waiting: do not leave the send running.
            future.cancel()
            raise


def _closed_error() -> NotifierClosed:
    return NotifierClosed(
        "This notifier is closed, so nothing was sent; create a new one to send again."
    )
