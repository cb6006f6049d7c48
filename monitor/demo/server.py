"""A loopback HTTP server for the bundled demo corpus (stdlib only).

    with CorpusServer(corpus_root()) as server:
        server.base_url                      # "http://127.0.0.1:<ephemeral port>"
        server.url("feeds/world.xml")        # base_url + "/feeds/world.xml"

Serves the files under `root` read-only on 127.0.0.1, port 0 (the OS picks a free one).
Every `{{BASE_URL}}` in a served file is replaced by the server's own base URL, so the
corpus's feed links and canonical URLs point back at this server whatever its port.
Content types follow the file: RSS and Atom feeds (told apart by their root element),
HTML, plain text, JSON. Each response carries an ETag (a hash of the served bytes) and a
Last-Modified (the file's mtime); a matching If-None-Match -- or, without one, an
If-Modified-Since no older than the file -- gets 304. Anything else is 404 (directories,
paths outside `root`, hidden files). GET and HEAD only; nothing is logged.

The server speaks HTTP/1.0 (one request per connection), so stopping it never waits on an
idle keep-alive connection; `close()` (or leaving the `with` block) shuts the loop down,
closes the socket and joins the serving thread.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

PLACEHOLDER = b"{{BASE_URL}}"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}


def corpus_root() -> Path:
    """The bundled corpus folder (`feeds/`, `pages/`, `manifest.json`, `robots.txt`)."""
    return Path(__file__).resolve().parent / "corpus"


def content_type(path: Path, body: bytes) -> str:
    """The Content-Type for a corpus file; `.xml` feeds are sniffed as RSS or Atom."""
    suffix = path.suffix.lower()
    if suffix in (".xml", ".rss", ".atom"):
        head = body[:1024]
        if b"<feed" in head:
            return "application/atom+xml; charset=utf-8"
        if b"<rss" in head:
            return "application/rss+xml; charset=utf-8"
        return "application/xml; charset=utf-8"
    return _TYPES.get(suffix, "application/octet-stream")


@dataclass(frozen=True)
class _Resource:
    body: bytes
    content_type: str
    etag: str
    last_modified: datetime  # whole seconds, UTC


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # tracked, so server_close() joins every handler thread
    block_on_close = True

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.base_url = ""
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-response is not worth a traceback on stderr."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "MonitorDemo/1.0"
    sys_version = ""
    timeout = 10.0  # a client that connects and never sends cannot hold up close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the demo and the tests print what matters themselves."""

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, *, send_body: bool) -> None:
        resource = self._resource()
        if resource is None:
            self._plain(HTTPStatus.NOT_FOUND, b"404 not found\n", send_body)
            return
        if self._not_modified(resource):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._validators(resource)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", resource.content_type)
        self.send_header("Content-Length", str(len(resource.body)))
        self._validators(resource)
        self.end_headers()
        if send_body:
            self.wfile.write(resource.body)

    def _resource(self) -> _Resource | None:
        path = self._file()
        if path is None:
            return None
        try:
            raw = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError:
            return None
        body = raw.replace(PLACEHOLDER, self.server.base_url.encode("ascii"))
        return _Resource(
            body=body,
            content_type=content_type(path, body),
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=datetime.fromtimestamp(int(mtime), UTC),
        )

    def _file(self) -> Path | None:
        """The file under root that the request path names, or None."""
        raw = unquote(urlsplit(self.path).path)
        parts = PurePosixPath(raw).parts
        if not parts or parts[0] != "/" or "\x00" in raw:
            return None
        names = parts[1:]
        if not names or any(n in ("", ".", "..") or n.startswith(".") for n in names):
            return None
        root = self.server.root
        candidate = root.joinpath(*names).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def _not_modified(self, resource: _Resource) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return "*" in tags or resource.etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError, IndexError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return resource.last_modified <= since
        return False

    def _validators(self, resource: _Resource) -> None:
        self.send_header("ETag", resource.etag)
        self.send_header("Last-Modified", format_datetime(resource.last_modified, usegmt=True))
        self.send_header("Cache-Control", "no-cache")

    def _plain(self, status: HTTPStatus, body: bytes, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


class CorpusServer:
    """Serve `root` on 127.0.0.1:<ephemeral port> from a background thread."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root if root is not None else corpus_root()).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"corpus folder not found: {self.root}")
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("CorpusServer is not running")
        return int(self._httpd.server_address[1])

    def url(self, path: str = "") -> str:
        """The absolute URL of `path` (relative to the corpus root) on this server."""
        if not self.base_url:
            raise RuntimeError("CorpusServer is not running")
        return f"{self.base_url}/{path.lstrip('/')}"

    def start(self) -> CorpusServer:
        if self._httpd is not None:
            return self
        httpd = _Server(self.root)
        httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"corpus-server-{httpd.server_address[1]}",
            daemon=True,
        )
        self._httpd, self._thread, self.base_url = httpd, thread, httpd.base_url
        thread.start()
        return self

    def close(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        try:
            httpd.shutdown()
        finally:
            httpd.server_close()
            if thread is not None:
                thread.join()

    def __enter__(self) -> CorpusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
