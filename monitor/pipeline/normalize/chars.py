"""What each character folds to (`_fold_char`), memoised in `TABLE`, and the byte tables the
fast and general paths read ASCII through; `words_only` keeps letters and digits.
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophe-like marks, ʿayn and hamza signs: dropped, so Kata'ib == Kataib == Kataʾib.
# Zero-width joiner / space, BOM and soft hyphen are invisible: dropped too.
_DROP = set("'’‘`´ʼʻʿʾʹʺ′‛ˈ") | {"\u0640", "\u200d", "\ufeff", "\u00ad", "\u2060"}
# Dashes, hyphens, slashes become spaces, so al-Muhandis == al Muhandis. The Persian
# zero-width non-joiner separates words (حزب‌الله == حزب الله), so it is a space as well.
_SPACE = set("-‐‑‒–—―_/·") | {"\u00a0", "\u200c", "\u200b"}
_ARABIC = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ى": "ي", "ی": "ي", "ې": "ي", "ئ": "ي",
    "ة": "ه", "ۀ": "ه", "ە": "ه",
    "ک": "ك", "ؤ": "و",
}  # fmt: skip


def _is_mark(ch: str) -> bool:
    # Combining diacritics (Latin accents) and Arabic harakat / superscript alef.
    return unicodedata.combining(ch) != 0 or "\u064b" <= ch <= "\u065f" or ch == "\u0670"


def _fold_char(ch: str) -> str:
    if ch in _DROP:
        return ""
    if ch in _SPACE or ch.isspace():
        return " "
    out = []
    for c in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch).casefold()):
        if _is_mark(c) or c in _DROP:
            continue
        out.append(_ARABIC.get(c, c))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """Code point -> folded string, filled on first sight; pure memo of `_fold_char`.

    Shared by every call, but it only caches a pure function: output never depends on what
    was folded before. It also remembers which chars do not fold to exactly one char, so the
    slow path can find them with one regex scan.
    """

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = _fold_char(ch)
        self[code] = folded
        if len(folded) != 1:
            self.uneven.add(ch)
            self._pattern = None
        return folded

    def uneven_pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            chars = "".join(sorted(self.uneven)) or "\x00"
            self._pattern = re.compile("[" + re.escape(chars) + "]+")
        return self._pattern


TABLE = _FoldTable()


def _ascii_fold() -> bytes:
    """Byte table folding each ASCII char to its one-char fold; apostrophes kept (dropped
    later, once their positions are known)."""
    out = bytearray(range(256))
    for code in range(128):
        folded = TABLE[code]
        if len(folded) == 1:
            out[code] = ord(folded)
    return bytes(out)


ASCII_FOLD = _ascii_fold()
ASCII_BYTES = bytes(range(128))
# For words_only: ASCII letters and digits kept, other ASCII -> space, non-ASCII bytes kept.
_ASCII_WORDS_ONLY = bytes(b if b > 127 or chr(b).isalnum() else 32 for b in range(256))


def words_only(text: str) -> str:
    """`text` with every char that is not a letter or digit a space (same length)."""
    raw = text.encode("utf-8", "surrogatepass")
    out = raw.translate(_ASCII_WORDS_ONLY).decode("utf-8", "surrogatepass")
    if not text.isascii():
        for ch in set(raw.translate(None, ASCII_BYTES).decode("utf-8", "surrogatepass")):
            if not ch.isalnum():
                out = out.replace(ch, " ")
    return out
