"""fetch(): conditional GET, redirects, address guard, size caps, errors, on a loopback server."""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor.errors import BlockedURLError, FetchError, TooLargeError
from monitor.models import FetchPolicy, HttpResponse, Validators
from monitor.pipeline import fetch as fetch_module
from monitor.pipeline.fetch import (
    FEED_ACCEPT,
    MAX_CRAWL_DELAY_S,
    MAX_RETRY_AFTER_S,
    GuardedBackend,
    HostLimiter,
    PerOriginTransport,
    RobotsCache,
    RobotsRules,
    check_url,
    decode_html,
    fetch,
    freshness_s,
    guarded_transport,
    is_public_address,
    parse_retry_after,
    robots_allows,
    robots_crawl_delay,
    robots_url,
)
from tests.loopback import LoopbackServer, Reply

LOCAL = FetchPolicy(allow_private_networks=True, timeout_s=5.0, user_agent="monitor-test/1")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def get(
    url: str,
    policy: FetchPolicy = LOCAL,
    validators: Validators | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **kwargs: Any,
) -> HttpResponse:
    async def go() -> HttpResponse:
        async with httpx.AsyncClient(trust_env=False, transport=transport) as client:
            return await fetch(client, url, policy, validators, **kwargs)

    return asyncio.run(go())


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed incrementally (a few KB for tens of MB)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, comp.flush()])


# --- plain downloads -----------------------------------------------------------------------


def test_ok_sends_policy_headers_and_returns_body(server: LoopbackServer) -> None:
    server.route("/a", Reply(body=b"<p>hello</p>", etag='"v1"'))
    response = get(server.url("/a"), accept=FEED_ACCEPT)
    assert response.status == 200
    assert response.body == b"<p>hello</p>"
    assert response.final_url == response.url == server.url("/a")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.validators == Validators(etag='"v1"', last_modified=None)
    sent = server.requests[0].headers
    assert sent["user-agent"] == "monitor-test/1"
    assert sent["accept"] == FEED_ACCEPT
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in sent


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_body_is_decoded_and_headers_describe_it(
    server: LoopbackServer, encoding: str
) -> None:
    body = b"<p>news</p>" * 1000
    server.route("/z", Reply(body=body, encoding=encoding))
    response = get(server.url("/z"))
    assert response.body == body
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers


def test_raw_deflate_without_zlib_wrapper(server: LoopbackServer) -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = comp.compress(b"raw deflate body") + comp.flush()
    server.route("/d", Reply(body=raw, headers={"Content-Encoding": "deflate"}))
    assert get(server.url("/d")).body == b"raw deflate body"


def test_concatenated_gzip_members_and_trailing_garbage(server: LoopbackServer) -> None:
    body = gzip.compress(b"one ") + gzip.compress(b"two") + b"\0\0garbage"
    server.route("/m", Reply(body=body, headers={"Content-Encoding": "gzip"}))
    assert get(server.url("/m")).body == b"one two"


def test_corrupt_gzip_is_a_fetch_error(server: LoopbackServer) -> None:
    server.route("/bad", Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="corrupt compressed body"):
        get(server.url("/bad"))


def test_unsupported_content_encoding(server: LoopbackServer) -> None:
    server.route("/br", Reply(body=b"\x1b\x00", headers={"Content-Encoding": "br"}))
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        get(server.url("/br"))


# --- conditional GET --------------------------------------------------------------------------


def test_etag_round_trip_gives_304(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=b"<rss/>", etag='"abc"'))
    first = get(server.url("/feed"))
    second = get(server.url("/feed"), validators=first.validators)
    assert second.not_modified and second.status == 304 and second.body == b""
    assert server.requests[1].headers["if-none-match"] == '"abc"'


def test_last_modified_round_trip_gives_304(server: LoopbackServer) -> None:
    stamp = "Wed, 01 May 2024 10:00:00 GMT"
    server.route("/feed", Reply(body=b"<rss/>", last_modified=stamp))
    first = get(server.url("/feed"))
    assert first.validators == Validators(None, stamp)
    second = get(server.url("/feed"), validators=first.validators)
    assert second.not_modified
    assert server.requests[1].headers["if-modified-since"] == stamp


