"""The leak audit itself must catch what it is meant to catch."""

from __future__ import annotations

import logging

from tests._audit import LeakAudit, find_leaks


def test_find_leaks_full_phone_number() -> None:
    assert find_leaks("sent to 998901234567", []) == ["phone number '998901234567'"]
    assert find_leaks("sent to +998901234567", []) == ["phone number '+998901234567'"]


def test_find_leaks_ignores_masked_number() -> None:
    assert find_leaks("sent to +998*****4567", []) == []


def test_find_leaks_jwt_and_secret() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    assert find_leaks(f"token {jwt}", []) == ["a JWT"]
    assert find_leaks("password hunter2-secret", ["hunter2-secret"]) == ["a registered secret"]


def test_audit_records_library_logs(leak_audit: LeakAudit) -> None:
    before = len(leak_audit.entries)
    logging.getLogger("notifier.audit-self-test").debug("value %s", "masked")
    assert len(leak_audit.entries) == before + 1
    assert leak_audit.entries[-1][1].endswith("value masked")


def test_find_leaks_ignores_digits_inside_hex_id() -> None:
    assert find_leaks("client_ref=a1234567890123b", []) == []
    assert find_leaks("client_ref=1234567890123abc", []) == []
    assert find_leaks("request 5f2c1a9e-41d2-4b7a-9c1e-815895189719", []) == []
