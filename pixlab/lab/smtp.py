"""The lab's SMTP server, on aiosmtpd: port 25 (MX), 587 (submission, STARTTLS) and 465 (TLS).

Port 25 receives mail for the lab's own domains from anyone and relays
nothing; 587 and 465 take mail from logged-in users. aiosmtpd counts only
STARTTLS as TLS, so the session works out for itself whether the connection is
encrypted (implicit TLS on 465 included) and applies the lab's policy in its
own hooks, with Postfix's replies.
"""

from __future__ import annotations

import asyncio
import email.policy
import inspect
import re
import secrets
import time
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses, parseaddr
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from pixlab.lab import replies as R
from pixlab.lab.access import LoginRefused
from pixlab.lab.store import AccountInfo, QuotaExceeded
from pixlab.lab.tap import Connection, describe_tls_failure
from pixlab.lab.tls import ssl_object_of

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

_REFUSALS = {
    "credentials": R.SMTP_AUTH_FAILED,
    "locked": R.SMTP_ACCOUNT_LOCKED,
    "busy": R.SMTP_AUTH_TOO_MANY,
    "app_password": R.SMTP_APP_PASSWORD_REQUIRED,
}

# What nearly every mail program sends after MAIL FROM: and RCPT TO:: an address
# between angle brackets, a dot-atom on both sides of the "@", then perhaps
# parameters. aiosmtpd parses it with the `email` package's header parser,
# 5 % of a submission's time in the lab; this pattern gives the same
# result for these addresses, and anything else still goes to that parser.
_SIMPLE_ADDRESS = re.compile(
    r"[ \t]*<((?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\.)*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)>(?:[ \t]+(.*))?",
    re.ASCII | re.DOTALL,
)