def test_changed_etag_gives_full_body(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=b"<rss>new</rss>", etag='"v2"'))
    response = get(server.url("/feed"), validators=Validators(etag='"v1"'))
    assert not response.not_modified and response.body == b"<rss>new</rss>"


# --- errors and Retry-After -------------------------------------------------------------------


def test_429_with_retry_after_seconds(server: LoopbackServer) -> None:
    server.route("/r", Reply(status=429, headers={"Retry-After": "120"}))
    with pytest.raises(FetchError) as info:
        get(server.url("/r"))
    assert info.value.status == 429
    assert info.value.retry_after_s == 120.0
    assert "HTTP 429" in str(info.value) and server.url("/r") in str(info.value)


def test_503_with_retry_after_http_date_measured_from_server_date(server: LoopbackServer) -> None:
    headers = {
        "Date": "Wed, 01 May 2024 10:00:00 GMT",
        "Retry-After": "Wed, 01 May 2024 10:05:00 GMT",
    }
    server.route("/r", Reply(status=503, headers=headers))
    with pytest.raises(FetchError) as info:
        get(server.url("/r"))
    assert info.value.status == 503 and info.value.retry_after_s == 300.0


def test_500_is_fetch_error_without_retry_after(server: LoopbackServer) -> None:
    server.route("/boom", Reply(status=500, headers={"Retry-After": "60"}))
    with pytest.raises(FetchError) as info:
        get(server.url("/boom"))
    assert info.value.status == 500 and info.value.retry_after_s is None


def test_404_for_unknown_path(server: LoopbackServer) -> None:
    with pytest.raises(FetchError) as info:
        get(server.url("/missing"))
    assert info.value.status == 404


NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("30", 30.0),
        (" 45 ", 45.0),
        ("1.5", 1.5),
        ("-5", None),
        ("nan", None),
        ("soon", None),
        ("Wed, 01 May 2024 10:01:00 GMT", 60.0),
        ("Wed, 01 May 2024 09:00:00 GMT", 0.0),  # in the past: retry now
        ("Wednesday, 01-May-24 10:02:00 GMT", 120.0),  # RFC 850
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_connection_refused_is_fetch_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="ConnectError"):
        get(f"http://127.0.0.1:{port}/")


# --- timeouts -----------------------------------------------------------------------------------


def test_slow_headers_time_out(server: LoopbackServer) -> None:
    server.route("/slow", Reply(body=b"late", delay_s=5))
    with pytest.raises(FetchError, match=re.escape("timed out after 0.2s")):
        get(server.url("/slow"), FetchPolicy(allow_private_networks=True, timeout_s=0.2))


def test_slow_drip_body_hits_total_timeout(server: LoopbackServer) -> None:
    # Each chunk arrives well within the read timeout; the whole body does not.
    server.route("/drip", Reply(body=b"x" * 100, chunk_size=1, chunk_delay_s=0.05))
    policy = FetchPolicy(allow_private_networks=True, timeout_s=0.5, total_timeout_s=1.0)
    with pytest.raises(FetchError, match=re.escape("timed out after 1s in all")):
        get(server.url("/drip"), policy)


def test_a_steady_download_longer_than_the_phase_timeout_completes(
    server: LoopbackServer,
) -> None:
    # 30 chunks 0.05 s apart: 1.5 s in all, each read well inside timeout_s.
    server.route("/steady", Reply(body=b"y" * 30, chunk_size=1, chunk_delay_s=0.05))
    policy = FetchPolicy(allow_private_networks=True, timeout_s=0.5, total_timeout_s=10.0)
    assert get(server.url("/steady"), policy).body == b"y" * 30


# --- redirects ----------------------------------------------------------------------------------


def test_redirects_are_followed_and_final_url_kept(server: LoopbackServer) -> None:
    server.route("/old", Reply.redirect("/mid", 301))
    server.route("/mid", Reply.redirect(server.url("/new"), 307))
    server.route("/new", Reply(body=b"here"))
    response = get(server.url("/old"))
    assert response.body == b"here"
    assert response.url == server.url("/old")
    assert response.final_url == server.url("/new")
    assert [r.path for r in server.requests] == ["/old", "/mid", "/new"]


