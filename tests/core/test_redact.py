"""Redaction of vendor responses: tokens, numbers and echoes of the message text."""

from __future__ import annotations

import json

import httpx
import pytest

from notifier._redact import redact_text, remove_echoes, summarize_response

BODY = "Hurmatli mijoz, buyurtmangiz tayyor. Tasdiqlash kodi: 4512. Uni hech kimga aytmang."
CYRILLIC_BODY = "Сизнинг тасдиқлаш кодингиз: 4512. Уни ҳеч кимга айтманг."


def _eskiz_response(message: str) -> httpx.Response:
    return httpx.Response(400, json={"status": "error", "message": message})


class TestEchoes:
    def test_whole_text_removed(self) -> None:
        text = remove_echoes(f"Text '{BODY}' rejected", [BODY])

        assert text == "Text '[redacted]' rejected"

    @pytest.mark.parametrize("marker", ["...", "…", " ..."])
    def test_first_40_characters_removed(self, marker: str) -> None:
        text = remove_echoes(f"Text '{BODY[:40]}{marker}' rejected", [BODY])

        assert BODY[:10] not in text
        assert text == f"Text '[redacted]{marker}' rejected"

    def test_short_start_before_ellipsis_removed(self) -> None:
        text = remove_echoes("Text 'Kod: 45...' rejected", ["Kod: 4512"])

        assert "Kod" not in text
        assert text == "Text '[redacted]...' rejected"

    def test_end_after_ellipsis_removed(self) -> None:
        text = remove_echoes("Text '...4512.' rejected", ["Tasdiq kodi: 4512."])

        assert "4512" not in text
        assert text == "Text '...[redacted]' rejected"

    def test_middle_piece_removed(self) -> None:
        piece = BODY[20:45]

        text = remove_echoes(f"Blocked words in: {piece}", [BODY])

        assert piece not in text
        assert text == "Blocked words in: [redacted]"

    def test_echo_with_collapsed_line_breaks_removed(self) -> None:
        body = "Salom!\n\nTasdiqlash kodi: 4512"

        text = remove_echoes("Text 'Salom! Tasdiqlash kodi: 4512' rejected", [body])

        assert text == "Text '[redacted]' rejected"

    def test_ascii_escaped_echo_removed(self) -> None:
        escaped = json.dumps(CYRILLIC_BODY[:30])[1:-1]

        text = remove_echoes(f"<p>Text {escaped}... rejected</p>", [CYRILLIC_BODY])

        assert "\\u0421" not in text
        assert text == "<p>Text [redacted]... rejected</p>"

    def test_unrelated_text_kept(self) -> None:
        response = "Sender name 'MYSHOP' is not approved for this account..."

        assert remove_echoes(response, [BODY, "Kod: 4512"]) == response

    def test_short_common_start_kept(self) -> None:
        # Three characters are too few to tell an echo from a coincidence.
        assert remove_echoes("Use... or not", ["Use this code"]) == "Use... or not"

    def test_one_echo_among_many_texts(self) -> None:
        bodies = [f"Buyurtma #{number} tayyor, olib keting." for number in range(500)]

        text = remove_echoes("messages[317]: 'Buyurtma #317 tayyor...' rejected", bodies)

        assert "#317" not in text
        assert text == "messages[317]: '[redacted]...' rejected"

    def test_empty_sensitive_text_ignored(self) -> None:
        assert remove_echoes("Not  found", ["", ""]) == "Not found"


class TestSummaries:
    def test_eskiz_truncated_echo(self) -> None:
        response = _eskiz_response(f"Text «{CYRILLIC_BODY[:40]}...» failed moderation")

        summary = summarize_response(response, [CYRILLIC_BODY])

        assert CYRILLIC_BODY[:8] not in summary
        assert summary == ('{"status":"error","message":"Text «[redacted]...» failed moderation"}')

    def test_eskiz_echo_and_number(self) -> None:
        response = _eskiz_response(f"{BODY[:40]}... to 998900000011 failed moderation")

        summary = summarize_response(response, [BODY])

        assert (
            summary
            == '{"status":"error","message":"[redacted]... to 998*****0011 failed moderation"}'
        )

    def test_twilio_truncated_echo(self) -> None:
        content = {
            "code": 30007,
            "message": f"Message '{BODY[:30]}…' was filtered as spam",
            "more_info": "https://www.twilio.com/docs/errors/30007",
            "status": 400,
        }

        summary = summarize_response(httpx.Response(400, json=content), [BODY])

        assert BODY[:10] not in summary
        assert "'[redacted]…' was filtered as spam" in summary

    def test_echo_removed_before_cut(self) -> None:
        padding = "x" * 250  # the body starts inside the 300 characters kept

        summary = summarize_response(_eskiz_response(f"{padding} {BODY}"), [BODY])

        assert "Hurmatli" not in summary
        assert summary.endswith('[redacted]"}')

    def test_redact_text_takes_sensitive(self) -> None:
        text = redact_text(f"send failed for '{BODY[:25]}...'", sensitive=[BODY])

        assert text == "send failed for '[redacted]...'"
