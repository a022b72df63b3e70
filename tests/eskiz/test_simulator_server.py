"""Eskiz simulator: server lifecycle, in-process use, the foreground runner and settings."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from notifier_eskiz.simulator import (
    ASGI_BASE_URL,
    EskizSimulator,
    SimulatorConfig,
    create_app,
)
from tests.eskiz.simulator_support import PHONE, login, send_sms, serve


class TestLifecycle:
    def test_base_url_on_loopback(self) -> None:
        with EskizSimulator() as sim:
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api", sim.base_url)
            assert sim.base_url.endswith(f":{sim.port}/api")
            assert sim.running
        assert not sim.running

    def test_several_at_once(self) -> None:
        with EskizSimulator() as first, EskizSimulator(role="test") as second:
            assert first.port != second.port
            with httpx.Client(base_url=first.base_url) as client:
                login(client, first)
            assert first.stats.logins == 1
            assert second.stats.logins == 0

    def test_many_starts_and_stops(self) -> None:
        for _ in range(15):
            with EskizSimulator() as sim, httpx.Client(base_url=sim.base_url) as client:
                assert client.get("/user/prices").status_code == 401

    def test_restart_keeps_state(self) -> None:
        sim = EskizSimulator()
        with sim, httpx.Client(base_url=sim.base_url) as client:
            send_sms(client, login(client, sim))
        with sim, httpx.Client(base_url=sim.base_url) as client:
            assert sim.stats.sends == 1
            assert len(sim.messages) == 1

    def test_not_running_errors(self) -> None:
        sim = EskizSimulator()
        with pytest.raises(RuntimeError, match="not running"):
            _ = sim.base_url
        with sim, pytest.raises(RuntimeError, match="already running"):
            sim.start()

    def test_stop_with_held_answer(self) -> None:
        sim = EskizSimulator().start()
        with httpx.Client(base_url=sim.base_url) as client:
            sim.delay_next(30)
            with pytest.raises(httpx.ReadTimeout):
                client.get("/user/prices", timeout=0.1)
        started = time.monotonic()
        sim.stop()
        # Hang guard: stopping must not wait for the 30 s delay to pass.
        assert time.monotonic() - started < 5
        assert not sim.running

    def test_no_access_log(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        with serve() as (_, client):
            client.get("/user/prices")
        assert not [record for record in caplog.records if record.name.startswith("uvicorn")]


class TestInProcess:
    async def test_asgi_transport(self) -> None:
        sim = EskizSimulator()
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE_URL) as client:
            answer = await client.post(
                "/auth/login", data={"email": sim.email, "password": sim.password}
            )
            headers = {"Authorization": f"Bearer {answer.json()['data']['token']}"}
            sent = await client.post(
                "/message/sms/send",
                data={"mobile_phone": PHONE, "message": "Salom"},
                headers=headers,
            )
            status = await client.get(
                f"/message/sms/status_by_id/{sent.json()['id']}", headers=headers
            )
        assert sent.status_code == 200
        assert status.json()["data"]["to"] == PHONE
        assert sim.stats.sends == 1

    async def test_drop_raises_protocol_error(self) -> None:
        sim = EskizSimulator()
        sim.drop_next()
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE_URL) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/user/prices")
        assert sim.stats.drops == 1

    async def test_create_app_from_config(self) -> None:
        app = create_app(SimulatorConfig(fail_rate=1.0))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE_URL) as client:
            response = await client.get("/user/prices")
        assert response.status_code == 503
        assert app.state.stats.faults == 1


class TestRunner:
    def test_run_prints_url_and_credentials(self) -> None:
        code = "from notifier_eskiz.simulator import run; run(port=0)"
        # A fixed command: this interpreter running the simulator's own runner.
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(5)]
            url = re.search(r"http://127\.0\.0\.1:\d+/api", lines[0])
            assert url is not None, lines
            email = lines[2].strip().removeprefix("ESKIZ_EMAIL=")
            password = lines[3].strip().removeprefix("ESKIZ_PASSWORD=")
            response = None
            for _ in range(100):
                try:
                    response = httpx.post(
                        f"{url.group(0)}/auth/login",
                        data={"email": email, "password": password},
                    )
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert response is not None
            assert response.status_code == 200
        finally:
            process.terminate()
            process.communicate(timeout=10)


class TestSettings:
    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"fail_rate": 1.5}, "fail_rate"),
            ({"drop_rate": -0.1}, "drop_rate"),
            ({"accept_delay": 1.0, "final_delay": 0.5}, "final_delay"),
            ({"token_ttl": 0}, "token_ttl"),
            ({"role": "admin"}, "role"),
            ({"batch_limit": 0}, "batch_limit"),
            ({"latency": (0.5, 0.1)}, "latency"),
            ({"outcome": "lost"}, "outcome"),
            ({"outcome_rules": {PHONE: "lost"}}, "outcome_rules"),
            ({"outcome_ratios": {"delivered": 0}}, "outcome_ratios"),
            ({"nicks": ()}, "nicks"),
        ],
    )
    def test_invalid_values(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            EskizSimulator(**options)

    def test_unknown_option(self) -> None:
        with pytest.raises(TypeError, match="fail_ratio"):
            EskizSimulator(fail_ratio=0.5)

    def test_password_not_in_repr(self) -> None:
        sim = EskizSimulator(password="juda-maxfiy-kalit")
        assert "juda-maxfiy-kalit" not in repr(sim.config)
        assert "juda-maxfiy-kalit" not in repr(sim.account)


class TestLogs:
    def test_no_numbers_tokens_or_passwords(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier")
        with serve(auto_progress=False) as (sim, client):
            answer = client.post("/auth/login", data={"email": sim.email, "password": sim.password})
            token = answer.json()["data"]["token"]
            headers = {"Authorization": f"Bearer {token}"}
            client.post("/auth/login", data={"email": sim.email, "password": "noto'g'ri"})
            send_sms(client, headers)
            sim.fail_next(503)
            send_sms(client, headers)
            sim.settle()
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "998*****0001" in text
        assert PHONE not in text
        assert token not in text
        assert sim.password not in text
        assert "noto'g'ri" not in text
        assert sim.email not in text