def test_validators_are_sent_on_each_hop(server: LoopbackServer) -> None:
    server.route("/old", Reply.redirect("/new"))
    server.route("/new", Reply(body=b"x", etag='"e"'))
    response = get(server.url("/old"), validators=Validators(etag='"e"'))
    assert response.not_modified and response.final_url == server.url("/new")


def test_redirect_loop(server: LoopbackServer) -> None:
    server.route("/a", Reply.redirect("/b"))
    server.route("/b", Reply.redirect("/a"))
    with pytest.raises(FetchError, match="redirect loop"):
        get(server.url("/a"))


def test_too_many_redirects(server: LoopbackServer) -> None:
    for i in range(5):
        server.route(f"/{i}", Reply.redirect(f"/{i + 1}"))
    server.route("/5", Reply(body=b"end"))
    policy = FetchPolicy(allow_private_networks=True, max_redirects=3)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        get(server.url("/0"), policy)
    assert get(server.url("/0"), FetchPolicy(allow_private_networks=True)).body == b"end"


def test_redirect_to_other_scheme_is_blocked(server: LoopbackServer) -> None:
    server.route("/a", Reply.redirect("file:///etc/passwd"))
    with pytest.raises(BlockedURLError, match="scheme 'file'"):
        get(server.url("/a"))


def test_redirect_without_location_is_an_error(server: LoopbackServer) -> None:
    server.route("/a", Reply(status=302))
    with pytest.raises(FetchError) as info:
        get(server.url("/a"))
    assert info.value.status == 302


# --- the address guard ---------------------------------------------------------------------


PUBLIC = FetchPolicy(allow_private_networks=False)


def test_private_address_refused_before_any_request(server: LoopbackServer) -> None:
    server.route("/a", Reply(body=b"secret"))
    with pytest.raises(BlockedURLError, match=re.escape("non-public address 127.0.0.1")):
        get(server.url("/a"), PUBLIC)
    assert server.requests == []


def test_redirect_from_public_to_private_address_is_blocked(server: LoopbackServer) -> None:
    # The first hop is a public IP literal answered by a mock transport (no network); its
    # redirect points at the loopback server, which must never see a request.
    server.route("/internal", Reply(body=b"secret"))
    hops: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(302, headers={"Location": server.url("/internal")})

    with pytest.raises(BlockedURLError, match=re.escape("127.0.0.1")):
        get("http://93.184.215.14/start", PUBLIC, transport=httpx.MockTransport(handler))
    assert hops == ["http://93.184.215.14/start"]
    assert server.requests == []


def test_public_address_passes_the_guard() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"ok"))

    response = get("https://93.184.215.14/", PUBLIC, transport=httpx.MockTransport(handler))
    assert response.body == b"ok"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http:///nohost",
        "http://[::1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost:8080/",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(BlockedURLError):
        asyncio.run(check_url(url, PUBLIC))


