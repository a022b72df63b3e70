# ruff: noqa: RUF001, RUF002, RUF003
# The Cyrillic letters and Uzbek modifier letters below are the data this module maps.
"""Opt-in rewriting of text into the GSM-7 alphabet, so it costs GSM-7 rates.

One character outside GSM 03.38 makes a whole SMS UCS-2, which cuts a part
from 160 to 70 characters. Uzbek Latin text hits this often: the official
letters ``oʻ`` and ``gʻ`` use U+02BB, the tutuq belgisi uses U+02BC, and
editors insert typographic quotes, dashes and non-breaking spaces.
``to_gsm7`` replaces those with their ASCII look-alikes and, when asked,
writes Uzbek Cyrillic in the Latin alphabet. It returns the new text together
with every replacement made and the characters that still force UCS-2.

Nothing in the send path calls it: a message body is sent exactly as given,
and the caller decides whether the rewritten text is acceptable.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ._models import Encoding
from ._segments import GSM7_BASIC, GSM7_EXTENSION, SegmentInfo, count_segments

__all__ = ["CharacterReplacement", "TransliterationResult", "to_gsm7"]

_GSM7 = GSM7_BASIC | GSM7_EXTENSION


def _table(characters: str, replacement: str) -> dict[str, str]:
    return dict.fromkeys(characters, replacement)


# Look-alikes outside GSM-7 with an obvious GSM-7 counterpart. Applied always.
_PUNCTUATION: dict[str, str] = {
    # Uzbek oʻ/gʻ (U+02BB), tutuq belgisi (U+02BC), typographic single quotes,
    # and the backtick and acute accent people type for them ("o`zbek").
    **_table("\u02bb\u02bc\u02bd\u02b9\u2018\u2019\u201b\u2032`\u00b4\u2039\u203a", "'"),
    # Hyphen, non-breaking hyphen, figure dash, en dash, em dash, bar, minus.
    **_table("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    # Typographic double quotes, guillemets and the double prime.
    **_table("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033", '"'),
    "\u2026": "...",  # horizontal ellipsis
    # No-break, fixed-width and ideographic spaces, and the tab, which GSM-7 lacks.
    **_table("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008", " "),
    **_table("\u2009\u200a\u202f\u205f\u3000\t", " "),
    # Invisible characters: zero-width space, word joiner, byte order mark,
    # soft hyphen. They are removed, and reported like any other replacement.
    **_table("\u200b\u2060\ufeff\u00ad", ""),
    "\u2116": "No",  # numero sign, common in Uzbek and Russian text ("№ 12")
}

# Uzbek Cyrillic to the Uzbek Latin alphabet of 1995, with its letters
# oʻ, gʻ and the tutuq belgisi written with the GSM-7 apostrophe. Letters whose
# spelling depends on their neighbours (е, ц, ъ) are handled in _cyrillic_letter.
_CYRILLIC: dict[str, str] = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "ё": "yo",
    "ж": "j",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "x",
    "ч": "ch",
    "ш": "sh",
    # NOTE: щ and ы are Russian letters with no official Uzbek Latin spelling;
    # "sh" and "i" follow common Uzbek usage for Russian loanwords.
    "щ": "sh",
    "ы": "i",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "ў": "o'",
    "қ": "q",
    "ғ": "g'",
    "ҳ": "h",
}
_CYRILLIC_VOWELS = frozenset("аеёиоуыэюяў")
_IOTATED = frozenset("еёюя")


@dataclass(frozen=True)
class CharacterReplacement:
    """One kind of replacement ``to_gsm7`` made.

    Attributes:
        original: the character that was replaced.
        replacement: what it became; empty when the character was removed.
        count: how many times this replacement was made.
    """

    original: str
    replacement: str
    count: int


@dataclass(frozen=True)
class TransliterationResult:
    """The text ``to_gsm7`` produced and what it changed.

    Attributes:
        text: the rewritten text.
        replacements: each kind of replacement made, in order of first use.
        segments: encoding and parts of ``text``.
        original_segments: encoding and parts of the text before rewriting.
    """

    text: str
    replacements: tuple[CharacterReplacement, ...]
    segments: SegmentInfo
    original_segments: SegmentInfo

    @property
    def changed(self) -> bool:
        """Whether any character was replaced or removed."""
        return bool(self.replacements)

    @property
    def is_gsm7(self) -> bool:
        """Whether the rewritten text is sent as GSM-7."""
        return self.segments.encoding is Encoding.GSM7

    @property
    def ucs2_characters(self) -> tuple[str, ...]:
        """Characters that still force UCS-2, in order of first use."""
        return self.segments.ucs2_characters


def _is_upper_letter(char: str) -> bool:
    return char.isalpha() and char.isupper()


def _match_case(latin: str, original: str, previous: str, following: str) -> str:
    """Give ``latin`` the case of the Cyrillic letter it replaces.

    A capital becomes all capitals inside a word written in capitals
    ("ШАҲАР" gives "SHAHAR") and a capital first letter otherwise ("Шаҳар"
    gives "Shahar").
    """
    if not original.isupper():
        return latin
    if _is_upper_letter(following) or _is_upper_letter(previous):
        return latin.upper()
    return latin[:1].upper() + latin[1:]


def _cyrillic_letter(lower: str, previous: str, following: str) -> str | None:
    """Return the Latin spelling of the lower-case Cyrillic letter, or ``None``."""
    previous_lower = previous.lower()
    starts_word = not previous.isalpha()
    if lower == "е":
        # "ye" at the start of a word and after a vowel, ъ or ь ("Yevropa",
        # "poyezd", "obyekt"); "e" after a consonant ("telefon").
        if starts_word or previous_lower in _CYRILLIC_VOWELS or previous_lower in "ъь":
            return "ye"
        return "e"
    if lower == "ц":
        # "ts" after a vowel ("politsiya"), "s" elsewhere ("sirk", "konsert").
        return "ts" if previous_lower in _CYRILLIC_VOWELS else "s"
    if lower == "ъ":
        # Before е, ё, ю, я the hard sign only separates the syllable and the
        # iotated letter carries the "y" ("obyekt"). Elsewhere it is the
        # tutuq belgisi ("maʼno"), written with an apostrophe in GSM-7.
        return "" if following.lower() in _IOTATED else "'"
    return _CYRILLIC.get(lower)


def _decompose_to_gsm7(char: str) -> str | None:
    """Return the GSM-7 compatibility form of ``char`` without accents, or ``None``.

    This turns "ş" into "s", "á" into "a" and "ﬁ" into "fi". Characters with no
    such form, such as Cyrillic letters, return ``None``.
    """
    decomposed = unicodedata.normalize("NFKD", char)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    if stripped and stripped != char and all(c in _GSM7 for c in stripped):
        return stripped
    return None


def _replace_character(text: str, index: int, cyrillic: bool) -> str | None:
    char = text[index]
    if char in _PUNCTUATION:
        return _PUNCTUATION[char]
    previous = text[index - 1] if index > 0 else ""
    following = text[index + 1] if index + 1 < len(text) else ""
    if cyrillic:
        latin = _cyrillic_letter(char.lower(), previous, following)
        if latin is not None:
            return _match_case(latin, char, previous, following)
    return _decompose_to_gsm7(char)


def to_gsm7(text: str, *, cyrillic: bool = False) -> TransliterationResult:
    """Rewrite ``text`` with GSM-7 characters where a close equivalent exists.

    These are always replaced:

    - the Uzbek modifier letters ``ʻ`` and ``ʼ`` and other apostrophe
      look-alikes, by ``'``
    - typographic dashes and the minus sign, by ``-``
    - typographic double quotes and guillemets, by ``"``
    - the ellipsis by ``...``, and ``№`` by ``No``
    - non-breaking and other special spaces and the tab, by a space
    - Latin letters with accents that GSM-7 lacks, by the bare letter (``ş`` by ``s``)

    Zero-width characters and soft hyphens are removed.

    With ``cyrillic=True``, Uzbek Cyrillic is also written in the official
    Uzbek Latin alphabet (``Ўзбекистон`` becomes ``O'zbekiston``).

    Characters already in GSM-7 are never touched, and anything without a
    GSM-7 equivalent (emoji, other scripts) stays as it is and is listed in
    ``ucs2_characters`` of the result. The caller decides whether to send the
    new text: nothing in notifier applies this function on its own.
    """
    pieces: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    for index, char in enumerate(text):
        if char in _GSM7:
            pieces.append(char)
            continue
        replacement = _replace_character(text, index, cyrillic)
        if replacement is None:
            pieces.append(char)
            continue
        pieces.append(replacement)
        key = (char, replacement)
        counts[key] = counts.get(key, 0) + 1

    new_text = "".join(pieces)
    replacements = tuple(
        CharacterReplacement(original, replacement, count)
        for (original, replacement), count in counts.items()
    )
    return TransliterationResult(
        text=new_text,
        replacements=replacements,
        segments=count_segments(new_text),
        original_segments=count_segments(text),
    )
