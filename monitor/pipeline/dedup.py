"""Identity and exact-duplicate keys: canonical URLs and a fingerprint of normalised text.

Pure functions; the runner looks the keys up in storage to link copies to their original.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

from courlan import normalize_url

from monitor.pipeline.normalize import fold

_WORD = re.compile(r"\w+")


def canonical_url(url: str) -> str:
    """The identity of a URL: lower-case host, no default port, fragment or tracking params.

    Query parameters are sorted; `utm_*`, `fbclid`, `gclid` and similar trackers go (courlan).
    A URL courlan cannot parse is returned stripped of its fragment only.
    """
    try:
        normal = normalize_url(url.strip(), strict=False)
    except (ValueError, AttributeError):
        normal = url.strip()
    parts = urlsplit(normal)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def text_fingerprint(text: str) -> str:
    """SHA-256 of the folded words of `text`: equal for copies differing in case or spacing."""
    words = _WORD.findall(fold(text))
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()