def test_check_url_resolves_names(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_getaddrinfo(self: Any, host: str, port: int, **kw: Any) -> list[Any]:
        address = {"intranet.example": "192.168.1.20", "news.example": "93.184.215.14"}[host]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(BlockedURLError, match=re.escape("intranet.example resolves to non-public")):
        asyncio.run(check_url("https://intranet.example/", PUBLIC))
    asyncio.run(check_url("https://news.example/", PUBLIC))


def test_unresolvable_host_is_fetch_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(self: Any, host: str, port: int, **kw: Any) -> list[Any]:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fail)
    with pytest.raises(FetchError, match=re.escape("cannot resolve host nowhere.example")):
        asyncio.run(check_url("http://nowhere.example/", PUBLIC))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("not an ip", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


# --- size caps ------------------------------------------------------------------------------


def test_oversize_body_with_content_length(server: LoopbackServer) -> None:
    server.route("/big", Reply(body=b"x" * 5000))
    with pytest.raises(TooLargeError, match="exceeds 1000 bytes"):
        get(server.url("/big"), FetchPolicy(allow_private_networks=True, max_bytes=1000))


def test_oversize_streamed_body_is_capped(server: LoopbackServer) -> None:
    server.route("/stream", Reply(body=b"x" * 5000, chunk_size=100, send_length=False))
    with pytest.raises(TooLargeError, match="exceeds 1000 bytes"):
        get(server.url("/stream"), FetchPolicy(allow_private_networks=True, max_bytes=1000))


def test_body_at_exactly_the_cap_is_fine(server: LoopbackServer) -> None:
    server.route("/edge", Reply(body=b"x" * 1000, encoding="gzip"))
    policy = FetchPolicy(allow_private_networks=True, max_bytes=1000)
    assert len(get(server.url("/edge"), policy).body) == 1000


def test_gzip_bomb_is_capped_after_decompression(server: LoopbackServer) -> None:
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros in about 64 KB
    assert len(bomb) < 100_000
    server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    policy = FetchPolicy(allow_private_networks=True, max_bytes=1_000_000)
    with pytest.raises(TooLargeError, match="decompressed body exceeds 1000000 bytes"):
        get(server.url("/bomb"), policy)


def test_deflate_bomb_is_capped(server: LoopbackServer) -> None:
    bomb = zlib.compress(bytes(20 << 20), 9)
    server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": "deflate"}))
    with pytest.raises(TooLargeError):
        get(server.url("/bomb"), FetchPolicy(allow_private_networks=True, max_bytes=100_000))


# --- HostLimiter ------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when told; `sleep` records instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def test_host_limiter_caps_concurrency_per_host_and_overall() -> None:
    policy = FetchPolicy(per_host=2, concurrency=3)
    active: dict[str, int] = {}
    peaks: dict[str, int] = {}
    total = {"now": 0, "peak": 0}

    async def job(limiter: HostLimiter, url: str) -> None:
        host = url.split("/")[2]
        async with limiter.slot(url):
            active[host] = active.get(host, 0) + 1
            total["now"] += 1
            peaks[host] = max(peaks.get(host, 0), active[host])
            total["peak"] = max(total["peak"], total["now"])
            for _ in range(3):
                await asyncio.sleep(0)
            active[host] -= 1
            total["now"] -= 1

    async def go() -> HostLimiter:
        limiter = HostLimiter(policy)
        urls = [f"https://{h}.example/{i}" for h in "abc" for i in range(5)]
        await asyncio.gather(*(job(limiter, u) for u in urls))
        return limiter

    limiter = asyncio.run(go())
    assert set(peaks) == {"a.example", "b.example", "c.example"}
    assert max(peaks.values()) == 2
    assert total["peak"] == 3
    assert limiter._hosts == {}  # idle hosts are forgotten


async def enter(limiter: HostLimiter, url: str) -> None:
    """Take and give back one request slot for `url`."""
    async with limiter.slot(url):
        pass


def test_host_limiter_spaces_requests_to_one_host() -> None:
    clock = FakeClock()
    policy = FetchPolicy(per_host=4, per_host_delay_s=2.0)

    async def go() -> list[float]:
        limiter = HostLimiter(policy, clock=clock, sleep=clock.sleep)
        urls = ["https://a.example/1", "https://a.example/2", "https://a.example/3"]
        await asyncio.gather(*(enter(limiter, u) for u in urls))
        after_a = list(clock.sleeps)
        await enter(limiter, "https://b.example/1")  # another host: no wait
        assert clock.sleeps == after_a
        clock.now += 10  # long after: the spacing record has expired
        await enter(limiter, "https://a.example/4")
        return clock.sleeps

    assert asyncio.run(go()) == [2.0, 4.0]


# --- decode_html ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("café".encode(), "text/html; charset=utf-8", "café"),
        ("café".encode("cp1252"), "text/html; charset=windows-1252", "café"),
        ("café".encode("cp1252"), "text/html; charset=ISO-8859-1", "café"),
        # HTTP says latin-1 but the bytes are UTF-8: the usual lie.
        ("café".encode(), "text/html; charset=iso-8859-1", "café"),
        # HTTP says utf-8 but the bytes are windows-1252: replaced, not crashed.
        ("café".encode("cp1252"), "text/html; charset=utf-8", "caf\ufffd"),
        ("قوات".encode("cp1256"), 'text/html; charset="windows-1256"', "قوات"),
        ("café".encode(), "text/html; charset=no-such-charset", "café"),
        ("café".encode(), "text/html; charset=base64", "café"),
        (b'<meta charset="windows-1256">' + "قوات".encode("cp1256"), None, None),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
            + "Москва".encode("koi8-r"),
            "text/html",
            None,
        ),
        (
            b'<?xml version="1.0" encoding="iso-8859-7"?><p>' + "Αθήνα".encode("iso-8859-7"),
            None,
            None,
        ),
        (b'<meta charset="utf-16"><p>' + "café".encode(), None, None),
        (b"\xef\xbb\xbf" + "café".encode(), "text/html; charset=cp1252", "café"),
        (b"\xff\xfe" + "café".encode("utf-16-le"), None, "café"),
        ("café".encode("cp1252"), None, "café"),  # no label, not UTF-8: windows-1252
        (b"\x81\x8d caf\xe9", None, "\ufffd\ufffd café"),
        (b"", None, ""),
    ],
)
def test_decode_html(body: bytes, content_type: str | None, expected: str | None) -> None:
    text = decode_html(body, content_type)
    if expected is None:
        assert any(word in text for word in ("قوات", "Москва", "Αθήνα", "café"))
    else:
        assert text == expected


