# ruff: noqa: RUF001
# Cyrillic and Uzbek modifier letters in the sample texts are the point of these tests.
"""Opt-in GSM-7 rewriting: look-alike punctuation and Uzbek Cyrillic to Latin."""

from __future__ import annotations

import ast
import pathlib

import pytest

import notifier
from notifier import CharacterReplacement, Encoding, to_gsm7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Oʻzbekiston", "O'zbekiston", id="modifier-turned-comma"),
        pytest.param("maʼno", "ma'no", id="modifier-apostrophe"),
        pytest.param("O‘zbekiston", "O'zbekiston", id="left-single-quote"),
        pytest.param("O’zbekiston", "O'zbekiston", id="right-single-quote"),
        pytest.param("O`zbekiston", "O'zbekiston", id="backtick"),
        pytest.param("G´ulom", "G'ulom", id="acute-accent"),
        pytest.param("10–20", "10-20", id="en-dash"),
        pytest.param("Salom — dunyo", "Salom - dunyo", id="em-dash"),
        pytest.param("−5", "-5", id="minus-sign"),
        pytest.param("“Toshkent”", '"Toshkent"', id="curly-double-quotes"),
        pytest.param("«Toshkent»", '"Toshkent"', id="guillemets"),
        pytest.param("„Samarqand“", '"Samarqand"', id="low-double-quote"),
        pytest.param("Kuting…", "Kuting...", id="ellipsis"),
        pytest.param("12\u00a0000 soʻm", "12 000 so'm", id="no-break-space"),
        pytest.param("12\u202f000", "12 000", id="narrow-no-break-space"),
        pytest.param("Kod:\t4512", "Kod: 4512", id="tab"),
        pytest.param("Ko\u200bd", "Kod", id="zero-width-space-removed"),
        pytest.param("\ufeffKod", "Kod", id="byte-order-mark-removed"),
        pytest.param("tele\u00adfon", "telefon", id="soft-hyphen-removed"),
        pytest.param("Buyurtma №12", "Buyurtma No12", id="numero-sign"),
        pytest.param("Şahar", "Sahar", id="s-cedilla-accent-dropped"),
        pytest.param("garçon", "garcon", id="small-c-cedilla"),
        pytest.param("ﬁrma", "firma", id="ligature"),
        pytest.param("café résumé", "café résumé", id="gsm-accents-kept"),
        pytest.param("Ça va", "Ça va", id="gsm-capital-cedilla-kept"),
    ],
)
def test_punctuation_replaced(text: str, expected: str) -> None:
    result = to_gsm7(text)

    assert result.text == expected
    assert result.is_gsm7
    assert result.ucs2_characters == ()


def test_uzbek_latin_sentence_becomes_gsm7() -> None:
    text = "Hurmatli mijoz, buyurtmangiz «Oʻzbekiston» doʻkoniga yetkazildi – rahmat!"

    result = to_gsm7(text)

    assert result.text == (
        "Hurmatli mijoz, buyurtmangiz \"O'zbekiston\" do'koniga yetkazildi - rahmat!"
    )
    assert result.original_segments.encoding is Encoding.UCS2
    assert result.original_segments.parts == 2
    assert result.segments.encoding is Encoding.GSM7
    assert result.segments.parts == 1


def test_replacements_reported_with_counts() -> None:
    result = to_gsm7("Oʻzbekiston – soʻm…")

    assert result.replacements == (
        CharacterReplacement("ʻ", "'", 2),
        CharacterReplacement("–", "-", 1),
        CharacterReplacement("…", "...", 1),
    )
    assert result.changed


def test_gsm7_text_unchanged() -> None:
    text = "Kod: 4512. O'zbekiston [test] €5"

    result = to_gsm7(text)

    assert result.text == text
    assert result.replacements == ()
    assert not result.changed
    assert result.segments == result.original_segments


def test_cyrillic_kept_by_default() -> None:
    text = "Салом, Oʻzbekiston"

    result = to_gsm7(text)

    assert result.text == "Салом, O'zbekiston"
    assert not result.is_gsm7
    assert result.ucs2_characters == ("С", "а", "л", "о", "м")