class LabSMTP(SMTP):
    """An aiosmtpd session that knows its tapped connection and the lab's policy."""

    def __init__(self, lab: Lab, conn: Connection) -> None:
        self.lab = lab
        self.conn = conn
        spec = conn.listener
        world = conn.world
        offer_starttls = not spec.implicit_tls and world.starttls
        super().__init__(
            _Delivery(lab, conn),
            data_size_limit=lab.config.max_message_size,
            hostname=world.server_name,
            ident=R.SMTP_IDENT,
            tls_context=lab.tls_for(world).context if offer_starttls else None,
            timeout=lab.config.preauth_timeout,
            # The lab decides when AUTH is allowed (see smtp_AUTH below).
            auth_require_tls=False,
            authenticator=self._check_login,
            loop=asyncio.get_running_loop(),
        )
        self.account: AccountInfo | None = None
        self.closing_after_reply = False
        self.refusal_delay = 0.0  # a refused login's reply waits this long (see push)
        self.timed_out = False
        self.in_tls_handshake = False

    def __dir__(self) -> list[str]:
        # aiosmtpd finds its smtp_ and auth_ methods with dir() and
        # inspect.getmembers(), which reads every attribute, for every new
        # session: 7 % of a submission's time in the lab. Only those names matter.
        return _names_of(type(self), ("smtp_", "auth_"))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        simple = _SIMPLE_ADDRESS.fullmatch(arg)
        if simple is None:
            try:
                return super()._getaddr(arg)
            except Exception:  # the parser trips on "<" or "a@[" alone: a malformed address
                return None, None
        return simple.group(1), simple.group(2) or ""

    @property
    def encrypted(self) -> bool:
        """TLS is active: after STARTTLS, or from the start on 465."""
        return self._tls_protocol is not None or ssl_object_of(self.transport) is not None

    @property
    def login_refused_in_clear(self) -> bool:
        """Submission before STARTTLS, on a lab that does not allow cleartext logins."""
        return not self.encrypted and not self.conn.world.allow_cleartext

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        ssl_object = ssl_object_of(transport)
        if ssl_object is not None and self.conn.listener.implicit_tls:
            self.lab.tls.established(self.conn, ssl_object)

    async def push(self, status: Any) -> None:
        if self.refusal_delay:
            # aiosmtpd sends the reply of a refused AUTH itself, after _check_login:
            # the delay that Lab.log_in asked for is waited here, before that reply.
            delay, self.refusal_delay = self.refusal_delay, 0.0
            await asyncio.sleep(delay)
        if isinstance(status, str) and "\n" in status:
            # A reply of several lines (RFC 5321 section 4.2.1), as Gmail's to a program
            # that gives the account's password instead of an application password.
            *first, status = status.split("\n")
            for line in first:
                await super().push(line)
        if isinstance(status, str):
            # aiosmtpd echoes an unknown command word as it came ('500 Error: command
            # "..." not recognized'), NUL and escape sequences included: a reply line
            # is text for the learner's screen, so anything not printable becomes "?".
            status = "".join(c if " " <= c <= "~" else "?" for c in status)
        await super().push(status)
        if status[3:4] != "-":  # the last line of the reply: the client waits for it
            self.conn.flush()
        # aiosmtpd answers an over-long command line and reads on; a peer that
        # sends such lines is not a mail program, so the lab hangs up after answering.
        if status == "500 Command line too long" and self.transport is not None:
            self.conn.record("protocol.error", reason="command line too long")
            self.transport.close()

    async def smtp_STARTTLS(self, arg: str) -> None:
        # aiosmtpd waits up to 60 s for the handshake; a lesson cannot.
        self._reset_timeout(self.lab.config.tls_handshake_timeout)
        self.in_tls_handshake = True
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException as exc:
            self.conn.record("tls.failed", reason=describe_tls_failure(exc.__cause__ or exc))
            raise
        finally:
            self.in_tls_handshake = False
        if not self.conn.tls:
            # No handshake came before the timer set above (or the client) closed the
            # connection, and aiosmtpd returns as if all went well: say what happened.
            ended = TimeoutError() if self.timed_out else ConnectionResetError()
            self.conn.record("tls.failed", reason=describe_tls_failure(ended))
            return
        self._reset_timeout()

    def _timeout_cb(self) -> None:
        self.timed_out = True
        transport = self.transport
        # RFC 5321 section 4.5.3.2: the server answers 421 before it closes. Not in
        # the middle of a TLS handshake, where a line in clear would be garbage.
        if transport is not None and not transport.is_closing() and not self.in_tls_handshake:
            self._writer.write(R.SMTP_TIMEOUT.format(hostname=self.hostname).encode() + b"\r\n")
            self.conn.flush()
        super()._timeout_cb()

    async def smtp_AUTH(self, arg: str) -> None:
        if not self.conn.listener.submission:
            await self.push(R.SMTP_AUTH_NOT_ENABLED)
            return
        if self.login_refused_in_clear and self.session.extended_smtp:  # type: ignore[union-attr]
            self.conn.record(
                "auth.failed",
                mechanism=(arg or "").split(" ")[0].upper()[:20],
                cleartext=True,
                reason="cleartext login refused before TLS",
            )
            await self.push(R.SMTP_MUST_STARTTLS)
            return
        await super().smtp_AUTH(arg)
        if self.closing_after_reply and self.transport is not None:
            # RFC 5321 section 3.8: a 421 reply announces that the server closes
            # the channel, and clients (smtplib among them) take it so.
            self.transport.close()

    def _check_login(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        try:
            account = self.lab.log_in(self.conn, login, password, mechanism)
        except LoginRefused as refused:
            self.refusal_delay = refused.delay
            if refused.reason == "busy":
                self.closing_after_reply = True
            reply = _REFUSALS[refused.reason].format(session=secrets.token_hex(12))
            return AuthResult(success=False, handled=False, message=reply)
        self.account = account
        self._timeout_duration = self.lab.config.idle_timeout
        return AuthResult(success=True, auth_data=account)


_NAMES: dict[tuple[type, tuple[str, ...]], list[str]] = {}


def _names_of(cls: type, prefixes: tuple[str, ...]) -> list[str]:
    """The names of a class's attributes that start so, looked up once."""
    names = _NAMES.get((cls, prefixes))
    if names is None:
        names = _NAMES[cls, prefixes] = [n for n in dir(cls) if n.startswith(prefixes)]
    return names


def smtp_session(lab: Lab, conn: Connection) -> LabSMTP:
    """The protocol factory the lab registers for SMTP listeners."""
    return LabSMTP(lab, conn)


class _Delivery:
    """aiosmtpd's handler: who may send what to whom, and delivery into the store."""

    def __dir__(self) -> list[str]:
        # As for LabSMTP: aiosmtpd looks for its handle_ hooks at every new session.
        return _names_of(type(self), ("handle_",))

    def __init__(self, lab: Lab, conn: Connection) -> None:
        self.lab = lab
        self.conn = conn
        # The accounts RCPT found, by address, for DATA of the same transaction.
        self.recipients: dict[str, AccountInfo] = {}

    async def handle_EHLO(
        self, server: LabSMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        # Postfix advertises AUTH only where a login may happen: never on port 25,
        # and on 587 only once TLS is on (smtpd_tls_auth_only).
        if not self.conn.listener.submission or server.login_refused_in_clear:
            responses = [r for r in responses if not r.startswith("250-AUTH")]
        return responses

    def handle_STARTTLS(self, server: LabSMTP, session: Session, envelope: Envelope) -> bool:
        ssl_object = ssl_object_of(server.transport)
        if ssl_object is not None:
            self.lab.tls.established(self.conn, ssl_object)
        return True

    async def handle_MAIL(
        self, server: LabSMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:
        if self.conn.listener.submission:
            if server.login_refused_in_clear:
                return R.SMTP_MUST_STARTTLS
            if server.account is None:
                return R.SMTP_AUTH_REQUIRED
            if address.lower() != server.account.address:
                return R.SMTP_SENDER_NOT_OWNED.format(
                    address=address, login=server.account.address
                )
        self.recipients.clear()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return R.SMTP_SENDER_OK

    async def handle_RCPT(
        self, server: LabSMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:
        _, parsed = parseaddr(address)
        local, at, domain = parsed.rpartition("@")
        domain = domain.lower()
        postmaster = self._postmaster(parsed, local, domain)
        if postmaster is None and not (local and at and domain):
            # Without an "@" there is no domain to deliver to, let alone to relay to.
            return R.SMTP_BAD_ADDRESS
        account = postmaster or self.lab.store.account(parsed)
        if account is None:
            if self.lab.is_local_domain(domain, self.conn.world):
                self.conn.record("message.rejected", recipient=parsed, reason="unknown user")
                return R.SMTP_USER_UNKNOWN.format(address=parsed)
            self.conn.record("relay.denied", recipient=parsed)
            return R.SMTP_RELAY_DENIED.format(address=parsed)
        usage = self.lab.store.usage(account.id)
        if usage >= account.quota_bytes:
            self._full(account, usage, 0)
            return R.SMTP_MAILBOX_FULL.format(address=parsed)
        self.recipients[account.address] = account
        envelope.rcpt_tos.append(account.address)
        envelope.rcpt_options.extend(options)
        return R.SMTP_RECIPIENT_OK

    def _postmaster(self, parsed: str, local: str, domain: str) -> AccountInfo | None:
        """The mailbox for `<postmaster>` and postmaster@ a lab domain (RFC 5321 section 4.5.1).

        A lab domain with its own postmaster account keeps it; any other lab
        domain's postmaster is the lab's.
        """
        bare = parsed.lower() == "postmaster"
        if not bare and not (
            local.lower() == "postmaster" and self.lab.is_local_domain(domain, self.conn.world)
        ):
            return None
        own = None if bare else self.lab.store.account(parsed)
        return own or self.lab.store.account(self.lab.postmaster_address)

    async def handle_DATA(self, server: LabSMTP, session: Session, envelope: Envelope) -> str:
        queue_id = secrets.token_hex(5).upper()
        content = envelope.original_content or b""
        raw = self._trace_headers(server, session, envelope, queue_id) + content
        accounts = [self.recipients[a] for a in envelope.rcpt_tos]
        if len(accounts) > 1:
            # All or nobody: a message refused for one full mailbox after it went
            # into the others would come twice to them when the sender tries again.
            # (With one recipient, the store's own check in append is enough.)
            for account in accounts:
                usage = self.lab.store.usage(account.id)
                if usage + len(raw) > account.quota_bytes:
                    self._full(account, usage, len(raw))
                    return R.SMTP_MAILBOX_FULL.format(address=account.address)
        via = "submission" if self.conn.listener.submission else "mx"
        reply_to = _reply_to(content)
        for account in accounts:
            try:
                message = self.lab.store.append(account, "INBOX", raw)
            except QuotaExceeded as exc:
                self._full(account, exc.usage, exc.size)
                return R.SMTP_MAILBOX_FULL.format(address=account.address)
            self.conn.record(
                "message.delivered",
                recipient=account.address,
                sender=envelope.mail_from,
                folder="INBOX",
                uid=message.uid,
                size=message.size,
                via=via,
                authenticated=server.account is not None,
                reply_to=reply_to,
            )
        return R.SMTP_QUEUED.format(queue_id=queue_id)

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            return "454 4.7.0 TLS not available due to local problem"
        self.conn.record("protocol.error", reason=f"{type(error).__name__}: {error}"[:200])
        return R.SMTP_TEMPORARY_FAILURE

    def _full(self, account: AccountInfo, usage: int, size: int) -> None:
        self.conn.record(
            "quota.exceeded", recipient=account.address, usage=usage,
            quota=account.quota_bytes, size=size,
        )
        self.conn.record("message.rejected", recipient=account.address, reason="mailbox full")

    def _trace_headers(
        self, server: LabSMTP, session: Session, envelope: Envelope, queue_id: str
    ) -> bytes:
        # RFC 5321 section 4.4 trace fields, with RFC 3848's protocol names so
        # that a learner can read in the message itself how it travelled.
        kind = "ESMTP" if session.extended_smtp else "SMTP"
        kind += ("S" if server.encrypted else "") + ("A" if server.account else "")
        when = format_datetime(datetime.fromtimestamp(time.time(), UTC))
        return (
            f"Return-Path: <{envelope.mail_from or ''}>\r\n"
            f"Received: from {session.host_name or 'unknown'} ({self.conn.peer[0]})\r\n"
            f"\tby {self.conn.world.server_name} (PixLab) with {kind} id {queue_id};\r\n"
            f"\t{when}\r\n"
        ).encode("utf-8", "replace")


def _reply_to(content: bytes) -> str:
    """The addresses of a message's Reply-To header, lower-cased ("" without one)."""
    header_end = content.find(b"\r\n\r\n")
    head = content if header_end < 0 else content[:header_end + 2]
    parsed = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    values = parsed.get_all("Reply-To") or []
    addresses = [a.lower() for _, a in getaddresses([str(v) for v in values]) if a]
    return ", ".join(addresses)[:320]


# aiosmtpd reads handle_EHLO's signature at every new session, to tell its old
# four-argument form from the new one: the signature is worked out once here.
_Delivery.handle_EHLO.__signature__ = inspect.signature(_Delivery.handle_EHLO)  # type: ignore[attr-defined]
