"""Eskiz simulator: injected faults, request counters and their thread safety."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from notifier_eskiz.simulator import EskizSimulator
from tests.eskiz.simulator_support import PHONE, login, send_sms, serve


@pytest.fixture
def serving() -> Iterator[tuple[EskizSimulator, httpx.Client]]:
    with serve() as result:
        yield result


class TestRandomFaults:
    def test_fail_rate_one_fails_everything(self) -> None:
        with serve(fail_rate=1.0) as (sim, client):
            login_response = client.post(
                "/auth/login", data={"email": sim.email, "password": sim.password}
            )
            other = client.get("/user/get-limit")
            unknown = client.get("/nothing")
        for response in (login_response, other, unknown):
            assert response.status_code == 503
            assert "retry-after" not in response.headers
        assert login_response.json() == {"status": "error", "message": "Service Unavailable"}
        assert sim.stats.logins == 0
        assert sim.stats.faults == 3
        assert sim.stats.requests["/auth/login"] == 1

    def test_fail_retry_after(self) -> None:
        with serve(fail_rate=1.0, fail_retry_after=3, fail_status=502) as (_, client):
            response = client.get("/user/get-limit")
        assert response.status_code == 502
        assert response.headers["retry-after"] == "3"
        assert response.headers["content-type"].startswith("text/html")
        assert "502 Bad Gateway" in response.text

    def test_rate_limit(self) -> None:
        with serve(rate_limit_rate=1.0) as (_, client):
            response = client.get("/user/get-limit")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json() == {"status": "error", "message": "Too Many Attempts."}

    def test_login_fail_rate_hits_only_login(self) -> None:
        with serve(login_fail_rate=1.0) as (sim, client):
            failed = client.post("/auth/login", data={"email": sim.email, "password": sim.password})
            other = client.get("/user/get-limit")
        assert failed.status_code == 500
        assert other.status_code == 401
        assert sim.stats.logins == 0

    def test_drop_rate(self) -> None:
        with serve(drop_rate=1.0) as (sim, client), pytest.raises(httpx.RemoteProtocolError):
            client.post("/auth/login", data={"email": sim.email, "password": sim.password})
        assert sim.stats.drops == 1
        assert sim.stats.logins == 0

    def test_latency_causes_read_timeout(self) -> None:
        with serve(latency=(0.4, 0.5)) as (sim, client):
            with pytest.raises(httpx.ReadTimeout):
                client.get("/user/prices", timeout=0.1)
            # The request was handled, and only its response was late.
            assert sim.stats.requests["/user/prices"] == 1

    def test_seeded_faults_repeat(self) -> None:
        runs = []
        for _ in range(2):
            with serve(fail_rate=0.5, seed=3) as (_, client):
                runs.append([client.get("/nothing").status_code for _ in range(30)])
        assert runs[0] == runs[1]
        assert set(runs[0]) == {404, 503}


class TestScriptedFaults:
    def test_fail_next_times_and_path(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        sim.fail_next(503, times=2, path="/message/sms/send", retry_after=2)
        assert client.get("/user/get-limit", headers=headers).status_code == 200
        first = send_sms(client, headers)
        second = send_sms(client, headers)
        third = send_sms(client, headers)
        assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
        assert first.headers["retry-after"] == "2"
        assert sim.stats.sends == 1
        assert sim.stats.requests["/message/sms/send"] == 3
        assert sim.pending_faults == []

    def test_fail_next_without_path_hits_login(
        self, serving: tuple[EskizSimulator, httpx.Client]
    ) -> None:
        sim, client = serving
        sim.fail_next(401)
        response = client.post("/auth/login", data={"email": sim.email, "password": sim.password})
        assert response.status_code == 401
        assert response.json() == {"status": "token-invalid", "message": "Expired token"}
        assert sim.stats.logins == 0

    def test_fail_next_path_pattern(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        sim.fail_next(500, path="/message/sms/status_by_id/*")
        assert client.get("/message/sms/status_by_id/42", headers=headers).status_code == 500
        assert client.get("/message/sms/status_by_id/42", headers=headers).status_code == 404

    def test_fail_next_accepts_api_prefix(
        self, serving: tuple[EskizSimulator, httpx.Client]
    ) -> None:
        sim, client = serving
        sim.fail_next(504, path="/api/user/prices")
        response = client.get("/user/prices")
        assert response.status_code == 504
        assert "504 Gateway Timeout" in response.text

    def test_fail_next_custom_bodies(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        sim.fail_next(400, body={"status": "error", "message": "Balans yetarli emas"})
        sim.fail_next(503, body="upstream down")
        sim.fail_next(429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
        json_answer = client.get("/user/prices")
        text_answer = client.get("/user/prices")
        dated = client.get("/user/prices")
        assert json_answer.json() == {"status": "error", "message": "Balans yetarli emas"}
        assert text_answer.text == "upstream down"
        assert text_answer.headers["content-type"].startswith("text/plain")
        assert dated.headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"

    def test_drop_next_before_handling(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        sim.drop_next(path="/message/sms/send")
        with pytest.raises(httpx.RemoteProtocolError):
            send_sms(client, headers)
        assert sim.stats.sends == 0
        assert sim.stats.drops == 1
        assert send_sms(client, headers).status_code == 200

    def test_drop_next_after_handling(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        sim.drop_next(path="/message/sms/send", processed=True)
        with pytest.raises(httpx.RemoteProtocolError):
            send_sms(client, headers)
        assert sim.stats.sends == 1
        assert sim.messages[0].to == PHONE

    def test_drop_next_after_processing_alias(
        self, serving: tuple[EskizSimulator, httpx.Client]
    ) -> None:
        sim, client = serving
        headers = login(client, sim)
        sim.drop_next(path="/message/sms/send", after_processing=True)
        with pytest.raises(httpx.RemoteProtocolError):
            send_sms(client, headers)
        assert sim.stats.sends == 1
        with pytest.raises(TypeError, match="not both"):
            sim.drop_next(processed=True, after_processing=True)

    def test_configure_changes_faults(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        sim.configure(fail_rate=1.0, fail_status=502)
        assert client.get("/user/get-limit").status_code == 502
        sim.configure(fail_rate=0.0, latency=0.5)
        with pytest.raises(httpx.ReadTimeout):
            client.get("/user/get-limit", timeout=0.1)
        assert sim.config.latency == 0.5

    def test_configure_rejects_start_options(
        self, serving: tuple[EskizSimulator, httpx.Client]
    ) -> None:
        sim, _ = serving
        with pytest.raises(ValueError, match="token_ttl cannot change while the simulator runs"):
            sim.configure(token_ttl=5)
        with pytest.raises(TypeError, match="Unknown simulator option"):
            sim.configure(fail_rat=1.0)
        with pytest.raises(ValueError, match="fail_rate"):
            sim.configure(fail_rate=2.0)
        assert sim.config.fail_rate == 0.0

    def test_drop_next_times(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        sim.drop_next(times=2)
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError):
                client.get("/user/prices")
        assert client.get("/user/prices").status_code == 401

    def test_delay_next_leaves_processed_request(
        self, serving: tuple[EskizSimulator, httpx.Client]
    ) -> None:
        sim, client = serving
        headers = login(client, sim)
        sim.delay_next(1.0, path="/message/sms/send")
        with pytest.raises(httpx.ReadTimeout):
            client.post(
                "/message/sms/send",
                data={"mobile_phone": PHONE, "message": "Salom"},
                headers=headers,
                timeout=0.2,
            )
        assert sim.stats.sends == 1
        assert send_sms(client, headers).status_code == 200

    def test_clear_faults(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        sim.fail_next(503, times=5)
        sim.clear_faults()
        assert client.get("/user/prices").status_code == 401

    @pytest.mark.parametrize(
        ("status", "times", "path"),
        [(200, 1, None), (503, 0, None), (503, 1, "message/sms/send")],
        ids=["success-status", "zero-times", "relative-path"],
    )
    def test_invalid_script(
        self,
        serving: tuple[EskizSimulator, httpx.Client],
        status: int,
        times: int,
        path: str | None,
    ) -> None:
        sim, _ = serving
        with pytest.raises(ValueError, match=r"status|times|path"):
            sim.fail_next(status, times=times, path=path)


class TestCounters:
    def test_requests_per_path(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        send_sms(client, headers)
        client.get("/nothing")
        requests = sim.stats.requests
        assert requests["/auth/login"] == 1
        assert requests["/message/sms/send"] == 1
        assert requests["/nothing"] == 1
        assert requests["/message/sms/send-batch"] == 0

    def test_reset_stats(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        send_sms(client, headers)
        sim.reset_stats()
        assert sim.stats.logins == 0
        assert sim.stats.sends == 0
        assert sum(sim.stats.requests.values()) == 0
        assert len(sim.messages) == 1

    def test_counters_from_many_threads(self, serving: tuple[EskizSimulator, httpx.Client]) -> None:
        sim, client = serving
        headers = login(client, sim)
        threads, per_thread = 8, 25
        errors: list[BaseException] = []

        def send_many() -> None:
            try:
                with httpx.Client(base_url=sim.base_url, timeout=10) as own:
                    for _ in range(per_thread):
                        assert send_sms(own, headers).status_code == 200
            except BaseException as exc:  # reported to the main thread below
                errors.append(exc)

        workers = [threading.Thread(target=send_many) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert errors == []
        total = threads * per_thread
        assert sim.stats.sends == total
        assert sim.stats.requests["/message/sms/send"] == total
        assert len({message.id for message in sim.messages}) == total
        assert sim.balance == 1_000_000 - 50 * total


def _wait_for_record(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 5.0) -> None:
    """Wait until a log record containing ``text`` arrives; a hang guard, not a timing check."""
    deadline = time.monotonic() + timeout
    while not any(text in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, f"no log record containing {text!r}"
        time.sleep(0.01)


def _assert_quiet(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert errors == []
    assert "CancelledError" not in caplog.text
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "CancelledError" not in captured.err


class TestAbandonedResponses:
    """A client that gives up on a delayed response leaves no traceback behind."""

    @pytest.mark.parametrize("fault", ["delay_next", "latency"])
    def test_client_timeout_ends_request_quietly(
        self, fault: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier.eskiz.simulator")
        options: dict[str, Any] = {"latency": 5.0} if fault == "latency" else {}
        with serve(**options) as (sim, client):
            if fault == "delay_next":
                sim.delay_next(5.0, path="/user/prices")
            with pytest.raises(httpx.ReadTimeout):
                client.get("/user/prices", timeout=0.2)
            _wait_for_record(caplog, "disconnected before its delayed response")
            assert sim.stats.requests["/user/prices"] == 1
        _assert_quiet(caplog, capsys)

    def test_drop_after_delay_client_gone(
        self,
        serving: tuple[EskizSimulator, httpx.Client],
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier.eskiz.simulator")
        sim, client = serving
        sim.delay_next(5.0, path="/user/prices")
        sim.drop_next(path="/user/prices")
        with pytest.raises(httpx.ReadTimeout):
            client.get("/user/prices", timeout=0.2)
        _wait_for_record(caplog, "Dropped the connection of GET /user/prices")
        assert sim.stats.drops == 1
        _assert_quiet(caplog, capsys)

    def test_stop_while_client_waits(
        self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier.eskiz.simulator")
        outcome: list[BaseException | int] = []
        with EskizSimulator() as sim:
            sim.delay_next(30.0, path="/user/prices")

            def request() -> None:
                try:
                    outcome.append(httpx.get(f"{sim.base_url}/user/prices", timeout=30).status_code)
                except httpx.HTTPError as exc:
                    outcome.append(exc)

            waiting = threading.Thread(target=request)
            waiting.start()
            _wait_for_record(caplog, "Delaying the response to GET /user/prices")
        # Leaving the block stopped the simulator while the response was held back.
        waiting.join(10)
        assert not waiting.is_alive()
        assert len(outcome) == 1
        assert isinstance(outcome[0], httpx.RemoteProtocolError)
        _assert_quiet(caplog, capsys)
