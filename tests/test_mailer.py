"""The digest email and its delivery, against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.delivery.mailer import FileMailer, Mailer, SmtpMailer, build_message
from monitor.delivery.render import chart_cid, render_digest
from monitor.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from monitor.models import RenderedDigest
from tests.golden.samples import empty, hostile, morning

HOST = "127.0.0.1"
DATE = datetime(2026, 12, 1, 4, 0, 30, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def message(rendered: RenderedDigest | None = None, **kw: Any) -> EmailMessage:
    args: dict[str, Any] = {
        "sender": "Monitor <monitor@example.org>",
        "recipients": ["Analyst <analyst@example.org>", "duty@example.org"],
        "message_id": "<digest.iraq-militias.20261201T0400@monitor.example.org>",
        "list_id": "iraq-militias <iraq-militias.monitor.example.org>",
        "date": DATE,
    }
    args.update(kw)
    return build_message(rendered or render_digest(morning()), **args)


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content


# --- building the message -------------------------------------------------------------


def test_message_is_text_then_html_alternative() -> None:
    plain = dataclasses.replace(morning(), actor_trends=())
    msg = parse(message(render_digest(plain)).as_bytes())
    assert msg.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in msg.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert "1. [NEW] Rockets hit Al Asad Air Base" in body(msg, "plain")
    assert "<mark" in body(msg, "html")


def test_chart_makes_it_related_around_the_alternative() -> None:
    rendered = render_digest(morning())
    msg = parse(message(rendered).as_bytes())
    assert msg.get_content_type() == "multipart/related"
    assert msg.get_param("type") == "multipart/alternative"
    assert msg["MIME-Version"] == "1.0"
    alternative, image = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert image.get_content_type() == "image/png"
    cid = chart_cid(morning())
    assert image["Content-ID"] == f"<{cid}>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == rendered.images[cid]
    assert f'src="cid:{cid}"' in body(msg, "html")  # get_body finds it through related
    assert "1. [NEW] Rockets hit Al Asad Air Base" in body(msg, "plain")


def test_empty_digest_has_no_chart_part() -> None:
    msg = parse(message(render_digest(empty())).as_bytes())
    assert msg.get_content_type() == "multipart/alternative"


def test_message_headers() -> None:
    msg = parse(message().as_bytes())
    assert msg["Subject"] == "[monitor] iraq-militias — 2 stories — 2026-12-01"
    assert msg["From"] == "Monitor <monitor@example.org>"
    assert msg["To"] == "Analyst <analyst@example.org>, duty@example.org"
    assert msg["Message-ID"] == "<digest.iraq-militias.20261201T0400@monitor.example.org>"
    assert msg["List-Id"] == "iraq-militias <iraq-militias.monitor.example.org>"
    assert msg["Date"] == "Tue, 01 Dec 2026 04:00:30 +0000"
    assert msg["Auto-Submitted"] == "auto-generated"


def test_message_id_and_list_id_get_angle_brackets() -> None:
    msg = message(message_id="abc@monitor", list_id="iraq-militias.monitor")
    assert msg["Message-ID"] == "<abc@monitor>"
    assert msg["List-Id"] == "<iraq-militias.monitor>"


def test_naive_date_is_utc() -> None:
    assert message(date=datetime(2026, 12, 1, 4, 0))["Date"] == "Tue, 01 Dec 2026 04:00:00 +0000"


def test_non_ascii_subject_and_names_are_encoded() -> None:
    rendered = dataclasses.replace(
        render_digest(morning()), subject="[monitor] ميليشيات العراق — 2 articles — 2026-12-01"
    )
    msg = message(rendered, sender="Монитор <monitor@example.org>", recipients=["Zoë <z@ex.org>"])
    raw = msg.as_bytes()
    raw_headers = raw.split(b"\n\n", 1)[0]
    assert raw_headers.isascii()
    assert b"=?utf-8?" in raw_headers
    back = parse(raw)
    assert back["Subject"] == "[monitor] ميليشيات العراق — 2 articles — 2026-12-01"
    assert back["From"].addresses[0].display_name == "Монитор"
    assert back["To"].addresses[0].display_name == "Zoë"


def test_hostile_digest_cannot_inject_headers() -> None:
    raw = message(render_digest(hostile())).as_bytes()
    back = parse(raw)
    assert "Bcc" not in back
    assert back["Subject"].startswith("[monitor] evil Bcc: victim@example.org")
    assert [k for k in back if k.lower() == "bcc"] == []
    # Every header is one line after unfolding, and none came from the content.
    assert set(back.keys()) == {
        "Subject", "From", "To", "Date", "Message-ID", "List-Id", "Auto-Submitted",
        "X-Auto-Response-Suppress", "MIME-Version", "Content-Type",
    }  # fmt: skip


def test_crlf_in_header_arguments_is_stripped() -> None:
    msg = message(
        message_id="<id@x>\r\nBcc: evil@example.org",
        list_id="list\r\nBcc: evil@example.org <l.x>",
    )
    back = parse(msg.as_bytes())
    assert "Bcc" not in back
    assert "\n" not in back["Message-ID"] and "\n" not in back["List-Id"]


@pytest.mark.parametrize(
    "bad",
    [
        "analyst@example.org\r\nBcc: evil@example.org",
        "not an address",
        "a@b.org, c@d.org",
        "x <a@b",
    ],
)
def test_bad_recipient_is_refused(bad: str) -> None:
    with pytest.raises(DeliveryError, match="not an email address"):
        message(recipients=[bad])


def test_no_recipients_is_refused() -> None:
    with pytest.raises(DeliveryError, match="no recipients"):
        message(recipients=[])


# --- a real SMTP server ---------------------------------------------------------------


class Recorder:
    """aiosmtpd handler: records envelopes; `rcpt_reply`/`data_reply` can refuse."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.authenticated: list[bool] = []
        self.rcpt_reply: dict[str, str] = {}
        self.data_reply = "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.rcpt_reply.get(address, "250 OK")
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
            self.authenticated.append(bool(session.authenticated))
        return self.data_reply


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    controller = Controller(handler, hostname=HOST, port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def test_smtp_delivers_a_parseable_message(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    mailer: Mailer = SmtpMailer(HOST, port, timeout_s=5)
    assert mailer.send(message()) is None
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "monitor@example.org"
    assert envelope.rcpt_tos == ["analyst@example.org", "duty@example.org"]
    back = parse(envelope.original_content)
    assert back["Message-ID"] == "<digest.iraq-militias.20261201T0400@monitor.example.org>"
    assert "https://example.com/world/iraq-rockets" in body(back, "plain")


def test_smtp_delivers_non_ascii_subject(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    rendered = dataclasses.replace(render_digest(morning()), subject="[monitor] العراق — ×2")
    SmtpMailer(HOST, port, timeout_s=5).send(message(rendered))
    assert parse(handler.envelopes[0].original_content)["Subject"] == "[monitor] العراق — ×2"


def test_smtp_451_is_temporary_with_the_reply(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    handler.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    with pytest.raises(
        TemporaryDeliveryError, match=re.escape("451 4.3.0 Mail server temporarily")
    ):
        SmtpMailer(HOST, port, timeout_s=5).send(message())


def test_smtp_550_data_is_permanent_with_the_reply(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    handler.data_reply = "550 5.7.1 Message rejected as spam"
    with pytest.raises(
        PermanentDeliveryError, match=re.escape("550 5.7.1 Message rejected as spam")
    ):
        SmtpMailer(HOST, port, timeout_s=5).send(message())


def test_smtp_all_recipients_refused_550_is_permanent(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    handler.rcpt_reply = {
        "analyst@example.org": "550 5.1.1 No such user",
        "duty@example.org": "550 5.1.1 No such user",
    }
    with pytest.raises(
        PermanentDeliveryError, match=re.escape("analyst@example.org: 550 5.1.1 No such")
    ):
        SmtpMailer(HOST, port, timeout_s=5).send(message())


def test_smtp_recipients_refused_with_a_4xx_is_temporary(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    handler.rcpt_reply = {
        "analyst@example.org": "550 5.1.1 No such user",
        "duty@example.org": "450 4.2.1 Mailbox busy",
    }
    with pytest.raises(TemporaryDeliveryError, match=re.escape("450 4.2.1 Mailbox busy")):
        SmtpMailer(HOST, port, timeout_s=5).send(message())


def test_smtp_partial_refusal_is_reported_not_raised(
    smtp: tuple[Recorder, int], caplog: pytest.LogCaptureFixture
) -> None:
    handler, port = smtp
    handler.rcpt_reply = {"duty@example.org": "550 5.1.1 No such user"}
    mailer = SmtpMailer(HOST, port, timeout_s=5)
    refused = mailer.deliver(message())
    assert refused == {"duty@example.org": (550, "5.1.1 No such user")}
    assert mailer.last_refused == refused
    assert handler.envelopes[0].rcpt_tos == ["analyst@example.org"]
    assert "refused recipient duty@example.org: 550 5.1.1 No such user" in caplog.text


def test_smtp_refused_connection_is_temporary() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(TemporaryDeliveryError, match=f"SMTP {HOST}:{port}: cannot connect"):
        SmtpMailer(HOST, port, timeout_s=5).send(message())


def test_smtp_silent_server_times_out_as_temporary() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)  # the kernel accepts; nobody ever says 220
        port = listener.getsockname()[1]
        with pytest.raises(TemporaryDeliveryError, match=re.escape("timed out after 0.3s")):
            SmtpMailer(HOST, port, timeout_s=0.3).send(message())


def test_smtp_server_hanging_up_is_temporary() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def hang_up() -> None:
            conn, _ = listener.accept()
            conn.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        try:
            with pytest.raises(TemporaryDeliveryError, match="disconnected"):
                SmtpMailer(HOST, port, timeout_s=5).send(message())
        finally:
            thread.join(5)


def test_starttls_on_a_server_without_it_is_permanent(smtp: tuple[Recorder, int]) -> None:
    _, port = smtp
    with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
        SmtpMailer(HOST, port, security="starttls", timeout_s=5).send(message())


def test_unknown_security_is_refused() -> None:
    with pytest.raises(DeliveryError, match=re.escape("smtp.security")):
        SmtpMailer(HOST, 25, security="ssl")  # type: ignore[arg-type]


# --- AUTH and TLS ---------------------------------------------------------------------


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"monitor", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_smtp() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    controller = Controller(
        handler,
        hostname=HOST,
        port=free_port(),
        authenticator=_authenticator,
        auth_require_tls=False,  # the TLS variant is test_starttls_with_auth
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def test_smtp_auth_logs_in(auth_smtp: tuple[Recorder, int]) -> None:
    handler, port = auth_smtp
    SmtpMailer(HOST, port, username="monitor", password="s3cret", timeout_s=5).send(message())
    assert handler.authenticated == [True]


def test_smtp_auth_wrong_password_is_permanent(auth_smtp: tuple[Recorder, int]) -> None:
    _, port = auth_smtp
    mailer = SmtpMailer(HOST, port, username="monitor", password="wrong", timeout_s=5)
    with pytest.raises(PermanentDeliveryError, match=r"login failed.*535"):
        mailer.send(message())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def test_starttls_with_auth(certificate: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = _contexts(certificate)
    handler = Recorder()
    controller = Controller(
        handler,
        hostname=HOST,
        port=free_port(),
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        SmtpMailer(
            HOST,
            controller.port,
            security="starttls",
            username="monitor",
            password="s3cret",
            ssl_context=client_ctx,
            timeout_s=5,
        ).send(message())
    finally:
        controller.stop()
    assert handler.authenticated == [True]


def test_untrusted_certificate_is_temporary(certificate: tuple[Path, Path]) -> None:
    server_ctx, _ = _contexts(certificate)
    controller = Controller(
        Recorder(), hostname=HOST, port=free_port(), tls_context=server_ctx, require_starttls=True
    )
    controller.start()
    try:
        with pytest.raises(TemporaryDeliveryError, match="TLS failed"):
            SmtpMailer(HOST, controller.port, security="starttls", timeout_s=5).send(message())
    finally:
        controller.stop()


# --- files ----------------------------------------------------------------------------


def test_file_mailer_writes_eml(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "outbox")
    path = mailer.send(message())
    assert path == mailer.last_path
    assert path.name == "20261201T040030Z-monitor-iraq-militias-2-stories-2026-12-01.eml"
    back = parse(path.read_bytes())
    assert back["Subject"] == "[monitor] iraq-militias — 2 stories — 2026-12-01"
    assert [p.get_content_type() for p in back.iter_parts()] == [
        "multipart/alternative",
        "image/png",
    ]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_file_mailer_never_overwrites(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path)
    first, second = mailer.send(message()), mailer.send(message())
    assert first != second and second.name.endswith("-2.eml")
    assert first.read_bytes() and second.read_bytes()


def test_file_mailer_is_a_mailer(tmp_path: Path) -> None:
    mailer: Mailer = FileMailer(tmp_path)
    assert isinstance(mailer.send(message()), Path)
