# ruff: noqa: RUF001
# Cyrillic and Uzbek modifier letters in the sample texts are the point of these tests.
"""Segment counting against the GSM 03.38 rules, by table."""

from __future__ import annotations

import pytest

from notifier import Encoding, SegmentInfo, Sms, count_segments, split_segments
from notifier._segments import GSM7_BASIC, GSM7_EXTENSION

GSM = Encoding.GSM7
UCS2 = Encoding.UCS2


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "length"),
    [
        pytest.param("", GSM, 1, 0, id="empty"),
        pytest.param("Kod: 4512", GSM, 1, 9, id="short-gsm"),
        pytest.param("O'zbekiston", GSM, 1, 11, id="uzbek-ascii-apostrophe"),
        pytest.param("Oʻzbekiston", UCS2, 1, 11, id="uzbek-modifier-letter"),
        pytest.param("Oʼzbekiston", UCS2, 1, 11, id="uzbek-modifier-apostrophe"),
        pytest.param("O‘zbekiston", UCS2, 1, 11, id="uzbek-typographic-quote"),
        pytest.param("a" * 160, GSM, 1, 160, id="gsm-160-one-part"),
        pytest.param("a" * 161, GSM, 2, 161, id="gsm-161-two-parts"),
        pytest.param("a" * 306, GSM, 2, 306, id="gsm-306-two-full-parts"),
        pytest.param("a" * 307, GSM, 3, 307, id="gsm-307-three-parts"),
        pytest.param("€", GSM, 1, 2, id="euro-two-septets"),
        pytest.param("a" * 158 + "€", GSM, 1, 160, id="euro-fills-single-part"),
        pytest.param("a" * 159 + "€", GSM, 2, 161, id="euro-overflows-single-part"),
        pytest.param("[]{}~^\\|", GSM, 1, 16, id="extension-table"),
        pytest.param("Салом", UCS2, 1, 5, id="cyrillic-short"),
        pytest.param("я" * 70, UCS2, 1, 70, id="cyrillic-70-one-part"),
        pytest.param("я" * 71, UCS2, 2, 71, id="cyrillic-71-two-parts"),
        pytest.param("я" * 134, UCS2, 2, 134, id="cyrillic-134-two-full-parts"),
        pytest.param("я" * 135, UCS2, 3, 135, id="cyrillic-135-three-parts"),
        pytest.param("😀", UCS2, 1, 2, id="emoji-surrogate-pair"),
        pytest.param("😀" * 35, UCS2, 1, 70, id="emoji-35-fill-one-part"),
        pytest.param("😀" * 36, UCS2, 2, 72, id="emoji-36-two-parts"),
        pytest.param("line\nnext\r\n", GSM, 1, 11, id="line-breaks-gsm"),
        pytest.param("tab\there", UCS2, 1, 8, id="tab-not-gsm"),
        pytest.param("ça", UCS2, 1, 2, id="small-c-cedilla-not-gsm"),
        pytest.param("Ça", GSM, 1, 2, id="capital-c-cedilla-gsm"),
    ],
)
def test_count_segments_table(text: str, encoding: Encoding, parts: int, length: int) -> None:
    info = count_segments(text)

    assert info.encoding is encoding
    assert info.parts == parts
    assert info.length == length


def test_gsm_alphabet_sizes() -> None:
    # The default table has 128 codes including the escape code. The extension
    # table adds 9 characters and the page break.
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("char", sorted(GSM7_EXTENSION))
def test_extension_characters_cost_two(char: str) -> None:
    assert count_segments(char).length == 2
    assert count_segments(char * 80).parts == 1
    assert count_segments(char * 81).parts == 2


def test_per_part_limits() -> None:
    assert count_segments("a").per_part == 160
    assert count_segments("a" * 161).per_part == 153
    assert count_segments("я").per_part == 70
    assert count_segments("я" * 71).per_part == 67


