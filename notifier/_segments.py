"""SMS segment counting under the GSM 03.38 rules.

A message that uses only the GSM-7 default alphabet and its extension table
is sent as 7-bit septets: 160 septets in one part, 153 per part when split
(the user data header takes 7). Extension characters cost two septets, an
escape septet and the character itself. One character outside that alphabet
switches the whole message to UCS-2: 70 UTF-16 code units in one part, 67 per
part when split. Characters outside the Basic Multilingual Plane (most emoji)
take two UTF-16 code units, a surrogate pair.

Parts are counted by packing the text, not by dividing its length: a handset
decodes each part on its own, so an escape sequence or a surrogate pair is
never split across two parts. It moves whole into the next part, and the part
it leaves is one unit short. For example, 152 plain characters, ``€`` and 152
more are 306 septets, which would fill two parts of 153, yet they take three.

National language shift tables (Turkish, Portuguese, Indian scripts) are not
used: vendors in this library send the default alphabet or UCS-2.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._models import Encoding

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "SegmentInfo", "count_segments", "split_segments"]

# GSM 03.38 default alphabet (3GPP TS 23.038, section 6.2.1), including LF and
# CR, without the escape code 0x1B. Code 0x09 is the capital "Ç"; the small "ç"
# is not in the alphabet.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table (3GPP TS 23.038, section 6.2.1.1): each is sent as the escape
# septet plus one septet. "\f" is the page break.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_GSM7_SINGLE = 160
_GSM7_MULTI = 153
_UCS2_SINGLE = 70
_UCS2_MULTI = 67


@dataclass(frozen=True)
class SegmentInfo:
    """The encoding of a text and its split into SMS parts.

    Attributes:
        encoding: GSM-7 or UCS-2.
        parts: number of SMS parts billed; 1 for an empty text.
        length: units counted against the limit: septets for GSM-7, UTF-16
            code units for UCS-2.
        per_part: the limit per part that applies to this text.
        ucs2_characters: the distinct characters, in order of first use, that
            forced UCS-2; empty for GSM-7.
        part_lengths: units used by each part, in order. A part of a split
            message can be one unit short of ``per_part`` when the next
            character did not fit whole.
    """

    encoding: Encoding
    parts: int
    length: int
    per_part: int
    ucs2_characters: tuple[str, ...]
    part_lengths: tuple[int, ...] = ()

    @property
    def remaining(self) -> int:
        """Units that still fit into the last part before another part is needed.

        Appending text can also change the encoding, or turn a single part
        into a split message with smaller parts; this counts neither.
        """
        last = self.part_lengths[-1] if self.part_lengths else self.length
        return self.per_part - last


def _unit_costs(text: str) -> tuple[Encoding, list[int], tuple[str, ...]]:
    """Return the encoding of ``text``, the units each character costs, and the UCS-2 forcers."""
    forcing: dict[str, None] = {}
    gsm_costs: list[int] = []
    for char in text:
        if char in GSM7_BASIC:
            gsm_costs.append(1)
        elif char in GSM7_EXTENSION:
            gsm_costs.append(2)
        else:
            forcing[char] = None
    if not forcing:
        return Encoding.GSM7, gsm_costs, ()

    # A code point above U+FFFF is a surrogate pair in UTF-16. A lone surrogate
    # (possible in a Python str) is one code unit.
    ucs2_costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return Encoding.UCS2, ucs2_costs, tuple(forcing)


def _limits(encoding: Encoding) -> tuple[int, int]:
    if encoding is Encoding.GSM7:
        return _GSM7_SINGLE, _GSM7_MULTI
    return _UCS2_SINGLE, _UCS2_MULTI


def _pack(costs: list[int], capacity: int) -> list[tuple[int, int]]:
    """Pack characters into parts of ``capacity`` units without splitting one.

    Returns ``(end_index, units)`` per part, where ``end_index`` is the index
    one past the part's last character.
    """
    parts: list[tuple[int, int]] = []
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > capacity:
            parts.append((index, used))
            used = 0
        used += cost
    parts.append((len(costs), used))
    return parts


def count_segments(text: str) -> SegmentInfo:
    """Count the encoding and SMS parts of ``text``; the text itself is not changed."""
    encoding, costs, ucs2_characters = _unit_costs(text)
    single, multi = _limits(encoding)
    length = sum(costs)
    if length <= single:
        return SegmentInfo(encoding, 1, length, single, ucs2_characters, (length,))

    part_lengths = tuple(units for _, units in _pack(costs, multi))
    return SegmentInfo(encoding, len(part_lengths), length, multi, ucs2_characters, part_lengths)


def split_segments(text: str) -> list[str]:
    """Split ``text`` into the parts a handset receives, as ``count_segments`` counts them.

    Joining the parts gives back ``text`` exactly. An empty text is one empty
    part. No escape sequence or surrogate pair is split between two parts.
    """
    encoding, costs, _ = _unit_costs(text)
    single, multi = _limits(encoding)
    if sum(costs) <= single:
        return [text]

    pieces = []
    start = 0
    for end, _units in _pack(costs, multi):
        pieces.append(text[start:end])
        start = end
    return pieces
