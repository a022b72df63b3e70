"""Tests of the blocking Notifier: the shared loop thread, threads, fork and close."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notifier import (
    DeliveryUnknown,
    Notifier,
    NotifierClosed,
    ProviderUnavailable,
    RejectedError,
    SendResult,
    Sms,
    UnsupportedFeature,
)
from notifier._blocking import _loop_thread
from notifier._plugins import new_plugin_manager
from notifier.testing import FakeProvider

OK_NUMBER = "+998900000010"
LOOP_THREAD_NAME = "notifier-event-loop"

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class LoopRecordingProvider(FakeProvider):
    """A fake that records the thread and event loop of every send."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.loops: set[int] = set()

    async def send(self, message: Sms) -> SendResult:
        self.threads.add(threading.get_ident())
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.001)
        return await super().send(message)


def loop_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == LOOP_THREAD_NAME]


@pytest.fixture(autouse=True)
def no_loop_thread_left() -> Iterator[None]:
    assert not _loop_thread.running, "a previous test left the loop thread running"
    yield
    assert not _loop_thread.running, "the test left a Notifier open"


class TestSend:
    def test_send_returns_result(self) -> None:
        fake = FakeProvider()
        with Notifier(fake) as notifier:
            result = notifier.send(Sms(OK_NUMBER, "Salom, dunyo!"))
        assert result.status.value == "queued"
        assert len(result.attempts) == 1
        assert fake.outbox[0].body == "Salom, dunyo!"
        assert fake.closed

    def test_errors_are_raised_typed(self) -> None:
        with Notifier(FakeProvider()) as notifier:
            with pytest.raises(RejectedError):
                notifier.send(Sms(FakeProvider.REJECTED_NUMBER, "Salom"))
            # The notifier stays usable after an error.
            assert notifier.send(Sms(OK_NUMBER, "Salom")).message_id == "fake-1"

    def test_send_many(self) -> None:
        with Notifier(FakeProvider(batch_size=2)) as notifier:
            outcomes = notifier.send_many(
                (Sms(number, "Salom") for number in (OK_NUMBER, FakeProvider.UNAVAILABLE_NUMBER)),
                concurrency=1,
            )
        assert isinstance(outcomes[0], SendResult)
        assert isinstance(outcomes[1], ProviderUnavailable)

    def test_send_many_batch_switch(self) -> None:
        fake = FakeProvider(batch_size=5)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(3)]
        with Notifier(fake) as notifier:
            single = notifier.send_many(messages, batch=False)
            batched = notifier.send_many(messages, batch=True)
        assert all(isinstance(outcome, SendResult) for outcome in single + batched)
        assert [len(batch) for batch in fake.batches] == [3]
        assert len(fake.outbox) == 6

    def test_send_many_batch_true_unsupported(self) -> None:
        with Notifier(FakeProvider()) as notifier, pytest.raises(UnsupportedFeature) as caught:
            notifier.send_many([Sms(OK_NUMBER, "Salom")], batch=True)
        assert caught.value.provider == "fake"

    def test_build_sms_and_properties(self) -> None:
        fake = FakeProvider()
        manager = new_plugin_manager()
        notifier = Notifier(fake, default_region="KZ", plugins=manager)
        assert notifier.provider is fake
        assert notifier.plugins is manager
        assert notifier.default_region == "KZ"
        assert notifier.build_sms("701 234 5678", "Salem!").to == "+77012345678"
        assert repr(notifier) == "<Notifier provider='fake' state=open>"
        notifier.close()
        assert repr(notifier) == "<Notifier provider='fake' state=closed>"