def test_ucs2_characters_in_order_of_first_use() -> None:
    info = count_segments("Salom, Oʻzbekiston! 😀 Oʻz")

    assert info.ucs2_characters == ("ʻ", "😀")


def test_gsm_text_has_no_ucs2_characters() -> None:
    assert count_segments("Kod: 4512 €").ucs2_characters == ()


def test_escape_sequence_moves_whole_to_next_part() -> None:
    # 306 septets would fill two parts of 153, but "€" cannot start at
    # septet 153 of the first part and end in the second.
    text = "a" * 152 + "€" + "b" * 152

    info = count_segments(text)
    parts = split_segments(text)

    assert info.length == 306
    assert info.parts == 3
    assert info.part_lengths == (152, 153, 1)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")
    assert "".join(parts) == text


def test_escape_sequence_fitting_exactly_stays() -> None:
    text = "a" * 151 + "€" + "b" * 153

    assert count_segments(text).part_lengths == (153, 153)
    assert split_segments(text) == ["a" * 151 + "€", "b" * 153]


def test_surrogate_pair_moves_whole_to_next_part() -> None:
    text = "я" * 66 + "😀" + "я" * 66

    info = count_segments(text)
    parts = split_segments(text)

    assert info.length == 134
    assert info.parts == 3
    assert info.part_lengths == (66, 67, 1)
    assert parts[0] == "я" * 66
    assert parts[1].startswith("😀")
    assert "".join(parts) == text


def test_emoji_only_parts_never_split_pairs() -> None:
    text = "😀" * 100

    parts = split_segments(text)

    assert [len(part.encode("utf-16-le")) // 2 for part in parts] == [66, 66, 66, 2]
    assert count_segments(text).parts == 4


def test_split_segments_single_part_is_text() -> None:
    assert split_segments("Kod: 4512") == ["Kod: 4512"]
    assert split_segments("") == [""]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 500,
        "€" * 200,
        "я" * 300,
        "😀я" * 90,
        "Oʻzbekiston Respublikasi " * 12,
        ("Salom [{}] " * 40),
    ],
    ids=["gsm", "euro", "cyrillic", "emoji-mixed", "uzbek-ucs2", "gsm-mixed"],
)
def test_split_matches_count(text: str) -> None:
    info = count_segments(text)
    parts = split_segments(text)

    assert "".join(parts) == text
    assert len(parts) == info.parts
    assert [count_segments(part).length for part in parts] == list(info.part_lengths)
    assert all(length <= info.per_part for length in info.part_lengths)
    assert sum(info.part_lengths) == info.length


def test_lone_surrogate_counts_one_unit() -> None:
    info = count_segments("\ud83d")

    assert info.encoding is UCS2
    assert info.length == 1


def test_remaining_single_part() -> None:
    assert count_segments("a" * 150).remaining == 10
    assert count_segments("я" * 60).remaining == 10


def test_remaining_counts_short_part() -> None:
    info = count_segments("a" * 152 + "€" + "b" * 152)

    assert info.remaining == 152


def test_segment_info_is_frozen() -> None:
    info = count_segments("Kod")

    with pytest.raises(AttributeError):
        info.parts = 2  # type: ignore[misc]


def test_segment_info_positional_fields_unchanged() -> None:
    info = SegmentInfo(GSM, 1, 3, 160, ())

    assert info.part_lengths == ()
    assert info.remaining == 157


@pytest.mark.parametrize(
    "body",
    [
        "  Kod: 4512  ",
        "\nKod: 4512\n",
        "\tKod: 4512",
        "a" * 2000,
        "Салом " * 400,
        "Kod\u00a0",
    ],
    ids=["spaces", "newlines", "tab", "long-gsm", "long-cyrillic", "trailing-nbsp"],
)
def test_sms_body_kept_exactly(body: str) -> None:
    message = Sms("+998900000001", body)

    assert message.body == body
