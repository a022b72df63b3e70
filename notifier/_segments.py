"""SMS segment counting under the GSM 03.38 rules.

A message that uses only the GSM-7 default alphabet and its extension table
is sent as 7-bit septets: 160 septets in one part, 153 per part when split
(the user data header takes 7). Extension characters cost two septets. One
character outside that alphabet switches the whole message to UCS-2: 70
UTF-16 code units in one part, 67 per part when split. Characters outside
the Basic Multilingual Plane (most emoji) take two UTF-16 code units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._models import Encoding

__all__ = ["SegmentInfo", "count_segments"]

# GSM 03.38 default alphabet (3GPP TS 23.038, section 6.2.1), including LF and CR.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table characters: each is sent as ESC plus one septet.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_GSM7_SINGLE = 160
_GSM7_MULTI = 153
_UCS2_SINGLE = 70
_UCS2_MULTI = 67


@dataclass(frozen=True)
class SegmentInfo:
    """How a text is encoded and split into SMS parts.

    Attributes:
        encoding: GSM-7 or UCS-2.
        parts: number of SMS parts billed; 1 for an empty text.
        length: units counted against the limit: septets for GSM-7, UTF-16
            code units for UCS-2.
        per_part: the limit per part that applies to this text.
        ucs2_characters: the distinct characters, in order of first use, that
            forced UCS-2; empty for GSM-7.
    """

    encoding: Encoding
    parts: int
    length: int
    per_part: int
    ucs2_characters: tuple[str, ...]

    @property
    def remaining(self) -> int:
        """Units left in the last part before another part is needed."""
        return self.parts * self.per_part - self.length


def count_segments(text: str) -> SegmentInfo:
    """Count the encoding and parts of ``text``; the text itself is not changed."""
    septets = 0
    forcing: dict[str, None] = {}
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENSION:
            septets += 2
        else:
            forcing[char] = None

    if not forcing:
        if septets <= _GSM7_SINGLE:
            return SegmentInfo(Encoding.GSM7, 1, septets, _GSM7_SINGLE, ())
        parts = math.ceil(septets / _GSM7_MULTI)
        return SegmentInfo(Encoding.GSM7, parts, septets, _GSM7_MULTI, ())

    code_units = len(text.encode("utf-16-le")) // 2
    ucs2_characters = tuple(forcing)
    if code_units <= _UCS2_SINGLE:
        return SegmentInfo(Encoding.UCS2, 1, code_units, _UCS2_SINGLE, ucs2_characters)
    parts = math.ceil(code_units / _UCS2_MULTI)
    return SegmentInfo(Encoding.UCS2, parts, code_units, _UCS2_MULTI, ucs2_characters)
