# Uzbek sample text is written with the modifier letter U+02BB on purpose.
# ruff: noqa: RUF001
"""X-Twilio-Signature computation and comparison."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from notifier_twilio import compute_signature, signature_matches

# A worked example of Twilio's scheme from a third-party validator's docs,
# which cite Twilio's security page: this URL, these five parameters and the
# token "12345". The URL is only HMAC input; nothing contacts it.
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
EXAMPLE_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


class TestComputeSignature:
    def test_matches_published_example(self) -> None:
        assert compute_signature("12345", EXAMPLE_URL, EXAMPLE_PARAMS) == EXAMPLE_SIGNATURE

    def test_is_hmac_sha1_of_url_and_sorted_pairs(self) -> None:
        params = {"b": "2", "a": "1", "C": "3"}
        payload = "https://x.invalid/cb?q=1" + "C3" + "a1" + "b2"  # sorted by name, byte order
        expected = base64.b64encode(
            hmac.new(b"token", payload.encode(), hashlib.sha1).digest()
        ).decode()

        assert compute_signature("token", "https://x.invalid/cb?q=1", params) == expected

    def test_parameter_order_does_not_matter(self) -> None:
        forward = list(EXAMPLE_PARAMS.items())

        assert compute_signature("12345", EXAMPLE_URL, reversed(forward)) == EXAMPLE_SIGNATURE

    def test_repeated_name_signs_each_value_sorted(self) -> None:
        pairs = [("Media", "b"), ("Media", "a")]
        payload = "https://x.invalid/cb" + "Mediaa" + "Mediab"
        expected = base64.b64encode(
            hmac.new(b"token", payload.encode(), hashlib.sha1).digest()
        ).decode()

        assert compute_signature("token", "https://x.invalid/cb", pairs) == expected

    def test_non_ascii_values_are_utf8(self) -> None:
        params = {"Body": "Oʻzbekiston, салом"}
        payload = ("https://x.invalid/cb" + "BodyOʻzbekiston, салом").encode()
        expected = base64.b64encode(hmac.new(b"token", payload, hashlib.sha1).digest()).decode()

        assert compute_signature("token", "https://x.invalid/cb", params) == expected


class TestSignatureMatches:
    def test_accepts_the_right_signature(self) -> None:
        assert signature_matches("12345", EXAMPLE_URL, EXAMPLE_PARAMS, EXAMPLE_SIGNATURE)

    @pytest.mark.parametrize(
        ("token", "url", "change"),
        [
            pytest.param("54321", EXAMPLE_URL, {}, id="other-token"),
            pytest.param("12345", EXAMPLE_URL + "&baz=3", {}, id="other-query"),
            pytest.param("12345", EXAMPLE_URL.replace("https", "http"), {}, id="other-scheme"),
            pytest.param("12345", EXAMPLE_URL, {"Digits": "1235"}, id="changed-value"),
            pytest.param("12345", EXAMPLE_URL, {"Extra": "1"}, id="added-param"),
        ],
    )
    def test_rejects_any_change(self, token: str, url: str, change: dict[str, str]) -> None:
        params = {**EXAMPLE_PARAMS, **change}

        assert not signature_matches(token, url, params, EXAMPLE_SIGNATURE)

    def test_rejects_garbage_and_empty_signatures(self) -> None:
        assert not signature_matches("12345", EXAMPLE_URL, EXAMPLE_PARAMS, "")
        assert not signature_matches("12345", EXAMPLE_URL, EXAMPLE_PARAMS, "not base64 ✓")

    def test_tolerates_surrounding_whitespace(self) -> None:
        assert signature_matches("12345", EXAMPLE_URL, EXAMPLE_PARAMS, f" {EXAMPLE_SIGNATURE}\n")

    @pytest.mark.parametrize(
        ("signed_url", "received_url"),
        [
            pytest.param(
                "https://x.invalid:443/cb?a=1", "https://x.invalid/cb?a=1", id="https-added"
            ),
            pytest.param(
                "https://x.invalid/cb?a=1", "https://x.invalid:443/cb?a=1", id="https-removed"
            ),
            pytest.param("http://x.invalid:80/cb", "http://x.invalid/cb", id="http-added"),
        ],
    )
    def test_default_port_may_differ(self, signed_url: str, received_url: str) -> None:
        signature = compute_signature("token", signed_url, {"A": "1"})

        assert signature_matches("token", received_url, {"A": "1"}, signature)

    def test_non_default_port_must_match(self) -> None:
        signature = compute_signature("token", "https://x.invalid:8443/cb", {"A": "1"})

        assert not signature_matches("token", "https://x.invalid/cb", {"A": "1"}, signature)
        assert not signature_matches("token", "https://x.invalid:443/cb", {"A": "1"}, signature)
