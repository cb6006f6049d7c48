"""From response bytes to text: Content-Encoding (gzip/deflate) decoded by us so the size cap
bounds the decompressed body (`read_capped`), then the charset of an HTML page (`decode_html`).
"""

from __future__ import annotations

import codecs
import re
import zlib

import httpx

from monitor.errors import FetchError, TooLargeError


async def read_capped(response: httpx.Response, max_bytes: int, *, url: str) -> bytes:
    """Read the raw body and decompress it ourselves so the cap bounds the decompressed size."""
    encodings = _content_encodings(response.headers.get("content-encoding", ""), url)
    declared = response.headers.get("content-length", "")
    if not encodings and declared.isdigit() and int(declared) > max_bytes:
        raise TooLargeError(f"Content-Length {declared} exceeds {max_bytes} bytes", url=url)
    decoders = [_CappedDecoder(enc, max_bytes, url) for enc in reversed(encodings)]
    out = bytearray()
    async for raw in response.aiter_raw():
        _append(out, _run(decoders, raw), max_bytes, url)
    _append(out, _finish(decoders), max_bytes, url)
    return bytes(out)


def _append(out: bytearray, data: bytes, max_bytes: int, url: str) -> None:
    if len(out) + len(data) > max_bytes:
        raise TooLargeError(f"body exceeds {max_bytes} bytes (fetch.max_bytes)", url=url)
    out += data


def _run(decoders: list[_CappedDecoder], data: bytes) -> bytes:
    for decoder in decoders:
        data = decoder.feed(data)
    return data


def _finish(decoders: list[_CappedDecoder]) -> bytes:
    data = b""
    for decoder in decoders:
        data = decoder.feed(data) + decoder.flush()
    return data


def _content_encodings(header: str, url: str) -> list[str]:
    names = [part.strip().lower() for part in header.split(",") if part.strip()]
    names = [n for n in names if n != "identity"]
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(f"unsupported Content-Encoding {name!r}", url=url)
    return names


class _CappedDecoder:
    """Incremental gzip/deflate decoder that never produces more than `cap` bytes in total."""

    def __init__(self, encoding: str, cap: int, url: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._cap = cap
        self._url = url
        self._produced = 0
        self._first = True
        self._completed = 0
        self._ignoring = False
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data and not self._ignoring:
            if self._obj.eof:  # concatenated gzip members: start over on what is left
                self._obj = self._new()
                self._completed += 1
            chunk = self._decompress(data)
            self._produced += len(chunk)
            if self._produced > self._cap:
                raise TooLargeError(
                    f"decompressed body exceeds {self._cap} bytes (fetch.max_bytes)", url=self._url
                )
            out += chunk
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
        return bytes(out)

    def _decompress(self, data: bytes) -> bytes:
        try:
            chunk = self._obj.decompress(data, self._cap - self._produced + 1)
        except zlib.error:
            if self._completed:
                self._ignoring = True  # garbage after a complete stream: tolerated, like browsers
                return b""
            if self._first and not self._gzip:
                # Some servers send raw deflate without the zlib wrapper.
                self._first = False
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._decompress(data)
            raise FetchError("corrupt compressed body", url=self._url) from None
        self._first = False
        return chunk

    def flush(self) -> bytes:
        if self._ignoring:
            return b""
        try:
            return self._obj.flush(self._cap - self._produced + 1)
        except zlib.error:
            raise FetchError("corrupt compressed body", url=self._url) from None


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.I)
_META_RE = re.compile(rb"<meta\b[^>]*?>", re.I | re.S)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_:.+-]+)""", re.I)
# WHATWG: these labels mean windows-1252; a meta "utf-16" in an ASCII prescan means utf-8.
_LATIN = frozenset({"latin_1", "iso8859-1", "ascii", "cp1252"})


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML page: BOM, then HTTP charset, then <meta>/XML declaration, then UTF-8,
    then windows-1252. Unknown labels are skipped; a single-byte label on a body that is valid
    non-ASCII UTF-8 is taken as the lie it usually is. Never raises on bad bytes."""
    for bom, bom_encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_encoding, errors="replace")
    for label in (_http_charset(content_type), _meta_charset(body[:4096])):
        encoding = _codec(label)
        if encoding is None:
            continue
        if encoding in _LATIN:
            return body.decode("utf-8" if _is_utf8_non_ascii(body) else "cp1252", errors="replace")
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            # The label lied: valid UTF-8 is almost never an accident, else keep the label.
            return body.decode("utf-8" if _is_utf8(body) else encoding, errors="replace")
    if _is_utf8(body):
        return body.decode("utf-8")
    return body.decode("cp1252", errors="replace")


def _http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CHARSET_RE.search(content_type.encode("latin-1", errors="replace"))
    return match.group(1).decode("ascii") if match else None


def _meta_charset(head: bytes) -> str | None:
    match = _XML_DECL_RE.search(head)
    if match:
        return match.group(1).decode("ascii")
    for meta in _META_RE.finditer(head):
        found = _CHARSET_RE.search(meta.group(0))
        if found:
            label = found.group(1).decode("ascii")
            return "utf-8" if label.lower().startswith("utf-16") else label
    return None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().lower())
    except LookupError:
        return None
    # Refuse bytes-to-bytes codecs such as base64 or hex that codecs.lookup also knows.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8_non_ascii(body: bytes) -> bool:
    return not body.isascii() and _is_utf8(body)
