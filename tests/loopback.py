"""A scripted HTTP server on 127.0.0.1 for tests: routes map a path to a canned `Reply`.

Usage::

    with LoopbackServer({"/feed": Reply(body=b"<rss/>", etag='"v1"')}) as server:
        url = server.url("/feed")                     # http://127.0.0.1:<port>/feed
        server.route("/page", Reply.redirect("/feed"))  # add or replace routes at any time
        server.route("/dyn", lambda req: Reply(body=req.query.encode()))
        ...
        server.requests                                # every Request seen, in order

As a pytest fixture::

    @pytest.fixture
    def server() -> Iterator[LoopbackServer]:
        with LoopbackServer() as s:
            yield s

A `Reply` with `etag` / `last_modified` answers 304 to a matching conditional GET;
`delay_s` waits before the status line, `chunk_delay_s` between body chunks (slow drip);
`encoding="gzip"` / `"deflate"` compresses the body on the way out. Unknown paths give 404.
The server speaks HTTP/1.0 (one request per connection), so closing it never waits on an
idle keep-alive connection, and a pending delay is cut short when the server stops.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """What the server received: method, path (no query), query string and headers."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """A canned response. `headers` are sent verbatim (a `Date` here replaces the default)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    chunk_size: int = 1024
    encoding: str | None = None
    send_length: bool = True  # False: no Content-Length, the body ends when the connection does

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": location}, content_type=None)

    def not_modified_for(self, request: Request) -> bool:
        """True when the request's validators match this reply (so it should be a 304)."""
        inm = request.headers.get("if-none-match")
        if self.etag and inm:
            return self.etag in [tag.strip() for tag in inm.split(",")] or inm.strip() == "*"
        ims = request.headers.get("if-modified-since")
        if self.last_modified and ims:
            try:
                return parsedate_to_datetime(self.last_modified) <= parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return ims == self.last_modified
        return False


Handler = Callable[[Request], Reply]


class LoopbackServer:
    """Threaded HTTP server on 127.0.0.1, random port; a context manager."""

    def __init__(self, routes: Mapping[str, Reply | Handler] | None = None) -> None:
        self._routes: dict[str, Reply | Handler] = dict(routes or {})
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()  # joins handler threads
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- routing --------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def route(self, path: str, reply: Reply | Handler) -> None:
        self._routes[path] = reply

    def reply_for(self, request: Request) -> Reply:
        found = self._routes.get(request.path)
        if found is None:
            return Reply(status=404, body=b"not found", content_type="text/plain")
        return found if isinstance(found, Reply) else found(request)

    def wait(self, seconds: float) -> None:
        """Sleep in a handler thread, cut short when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (a timeout test) is expected, not a failure


def _encode(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def _serve(self, *, send_body: bool) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, parts.path, parts.query, headers)
            server.requests.append(request)
            reply = server.reply_for(request)
            server.wait(reply.delay_s)
            if server.stopping:
                return
            if reply.not_modified_for(request):
                self._head(304, reply, {})
                return
            body = _encode(reply.body, reply.encoding)
            extra = {"Content-Length": str(len(body))} if reply.send_length else {}
            if reply.encoding:
                extra["Content-Encoding"] = reply.encoding
            if reply.content_type:
                extra["Content-Type"] = reply.content_type
            self._head(reply.status, reply, extra)
            if send_body:
                self._body(body, reply)

        def _head(self, status: int, reply: Reply, extra: dict[str, str]) -> None:
            self.send_response_only(status)
            sent = {k.lower() for k in reply.headers}
            if "date" not in sent:
                self.send_header("Date", self.date_time_string())
            for name, value in (("ETag", reply.etag), ("Last-Modified", reply.last_modified)):
                if value:
                    self.send_header(name, value)
            for name, value in {**extra, **reply.headers}.items():
                self.send_header(name, value)
            self.end_headers()

        def _body(self, body: bytes, reply: Reply) -> None:
            for chunk in _chunks(body, reply.chunk_size):
                if server.stopping:
                    return
                self.wfile.write(chunk)
                if reply.chunk_delay_s:
                    self.wfile.flush()
                    server.wait(reply.chunk_delay_s)

    return _Handler


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), max(1, size)):
        yield body[start : start + size]