def test_emoji_stays_and_is_reported() -> None:
    result = to_gsm7("Tabriklaymiz 🎉 – Oʻzbekiston", cyrillic=True)

    assert result.text == "Tabriklaymiz 🎉 - O'zbekiston"
    assert result.ucs2_characters == ("🎉",)
    assert result.segments.encoding is Encoding.UCS2


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        pytest.param("Ўзбекистон", "O'zbekiston", id="o-breve"),
        pytest.param("ғалаба", "g'alaba", id="g-stroke"),
        pytest.param("Ғалаба", "G'alaba", id="g-stroke-capital"),
        pytest.param("шаҳар", "shahar", id="sh-and-h-descender"),
        pytest.param("чой", "choy", id="ch"),
        pytest.param("қишлоқ", "qishloq", id="q"),
        pytest.param("хабар", "xabar", id="kha-is-x"),
        pytest.param("ёз", "yoz", id="yo"),
        pytest.param("юлдуз", "yulduz", id="yu"),
        pytest.param("ясси", "yassi", id="ya"),
        pytest.param("жўжа", "jo'ja", id="zhe-is-j"),
        pytest.param("Европа", "Yevropa", id="ye-word-start"),
        pytest.param("ер", "yer", id="ye-word-start-lower"),
        pytest.param("поезд", "poyezd", id="ye-after-vowel"),
        pytest.param("телефон", "telefon", id="e-after-consonant"),
        pytest.param("объект", "obyekt", id="hard-sign-before-ye"),
        pytest.param("пьеса", "pyesa", id="soft-sign-before-ye"),
        pytest.param("маъно", "ma'no", id="hard-sign-tutuq-belgisi"),
        pytest.param("мебель", "mebel", id="soft-sign-dropped"),
        pytest.param("цирк", "sirk", id="ts-word-start"),
        pytest.param("концерт", "konsert", id="ts-after-consonant"),
        pytest.param("полиция", "politsiya", id="ts-after-vowel"),
        pytest.param("эълон", "e'lon", id="e-reversed"),
        pytest.param("ШАҲАР", "SHAHAR", id="all-capitals"),
        pytest.param("ЎЗБЕКИСТОН", "O'ZBEKISTON", id="all-capitals-o-breve"),
        pytest.param("Шаҳар", "Shahar", id="capital-first"),
        pytest.param("Ш", "Sh", id="single-capital"),
        pytest.param("ЕР", "YER", id="capital-ye"),
    ],
)
def test_uzbek_cyrillic_to_latin(cyrillic: str, latin: str) -> None:
    result = to_gsm7(cyrillic, cyrillic=True)

    assert result.text == latin
    assert result.is_gsm7


def test_cyrillic_sentence_to_latin() -> None:
    text = "Ҳурматли мижоз! Тасдиқлаш коди: 4512. Уни ҳеч кимга айтманг."

    result = to_gsm7(text, cyrillic=True)

    assert result.text == "Hurmatli mijoz! Tasdiqlash kodi: 4512. Uni hech kimga aytmang."
    assert result.original_segments.encoding is Encoding.UCS2
    assert result.segments.encoding is Encoding.GSM7
    assert result.ucs2_characters == ()


def test_cyrillic_replacements_reported() -> None:
    result = to_gsm7("Ешик", cyrillic=True)

    assert result.replacements == (
        CharacterReplacement("Е", "Ye", 1),
        CharacterReplacement("ш", "sh", 1),
        CharacterReplacement("и", "i", 1),
        CharacterReplacement("к", "k", 1),
    )


def test_same_letter_different_spellings_reported_apart() -> None:
    result = to_gsm7("ер телефон", cyrillic=True)

    reported = {(item.original, item.replacement): item.count for item in result.replacements}
    assert reported[("е", "ye")] == 1
    assert reported[("е", "e")] == 2


def test_letters_of_other_scripts_stay() -> None:
    result = to_gsm7("Салом ї 你好", cyrillic=True)

    assert result.text == "Salom ї 你好"
    assert result.ucs2_characters == ("ї", "你", "好")


def test_result_segments_match_text() -> None:
    result = to_gsm7("Салом " * 30, cyrillic=True)

    assert result.text == "Salom " * 30
    assert result.segments == notifier.count_segments(result.text)
    assert result.original_segments == notifier.count_segments("Салом " * 30)
    assert result.original_segments.parts == 3
    assert result.segments.parts == 2


def test_exported_from_package() -> None:
    assert notifier.to_gsm7 is to_gsm7
    assert "to_gsm7" in notifier.__all__
    assert "TransliterationResult" in notifier.__all__


def test_send_path_never_calls_to_gsm7() -> None:
    # Rewriting a body is the caller's decision: no module of the package
    # other than the one defining it may call to_gsm7.
    package = pathlib.Path(notifier.__file__).parent
    callers = []
    for path in package.rglob("*.py"):
        if path.name in {"_transliterate.py", "__init__.py"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.attr
                if name == "to_gsm7":
                    callers.append(str(path.relative_to(package)))
    assert callers == []
