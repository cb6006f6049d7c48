"""Text folding for matching across scripts, with offsets back to the original: `folding` (the
public folds), `chars` (per-char rules, byte tables), `fast` and `general` (the two paths),
`offsets` (`FoldedText`), `article` (the Arabic article's Latin spellings).
"""

from monitor.pipeline.normalize.article import article_slots
from monitor.pipeline.normalize.chars import _fold_char as _fold_char  # tests' reference
from monitor.pipeline.normalize.chars import words_only
from monitor.pipeline.normalize.folding import (
    fold,
    fold_text,
    fold_with_offsets,
    fold_words,
    original_span,
)
from monitor.pipeline.normalize.offsets import FoldedText

__all__ = [
    "FoldedText",
    "article_slots",
    "fold",
    "fold_text",
    "fold_with_offsets",
    "fold_words",
    "original_span",
    "words_only",
]