# --- robots.txt --------------------------------------------------------------------------------

ROBOTS = """
User-agent: *
Disallow: /private/
Crawl-delay: 3

User-agent: monitor
Disallow: /no-monitor/
Crawl-delay: 7
"""


@pytest.mark.parametrize(
    ("robots", "path", "agent", "allowed"),
    [
        (ROBOTS, "/news/1", "monitor/0.1 (+https://x.example)", True),
        (ROBOTS, "/no-monitor/1", "monitor/0.1 (+https://x.example)", False),
        (ROBOTS, "/private/1", "monitor/0.1", True),  # the specific group replaces the * one
        (ROBOTS, "/private/1", "OtherBot/2.0", False),
        (ROBOTS, "/no-monitor/1", "OtherBot/2.0", True),
        ("", "/anything", "monitor/0.1", True),
        ("User-agent: *\nDisallow: /\n", "/news/1", "monitor/0.1", False),
        ("garbage\n\x00\nnot robots", "/news/1", "monitor/0.1", True),
    ],
)
def test_robots_allows(robots: str, path: str, agent: str, allowed: bool) -> None:
    assert robots_allows(robots, "https://site.example" + path, agent) is allowed


def test_robots_crawl_delay_and_url() -> None:
    assert robots_crawl_delay(ROBOTS, "monitor/0.1") == 7.0
    assert robots_crawl_delay(ROBOTS, "OtherBot/1") == 3.0
    assert robots_crawl_delay("", "monitor/0.1") is None
    assert robots_url("https://site.example:8443/a/b?c=d") == "https://site.example:8443/robots.txt"


def robots_checks(
    server: LoopbackServer, paths: list[str], cache: RobotsCache | None = None
) -> list[bool]:
    robots = cache or RobotsCache(LOCAL)

    async def go() -> list[bool]:
        async with httpx.AsyncClient(trust_env=False) as client:
            checks = (robots.allows(client, server.url(p), "monitor/0.1") for p in paths)
            return list(await asyncio.gather(*checks))

    return asyncio.run(go())


def robots_requests(server: LoopbackServer) -> int:
    return sum(1 for r in server.requests if r.path == "/robots.txt")


def test_robots_cache_fetches_once_per_host_for_concurrent_pages(server: LoopbackServer) -> None:
    server.route("/robots.txt", Reply(body=ROBOTS.encode(), content_type="text/plain", delay_s=0.1))
    got = robots_checks(server, ["/news/1", "/no-monitor/2", "/news/3", "/private/4"])
    assert got == [True, False, True, True]
    assert robots_requests(server) == 1


