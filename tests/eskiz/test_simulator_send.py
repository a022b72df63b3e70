"""Eskiz simulator: send, send-batch and send-global with their business rules."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from notifier_eskiz.simulator import TRIAL_TEXTS, EskizSimulator
from tests.eskiz.simulator_support import PHONE, login, send_sms


@pytest.fixture
def sim() -> Iterator[EskizSimulator]:
    with EskizSimulator(balance=10_000) as simulator:
        yield simulator


@pytest.fixture
def client(sim: EskizSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=5) as http:
        yield http


@pytest.fixture
def headers(sim: EskizSimulator, client: httpx.Client) -> dict[str, str]:
    return login(client, sim)


Serving = tuple[EskizSimulator, httpx.Client, dict[str, str]]


@contextlib.contextmanager
def _serve(**options: Any) -> Iterator[Serving]:
    """Run a simulator with ``options`` and yield it with a logged-in client."""
    with EskizSimulator(**options) as sim, httpx.Client(base_url=sim.base_url, timeout=5) as client:
        yield sim, client, login(client, sim)


@pytest.fixture
def trial() -> Iterator[Serving]:
    with _serve(role="test") as serving:
        yield serving


@pytest.fixture
def moderated() -> Iterator[Serving]:
    with _serve(moderation=True) as serving:
        yield serving


class TestSend:
    def test_accepted_answer(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        response = send_sms(client, headers, user_sms_id="order-17")
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "Waiting for SMS provider"
        assert body["status"] == "waiting"
        uuid.UUID(body["id"])
        assert sim.stats.sends == 1
        [stored] = sim.messages
        assert stored.request_id == body["id"]
        assert stored.to == PHONE
        assert stored.user_sms_id == "order-17"
        assert stored.nick == "4546"
        assert stored.status == "NEW"

    def test_multipart_and_json_bodies(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        fields = {"mobile_phone": PHONE, "message": "Kod: 4512", "from": "4546"}
        multipart = {name: (None, value) for name, value in fields.items()}
        assert client.post("/message/sms/send", files=multipart, headers=headers).status_code == 200
        assert client.post("/message/sms/send", json=fields, headers=headers).status_code == 200
        assert sim.stats.sends == 2

    def test_waiting_status_text_switch(self) -> None:
        with _serve(send_status_text="Waiting") as (_sim, client, headers):
            assert send_sms(client, headers).json()["status"] == "Waiting"

    @pytest.mark.parametrize(
        ("text", "parts", "encoding"),
        [
            ("O'zbekiston", 1, 0),
            ("O\u02bbzbekiston", 1, 8),
            ("a" * 160, 1, 0),
            ("a" * 161, 2, 0),
            ("Ж" * 70, 1, 8),
            ("Ж" * 71, 2, 8),
            ("€" * 80, 1, 0),
            ("€" * 81, 2, 0),
        ],
        ids=[
            "apostrophe",
            "modifier-letter",
            "gsm-160",
            "gsm-161",
            "ucs2-70",
            "ucs2-71",
            "euro-80",
            "euro-81",
        ],
    )
    def test_parts_and_encoding(
        self,
        sim: EskizSimulator,
        client: httpx.Client,
        headers: dict[str, str],
        text: str,
        parts: int,
        encoding: int,
    ) -> None:
        assert send_sms(client, headers, text).status_code == 200
        [stored] = sim.messages
        assert stored.parts == parts
        assert stored.encoding == encoding
        assert stored.text == text

    def test_billing_per_part(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        send_sms(client, headers, "Ж" * 71)
        [stored] = sim.messages
        assert stored.price == 50
        assert stored.total_price == 100
        assert sim.balance == 10_000 - 100

    def test_insufficient_balance(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        sim.set_balance(49)
        response = send_sms(client, headers)
        assert response.status_code == 400
        assert response.json()["status"] == "error"
        assert sim.stats.sends == 0
        assert sim.stats.rejected_sends == 1
        assert sim.balance == 49

    def test_billing_switched_off(self) -> None:
        with _serve(balance=0, billing=False) as (sim, client, headers):
            assert send_sms(client, headers).status_code == 200
            assert sim.balance == 0

    @pytest.mark.parametrize(
        "phone",
        ["+998900000001", "900000001", "99890000000", "9989000000012", "99890000000a"],
        ids=["plus", "national", "short", "long", "letter"],
    )
    def test_invalid_phone(self, client: httpx.Client, headers: dict[str, str], phone: str) -> None:
        response = send_sms(client, headers, phone=phone)
        assert response.status_code == 400
        assert "mobile_phone" in response.json()["message"]

    def test_non_uz_number_when_switched_off(self) -> None:
        with _serve(send_requires_uz=False) as (_sim, client, headers):
            assert send_sms(client, headers, phone="77010000001").status_code == 200

    @pytest.mark.parametrize("missing", ["mobile_phone", "message"])
    def test_missing_field(
        self, client: httpx.Client, headers: dict[str, str], missing: str
    ) -> None:
        data = {"mobile_phone": PHONE, "message": "Salom", "from": "4546"}
        del data[missing]
        response = client.post("/message/sms/send", data=data, headers=headers)
        assert response.status_code == 400
        assert response.json() == {"status": "error", "message": f"{missing} is required"}

    def test_unknown_nick(self, client: httpx.Client, headers: dict[str, str]) -> None:
        response = send_sms(client, headers, **{"from": "MyShop"})
        assert response.status_code == 400
        assert "MyShop" in response.json()["message"]

    def test_missing_nick_uses_first(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        data = {"mobile_phone": PHONE, "message": "Salom"}
        assert client.post("/message/sms/send", data=data, headers=headers).status_code == 200
        assert sim.messages[0].nick == "4546"

    def test_missing_nick_when_required(self) -> None:
        with _serve(from_required=True) as (_sim, client, headers):
            data = {"mobile_phone": PHONE, "message": "Salom"}
            response = client.post("/message/sms/send", data=data, headers=headers)
        assert response.status_code == 400
        assert response.json()["message"] == "from is required"

    def test_own_nick(self) -> None:
        with _serve(nicks=("4546", "Bozor")) as (sim, client, headers):
            assert send_sms(client, headers, **{"from": "Bozor"}).status_code == 200
            assert sim.messages[0].nick == "Bozor"

    def test_requires_token(self, sim: EskizSimulator, client: httpx.Client) -> None:
        assert send_sms(client, {}).status_code == 401
        assert sim.stats.sends == 0


class TestTrialAccount:
    @pytest.mark.parametrize("text", TRIAL_TEXTS)
    def test_fixed_texts_allowed(self, trial: Serving, text: str) -> None:
        sim, client, headers = trial
        assert send_sms(client, headers, text).status_code == 200
        assert sim.stats.sends == 1

    def test_other_text_rejected(self, trial: Serving) -> None:
        sim, client, headers = trial
        response = send_sms(client, headers, "Buyurtmangiz yo'lda")
        assert response.status_code == 400
        assert "Bu Eskiz dan test" in response.json()["message"]
        assert sim.stats.sends == 0

    def test_batch_with_other_text_rejected(self, trial: Serving) -> None:
        sim, client, headers = trial
        messages = [
            {"user_sms_id": "a1", "to": 998900000001, "text": "This is test from Eskiz"},
            {"user_sms_id": "a2", "to": 998900000002, "text": "Chegirma 20%"},
        ]
        response = client.post(
            "/message/sms/send-batch", json={"messages": messages, "from": "4546"}, headers=headers
        )
        assert response.status_code == 400
        assert sim.stats.sends == 0


class TestModeration:
    def test_moderation_off_by_default(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        assert send_sms(client, headers, "Istalgan matn").status_code == 200

    def test_unapproved_text_rejected(self, moderated: Serving) -> None:
        sim, client, headers = moderated
        response = send_sms(client, headers, "Sizning kodingiz: 4512")
        assert response.status_code == 400
        assert "модерац" in response.json()["message"]
        assert sim.stats.rejected_sends == 1

    def test_template_in_moderation_still_rejected(self, moderated: Serving) -> None:
        _, client, headers = moderated
        client.post("/user/template", data={"template": "Sizning kodingiz: %d"}, headers=headers)
        assert send_sms(client, headers, "Sizning kodingiz: 4512").status_code == 400

    def test_approved_template_allows_text(self, moderated: Serving) -> None:
        sim, client, headers = moderated
        client.post("/user/template", data={"template": "Sizning kodingiz: %d"}, headers=headers)
        sim.approve_template("Sizning kodingiz: %d")
        assert send_sms(client, headers, "Sizning kodingiz: 4512").status_code == 200
        assert send_sms(client, headers, "Sizning kodingiz: abc").status_code == 400

    def test_auto_approve_after_delay(self) -> None:
        with _serve(moderation=True, template_auto_approve_after=60) as (sim, client, headers):
            client.post(
                "/user/template",
                data={"template": "Hurmatli %w, to'lov qabul qilindi"},
                headers=headers,
            )
            assert (
                send_sms(client, headers, "Hurmatli Aziz, to'lov qabul qilindi").status_code == 400
            )
            sim.advance(61)
            assert (
                send_sms(client, headers, "Hurmatli Aziz, to'lov qabul qilindi").status_code == 200
            )

    def test_trial_texts_need_no_template(self) -> None:
        with _serve(role="test", moderation=True) as (_sim, client, headers):
            assert send_sms(client, headers, "Bu Eskiz dan test").status_code == 200


def _batch(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return client.post("/message/sms/send-batch", json=body, headers=headers)


class TestSendBatch:
    def test_status_is_a_list(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        body = {
            "messages": [
                {"user_sms_id": "a1", "to": 998900000001, "text": "Salom"},
                {"user_sms_id": "a2", "to": "998900000002", "text": "Салом"},
            ],
            "from": "4546",
            "dispatch_id": 123,
            "callback_url": "",
        }
        response = _batch(client, headers, body)
        assert response.status_code == 200
        answer = response.json()
        assert answer["status"] == ["waiting", "waiting"]
        assert answer["message"] == "Waiting for SMS provider"
        assert sim.stats.sends == 2
        first, second = sim.messages
        assert first.request_id == second.request_id == answer["id"]
        assert (first.user_sms_id, second.user_sms_id) == ("a1", "a2")
        assert first.dispatch_id == second.dispatch_id == 123
        assert first.callback_url is None
        assert (first.encoding, second.encoding) == (0, 8)

    def test_limit(self, client: httpx.Client, headers: dict[str, str]) -> None:
        messages = [{"to": 998900000001, "text": "Salom"}] * 501
        response = _batch(client, headers, {"messages": messages, "from": "4546"})
        assert response.status_code == 400
        assert "500" in response.json()["message"]

    def test_limit_is_configurable(self) -> None:
        with _serve(batch_limit=2) as (sim, client, headers):
            messages = [{"to": 998900000001, "text": "Salom"}] * 3
            assert _batch(client, headers, {"messages": messages}).status_code == 400
            assert _batch(client, headers, {"messages": messages[:2]}).status_code == 200
            assert sim.stats.sends == 2

    def test_one_invalid_number_rejects_all(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        messages = [{"to": 998900000001, "text": "Salom"}, {"to": 12345, "text": "Salom"}]
        response = _batch(client, headers, {"messages": messages})
        assert response.status_code == 400
        assert "messages[1].to" in response.json()["message"]
        assert sim.stats.sends == 0

    @pytest.mark.parametrize(
        "body",
        [{}, {"messages": []}, {"messages": "x"}, {"messages": [{"to": 998900000001}]}],
        ids=["no-messages", "empty", "not-a-list", "no-text"],
    )
    def test_invalid_body(
        self, client: httpx.Client, headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        assert _batch(client, headers, body).status_code == 400

    def test_malformed_json(self, client: httpx.Client, headers: dict[str, str]) -> None:
        response = client.post(
            "/message/sms/send-batch",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400

    def test_batch_billed_atomically(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        sim.set_balance(120)
        messages = [{"to": 998900000001, "text": "Salom"}] * 3
        assert _batch(client, headers, {"messages": messages}).status_code == 400
        assert sim.balance == 120
        assert sim.messages == []

    def test_non_integer_dispatch_id(self, client: httpx.Client, headers: dict[str, str]) -> None:
        body = {"messages": [{"to": 998900000001, "text": "Salom"}], "dispatch_id": "abc"}
        assert _batch(client, headers, body).status_code == 400


class TestSendGlobal:
    def test_accepted(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        data = {"mobile_phone": "77010000001", "message": "Salem", "country_code": "KZ"}
        response = client.post("/message/sms/send-global", data=data, headers=headers)
        assert response.status_code == 200
        assert response.json()["status"] == "waiting"
        [stored] = sim.messages
        assert stored.international
        assert stored.country_code == "KZ"
        assert stored.nick is None
        assert stored.encoding == 0

    def test_unicode_flag_forces_ucs2(
        self, sim: EskizSimulator, client: httpx.Client, headers: dict[str, str]
    ) -> None:
        data = {
            "mobile_phone": "77010000001",
            "message": "a" * 71,
            "country_code": "kz",
            "unicode": "1",
        }
        assert (
            client.post("/message/sms/send-global", data=data, headers=headers).status_code == 200
        )
        [stored] = sim.messages
        assert (stored.encoding, stored.parts) == (8, 2)

    @pytest.mark.parametrize(
        "data",
        [
            {"mobile_phone": "77010000001", "message": "Salem"},
            {"mobile_phone": "77010000001", "message": "Salem", "country_code": "KAZ"},
            {"mobile_phone": "77010000001", "message": "Salem", "country_code": "ZZ"},
            {"mobile_phone": "+77010000001", "message": "Salem", "country_code": "KZ"},
            {
                "mobile_phone": "77010000001",
                "message": "Salem",
                "country_code": "KZ",
                "unicode": "2",
            },
        ],
        ids=["no-country", "alpha-3", "not-served", "plus", "bad-unicode"],
    )
    def test_invalid(
        self,
        sim: EskizSimulator,
        client: httpx.Client,
        headers: dict[str, str],
        data: dict[str, str],
    ) -> None:
        response = client.post("/message/sms/send-global", data=data, headers=headers)
        assert response.status_code == 400
        assert sim.stats.sends == 0
