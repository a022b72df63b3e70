"""Run Eskiz simulators in a child process and read their counters over a pipe.

The simulator runs in its own process so that it and the client under test
do not share one GIL. The child serves each named simulator's ASGI app
under uvicorn on a loopback port of its own. Through a ``multiprocessing``
pipe, the parent starts and stops simulators and resets and reads each
one's ``stats`` between setups.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
import time
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from typing_extensions import Self

__all__ = ["LoopbackSimulator", "SimulatorEndpoint", "SimulatorProcess"]

_START_TIMEOUT = 60.0  # seconds for the child to import, bind and report its URLs
_REPLY_TIMEOUT = 30.0  # seconds for one command
_STOP_TIMEOUT = 15.0  # seconds for the child to exit after "exit"


def _loopback_socket() -> socket.socket:
    # NOTE: created with proto IPPROTO_TCP on purpose. asyncio turns on
    # TCP_NODELAY only for sockets whose proto is IPPROTO_TCP (see
    # asyncio.base_events._set_nodelay in CPython 3.10 to 3.13), and accepted
    # connections inherit the listener's proto. Without it, each response
    # that uvicorn writes in two parts waits for the client's delayed ACK,
    # about 40 ms on Linux, and every measurement here would show that wait.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    except OSError:
        sock.close()
        raise
    return sock


class LoopbackSimulator:
    """One ``EskizSimulator`` app under uvicorn in a thread of the calling process.

    The child process of ``SimulatorProcess`` runs one per named simulator.
    uvicorn serves the simulator's ASGI app with the HTTP/1.1 implementation
    the simulator's own server uses (h11), on a socket made by
    ``_loopback_socket``. ``start()`` returns the base URL and credentials.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        import uvicorn

        from notifier_eskiz.simulator import EskizSimulator

        self.simulator = EskizSimulator(**options)
        self._socket = _loopback_socket()
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.simulator.app,
            http="h11",
            ws="none",
            lifespan="on",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"eskiz-simulator-{self.port}",
            daemon=True,
        )

    def start(self) -> dict[str, str]:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator on 127.0.0.1:{self.port} did not start")
            time.sleep(0.01)
        return {
            "base_url": f"http://127.0.0.1:{self.port}/api",
            "email": self.simulator.email,
            "password": self.simulator.password,
        }

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        self._socket.close()


def _serve(connection: Connection, configs: dict[str, dict[str, Any]]) -> None:
    """Serve one simulator per config in the child process and run commands until "exit"."""
    served: dict[str, LoopbackSimulator] = {}

    def start(name: str, options: dict[str, Any]) -> dict[str, str]:
        if name in served:
            raise ValueError(f"a simulator named {name!r} is already running")
        served[name] = LoopbackSimulator(options)
        return served[name].start()

    try:
        connection.send({name: start(name, options) for name, options in configs.items()})
        while True:
            command, name, payload = connection.recv()
            if command == "exit":
                break
            try:
                if command == "start":
                    reply: Any = start(name, payload)
                elif command == "stop":
                    served.pop(name).stop()
                    reply = None
                elif command == "reset":
                    served[name].simulator.reset_stats()
                    reply = None
                elif command == "cpu":
                    # Every simulator of the process shares this CPU time.
                    reply = time.process_time()
                elif command == "stats":
                    stats = served[name].simulator.stats
                    reply = {"counters": stats.snapshot(), "requests": dict(stats.requests)}
                else:
                    raise ValueError(f"unknown simulator command {command!r}")
            except (KeyError, ValueError, RuntimeError) as exc:
                reply = exc
            connection.send(reply)
    finally:
        for simulator in served.values():
            simulator.stop()
        connection.close()


class SimulatorEndpoint:
    """Address and credentials of one simulator in the child process."""

    def __init__(self, process: SimulatorProcess, name: str, info: dict[str, str]) -> None:
        self._process = process
        self.name = name
        self.base_url = info["base_url"]
        self.email = info["email"]
        self.password = info["password"]

    def reset_stats(self) -> None:
        self._process.call("reset", self.name)

    def stop(self) -> None:
        """Stop this simulator; the process and its other simulators keep running."""
        self._process.call("stop", self.name)
        self._process.endpoints.pop(self.name, None)

    def process_cpu_seconds(self) -> float:
        """CPU time the simulator process has used so far, all its simulators together."""
        seconds: float = self._process.call("cpu", self.name)
        return seconds

    def stats(self) -> dict[str, Any]:
        """``{"counters": {...}, "requests": {path: count}}`` read at one moment."""
        result: dict[str, Any] = self._process.call("stats", self.name)
        return result


class SimulatorProcess:
    """A child process serving named Eskiz simulators on 127.0.0.1.

    ``configs`` maps a name to ``EskizSimulator`` keyword options::

        with SimulatorProcess({"main": {"billing": False}}) as simulators:
            endpoint = simulators["main"]
            endpoint.reset_stats()
    """

    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self._configs = configs
        # spawn: the child starts from a clean interpreter instead of a fork
        # of a parent that may already hold threads and open sockets.
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Connection | None = None
        self.endpoints: dict[str, SimulatorEndpoint] = {}

    def __getitem__(self, name: str) -> SimulatorEndpoint:
        return self.endpoints[name]

    def start(self) -> Self:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child_end, self._configs), name="eskiz-simulator", daemon=True
        )
        process.start()
        child_end.close()
        self._process = process
        self._connection = parent_end
        if not parent_end.poll(_START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the simulator process did not start within {_START_TIMEOUT:.0f} s")
        try:
            ready: dict[str, dict[str, str]] = parent_end.recv()
        except EOFError:
            self.stop()
            raise RuntimeError(
                "the simulator process exited during startup; its error is printed above"
            ) from None
        self.endpoints = {name: SimulatorEndpoint(self, name, info) for name, info in ready.items()}
        return self

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    def start_simulator(self, name: str, options: dict[str, Any]) -> SimulatorEndpoint:
        """Start one more simulator in the child process."""
        info: dict[str, str] = self.call("start", name, options)
        endpoint = self.endpoints[name] = SimulatorEndpoint(self, name, info)
        return endpoint

    def call(self, command: str, name: str, payload: Any = None) -> Any:
        connection = self._connection
        if connection is None:
            raise RuntimeError("the simulator process is not running")
        connection.send((command, name, payload))
        if not connection.poll(_REPLY_TIMEOUT):
            raise RuntimeError(
                f"the simulator process did not reply to {command!r} within {_REPLY_TIMEOUT:.0f} s"
            )
        reply = connection.recv()
        if isinstance(reply, Exception):
            raise reply
        return reply

    def stop(self) -> None:
        """Ask the child to stop its servers and exit; terminate it if it does not."""
        connection, self._connection = self._connection, None
        process, self._process = self._process, None
        if connection is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                connection.send(("exit", "", None))
            connection.close()
        if process is not None:
            process.join(_STOP_TIMEOUT)
            if process.is_alive():
                process.terminate()
                process.join(_STOP_TIMEOUT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
