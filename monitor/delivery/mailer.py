"""Build the digest email (text + HTML, injection-proof headers) and send it: by SMTP, with
failures sorted into temporary (retry) and permanent (give up), or into .eml files.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal, NoReturn, Protocol

from monitor.delivery.reports import file_stamp
from monitor.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from monitor.models import SMTP_PORT, SMTP_SECURITY, SMTP_TIMEOUT_S, RenderedDigest

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]
# A refused recipient: address -> (SMTP code, server reply).
Refusals = Mapping[str, tuple[int, str]]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def header_value(value: str) -> str:
    """`value` safe as one header: CR, LF and other controls become one space (no injection)."""
    return re.sub(r" {2,}", " ", _CONTROL.sub(" ", value)).strip()


_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")


def parse_address(value: str) -> Address:
    """ "Name <a@b.org>" or "a@b.org" as an Address; DeliveryError for anything else.

    Stricter than `email.utils.parseaddr`, which turns "a@b.org\\r\\nBcc: c@d.org" into the
    address "a@b.orgBcc": a value that is not plainly one address is refused, not guessed at.
    """
    text = header_value(value)
    name, _, rest = text.rpartition("<")
    addr = rest.removesuffix(">") if name or text.startswith("<") else text
    if (name or text.startswith("<")) and not rest.endswith(">"):
        addr = ""
    if not _ADDR_SPEC.fullmatch(addr):
        raise DeliveryError(f"not an email address: {value!r} (expected 'Name <user@host>')")
    name = name.strip().strip('"').strip()
    try:
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:  # email's parser raises both on bad addr-specs
        raise DeliveryError(f"not an email address: {value!r}: {exc}") from exc


def _angle(value: str) -> str:
    value = header_value(value)
    return value if value.startswith("<") and value.endswith(">") else f"<{value.strip('<>')}>"


def build_message(
    rendered: RenderedDigest,
    *,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    list_id: str,
    date: datetime,
) -> EmailMessage:
    """The digest as multipart/alternative (text, then HTML), every header one clean line.

    With images (the chart) the alternative is wrapped in multipart/related, each image a
    part after it with the Content-ID the HTML refers to as "cid:…" (RFC 2387).
    `message_id` is used as given (angle brackets added when missing): the caller derives it
    from (watchlist, period) so a resend is recognisably the same message. `list_id` is
    "name <label.domain>" or just the label; a naive `date` is UTC.
    """
    if not recipients:
        raise DeliveryError("the digest has no recipients: set digest.recipients in the watchlist")
    msg = EmailMessage(policy=policy.default)
    msg["Subject"] = header_value(rendered.subject)
    msg["From"] = parse_address(sender)
    msg["To"] = [parse_address(r) for r in recipients]
    msg["Date"] = date if date.tzinfo else date.replace(tzinfo=UTC)
    msg["Message-ID"] = _angle(message_id)
    name, _, label = header_value(list_id).rpartition("<")
    msg["List-Id"] = f"{name.strip()} <{label.strip('<> ')}>".strip()
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg["X-Auto-Response-Suppress"] = "All"
    if not rendered.images:
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        return msg
    body = EmailMessage(policy=policy.default)
    body.set_content(rendered.text)
    body.add_alternative(rendered.html, subtype="html")
    del body["MIME-Version"]  # a top-level header; set_content adds it to every EmailMessage
    msg["MIME-Version"] = "1.0"  # set_content adds it, make_related does not
    msg.make_related()
    msg.set_param("type", "multipart/alternative")
    msg.attach(body)
    for n, (cid, png) in enumerate(rendered.images.items(), start=1):
        msg.add_related(
            png, "image", "png", cid=_angle(cid), filename=f"chart-{n}.png", disposition="inline"
        )
    return msg


class Mailer(Protocol):
    """Delivers one message or raises TemporaryDeliveryError / PermanentDeliveryError.

    `send` returns the file written by mailers that write files (FileMailer), else None.
    """

    def send(self, msg: EmailMessage) -> Path | None: ...


# --- SMTP -----------------------------------------------------------------------------


def _reply(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return header_value(text)


def _fail(where: str, what: str, code: int, reply: bytes | str) -> NoReturn:
    message = f"{where}: {what}: {code} {_reply(reply)}"
    if 500 <= code < 600:
        raise PermanentDeliveryError(message)
    raise TemporaryDeliveryError(message)


class SmtpMailer:
    """Sends by SMTP with smtplib; security "none", "starttls" (upgrade on port 587) or "tls"
    (implicit TLS, port 465). 4xx replies, drops and timeouts raise TemporaryDeliveryError,
    5xx replies PermanentDeliveryError; both carry the server's reply.

    When the server accepts some recipients and refuses others the message counts as sent
    (resending would duplicate it for the accepted ones): the refusals are logged as a
    warning, returned by `deliver` and kept in `last_refused`; `send_to` tells the caller
    which of them may be tried again (4xx, e.g. 452 too many recipients).
    """

    def __init__(
        self,
        host: str,
        port: int = SMTP_PORT,
        *,
        security: Security = SMTP_SECURITY,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = SMTP_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise DeliveryError(f"smtp.security must be none, starttls or tls, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self.last_refused: dict[str, tuple[int, str]] = {}

    @property
    def where(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def send(self, msg: EmailMessage) -> None:
        """Send `msg` (see `deliver`); partial refusals are logged and kept in `last_refused`."""
        self.deliver(msg)

    def deliver(
        self, msg: EmailMessage, to: Sequence[str] | None = None
    ) -> dict[str, tuple[int, str]]:
        """Send `msg` (to the addresses `to`, else to those its headers name); return the
        recipients the server refused while accepting others."""
        try:
            refused = self._transact(msg, to)
        except smtplib.SMTPRecipientsRefused as exc:
            self._all_refused(exc.recipients)
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA, AUTH, HELO …
            _fail(self.where, self._stage(exc), exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(
                f"{self.where}: {exc}: check smtp.security and smtp.username"
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib rewraps read timeouts
                raise self._timed_out() from exc
            raise TemporaryDeliveryError(f"{self.where}: server disconnected: {exc}") from exc
        except smtplib.SMTPException as exc:
            raise TemporaryDeliveryError(f"{self.where}: {exc}") from exc
        except TimeoutError as exc:
            raise self._timed_out() from exc
        except ssl.SSLError as exc:
            raise TemporaryDeliveryError(f"{self.where}: TLS failed: {exc}") from exc
        except OSError as exc:  # refused, unreachable, DNS: the server may come back
            raise TemporaryDeliveryError(f"{self.where}: cannot connect: {exc}") from exc
        self.last_refused = {a: (code, _reply(r)) for a, (code, r) in refused.items()}
        for addr, (code, reply) in self.last_refused.items():
            log.warning("%s refused recipient %s: %d %s", self.where, addr, code, reply)
        return self.last_refused

    def _transact(
        self, msg: EmailMessage, to: Sequence[str] | None
    ) -> dict[str, tuple[int, bytes]]:
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, self.local_hostname, timeout=self.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, self.local_hostname, timeout=self.timeout_s)
        try:
            if self.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            return smtp.send_message(msg, to_addrs=list(to) if to is not None else None)
        finally:
            _close(smtp)

    def _timed_out(self) -> TemporaryDeliveryError:
        return TemporaryDeliveryError(f"{self.where}: timed out after {self.timeout_s:g}s")

    @staticmethod
    def _stage(exc: smtplib.SMTPResponseException) -> str:
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return f"sender {exc.sender} refused"
        if isinstance(exc, smtplib.SMTPDataError):
            return "message refused"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return "login failed (check smtp.username and smtp.password)"
        if isinstance(exc, smtplib.SMTPConnectError):
            return "connection refused by server"
        return "server error"

    def _all_refused(self, recipients: Mapping[str, tuple[int, bytes]]) -> NoReturn:
        replies = "; ".join(f"{a}: {c} {_reply(r)}" for a, (c, r) in recipients.items())
        message = f"{self.where}: all recipients refused: {replies}"
        # Permanent only if every refusal is: one 4xx means a retry may still get through.
        if recipients and all(500 <= c < 600 for c, _ in recipients.values()):
            raise PermanentDeliveryError(message)
        raise TemporaryDeliveryError(message)


@dataclass(frozen=True)
class Sent:
    """What became of one message: the file a mailer wrote (FileMailer), and the recipients
    a server refused while accepting others (address -> (SMTP code, reply))."""

    path: Path | None = None
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def deferred(self) -> dict[str, tuple[int, str]]:
        """Refused for now (4xx: too many recipients, mailbox full …): worth another try."""
        return {a: r for a, r in self.refused.items() if not 500 <= r[0] < 600}

    @property
    def rejected(self) -> dict[str, tuple[int, str]]:
        """Refused for good (5xx: no such user …)."""
        return {a: r for a, r in self.refused.items() if 500 <= r[0] < 600}


def address_of(recipient: str) -> str:
    """The bare address of "Name <a@b.org>" or "a@b.org" (DeliveryError if it is neither)."""
    return parse_address(recipient).addr_spec


def send_to(mailer: Mailer, msg: EmailMessage, addresses: Sequence[str]) -> Sent:
    """Send `msg` to `addresses` (the envelope: its To header may name more, as when a digest
    is retried for the recipients a server refused for now). Raises as `Mailer.send` does
    when nobody accepted it."""
    if isinstance(mailer, SmtpMailer):
        return Sent(refused=mailer.deliver(msg, addresses))
    return Sent(path=mailer.send(msg))  # a file holds the message for every recipient


def _close(smtp: smtplib.SMTP) -> None:
    # Unlike `with smtp:`, a failing QUIT must not hide the error that brought us here.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


# --- files ----------------------------------------------------------------------------


def _slug(text: str, limit: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "message"


class FileMailer:
    """Writes each message to `directory/<UTC timestamp>-<subject slug>.eml` (offline, demo).

    `send` returns the path written (also kept in `last_path`). Files appear atomically and
    are never overwritten: a second message with the same name gets a -2, -3 … suffix.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.last_path: Path | None = None

    def send(self, msg: EmailMessage) -> Path:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stem = f"{self._timestamp(msg)}-{_slug(str(msg.get('Subject', '')))}"
            path = _publish(self.directory, stem, ".eml", msg.as_bytes())
        except OSError as exc:
            raise TemporaryDeliveryError(f"cannot write mail to {self.directory}: {exc}") from exc
        self.last_path = path
        return path

    @staticmethod
    def _timestamp(msg: EmailMessage) -> str:
        when: datetime | None = None
        if msg["Date"]:
            try:
                when = parsedate_to_datetime(str(msg["Date"]))
            except (TypeError, ValueError):
                when = None
        return file_stamp(when or datetime.now(UTC))


def _publish(directory: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write `data` to a new file `stem[-n]suffix`: tmp + hard link, so no reader sees a
    partial file and an existing one is never replaced."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        for n in range(1, 1000):
            path = directory / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            return path
        raise FileExistsError(f"too many messages named {stem} in {directory}")
    finally:
        os.unlink(tmp)
