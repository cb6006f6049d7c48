"""Folding: fixed cases, and the fast path checked against a plain per-character reference."""

from __future__ import annotations

import random

import pytest

from monitor.pipeline import normalize
from monitor.pipeline.normalize import (
    fold,
    fold_text,
    fold_with_offsets,
    fold_words,
    original_span,
    words_only,
)


def reference(text: str) -> tuple[str, list[int]]:
    """The definition: fold char by char, collapse runs of spaces, drop a leading one."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in normalize._fold_char(ch):
            if c == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(c)
            origin.append(i)
    origin.append(len(text))
    return "".join(chars), origin


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Kata'ib Hezbollah", "kataib hezbollah"),
        ("Kata’ib  Hezbollah", "kataib hezbollah"),
        ("Kataʾib", "kataib"),
        ("al-Muhandis", "al muhandis"),
        ("Abu Mahdi al—Muhandis", "abu mahdi al muhandis"),
        ("  leading and trailing  ", "leading and trailing"),
        ("Soleimâni Qāsem", "soleimani qasem"),
        ("STRASSE Straße", "strasse strasse"),
        ("ﬁve", "five"),
        ("أبو مهدي المهندس", "ابو مهدي المهندس"),
        ("إيران", "ايران"),
        ("ایران", "ايران"),  # Persian yeh
        ("العراقيّة", "العراقيه"),  # shadda dropped, ta marbuta
        ("كتـــائب", "كتايب"),  # tatweel; hamza seat unified
        ("حزب‌الله", "حزب الله"),  # zero-width non-joiner separates words
        ("U.S.-led", "u.s. led"),
        ("line\nbreak\ttab", "line break tab"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    "text",
    [
        "Kata’ib Hezbollah’s  fighters — in Iraq",
        "'leading apostrophe",
        "a ' b",
        "  ß and ﬁ and İstanbul ",
        "وكتائب حزب الله",
        "é́ combining marks",
        "\n\n- -\n",
    ],
)
def test_offsets_match_reference(text: str) -> None:
    assert fold_with_offsets(text) == reference(text)


def test_offsets_match_reference_on_random_text() -> None:
    rng = random.Random(7)
    alphabet = list("ab cD'’-—\n\t ßﬁéİأةىكتائب\u200c\u200d¨½") + [" "] * 5
    pool = [chr(c) for c in rng.sample(range(0x20, 0x2FFFF), 3000) if not 0xD800 <= c < 0xE000]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet * 10 + pool) for _ in range(rng.randint(0, 30)))
        assert fold_with_offsets(text) == reference(text), repr(text)


def test_fold_text_span_agrees_with_original_span() -> None:
    text = "  The Kata’ib Hezbollah—and Straße; «وكتائب»  "
    folded, origin = fold_with_offsets(text)
    ft = fold_text(text)
    assert ft.text == folded
    for a in range(len(folded)):
        for b in range(a + 1, len(folded) + 1):
            assert ft.span(a, b) == original_span(origin, a, b)


def test_original_span_recovers_surface_form() -> None:
    text = "The Kata’ib Hezbollah fighters"
    folded, origin = fold_with_offsets(text)
    start = folded.index("kataib hezbollah")
    s, e = original_span(origin, start, start + len("kataib hezbollah"))
    assert text[s:e] == "Kata’ib Hezbollah"


def test_output_does_not_depend_on_what_was_folded_before() -> None:
    text = "Ωmega ǅ ﬀ Qāsem"
    first = fold_with_offsets(text)
    fold_with_offsets("".join(chr(c) for c in range(0x370, 0x3FF)))
    assert fold_with_offsets(text) == first == reference(text)


MARKS_AND_SPACES = list("ab cD'’`-—\n\t\xa0ßﬁé…½İأةىكتائب\u200c\u200dـً¨\u0301.,;“”«»()،!?_ﷺ")
CONTROLS = list("\x00\x01\x0b\x0c\x1b\x1c\x1d\x1e\x1f")


def test_offsets_match_reference_around_marks_and_spaces() -> None:
    # Dropped marks next to spaces, runs of spaces, leading runs, chars that expand next to
    # dropped ones, control chars: where the fast path hands over to the general one.
    rng = random.Random(11)
    alphabet = MARKS_AND_SPACES + CONTROLS + [" "] * 10
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert fold_with_offsets(text) == reference(text), repr(text)


def test_fold_words_is_the_fold_with_only_letters_and_digits() -> None:
    rng = random.Random(12)
    alphabet = MARKS_AND_SPACES + CONTROLS + [" "] * 10
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        folded, words = fold_text(text), fold_words(text, text.encode("utf-8", "surrogatepass"))
        assert words.text == "".join(c if c.isalnum() else " " for c in folded.text)
        assert words.text == words_only(folded.text)
        positions = range(len(folded.text))
        assert [words.origin(j) for j in positions] == [folded.origin(j) for j in positions]


def test_folded_index_inverts_origin_for_every_kept_char() -> None:
    text = "Kata\u2019ib  Hezbollah\u2014Stra\u00dfe \u0627\u0644\u0640\u062d\u0634\u062f"
    text += ", U.S. \u00e9lan"
    ft = fold_text(text)
    for j in range(len(ft.text)):
        i = ft.origin(j)
        back = ft.folded_index(i)
        assert ft.origin(back) == i
        if ft.text[j] != "s" or text[i] != "\u00df":  # ß folds to "ss": both map to it
            assert back == j, (j, i)