@pytest.mark.parametrize(
    ("reply", "allowed"),
    [
        (Reply(status=404), True),  # RFC 9309: unavailable (4xx) = no rules
        (Reply(status=403), True),
        (Reply(status=500), False),  # unreachable (5xx) = disallow all, for now
        (Reply(status=503, headers={"Retry-After": "60"}), False),
        (Reply(status=429), False),
        (Reply.redirect("/real-robots.txt"), False),  # followed: it disallows everything
    ],
)
def test_robots_cache_status_rules(server: LoopbackServer, reply: Reply, allowed: bool) -> None:
    server.route("/robots.txt", reply)
    server.route("/real-robots.txt", Reply(body=b"User-agent: *\nDisallow: /\n"))
    assert robots_checks(server, ["/news/1"]) == [allowed]


def test_robots_cache_timeout_disallows_then_retries_sooner(server: LoopbackServer) -> None:
    now = [0.0]
    policy = FetchPolicy(allow_private_networks=True, timeout_s=0.3)
    cache = RobotsCache(policy, ttl_s=3600, retry_s=60, clock=lambda: now[0])
    server.route("/robots.txt", Reply(body=b"", delay_s=2.0))
    assert robots_checks(server, ["/a"], cache) == [False]
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /b\n"))
    now[0] = 30.0
    assert robots_checks(server, ["/a"], cache) == [False]  # still the cached failure
    now[0] = 61.0
    assert robots_checks(server, ["/a", "/b"], cache) == [True, False]
    now[0] = 3000.0
    assert robots_checks(server, ["/a"], cache) == [True]
    assert robots_requests(server) == 2  # cached for ttl_s once it worked


def test_robots_cache_caps_the_file_and_keys_by_port(server: LoopbackServer) -> None:
    huge = b"User-agent: *\nDisallow: /\n" + b"#" * 2_000_000
    server.route("/robots.txt", Reply(body=huge))
    assert robots_checks(server, ["/news/1"]) == [True]  # absurd file ignored, not a block
    assert robots_url(server.url("/x")) == server.url("/robots.txt")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "max-age=600"}, 600.0),
        ({"cache-control": "public, max-age=3600, must-revalidate"}, 3600.0),
        ({"cache-control": 'max-age="120"'}, 120.0),
        ({"cache-control": "s-maxage=900"}, None),  # shared caches only; we are not one
        ({"cache-control": "no-cache, max-age=600"}, None),
        ({"cache-control": "no-store"}, None),
        ({"cache-control": "max-age=0"}, 0.0),
        # Expires against the server's Date (no clock skew)
        (
            {"expires": "Tue, 01 Dec 2026 07:00:00 GMT", "date": "Tue, 01 Dec 2026 06:00:00 GMT"},
            3600.0,
        ),
        (
            {"expires": "Tue, 01 Dec 2026 05:00:00 GMT", "date": "Tue, 01 Dec 2026 06:00:00 GMT"},
            0.0,
        ),
        ({"expires": "0", "date": "Tue, 01 Dec 2026 06:00:00 GMT"}, None),  # "already expired"
        # max-age beats Expires (RFC 9111 5.3)
        (
            {
                "cache-control": "max-age=60",
                "expires": "Tue, 01 Dec 2026 07:00:00 GMT",
                "date": "Tue, 01 Dec 2026 06:00:00 GMT",
            },
            60.0,
        ),
        ({}, None),
    ],
)
def test_freshness(headers: dict[str, str], expected: float | None) -> None:
    assert freshness_s(headers) == expected


def test_robots_cache_serves_several_event_loops(server: LoopbackServer) -> None:
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /x\n", delay_s=0.05))
    cache = RobotsCache(LOCAL)
    assert robots_checks(server, ["/a", "/x"], cache) == [True, False]
    assert robots_checks(server, ["/x", "/b"], cache) == [False, True]  # a new asyncio.run
    assert robots_requests(server) == 1


