# Uzbek sample text is written with the modifier letter U+02BB on purpose.
# ruff: noqa: RUF001
"""Status callbacks: signature checks and parsing into DeliveryReport."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from pydantic import SecretStr

from notifier import (
    AuthenticationError,
    CallbackResponse,
    ConfigurationError,
    DeliveryReportReceiver,
    DeliveryStatus,
    InvalidMessage,
)
from notifier._plugins import new_plugin_manager
from notifier_twilio import CLIENT_REF_PARAM, TwilioProvider, compute_signature
from notifier_twilio import parse_status_callback as parse
from notifier_twilio.simulator import TwilioSimulator
from tests._audit import LeakAudit
from tests.twilio.support import PHONE, CallbackReceiver, ReceivedCallback, sms

TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
SID = "SM" + "ab" * 16
FORM = "application/x-www-form-urlencoded"
URL = f"https://app.invalid/twilio/status?{CLIENT_REF_PARAM}=buyurtma-42"


def callback(
    status: str = "delivered", url: str = URL, token: str = TOKEN, **extra: str
) -> tuple[bytes, dict[str, str]]:
    """Return a signed callback body and its headers."""
    params = {
        "AccountSid": "AC" + "cd" * 16,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": SID,
        "MessageStatus": status,
        "SmsSid": SID,
        "SmsStatus": status,
        "To": PHONE,
        **extra,
    }
    signature = compute_signature(token, url, params)
    return urlencode(params).encode(), {"x-twilio-signature": signature}


@pytest.fixture(autouse=True)
def _register_token(leak_audit: LeakAudit) -> None:
    leak_audit.secret(TOKEN)


class TestParse:
    def test_valid_delivered_report(self) -> None:
        body, headers = callback(RawDlrDoneDate="2412041530")

        [report] = parse(body, FORM, headers, URL, auth_token=TOKEN)

        assert report.provider == "twilio"
        assert report.message_id == SID
        assert report.client_ref == "buyurtma-42"
        assert report.status is DeliveryStatus.DELIVERED
        assert report.provider_status == "delivered"
        assert report.to == PHONE
        assert report.error_code is None
        assert report.occurred_at is None
        assert report.raw["RawDlrDoneDate"] == "2412041530"

    @pytest.mark.parametrize(
        ("status", "code", "expected"),
        [
            ("sent", None, DeliveryStatus.ACCEPTED),
            ("undelivered", "30003", DeliveryStatus.UNDELIVERED),
            ("failed", "30007", DeliveryStatus.REJECTED),
            ("failed", "30036", DeliveryStatus.EXPIRED),
        ],
    )
    def test_status_and_error_code(
        self, status: str, code: str | None, expected: DeliveryStatus
    ) -> None:
        extra = {"ErrorCode": code} if code else {}
        body, headers = callback(status, **extra)

        [report] = parse(body, FORM, headers, URL, auth_token=TOKEN)

        assert report.status is expected
        assert report.error_code == code

    def test_error_code_zero_means_none(self) -> None:
        body, headers = callback("delivered", ErrorCode="0")

        [report] = parse(body, FORM, headers, URL, auth_token=TOKEN)

        assert report.error_code is None

    def test_secret_token_as_secretstr(self) -> None:
        body, headers = callback()

        [report] = parse(body, FORM, headers, URL, auth_token=SecretStr(TOKEN))

        assert report.message_id == SID

    def test_content_type_with_charset(self) -> None:
        body, headers = callback()

        [report] = parse(body, f"{FORM}; charset=utf-8", headers, URL, auth_token=TOKEN)

        assert report.status is DeliveryStatus.DELIVERED

    def test_header_name_is_case_insensitive(self) -> None:
        body, headers = callback()

        upper = {"X-Twilio-Signature": headers["x-twilio-signature"]}

        [report] = parse(body, FORM, upper, URL, auth_token=TOKEN)

        assert report.message_id == SID

    def test_url_without_client_ref(self) -> None:
        url = "https://app.invalid/twilio/status"
        body, headers = callback(url=url)

        [report] = parse(body, FORM, headers, url, auth_token=TOKEN)

        assert report.client_ref is None

    def test_only_sms_sid_and_status(self) -> None:
        params = {"SmsSid": SID, "SmsStatus": "sent"}
        signature = compute_signature(TOKEN, URL, params)

        headers = {"x-twilio-signature": signature}

        [report] = parse(urlencode(params).encode(), FORM, headers, URL, auth_token=TOKEN)

        assert report.message_id == SID
        assert report.provider_status == "sent"

    def test_repr_masks_number(self) -> None:
        body, headers = callback()

        [report] = parse(body, FORM, headers, URL, auth_token=TOKEN)

        assert "998900000001" not in repr(report)


class TestRejections:
    def test_wrong_signature(self) -> None:
        body, _ = callback()
        _, other = callback(token="0" * 32)

        with pytest.raises(AuthenticationError, match="does not match"):
            parse(body, FORM, other, URL, auth_token=TOKEN)

    def test_tampered_body(self) -> None:
        body, headers = callback("undelivered")
        tampered = body.replace(b"undelivered", b"delivered")

        with pytest.raises(AuthenticationError):
            parse(tampered, FORM, headers, URL, auth_token=TOKEN)

    def test_other_url(self) -> None:
        body, headers = callback()
        forged = URL.replace("buyurtma-42", "buyurtma-43")

        with pytest.raises(AuthenticationError):
            parse(body, FORM, headers, forged, auth_token=TOKEN)

    def test_missing_signature(self) -> None:
        body, _ = callback()

        with pytest.raises(AuthenticationError, match="no X-Twilio-Signature"):
            parse(body, FORM, {}, URL, auth_token=TOKEN)

    def test_error_names_no_secret(self) -> None:
        body, _ = callback()
        _, other = callback(token="0" * 32)

        with pytest.raises(AuthenticationError) as caught:
            parse(body, FORM, other, URL, auth_token=TOKEN)

        assert TOKEN not in str(caught.value)
        assert other["x-twilio-signature"] not in str(caught.value)

    @pytest.mark.parametrize("token", [None, "", SecretStr("")])
    def test_no_auth_token(self, token: str | SecretStr | None) -> None:
        body, headers = callback()

        with pytest.raises(ConfigurationError, match="TWILIO_AUTH_TOKEN"):
            parse(body, FORM, headers, URL, auth_token=token)

    def test_no_url(self) -> None:
        body, headers = callback()

        with pytest.raises(ConfigurationError, match="url="):
            parse(body, FORM, headers, None, auth_token=TOKEN)

    def test_unverified_parse_needs_no_token(self) -> None:
        body, _ = callback()

        [report] = parse(body, FORM, None, URL, auth_token=None, verify_signature=False)

        assert report.message_id == SID

    @pytest.mark.parametrize("content_type", ["application/json", "", "text/plain"])
    def test_other_content_type(self, content_type: str) -> None:
        body, headers = callback()

        with pytest.raises(InvalidMessage, match="x-www-form-urlencoded"):
            parse(body, content_type, headers, URL, auth_token=TOKEN)

    def test_not_utf8(self) -> None:
        with pytest.raises(InvalidMessage, match="UTF-8"):
            parse(b"MessageSid=\xff\xfe", FORM, {}, URL, auth_token=None, verify_signature=False)

    def test_oversized_body(self) -> None:
        with pytest.raises(InvalidMessage, match="bytes"):
            parse(b"a=" + b"x" * 70_000, FORM, {}, URL, auth_token=TOKEN)

    def test_missing_fields(self) -> None:
        params = {"AccountSid": "AC" + "cd" * 16}
        signature = compute_signature(TOKEN, URL, params)

        with pytest.raises(InvalidMessage, match="MessageSid"):
            parse(
                urlencode(params).encode(),
                FORM,
                {"x-twilio-signature": signature},
                URL,
                auth_token=TOKEN,
            )


class TestFromSimulator:
    """The simulator signs callbacks the way Twilio does; the provider checks them."""

    async def test_every_change_arrives_signed_with_client_ref(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        with CallbackReceiver() as receiver:
            message = sms(PHONE, "Buyurtmangiz yoʻlda", callback_url=receiver.url())
            result = await provider.send(message)
            changes = await sim.asettle()
            received = receiver.wait_for(len(changes))

        reports = [
            provider.parse_delivery_report(r.body, r.content_type, r.headers, r.url)[0]
            for r in received
        ]
        assert [r.provider_status for r in reports] == ["sending", "sent", "delivered"]
        assert {r.message_id for r in reports} == {result.message_id}
        assert {r.client_ref for r in reports} == {message.client_ref}
        assert reports[-1].status is DeliveryStatus.DELIVERED

    async def test_undelivered_outcome_carries_error_code(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        with CallbackReceiver() as receiver:
            await provider.send(sms("+998900000091", "Salom", callback_url=receiver.url()))
            changes = await sim.asettle()
            received = receiver.wait_for(len(changes))

        last = received[-1]
        [report] = provider.parse_delivery_report(
            last.body, last.content_type, last.headers, last.url
        )
        assert report.status is DeliveryStatus.UNDELIVERED
        assert report.error_code == "30003"

    async def test_client_ref_with_special_characters(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        with CallbackReceiver() as receiver:
            message = sms(PHONE, "Salom", callback_url=receiver.url(), client_ref="buyurtma 42/ä")
            await provider.send(message)
            await sim.aadvance()
            [received] = receiver.wait_for(1)

        [report] = provider.parse_delivery_report(
            received.body, received.content_type, received.headers, received.url
        )
        assert report.client_ref == "buyurtma 42/ä"

    async def test_callback_signed_with_other_token_is_rejected(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        with CallbackReceiver() as receiver:
            await provider.send(sms(PHONE, "Salom", callback_url=receiver.url()))
            await sim.aadvance()
            [received] = receiver.wait_for(1)

        other = TwilioProvider(
            account_sid=sim.account_sid,
            auth_token="1" * 32,
            base_url=sim.base_url,
            sender=sim.sender,
        )
        with pytest.raises(AuthenticationError):
            other.parse_delivery_report(
                received.body, received.content_type, received.headers, received.url
            )
        await other.aclose()

    async def test_api_key_provider_cannot_check_callbacks(self, sim: TwilioSimulator) -> None:
        body, headers = callback()
        provider = TwilioProvider(
            account_sid=sim.account_sid,
            api_key_sid=sim.api_key_sid,
            api_key_secret=sim.api_key_secret,
            sender=sim.sender,
            base_url=sim.base_url,
        )

        with pytest.raises(ConfigurationError, match="API key pair cannot check"):
            provider.parse_delivery_report(body, FORM, headers, URL)
        await provider.aclose()


class TestWithDeliveryReportReceiver:
    """Simulator callbacks through the library's receiver, secret and signature both checked."""

    SECRET = "receiver-secret-0123456789"

    async def deliver(
        self, receiver: DeliveryReportReceiver, request: ReceivedCallback
    ) -> CallbackResponse:
        query = dict(parse_qsl(urlsplit(request.url).query))
        return await receiver.handle(
            "twilio",
            method="POST",
            secret=query.get("secret"),
            body=request.body,
            content_type=request.content_type,
            headers=request.headers,
            url=request.url,
            wait=True,
        )

    async def test_reports_reach_the_store(
        self, sim: TwilioSimulator, provider: TwilioProvider, leak_audit: LeakAudit
    ) -> None:
        leak_audit.secret(self.SECRET)
        receiver = DeliveryReportReceiver(
            provider, secret=self.SECRET, plugins=new_plugin_manager()
        )
        with CallbackReceiver() as listener:
            callback_url = receiver.callback_url(listener.url("/delivery-reports"))
            message = sms(PHONE, "Salom", callback_url=callback_url)
            await provider.send(message)
            changes = await sim.asettle()
            received = listener.wait_for(len(changes))

        responses = [await self.deliver(receiver, request) for request in received]
        latest = await receiver.store.latest("twilio", client_ref=message.client_ref)
        await receiver.aclose()

        assert [response.status_code for response in responses] == [200, 200, 200]
        assert latest is not None
        assert latest.status is DeliveryStatus.DELIVERED

    async def test_forged_signature_is_rejected(
        self, sim: TwilioSimulator, provider: TwilioProvider, leak_audit: LeakAudit
    ) -> None:
        leak_audit.secret(self.SECRET)
        receiver = DeliveryReportReceiver(
            provider, secret=self.SECRET, plugins=new_plugin_manager()
        )
        with CallbackReceiver() as listener:
            message = sms(PHONE, "Salom", callback_url=receiver.callback_url(listener.url()))
            await provider.send(message)
            await sim.aadvance()
            [request] = listener.wait_for(1)

        forged = replace(request, headers={**request.headers, "x-twilio-signature": "AAAA"})
        response = await self.deliver(receiver, forged)
        latest = await receiver.store.latest("twilio", client_ref=message.client_ref)
        await receiver.aclose()

        assert response.status_code == 403
        assert latest is None