class TestLoopThread:
    def test_thread_starts_lazily_and_stops_on_close(self) -> None:
        notifier = Notifier(FakeProvider())
        assert loop_threads() == []
        notifier.send(Sms(OK_NUMBER, "Salom"))
        assert len(loop_threads()) == 1
        notifier.close()
        assert loop_threads() == []

    def test_twenty_threads_share_one_loop(self) -> None:
        provider = LoopRecordingProvider()
        results: list[SendResult] = []
        errors: list[BaseException] = []
        start = threading.Barrier(20)

        def work(index: int) -> None:
            start.wait()
            try:
                results.append(notifier.send(Sms(OK_NUMBER, f"xabar {index}")))
            except BaseException as error:
                errors.append(error)

        with Notifier(provider) as notifier:
            threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)

        assert errors == []
        assert len(results) == 20
        assert len({result.message_id for result in results}) == 20
        assert len(provider.outbox) == 20
        assert len(provider.threads) == 1
        assert len(provider.loops) == 1
        assert threading.get_ident() not in provider.threads

    def test_two_notifiers_share_loop_and_provider(self) -> None:
        provider = LoopRecordingProvider()
        first = Notifier(provider)
        second = Notifier(provider)
        first.send(Sms(OK_NUMBER, "birinchi"))
        second.send(Sms(OK_NUMBER, "ikkinchi"))
        assert len(provider.loops) == 1
        assert len(loop_threads()) == 1

        first.close()
        assert not provider.closed
        assert second.send(Sms(OK_NUMBER, "uchinchi")).message_id == "fake-3"
        assert len(loop_threads()) == 1

        second.close()
        assert provider.closed
        assert loop_threads() == []

    def test_close_without_use_closes_provider(self) -> None:
        fake = FakeProvider()
        notifier = Notifier(fake)
        notifier.close()
        assert fake.closed
        assert loop_threads() == []

    def test_close_is_idempotent(self) -> None:
        notifier = Notifier(FakeProvider())
        notifier.send(Sms(OK_NUMBER, "Salom"))
        notifier.close()
        notifier.close()
        assert notifier.closed

    def test_calls_after_close_raise_closed(self) -> None:
        notifier = Notifier(FakeProvider())
        notifier.close()
        with pytest.raises(NotifierClosed):
            notifier.send(Sms(OK_NUMBER, "Salom"))
        with pytest.raises(NotifierClosed):
            notifier.send_many([Sms(OK_NUMBER, "Salom")])
        with pytest.raises(NotifierClosed):
            notifier.call(asyncio.sleep, 0)
        with pytest.raises(NotifierClosed), notifier:
            pass

    def test_usable_again_after_last_close(self) -> None:
        with Notifier(FakeProvider()) as notifier:
            notifier.send(Sms(OK_NUMBER, "Salom"))
        with Notifier(FakeProvider()) as notifier:
            assert notifier.send(Sms(OK_NUMBER, "Salom")).message_id == "fake-1"