def test_host_limiter_honours_a_crawl_delay_capped() -> None:
    clock = FakeClock()
    policy = FetchPolicy(per_host=1, per_host_delay_s=1.0)

    async def go() -> list[float]:
        limiter = HostLimiter(policy, clock=clock, sleep=clock.sleep)
        limiter.ask_delay("https://a.example/robots.txt", 5.0)  # longer than the policy's
        limiter.ask_delay("https://b.example/robots.txt", 0.5)  # shorter: the policy's wins
        limiter.ask_delay("https://c.example/robots.txt", 86400.0)  # absurd: capped
        for host in "abc":
            for i in range(2):
                await enter(limiter, f"https://{host}.example/{i}")
        return clock.sleeps

    assert asyncio.run(go()) == [5.0, 1.0, MAX_CRAWL_DELAY_S]


def test_host_limiter_holds_a_host_for_its_retry_after_capped() -> None:
    clock = FakeClock()
    limiter = HostLimiter(FetchPolicy(), clock=clock, sleep=clock.sleep)
    assert limiter.held("https://a.example/1") is None
    limiter.hold("https://a.example/1", 120.0)
    limiter.hold("https://a.example/2", 30.0)  # a shorter one does not cut the first short
    limiter.hold("https://c.example/1", 10 * MAX_RETRY_AFTER_S)
    assert limiter.held("https://a.example/3") == 120.0  # the whole host
    assert limiter.held("https://b.example/1") is None
    assert limiter.held("https://c.example/1") == MAX_RETRY_AFTER_S
    clock.now += 100
    assert limiter.held("https://a.example/3") == 20.0
    clock.now += 20
    assert limiter.held("https://a.example/3") is None


def test_robots_rules_parse_once_for_allow_and_crawl_delay() -> None:
    rules = RobotsRules(
        "User-agent: monitor\nCrawl-delay: 7\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"
    )
    assert rules.allows("https://a.example/news/1", "monitor/0.1 (+https://example.org)")
    assert not rules.allows("https://a.example/private/1", "monitor/0.1")
    assert not rules.allows("https://a.example/news/1", "OtherBot/2")
    assert rules.crawl_delay("monitor/0.1") == 7.0
    assert rules.crawl_delay("OtherBot/2") is None
    assert RobotsRules("").allows("https://a.example/x", "monitor/0.1")


# --- one connection pool per origin ---------------------------------------------------------


class ClosingTransport(httpx.AsyncHTTPTransport):
    """A real transport that records being closed."""

    closed = False

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


def test_per_origin_transport_keeps_one_pool_per_origin() -> None:
    made: list[ClosingTransport] = []

    def make() -> httpx.AsyncBaseTransport:
        made.append(ClosingTransport())
        return made[-1]

    with (
        LoopbackServer({"/a": Reply(body=b"from a")}) as a,
        LoopbackServer({"/b": Reply(body=b"from b")}) as b,
    ):

        async def go() -> list[bytes]:
            transport = PerOriginTransport(make)
            async with httpx.AsyncClient(trust_env=False, transport=transport) as client:
                urls = [a.url("/a"), b.url("/b"), a.url("/a"), b.url("/b"), a.url("/a")]
                return [(await fetch(client, u, LOCAL)).body for u in urls]

        bodies = asyncio.run(go())
    assert bodies == [b"from a", b"from b", b"from a", b"from b", b"from a"]
    assert len(made) == 2  # one pool per origin, reused
    assert all(t.closed for t in made)  # closing the client closes every pool


# --- connections only to the addresses checked (DNS rebinding) ------------------------------


def guarded_client(resolved: list[str], allowed: Any = None) -> httpx.AsyncClient:
    async def resolve(host: str, port: int) -> list[str]:
        return resolved

    backend = GuardedBackend(resolve=resolve, allowed=allowed)
    transport = guarded_transport(
        httpx.create_ssl_context(), httpx.Limits(max_keepalive_connections=2), backend
    )
    return httpx.AsyncClient(trust_env=False, transport=transport)


