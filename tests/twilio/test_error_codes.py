"""Twilio error bodies and the library errors they become."""

from __future__ import annotations

import json
import pickle

import pytest

from notifier import (
    AuthenticationError,
    InvalidMessage,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
)
from notifier_twilio import TwilioInvalidRecipient, twilio_error_code
from notifier_twilio._error_codes import (
    ErrorKind,
    classify,
    error_for_response,
    parse_error_body,
    redact,
)


def body(code: int | None, message: str, status: int = 400) -> bytes:
    payload = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json.dumps(payload).encode()


class TestParseErrorBody:
    def test_reads_every_field(self) -> None:
        parsed = parse_error_body(body(21610, "Attempt to send to unsubscribed recipient"))

        assert parsed.code == 21610
        assert parsed.message == "Attempt to send to unsubscribed recipient"
        assert parsed.more_info == "https://www.twilio.com/docs/errors/21610"
        assert parsed.status == 400

    def test_code_as_string_is_read(self) -> None:
        assert parse_error_body(b'{"code": "20003"}').code == 20003

    @pytest.mark.parametrize(
        "content",
        [b"", b"<html>502 Bad Gateway</html>", b"[1, 2]", b'{"code": true}', b"\xff\xfe"],
        ids=["empty", "html", "list", "bool-code", "not-utf8"],
    )
    def test_tolerates_other_bodies(self, content: bytes) -> None:
        assert parse_error_body(content).code is None


class TestRedact:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("The 'To' number +15005550001 is bad.", "The 'To' number +150****0001 is bad."),
            ("number 998900000001 blocked", "number 998*****0001 blocked"),
            ("call +998 90 000 00 01 now", "call +998*****0001 now"),
        ],
    )
    def test_masks_numbers(self, text: str, expected: str) -> None:
        assert redact(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "/2010-04-01/Accounts/ACfeed/Messages/SM123.json was not found",
            "error 21211",
            "SMe26a50054faeea67d23acf2ee6bac85b",
        ],
    )
    def test_keeps_codes_paths_and_sids(self, text: str) -> None:
        assert redact(text) == text


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "code", "kind"),
        [
            (401, 20003, ErrorKind.AUTHENTICATION),
            (400, 21211, ErrorKind.INVALID_RECIPIENT),
            (400, 21614, ErrorKind.INVALID_RECIPIENT),
            (400, 21610, ErrorKind.REJECTED),
            (400, 21408, ErrorKind.REJECTED),
            (400, 21612, ErrorKind.REJECTED),
            (400, 30007, ErrorKind.REJECTED),
            (429, 20429, ErrorKind.RATE_LIMITED),
            (400, 21611, ErrorKind.RATE_LIMITED),
            (404, 20404, ErrorKind.NOT_FOUND),
            (500, 20500, ErrorKind.UNAVAILABLE),
        ],
    )
    def test_known_codes(self, status: int, code: int, kind: ErrorKind) -> None:
        assert classify(status, code) is kind

    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (401, ErrorKind.AUTHENTICATION),
            (403, ErrorKind.AUTHENTICATION),
            (404, ErrorKind.NOT_FOUND),
            (429, ErrorKind.RATE_LIMITED),
            (502, ErrorKind.UNAVAILABLE),
            (400, ErrorKind.REJECTED),
            (422, ErrorKind.REJECTED),
        ],
    )
    def test_unknown_code_falls_back_to_status(self, status: int, kind: ErrorKind) -> None:
        assert classify(status, 99999) is kind
        assert classify(status, None) is kind


class TestErrorForResponse:
    def build(self, status: int, code: int | None, message: str = "m") -> ProviderError:
        return error_for_response(
            status,
            body(code, message, status),
            provider="twilio",
            operation="send the message to +998*****0001",
            client_ref="ref-1",
            attempts=2,
        )

    @pytest.mark.parametrize(
        ("status", "code", "error_type"),
        [
            (401, 20003, AuthenticationError),
            (400, 21610, RejectedError),
            (400, 21211, TwilioInvalidRecipient),
            (400, 21611, RateLimitedError),
            (404, 20404, RejectedError),
            (500, 20500, ProviderUnavailable),
        ],
    )
    def test_error_type(self, status: int, code: int, error_type: type[ProviderError]) -> None:
        assert type(self.build(status, code)) is error_type

    def test_invalid_recipient_is_both_invalid_message_and_rejected(self) -> None:
        error = self.build(400, 21211)

        assert isinstance(error, InvalidMessage)
        assert isinstance(error, ValueError)
        assert isinstance(error, RejectedError)

    def test_carries_context(self) -> None:
        error = self.build(400, 21610, "Attempt to send to unsubscribed recipient")

        assert error.provider == "twilio"
        assert error.status_code == 400
        assert error.client_ref == "ref-1"
        assert error.attempts == 2
        assert twilio_error_code(error) == 21610

    def test_message_names_code_cause_and_fix(self) -> None:
        error = self.build(400, 21610)

        assert "error 21610" in error.message
        assert "unsubscribed" in error.message
        assert "+998*****0001" in error.message
        assert "START" in error.message

    def test_summary_is_redacted(self) -> None:
        error = self.build(400, 21211, "The 'To' number +998900000001 is not a valid phone number.")

        assert error.response_summary is not None
        assert "998900000001" not in error.response_summary
        assert "+998*****0001" in error.response_summary
        assert "code 21211" in error.response_summary

    def test_sensitive_texts_are_removed(self) -> None:
        error = error_for_response(
            400,
            body(30007, "Message 'Maxfiy kod: 4512' was filtered"),
            provider="twilio",
            operation="send the message",
            sensitive=("Maxfiy kod: 4512", "kod"),
        )

        assert error.response_summary == (
            "code 30007: Message '[redacted]' was filtered "
            "(https://www.twilio.com/docs/errors/30007)"
        )

    def test_truncated_echo_is_removed(self) -> None:
        text = "Hurmatli mijoz, buyurtmangiz tayyor. Tasdiqlash kodi: 4512."
        error = error_for_response(
            400,
            body(30007, f"Message '{text[:40]}...' was filtered"),
            provider="twilio",
            operation="send the message",
            sensitive=(text,),
        )

        assert error.response_summary == (
            "code 30007: Message '[redacted]...' was filtered "
            "(https://www.twilio.com/docs/errors/30007)"
        )

    def test_unknown_code_keeps_twilio_text(self) -> None:
        error = self.build(400, 63999, "Something new")

        assert type(error) is RejectedError
        assert "error 63999" in error.message
        assert error.response_summary is not None
        assert "Something new" in error.response_summary

    def test_non_json_body_is_summarized(self) -> None:
        error = error_for_response(
            502, b"<html> Bad   Gateway </html>", provider="twilio", operation="fetch x"
        )

        assert type(error) is ProviderUnavailable
        assert error.response_summary == "<html> Bad Gateway </html>"
        assert twilio_error_code(error) is None

    def test_code_survives_pickling(self) -> None:
        error = self.build(400, 21610)

        restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

        assert twilio_error_code(restored) == 21610

    def test_plain_exception_has_no_code(self) -> None:
        assert twilio_error_code(ValueError("x")) is None
