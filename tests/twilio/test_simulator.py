"""The Twilio simulator on its own, driven with plain httpx requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from notifier_twilio import compute_signature
from notifier_twilio.simulator import DEFAULT_SENDER, SimulatorConfig, TwilioSimulator
from tests._audit import LeakAudit, find_leaks
from tests.twilio.support import PHONE, CallbackReceiver, wait_until


def client_for(sim: TwilioSimulator, **options: Any) -> httpx.Client:
    """An httpx client on the simulator, authenticated with the account SID and token."""
    return httpx.Client(base_url=sim.base_url, auth=(sim.account_sid, sim.auth_token), **options)


@pytest.fixture
def client(sim: TwilioSimulator) -> Iterator[httpx.Client]:
    with client_for(sim) as http:
        yield http


def create(client: httpx.Client, sim: TwilioSimulator, **fields: str) -> httpx.Response:
    data = {"To": PHONE, "From": sim.sender, "Body": "Salom", **fields}
    data = {name: value for name, value in data.items() if value != "-"}
    return client.post(f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json", data=data)


def fetch(client: httpx.Client, sim: TwilioSimulator, sid: str) -> httpx.Response:
    return client.get(f"/2010-04-01/Accounts/{sim.account_sid}/Messages/{sid}.json")


class TestCreate:
    def test_created_resource(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        response = create(client, sim)

        assert response.status_code == 201
        resource = response.json()
        assert resource["sid"].startswith("SM")
        assert len(resource["sid"]) == 34
        assert resource["status"] == "queued"
        assert resource["to"] == PHONE
        assert resource["from"] == sim.sender
        assert resource["num_segments"] == "1"
        assert resource["direction"] == "outbound-api"
        assert resource["date_created"].endswith("+0000")
        assert sim.stats.sends == 1

    def test_multipart_form_is_accepted(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        response = client.post(
            f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json",
            files={"To": (None, PHONE), "From": (None, sim.sender), "Body": (None, "Salom")},
        )

        assert response.status_code == 201

    def test_messaging_service_starts_accepted(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        response = create(client, sim, From="-", MessagingServiceSid=sim.messaging_service_sid)

        resource = response.json()
        assert resource["status"] == "accepted"
        assert resource["from"] is None
        assert resource["num_segments"] == "0"

    @pytest.mark.parametrize(
        ("fields", "status", "code"),
        [
            pytest.param({"To": "-"}, 400, 21604, id="no-to"),
            pytest.param({"To": "998900000001"}, 400, 21211, id="to-without-plus"),
            pytest.param({"From": "-"}, 400, 21603, id="no-sender"),
            pytest.param({"From": "+15005550005"}, 400, 21606, id="sender-not-owned"),
            pytest.param({"From": "far too long id"}, 400, 21212, id="sender-malformed"),
            pytest.param({"Body": "   "}, 400, 21602, id="blank-body"),
            pytest.param({"Body": "x" * 1601}, 400, 21617, id="body-too-long"),
            pytest.param({"StatusCallback": "not a url"}, 400, 21609, id="bad-callback"),
            pytest.param({"MessagingServiceSid": "MG12"}, 400, 21705, id="service-malformed"),
            pytest.param(
                {"MessagingServiceSid": "MG" + "0" * 32}, 404, 21701, id="service-unknown"
            ),
            pytest.param({"To": "+15005550001"}, 400, 21211, id="magic-invalid"),
            pytest.param({"To": "+15005550004"}, 400, 21610, id="magic-unsubscribed"),
            pytest.param({"From": "+15005550008"}, 400, 21611, id="magic-queue-full"),
        ],
    )
    def test_validation_errors(
        self,
        sim: TwilioSimulator,
        client: httpx.Client,
        fields: dict[str, str],
        status: int,
        code: int,
    ) -> None:
        response = create(client, sim, **fields)

        assert response.status_code == status
        body = response.json()
        assert body["code"] == code
        assert body["status"] == status
        assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
        assert sim.stats.sends == 0
        assert sim.stats.rejected_sends == 1

    def test_invalid_to_message_names_the_number(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        # Twilio repeats the number in its message, which is why clients must redact it.
        response = create(client, sim, To="+15005550001")

        assert "+15005550001" in response.json()["message"]

    def test_configured_errors_per_number(self) -> None:
        with TwilioSimulator(recipient_errors={PHONE: 21610}) as sim, client_for(sim) as http:
            response = create(http, sim)

        assert response.json()["code"] == 21610


class TestAuthentication:
    def test_api_key_pair(self, sim: TwilioSimulator) -> None:
        key_pair = (sim.api_key_sid, sim.api_key_secret)
        with httpx.Client(base_url=sim.base_url, auth=key_pair) as http:
            response = create(http, sim)

        assert response.status_code == 201

    @pytest.mark.parametrize(
        "auth",
        [
            pytest.param(None, id="none"),
            pytest.param(("AC" + "0" * 32, "token"), id="unknown-user"),
            pytest.param("wrong-token", id="wrong-token"),
            pytest.param("wrong-key-secret", id="wrong-key-secret"),
        ],
    )
    def test_rejected(self, sim: TwilioSimulator, auth: Any) -> None:
        if auth == "wrong-token":
            auth = (sim.account_sid, "0" * 32)
        elif auth == "wrong-key-secret":
            auth = (sim.api_key_sid, "nope")
        with httpx.Client(base_url=sim.base_url, auth=auth) as http:
            response = create(http, sim)

        assert response.status_code == 401
        assert response.json()["code"] == 20003
        assert response.headers["www-authenticate"] == 'Basic realm="Twilio API"'
        assert sim.stats.auth_failures == 1
        assert sim.stats.sends == 0

    def test_malformed_header(self, sim: TwilioSimulator) -> None:
        with httpx.Client(base_url=sim.base_url) as http:
            response = http.post(
                f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json",
                headers={"Authorization": "Basic !!!not-base64"},
            )

        assert response.status_code == 401

    def test_other_account_path(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        response = client.post(
            f"/2010-04-01/Accounts/AC{'0' * 32}/Messages.json",
            data={"To": PHONE, "From": sim.sender, "Body": "Salom"},
        )

        assert response.status_code == 401

    def test_account_resource(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        response = client.get(f"/2010-04-01/Accounts/{sim.account_sid}.json")

        assert response.status_code == 200
        assert response.json()["status"] == "active"


class TestFetchAndRoutes:
    def test_fetch(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sid = create(client, sim).json()["sid"]

        response = fetch(client, sim, sid)

        assert response.status_code == 200
        assert response.json()["sid"] == sid
        assert sim.stats.fetches == 1

    def test_fetch_unknown(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        response = fetch(client, sim, "SM" + "0" * 32)

        assert response.status_code == 404
        assert response.json()["code"] == 20404

    def test_unknown_path(self, client: httpx.Client) -> None:
        response = client.get("/2010-04-01/Nothing.json")

        assert response.status_code == 404
        assert response.json()["code"] == 20404

    def test_wrong_method(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        response = client.delete(f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json")

        assert response.status_code == 405

    def test_requests_are_counted_per_path(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        create(client, sim)
        create(client, sim, To="+15005550001")
        client.get("/nowhere")

        requests = sim.stats.requests
        assert requests[f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json"] == 2
        assert requests["/nowhere"] == 1
        assert requests["/never"] == 0


class TestProgress:
    def test_manual_steps_to_delivered(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sid = create(client, sim).json()["sid"]

        statuses = [change.status for _ in range(3) for change in sim.advance(sid)]

        assert statuses == ["sending", "sent", "delivered"]
        assert sim.messages[sid].history == ["queued", "sending", "sent", "delivered"]
        assert fetch(client, sim, sid).json()["date_sent"] is not None
        assert sim.advance(sid) == []

    @pytest.mark.parametrize(
        ("to", "history", "code"),
        [
            ("+998900000091", ["queued", "sending", "sent", "undelivered"], 30003),
            ("+998900000093", ["queued", "failed"], 30007),
        ],
    )
    def test_failing_outcomes(
        self,
        sim: TwilioSimulator,
        client: httpx.Client,
        to: str,
        history: list[str],
        code: int,
    ) -> None:
        sid = create(client, sim, To=to).json()["sid"]

        sim.settle()

        resource = fetch(client, sim, sid).json()
        assert sim.messages[sid].history == history
        assert resource["error_code"] == code
        assert resource["error_message"]

    def test_messaging_service_assigns_sender(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        sid = create(client, sim, From="-", MessagingServiceSid=sim.messaging_service_sid).json()[
            "sid"
        ]

        sim.advance(sid)

        resource = fetch(client, sim, sid).json()
        assert resource["status"] == "queued"
        assert resource["from"] == DEFAULT_SENDER

    def test_timers_move_messages(self) -> None:
        with TwilioSimulator(step_delay=0.01) as sim:
            with client_for(sim) as http:
                sid = create(http, sim).json()["sid"]

            assert wait_until(lambda: sim.messages[sid].status == "delivered")

    def test_default_outcome_is_configurable(self) -> None:
        with TwilioSimulator(
            auto_progress=False, outcome="undelivered", outcome_error_code=30005
        ) as sim:
            with client_for(sim) as http:
                sid = create(http, sim).json()["sid"]
            sim.settle()

        assert sim.messages[sid].status == "undelivered"
        assert sim.messages[sid].error_code == 30005


class TestCallbacks:
    def test_signed_callbacks_for_each_change(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        with CallbackReceiver() as receiver:
            url = receiver.url("/status?notifier_client_ref=r1")
            create(client, sim, StatusCallback=url)
            sim.settle()
            received = receiver.wait_for(3)

        assert len(received) == 3
        for request in received:
            params = httpx.QueryParams(request.body.decode())
            expected = compute_signature(sim.auth_token, request.url, list(params.multi_items()))
            assert request.headers["x-twilio-signature"] == expected
            assert request.content_type == "application/x-www-form-urlencoded"
        last = httpx.QueryParams(received[-1].body.decode())
        assert last["MessageStatus"] == "delivered"
        assert last["SmsStatus"] == "delivered"
        assert last["To"] == PHONE
        assert last["AccountSid"] == sim.account_sid
        assert last["ApiVersion"] == "2010-04-01"
        assert len(last["RawDlrDoneDate"]) == 10
        assert sim.stats.callbacks_sent == 3

    def test_failed_callback_carries_error_code(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        with CallbackReceiver() as receiver:
            create(client, sim, To="+998900000093", StatusCallback=receiver.url())
            sim.settle()
            received = receiver.wait_for(1)

        # Twilio fails such a message before any carrier gets it: queued, then failed.
        assert len(received) == 1
        last = httpx.QueryParams(received[-1].body.decode())
        assert last["MessageStatus"] == "failed"
        assert last["ErrorCode"] == "30007"
        assert "RawDlrDoneDate" not in last

    def test_non_loopback_host_is_refused(
        self,
        sim: TwilioSimulator,
        client: httpx.Client,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.WARNING, logger="notifier.twilio.simulator")
        create(client, sim, StatusCallback="https://callbacks.invalid/status?token=s3cret")

        sim.settle()

        assert sim.stats.callbacks_refused == 3
        assert sim.stats.callbacks_sent == 0
        assert [record.outcome for record in sim.callbacks] == ["refused"] * 3
        assert "Did not send status callback" in caplog.text
        assert "s3cret" not in caplog.text

    @pytest.mark.parametrize(
        "host", ["http://127.0.0.2:9/cb", "http://localhost:9/cb", "http://[::1]:9/cb"]
    )
    def test_loopback_forms_are_attempted(
        self, sim: TwilioSimulator, client: httpx.Client, host: str
    ) -> None:
        create(client, sim, StatusCallback=host)

        sim.advance()

        assert sim.stats.callbacks_refused == 0
        assert sim.stats.callbacks_sent + sim.stats.callbacks_failed == 1

    def test_receiver_errors_are_counted(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        with CallbackReceiver(status=500) as receiver:
            create(client, sim, StatusCallback=receiver.url())
            sim.advance()

        assert sim.stats.callbacks_failed == 1
        assert sim.callbacks[0].status_code == 500

    def test_duplicates_when_asked(self) -> None:
        with (
            TwilioSimulator(auto_progress=False, callback_duplicates=True) as sim,
            CallbackReceiver() as receiver,
        ):
            with client_for(sim) as http:
                create(http, sim, StatusCallback=receiver.url())
            sim.advance()
            received = receiver.wait_for(2)

        assert len(received) == 2
        assert received[0].body == received[1].body


class TestFaults:
    def test_fail_next_then_recover(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sim.fail_next(503, times=2)

        statuses = [create(client, sim).status_code for _ in range(3)]

        assert statuses == [503, 503, 201]
        assert sim.stats.faults == 2

    def test_fail_next_with_code_and_retry_after(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        sim.fail_next(429, retry_after=2)

        response = create(client, sim)

        assert response.status_code == 429
        assert response.json()["code"] == 20429
        assert response.headers["retry-after"] == "2"

    def test_fail_next_only_for_fetch(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sim.fail_next(500, operation="fetch")
        sid = create(client, sim).json()["sid"]

        assert fetch(client, sim, sid).status_code == 500
        assert fetch(client, sim, sid).status_code == 200

    def test_fail_next_rejects_success_status(self, sim: TwilioSimulator) -> None:
        with pytest.raises(ValueError, match="400-599"):
            sim.fail_next(200)

    def test_fail_rate_is_seeded(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        path = f"/2010-04-01/Accounts/{sim.account_sid}.json"

        def statuses(seed: int) -> list[int]:
            sim.configure(fail_rate=0.5, seed=seed)
            return [client.get(path).status_code for _ in range(12)]

        first = statuses(3)

        assert first == statuses(3)
        assert first != statuses(4)
        assert set(first) == {200, 503}

    def test_dropped_connection(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sim.drop_next()

        with pytest.raises(httpx.RemoteProtocolError):
            create(client, sim)

        assert sim.stats.drops == 1
        assert sim.stats.sends == 0
        assert create(client, sim).status_code == 201

    def test_dropped_after_processing_keeps_message(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        sim.drop_next(after_processing=True)

        with pytest.raises(httpx.RemoteProtocolError):
            create(client, sim)

        assert sim.stats.sends == 1
        assert len(sim.messages) == 1

    def test_latency_delays_responses(self, sim: TwilioSimulator) -> None:
        sim.configure(latency=0.5)
        with (
            httpx.Client(
                base_url=sim.base_url, auth=(sim.account_sid, sim.auth_token), timeout=0.1
            ) as http,
            pytest.raises(httpx.ReadTimeout),
        ):
            create(http, sim)

        assert sim.stats.sends == 1

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (401, 20003),
            (403, 20403),
            (404, 20404),
            (405, 20004),
            (429, 20429),
            (500, 20500),
            (502, 20500),
            (503, 20503),
            (504, 20500),
            (400, None),
            (409, None),
        ],
    )
    def test_fail_next_default_code(
        self, sim: TwilioSimulator, client: httpx.Client, status: int, code: int | None
    ) -> None:
        sim.fail_next(status)

        response = create(client, sim)

        assert response.status_code == status
        body = response.json()
        assert body["code"] == code
        assert body["status"] == status
        assert body["message"]
        if code is None:
            assert body["more_info"] is None
        else:
            assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"

    def test_fail_next_explicit_code_wins(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sim.fail_next(400, code=21211)

        assert create(client, sim).json()["code"] == 21211

    def test_fail_rate_uses_default_code(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sim.configure(fail_rate=1.0, fail_status=500)

        assert create(client, sim).json()["code"] == 20500

    def test_delay_next_holds_back_response(self, sim: TwilioSimulator) -> None:
        sim.delay_next(0.5, operation="create")
        with client_for(sim, timeout=0.1) as http, pytest.raises(httpx.ReadTimeout):
            create(http, sim)

        # The message was created before the held-back response.
        assert sim.stats.sends == 1
        with client_for(sim, timeout=0.1) as http:
            assert create(http, sim).status_code == 201

    def test_delay_next_only_for_operation(
        self, sim: TwilioSimulator, client: httpx.Client
    ) -> None:
        sim.delay_next(0.5, operation="fetch")
        with client_for(sim, timeout=0.2) as http:
            sid = create(http, sim).json()["sid"]
            with pytest.raises(httpx.ReadTimeout):
                fetch(http, sim, sid)

    def test_delay_next_with_fault(self, sim: TwilioSimulator) -> None:
        sim.delay_next(0.5)
        sim.fail_next(503)
        with client_for(sim, timeout=0.1) as http, pytest.raises(httpx.ReadTimeout):
            create(http, sim)

        assert sim.stats.faults == 1

    def test_delay_next_rejects_bad_values(self, sim: TwilioSimulator) -> None:
        with pytest.raises(ValueError, match="times must be at least 1"):
            sim.delay_next(1.0, times=0)
        with pytest.raises(ValueError, match="seconds must be a finite number"):
            sim.delay_next(-1.0)

    def test_clear_faults_keeps_messages(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        create(client, sim)
        sim.fail_next(503, times=3)
        sim.drop_next()
        sim.delay_next(5.0)

        sim.clear_faults()

        assert create(client, sim).status_code == 201
        assert len(sim.messages) == 2
        assert sim.stats.faults == 0

    def test_drop_next_processed_alias(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        sim.drop_next(processed=True)

        with pytest.raises(httpx.RemoteProtocolError):
            create(client, sim)

        assert sim.stats.sends == 1
        with pytest.raises(TypeError, match="not both"):
            sim.drop_next(processed=True, after_processing=True)

    def test_abandoned_delay_ends_quietly(
        self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier.twilio.simulator")
        with TwilioSimulator() as own:
            own.delay_next(5.0, operation="create")
            with client_for(own, timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
                create(http, own)

            assert wait_until(lambda: "disconnected before its delayed response" in caplog.text)
        # Leaving the block stopped the simulator; no request was left to cancel.
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        captured = capsys.readouterr()
        assert "CancelledError" not in captured.err
        assert "Traceback" not in captured.err

    def test_reset(self, sim: TwilioSimulator, client: httpx.Client) -> None:
        create(client, sim)
        sim.fail_next(503)
        sim.configure(fail_rate=1.0)

        sim.reset()

        assert sim.messages == {}
        assert sim.stats.sends == 0
        assert sim.config.fail_rate == 0.0
        assert create(client, sim).status_code == 201


class TestConfiguration:
    def test_only_loopback_hosts(self) -> None:
        with pytest.raises(ValueError, match="loopback"):
            TwilioSimulator(host="0.0.0.0")  # noqa: S104 - the value under test

    @pytest.mark.parametrize(
        ("options", "fragment"),
        [
            ({"fail_rate": 1.5}, "fail_rate"),
            ({"step_delay": -1}, "step_delay"),
            ({"outcome": "lost"}, "outcome"),
            ({"outcome_rules": {PHONE: ("lost", None)}}, "outcome_rules"),
            ({"account_sid": "XX" + "0" * 32}, "account_sid"),
            ({"latency": (2, 1)}, "latency"),
        ],
    )
    def test_invalid_options(self, options: dict[str, Any], fragment: str) -> None:
        with pytest.raises(ValueError, match=fragment):
            TwilioSimulator(**options)

    def test_unknown_option(self) -> None:
        with pytest.raises(TypeError, match="fial_rate"):
            TwilioSimulator(fial_rate=0.1)

    def test_config_object(self) -> None:
        config = SimulatorConfig(account_sid="AC" + "ab" * 16, auth_token="t" * 32)

        simulator = TwilioSimulator(config, fail_rate=0.1)

        assert simulator.account_sid == "AC" + "ab" * 16
        assert simulator.config.fail_rate == 0.1

    def test_base_url_needs_running_server(self) -> None:
        with pytest.raises(RuntimeError, match="not running"):
            _ = TwilioSimulator().base_url

    def test_repr_hides_secrets(self, sim: TwilioSimulator) -> None:
        text = repr(sim) + repr(sim.config)

        assert sim.auth_token not in text
        assert sim.api_key_secret not in text


class TestInProcess:
    async def test_asgi_transport(self, leak_audit: LeakAudit) -> None:
        sim = TwilioSimulator(auto_progress=False)
        leak_audit.secret(sim.auth_token)
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://simulator", auth=(sim.account_sid, sim.auth_token)
        ) as http:
            response = await http.post(
                f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json",
                data={"To": PHONE, "From": sim.sender, "Body": "Salom"},
            )
            await sim.asettle()
            sim.drop_next()
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(f"/2010-04-01/Accounts/{sim.account_sid}.json")

        assert response.status_code == 201
        assert sim.messages[response.json()["sid"]].status == "delivered"


def test_logs_mask_numbers(
    sim: TwilioSimulator, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="notifier.twilio.simulator")
    with CallbackReceiver() as receiver:
        create(client, sim, StatusCallback=receiver.url())
        create(client, sim, To="+15005550001")
        sim.settle()

    assert "+998*****0001" in caplog.text
    assert find_leaks(caplog.text, [sim.auth_token, sim.api_key_secret]) == []
    assert "Salom" not in caplog.text