class StartedProvider(FakeProvider):
    """A fake whose sends take ``delay`` seconds and count how many started."""

    def __init__(self, *, delay: float) -> None:
        super().__init__(delay=delay)
        self.started = 0

    async def send(self, message: Sms) -> SendResult:
        self.started += 1
        return await super().send(message)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` every 5 ms; fail after 5 s, naming ``what`` was awaited."""
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after 5 s waiting for {what}")
        time.sleep(0.005)


def send_from_threads(
    notifier: Notifier, messages: list[Sms]
) -> tuple[list[threading.Thread], dict[str, SendResult | BaseException]]:
    """Start one thread per message; each stores its result or error under the client_ref."""
    outcomes: dict[str, SendResult | BaseException] = {}

    def work(message: Sms) -> None:
        try:
            outcomes[message.client_ref] = notifier.send(message)
        except BaseException as error:
            outcomes[message.client_ref] = error

    threads = [threading.Thread(target=work, args=(message,)) for message in messages]
    for thread in threads:
        thread.start()
    return threads, outcomes


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a sending thread hung after close()"


class TestCloseWhileSending:
    def test_sends_finish_before_close(self) -> None:
        fake = StartedProvider(delay=0.2)
        notifier = Notifier(fake, close_timeout=10)
        messages = [Sms(OK_NUMBER, f"xabar {i}", client_ref=f"ref-{i}") for i in range(10)]
        threads, outcomes = send_from_threads(notifier, messages)
        wait_until(lambda: fake.started == 10, "10 sends started")

        closer = threading.Thread(target=notifier.close)
        closer.start()
        closer.join(timeout=10)
        join_all(threads)

        assert not closer.is_alive()
        for message in messages:
            outcome = outcomes[message.client_ref]
            assert isinstance(outcome, SendResult)
            assert outcome.client_ref == message.client_ref
        assert len(fake.outbox) == 10
        assert fake.closed

    def test_sends_past_timeout_are_delivery_unknown(self) -> None:
        fake = StartedProvider(delay=30)
        notifier = Notifier(fake, close_timeout=0.05)
        messages = [Sms(OK_NUMBER, f"xabar {i}", client_ref=f"ref-{i}") for i in range(10)]
        threads, outcomes = send_from_threads(notifier, messages)
        wait_until(lambda: fake.started == 10, "10 sends started")

        closer = threading.Thread(target=notifier.close)
        closer.start()
        closer.join(timeout=10)
        join_all(threads)

        assert not closer.is_alive()
        for message in messages:
            outcome = outcomes[message.client_ref]
            assert isinstance(outcome, DeliveryUnknown)
            assert outcome.client_ref == message.client_ref
        assert fake.outbox == []
        assert fake.closed

    def test_sends_during_close_raise_closed(self) -> None:
        fake = StartedProvider(delay=0.3)
        notifier = Notifier(fake, close_timeout=10)
        threads, outcomes = send_from_threads(notifier, [Sms(OK_NUMBER, "birinchi")])
        wait_until(lambda: fake.started == 1, "the send started")
        closer = threading.Thread(target=notifier.close)
        closer.start()
        wait_until(lambda: notifier.closed, "close() started")

        with pytest.raises(NotifierClosed, match="nothing was sent"):
            notifier.send(Sms(OK_NUMBER, "ikkinchi"))
        closer.join(timeout=10)
        join_all(threads)

        assert [type(outcome) for outcome in outcomes.values()] == [SendResult]
        assert [message.body for message in fake.outbox] == ["birinchi"]

    def test_second_close_waits_for_first(self) -> None:
        fake = StartedProvider(delay=0.3)
        notifier = Notifier(fake, close_timeout=10)
        threads, _ = send_from_threads(notifier, [Sms(OK_NUMBER, "Salom")])
        wait_until(lambda: fake.started == 1, "the send started")
        closer = threading.Thread(target=notifier.close)
        closer.start()
        wait_until(lambda: notifier.closed, "close() started")

        notifier.close()

        assert fake.closed
        closer.join(timeout=10)
        join_all(threads)

    def test_close_timeout_argument(self) -> None:
        fake = StartedProvider(delay=30)
        notifier = Notifier(fake)
        assert notifier.close_timeout == 10.0
        threads, outcomes = send_from_threads(notifier, [Sms(OK_NUMBER, "Salom", client_ref="r")])
        wait_until(lambda: fake.started == 1, "the send started")

        notifier.close(timeout=0)
        join_all(threads)

        assert isinstance(outcomes["r"], DeliveryUnknown)

    def test_invalid_timeout_keeps_notifier_open(self) -> None:
        notifier = Notifier(FakeProvider())
        with pytest.raises(ValueError, match="timeout must be a finite number"):
            notifier.close(timeout=-1)
        assert not notifier.closed
        assert notifier.send(Sms(OK_NUMBER, "Salom")).message_id == "fake-1"
        notifier.close()

    def test_close_on_loop_thread_is_rejected(self) -> None:
        async def close_here() -> None:
            notifier.close()

        with Notifier(FakeProvider()) as notifier:
            with pytest.raises(RuntimeError, match="own event-loop thread"):
                notifier.call(close_here)
            assert not notifier.closed


class TestCall:
    def test_runs_coroutine_function_on_loop_thread(self) -> None:
        async def where(prefix: str, *, suffix: str) -> str:
            asyncio.get_running_loop()
            return f"{prefix}{threading.current_thread().name}{suffix}"

        with Notifier(FakeProvider()) as notifier:
            assert notifier.call(where, "<", suffix=">") == f"<{LOOP_THREAD_NAME}>"

    def test_exceptions_propagate(self) -> None:
        async def fail() -> None:
            raise ValueError("balance endpoint failed")

        with (
            Notifier(FakeProvider()) as notifier,
            pytest.raises(ValueError, match="balance endpoint failed"),
        ):
            notifier.call(fail)

    def test_call_from_loop_thread_is_rejected(self) -> None:
        async def reenter() -> None:
            notifier.send(Sms(OK_NUMBER, "Salom"))

        with Notifier(FakeProvider()) as notifier:
            with pytest.raises(RuntimeError, match="own event-loop thread"):
                notifier.call(reenter)
            assert notifier.send(Sms(OK_NUMBER, "Salom")).message_id == "fake-1"

    def test_caller_context_is_visible(self) -> None:
        async def read() -> str:
            return request_id.get()

        with Notifier(FakeProvider()) as notifier:
            token = request_id.set("req-42")
            try:
                assert notifier.call(read) == "req-42"
            finally:
                request_id.reset(token)
            assert notifier.call(read) == "none"

    def test_context_changes_stay_in_the_call(self) -> None:
        async def change() -> None:
            request_id.set("changed")

        with Notifier(FakeProvider()) as notifier:
            notifier.call(change)
            assert request_id.get() == "none"


class TestFromEnv:
    def test_builds_from_env_file(self, tmp_path: Path) -> None:
        env_file = tmp_path / "settings.env"
        env_file.write_text("NOTIFIER_PROVIDER=fake\nNOTIFIER_DEFAULT_REGION=kz\n")
        with Notifier.from_env(env_file, plugins=new_plugin_manager()) as notifier:
            assert isinstance(notifier.provider, FakeProvider)
            assert notifier.default_region == "KZ"
            assert notifier.send(Sms(OK_NUMBER, "Salom")).provider == "fake"


FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, warnings
    from notifier import Notifier, Sms
    from notifier.testing import FakeProvider

    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, Python 3.12+
    fake = FakeProvider()
    notifier = Notifier(fake)
    notifier.send(Sms("+998900000010", "ota jarayon"))
    parent_loop = [t.ident for t in threading.enumerate() if t.name == "notifier-event-loop"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            result = notifier.send(Sms("+998900000010", "bola jarayon"))
            loops = [t.ident for t in threading.enumerate() if t.name == "notifier-event-loop"]
            notifier.close()
            left = [t for t in threading.enumerate() if t.name == "notifier-event-loop"]
            message = f"{result.message_id} {len(loops)} {len(left)} {fake.closed}"
        except BaseException as error:
            message = f"error {type(error).__name__}: {error}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child = os.read(read_end, 1000).decode()
    after = notifier.send(Sms("+998900000010", "yana ota"))
    notifier.close()
    print(child, "|", after.message_id, len(parent_loop), fake.closed)
    """
)


def _run_script(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with this interpreter in a session of its own.

    On timeout the whole process group is killed, the processes the script
    forked included, so a hung child cannot outlive the test. Raises
    ``subprocess.TimeoutExpired`` after killing the group.
    """
    # The script is a constant of this module, run with this interpreter.
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        # The session id is the script's pid, and its forks share the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
def test_loop_thread_restarts_after_fork() -> None:
    completed = _run_script(FORK_SCRIPT, timeout=30)
    assert completed.returncode == 0, completed.stderr
    child, parent = completed.stdout.strip().split(" | ")
    # The child sends on a loop thread of its own and closes it.
    assert child == "fake-2 1 0 True"
    # The parent's loop thread is untouched by the fork.
    assert parent == "fake-2 1 True"


HUNG_FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys, time

    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    with open(sys.argv[1], "w") as handle:
        handle.write(str(pid))
    time.sleep(600)
    """
)


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited: it no longer exists, or it is a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_script_timeout_kills_forked_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = HUNG_FORK_SCRIPT.replace("sys.argv[1]", repr(str(pid_file)))

    with pytest.raises(subprocess.TimeoutExpired):
        _run_script(script, timeout=2.0)

    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5  # a hang guard: SIGKILL takes effect at once
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gone(child), f"forked child {child} survived the timeout"