def test_a_name_rebound_to_a_private_address_is_refused_at_connection_time(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/", Reply(body=b"internal"))

    async def public(host: str, port: int, url: str) -> list[str]:
        return ["93.184.215.14"]  # what check_url is told first

    monkeypatch.setattr(fetch_module, "_resolve", public)
    policy = FetchPolicy(allow_private_networks=False, timeout_s=5.0)

    async def go() -> HttpResponse:
        async with guarded_client(["127.0.0.1"]) as client:  # the answer when connecting
            return await fetch(client, f"http://rebind.test:{server.port}/", policy)

    with pytest.raises(FetchError, match=re.escape("non-public address 127.0.0.1 at connection")):
        asyncio.run(go())
    assert server.requests == []  # nothing was sent


def test_the_guarded_backend_connects_to_the_address_it_checked(server: LoopbackServer) -> None:
    server.route("/", Reply(body=b"pinned"))
    seen: list[str] = []

    def allowed(address: str) -> bool:
        seen.append(address)
        return True

    async def go() -> HttpResponse:
        # "pinned.test" is in no DNS: the request can only reach the server through the
        # address the backend resolved and checked.
        async with guarded_client(["127.0.0.1"], allowed) as client:
            return await fetch(client, f"http://pinned.test:{server.port}/", LOCAL)

    assert asyncio.run(go()).body == b"pinned"
    assert seen == ["127.0.0.1"]
    assert server.requests[0].headers.get("host") == f"pinned.test:{server.port}"


def test_per_origin_transport_closes_idle_pools_beyond_its_cap_never_a_busy_one() -> None:
    made: list[ClosingTransport] = []

    def make() -> httpx.AsyncBaseTransport:
        made.append(ClosingTransport())
        return made[-1]

    servers = [LoopbackServer({"/": Reply(body=b"x" * 5000)}) for _ in range(4)]
    for s in servers:
        s.__enter__()
    try:

        async def go() -> tuple[int, list[bool]]:
            transport = PerOriginTransport(make, max_idle_pools=1)
            async with httpx.AsyncClient(trust_env=False, transport=transport) as client:
                # The first origin's response stays open (busy) while three more are used.
                async with client.stream("GET", servers[0].url("/")) as busy:
                    for s in servers[1:]:
                        assert (await client.get(s.url("/"))).content == b"x" * 5000
                    states = [made[i].closed for i in range(4)]
                    assert (await busy.aread()) == b"x" * 5000  # still readable
                return transport.pools, states

        pools, states = asyncio.run(go())
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    # Opening pool 3 found two idle pools (1, 2) beyond a cap of one: the older one, 1, was
    # closed; 0 was busy throughout and stayed open.
    assert states == [False, True, False, False]
    assert pools == 3


def test_the_apps_client_pins_connections_unless_private_networks_are_allowed(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.app import make_http_client

    server.route("/", Reply(body=b"inside"))

    async def passed(url: str, policy: FetchPolicy) -> None:
        return None  # as if the name had resolved to a public address when checked

    monkeypatch.setattr(fetch_module, "check_url", passed)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = f"http://localhost:{server.port}/"

    async def get_with(policy: FetchPolicy) -> HttpResponse:
        async with make_http_client(policy) as client:
            return await fetch(client, url, policy)

    guarded = FetchPolicy(allow_private_networks=False, timeout_s=5.0)
    with pytest.raises(FetchError, match=r"non-public address (127\.0\.0\.1|::1) at connection"):
        asyncio.run(get_with(guarded))
    assert server.requests == []
    allowed = FetchPolicy(allow_private_networks=True, timeout_s=5.0)
    assert asyncio.run(get_with(allowed)).body == b"inside"


def test_the_apps_client_goes_through_a_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.app import make_http_client

    with LoopbackServer({"/page": Reply(body=b"via proxy")}) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        monkeypatch.setenv("http_proxy", proxy.url(""))
        policy = FetchPolicy(allow_private_networks=True, timeout_s=5.0)

        async def go() -> HttpResponse:
            async with make_http_client(policy) as client:
                # Nothing listens on port 9 here: only the proxy can answer.
                return await fetch(client, "http://127.0.0.1:9/page", policy)

        assert asyncio.run(go()).body == b"via proxy"
        assert [r.path for r in proxy.requests] == ["/page"]
