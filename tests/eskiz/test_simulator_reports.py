"""Eskiz simulator: message progress, status and report endpoints, account utilities."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from notifier_eskiz.simulator import TASHKENT, EskizSimulator
from tests.eskiz.simulator_support import PHONE, login, send_sms

Serving = tuple[EskizSimulator, httpx.Client, dict[str, str]]


@contextlib.contextmanager
def _serve(**options: Any) -> Iterator[Serving]:
    """Run a simulator with ``options`` and yield it with a logged-in client."""
    options.setdefault("auto_progress", False)
    with EskizSimulator(**options) as sim, httpx.Client(base_url=sim.base_url, timeout=5) as client:
        yield sim, client, login(client, sim)


@pytest.fixture
def serving() -> Iterator[Serving]:
    with _serve() as result:
        yield result


def _status(client: httpx.Client, headers: dict[str, str], key: object) -> httpx.Response:
    return client.get(f"/message/sms/status_by_id/{key}", headers=headers)


def _local_now(sim: EskizSimulator, minutes: int = 0) -> str:
    moment = datetime.fromtimestamp(sim.clock.now(), TASHKENT) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%d %H:%M")


class TestProgress:
    def test_new_accepted_delivered(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        [message] = sim.messages
        assert message.status == "NEW"
        assert sim.advance(0.1) == 1
        assert sim.message(message.id).status == "ACCEPTED"
        assert sim.message(message.id).dlr_state == "ACCEPTED"
        sim.advance(0.2)
        final = sim.message(message.id)
        assert final.status == "DELIVERED"
        assert final.dlr_state == "DELIVRD"
        assert [state for state, _ in final.history] == ["NEW", "ACCEPTED", "DELIVRD"]

    def test_settle_finishes_everything(self, serving: Serving) -> None:
        sim, client, headers = serving
        for _ in range(3):
            send_sms(client, headers)
        assert sim.settle() == 6
        assert {message.status for message in sim.messages} == {"DELIVERED"}

    def test_tick_applies_only_due_changes(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        assert sim.tick() == 0
        assert sim.messages[0].status == "NEW"

    def test_automatic_progress(self) -> None:
        with _serve(auto_progress=True, accept_delay=0, final_delay=0) as (sim, client, headers):
            send_sms(client, headers)
            [message] = sim.messages
            response = _status(client, headers, message.id)
        assert response.json()["data"]["status"] == "DELIVERED"

    @pytest.mark.parametrize(
        ("outcome", "status", "dlr_state"),
        [
            ("undelivered", "UNDELIV", "UNDELIV"),
            ("expired", "EXPIRED", "EXPIRED"),
            ("rejected", "REJECTED", "REJECTD"),
        ],
    )
    def test_failed_outcomes(self, outcome: str, status: str, dlr_state: str) -> None:
        with _serve(outcome=outcome) as (sim, client, headers):
            send_sms(client, headers)
            sim.settle()
            [message] = sim.messages
        assert (message.status, message.dlr_state) == (status, dlr_state)

    def test_outcome_rule_by_phone(self, serving: Serving) -> None:
        sim, client, headers = serving
        sim.set_outcome("998900000009", "undelivered")
        send_sms(client, headers, phone="998900000009")
        send_sms(client, headers, phone=PHONE)
        sim.settle()
        assert [message.status for message in sim.messages] == ["UNDELIV", "DELIVERED"]

    def test_outcome_ratios_are_seeded(self) -> None:
        ratios = {"delivered": 0.5, "undelivered": 0.5}
        runs = []
        for _ in range(2):
            with _serve(outcome_ratios=ratios, seed=11) as (sim, client, headers):
                for _ in range(20):
                    send_sms(client, headers)
                runs.append([message.outcome for message in sim.messages])
        assert runs[0] == runs[1]
        assert set(runs[0]) == {"delivered", "undelivered"}

    def test_failed_status_name_switch(self) -> None:
        names = {"undelivered": "UNDELIVERED", "expired": "EXPIRED", "rejected": "REJECTED"}
        with _serve(outcome="undelivered", failed_status_names=names) as (sim, client, headers):
            send_sms(client, headers)
            sim.settle()
            assert sim.messages[0].status == "UNDELIVERED"


class TestStatusById:
    def test_by_numeric_id(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers, "Ж" * 71, user_sms_id="r-1")
        sim.settle()
        [message] = sim.messages
        response = _status(client, headers, message.id)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "success"
        assert body["id"] is None
        data = body["data"]
        assert data["id"] == message.id
        assert data["request_id"] == message.request_id
        assert data["user_sms_id"] == "r-1"
        assert data["to"] == PHONE
        assert data["nick"] == "4546"
        assert data["status"] == "DELIVERED"
        assert data["encoding"] == 8
        assert data["parts_count"] == 2
        assert data["price"] == 50
        assert data["total_price"] == 100
        assert len(data["parts"]) == 2
        assert {part["dlr_state"] for part in data["parts"].values()} == {"DELIVRD"}
        assert data["country_id"] is None

    def test_by_request_uuid(self, serving: Serving) -> None:
        _sim, client, headers = serving
        request_id = send_sms(client, headers).json()["id"]
        response = _status(client, headers, request_id)
        assert response.status_code == 200
        assert response.json()["data"]["request_id"] == request_id

    def test_uuid_lookup_window(self, serving: Serving) -> None:
        sim, client, headers = serving
        request_id = send_sms(client, headers).json()["id"]
        [message] = sim.messages
        sim.advance(31 * 86400)
        headers = login(client, sim)
        assert _status(client, headers, request_id).status_code == 404
        assert _status(client, headers, message.id).status_code == 200

    @pytest.mark.parametrize("key", ["999999999", "00000000-0000-4000-8000-000000000000", "abc"])
    def test_unknown_id(self, serving: Serving, key: str) -> None:
        _, client, headers = serving
        response = _status(client, headers, key)
        assert response.status_code == 404
        assert response.json() == {"status": "error", "message": "Not found"}

    def test_other_account_message_is_hidden(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        sim.add_account("boshqa@notifier.test", "kalit")
        other = client.post(
            "/auth/login", data={"email": "boshqa@notifier.test", "password": "kalit"}
        ).json()["data"]["token"]
        response = _status(client, {"Authorization": f"Bearer {other}"}, sim.messages[0].id)
        assert response.status_code == 404


def _user_messages(
    client: httpx.Client,
    headers: dict[str, str],
    data: dict[str, str],
    params: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(
        "/message/sms/get-user-messages", data=data, params=params or {}, headers=headers
    )


class TestUserMessages:
    def test_paginated_rows_under_result(self, serving: Serving) -> None:
        sim, client, headers = serving
        for _ in range(25):
            send_sms(client, headers)
        data = {
            "start_date": _local_now(sim, -5),
            "to_date": _local_now(sim, 5),
            "page_size": "20",
        }
        first = _user_messages(client, headers, data).json()["data"]
        assert first["total"] == 25
        assert first["per_page"] == 20
        assert first["current_page"] == 1
        assert first["last_page"] == 2
        assert len(first["result"]) == 20
        assert first["next_page_url"].endswith("?page=2")
        assert first["prev_page_url"] is None
        second = _user_messages(client, headers, data, {"page": "2"}).json()["data"]
        assert len(second["result"]) == 5
        assert second["next_page_url"] is None
        ids = [row["id"] for row in first["result"] + second["result"]]
        assert sorted(ids) == sorted(message.id for message in sim.messages)

    def test_end_date_alias(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        data = {"start_date": _local_now(sim, -5), "end_date": _local_now(sim, 5)}
        assert _user_messages(client, headers, data).json()["data"]["total"] == 1

    def test_date_range_excludes(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        data = {"start_date": _local_now(sim, 10), "to_date": _local_now(sim, 20)}
        assert _user_messages(client, headers, data).json()["data"]["total"] == 0

    def test_count_totals(self, serving: Serving) -> None:
        sim, client, headers = serving
        sim.set_outcome("998900000009", "rejected")
        for phone in (PHONE, PHONE, "998900000009"):
            send_sms(client, headers, phone=phone)
        sim.settle()
        send_sms(client, headers)
        data = {"start_date": _local_now(sim, -5), "to_date": _local_now(sim, 5), "count": "1"}
        body = _user_messages(client, headers, data).json()
        assert body["status"] == "success"
        assert sorted(body["data"], key=lambda row: row["status"]) == [
            {"status": "DELIVERED", "total": 2},
            {"status": "NEW", "total": 1},
            {"status": "REJECTED", "total": 1},
        ]

    @pytest.mark.parametrize(("status", "total"), [("", 3), ("delivered", 2), ("rejected", 1)])
    def test_status_filter(self, serving: Serving, status: str, total: int) -> None:
        sim, client, headers = serving
        sim.set_outcome("998900000009", "undelivered")
        for phone in (PHONE, PHONE, "998900000009"):
            send_sms(client, headers, phone=phone)
        sim.settle()
        data = {"start_date": _local_now(sim, -5), "to_date": _local_now(sim, 5)}
        response = _user_messages(client, headers, data, {"status": status})
        assert response.json()["data"]["total"] == total

    @pytest.mark.parametrize("page_size", ["19", "201", "x"])
    def test_page_size_bounds(self, serving: Serving, page_size: str) -> None:
        sim, client, headers = serving
        data = {
            "start_date": _local_now(sim, -5),
            "to_date": _local_now(sim, 5),
            "page_size": page_size,
        }
        assert _user_messages(client, headers, data).status_code == 400

    @pytest.mark.parametrize(
        "data",
        [
            {"to_date": "2025-01-01 00:00"},
            {"start_date": "2025-01-01 00:00"},
            {"start_date": "01.01.2025", "to_date": "2025-01-02 00:00"},
        ],
        ids=["no-start", "no-end", "bad-format"],
    )
    def test_invalid_dates(self, serving: Serving, data: dict[str, str]) -> None:
        _, client, headers = serving
        assert _user_messages(client, headers, data).status_code == 400


def _batch(client: httpx.Client, headers: dict[str, str], dispatch_id: int, count: int) -> None:
    messages = [
        {"user_sms_id": f"m{i}", "to": 998900000001 + i, "text": "Salom"} for i in range(count)
    ]
    body = {"messages": messages, "from": "4546", "dispatch_id": dispatch_id}
    assert client.post("/message/sms/send-batch", json=body, headers=headers).status_code == 200


class TestDispatchReports:
    def test_messages_by_dispatch_with_dashed_page_size(self, serving: Serving) -> None:
        _, client, headers = serving
        _batch(client, headers, 7, 25)
        _batch(client, headers, 8, 3)
        response = client.post(
            "/message/sms/get-user-messages-by-dispatch",
            data={"dispatch_id": "7"},
            params={"page-size": "20"},
            headers=headers,
        )
        data = response.json()["data"]
        assert data["total"] == 25
        assert len(data["result"]) == 20
        assert {row["dispatch_id"] for row in data["result"]} == {7}

    def test_by_dispatch_page_size_bounds(self, serving: Serving) -> None:
        _, client, headers = serving
        for size in ("19", "1001"):
            response = client.post(
                "/message/sms/get-user-messages-by-dispatch",
                data={"dispatch_id": "7"},
                params={"page-size": size},
                headers=headers,
            )
            assert response.status_code == 400
        response = client.post(
            "/message/sms/get-user-messages-by-dispatch",
            data={"dispatch_id": "7"},
            params={"page-size": "1000"},
            headers=headers,
        )
        assert response.status_code == 200

    def test_by_dispatch_count(self, serving: Serving) -> None:
        sim, client, headers = serving
        _batch(client, headers, 7, 4)
        sim.settle()
        response = client.post(
            "/message/sms/get-user-messages-by-dispatch",
            data={"dispatch_id": "7", "count": "1"},
            headers=headers,
        )
        assert response.json()["data"] == [{"status": "DELIVERED", "total": 4}]

    def test_dispatch_status(self, serving: Serving) -> None:
        sim, client, headers = serving
        _batch(client, headers, 9, 18)
        sim.settle()
        data = {"user_id": str(sim.account.id), "dispatch_id": "9"}
        response = client.post("/message/sms/get-dispatch-status", data=data, headers=headers)
        assert response.json() == {
            "status": "success",
            "data": [{"status": "DELIVERED", "total": 18}],
            "id": None,
        }

    def test_dispatch_status_other_user(self, serving: Serving) -> None:
        _, client, headers = serving
        _batch(client, headers, 9, 2)
        data = {"user_id": "1", "dispatch_id": "9"}
        response = client.post("/message/sms/get-dispatch-status", data=data, headers=headers)
        assert response.json()["data"] == []


class TestTotals:
    def test_monthly_packets(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers, "Ж" * 71)
        send_sms(client, headers)
        sim.settle()
        now = datetime.fromtimestamp(sim.clock.now(), TASHKENT)
        response = client.post(
            "/user/totals",
            data={"year": str(now.year), "month": str(now.month), "is_global": "0"},
            headers=headers,
        )
        [row] = response.json()["data"]
        assert row["status"] == "DELIVERED"
        assert row["packets"] == 3
        assert row["month"] == now.strftime("%b")

    def test_global_only(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        now = datetime.fromtimestamp(sim.clock.now(), TASHKENT)
        response = client.post(
            "/user/totals",
            data={"year": str(now.year), "month": str(now.month), "is_global": "1"},
            headers=headers,
        )
        assert response.json()["data"] == []

    def test_invalid_month(self, serving: Serving) -> None:
        _, client, headers = serving
        response = client.post(
            "/user/totals", data={"year": "2025", "month": "13"}, headers=headers
        )
        assert response.status_code == 400


class TestAccountEndpoints:
    def test_get_limit(self, serving: Serving) -> None:
        sim, client, headers = serving
        send_sms(client, headers)
        response = client.get("/user/get-limit", headers=headers)
        assert response.json() == {"data": {"balance": sim.balance}, "status": "success"}
        assert sim.balance == 1_000_000 - 50

    def test_nicks_bare_array(self) -> None:
        with _serve(nicks=("4546", "Bozor")) as (_, client, headers):
            assert client.get("/nick/me", headers=headers).json() == ["4546", "Bozor"]

    def test_templates(self, serving: Serving) -> None:
        sim, client, headers = serving
        text = "Hurmatli mijoz, kodingiz %d"
        response = client.post("/user/template", data={"template": text}, headers=headers)
        assert response.json() == {"template": text}
        listed = client.get("/user/templates", headers=headers).json()
        assert listed["success"] is True
        [row] = listed["result"]
        assert row["original_text"] == text
        assert row["status"] == "moderation"
        sim.approve_template(row["id"])
        [row] = client.get("/user/templates", headers=headers).json()["result"]
        assert row["status"] == "approved"
        assert row["template"] == text

    def test_template_missing_text(self, serving: Serving) -> None:
        _, client, headers = serving
        assert client.post("/user/template", data={}, headers=headers).status_code == 400

    def test_prices(self, serving: Serving) -> None:
        _, client, headers = serving
        body = client.get("/user/prices", headers=headers).json()
        assert {"code", "name", "prefix", "status", "price"} <= set(body["global"][0])
        assert {row["price"] for row in body["local"]} == {50}

    def test_check(self, serving: Serving) -> None:
        _, client, headers = serving
        text = "Ж" * 109
        response = client.post("/message/sms/check", json={"message": text}, headers=headers)
        data = response.json()["data"]
        assert data["parts_count"] == 2
        assert data["chars_count"] == 109
        assert data["bytes_count"] == 218
        assert data["can_send"] is True
        assert data["forbidden"] is False
        assert data["info"][0]["price"] == 100

    def test_check_trial_text(self) -> None:
        with _serve(role="test") as (_, client, headers):
            response = client.post("/message/sms/check", json={"message": "Salom"}, headers=headers)
            assert response.json()["data"]["can_send"] is False

    def test_check_by_get_is_404(self, serving: Serving) -> None:
        _, client, headers = serving
        assert client.get("/message/sms/check", headers=headers).status_code == 404

    def test_normalizer(self, serving: Serving) -> None:
        _, client, headers = serving
        response = client.post(
            "/message/sms/normalizer",
            data={"message": "O\u02bbzbekiston narxi 5€"},
            headers=headers,
        )
        body = response.json()
        assert body["message"] == "O'zbekiston narxi 5EU"
        assert body["special_characters"] == [
            {"position": 1, "code": "0x02BB", "char": "\u02bb"},
            {"position": 19, "code": "0x20AC", "char": "€"},
        ]
        assert body["recommendations"] == [{"from": "\u02bb", "to": "'"}, {"from": "€", "to": "EU"}]


class TestNotFound:
    def test_unknown_path(self, serving: Serving) -> None:
        _, client, headers = serving
        response = client.get("/message/sms/nothing", headers=headers)
        assert response.status_code == 404
        assert response.json() == {"status": "error", "message": "Not found"}

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/auth/login"), ("POST", "/user/get-limit"), ("PUT", "/message/sms/send")],
    )
    def test_wrong_method_is_404(self, serving: Serving, method: str, path: str) -> None:
        _, client, headers = serving
        assert client.request(method, path, headers=headers).status_code == 404

    def test_trailing_slash_is_404(self, serving: Serving) -> None:
        _, client, headers = serving
        assert client.get("/user/get-limit/", headers=headers).status_code == 404

    def test_nginx_style(self) -> None:
        with _serve(not_found_style="nginx") as (_, client, headers):
            response = client.get("/nothing", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "404 Not Found" in response.text
        assert "nginx" in response.text
