"""Every reply text of the lab's servers, in one place (the tests import them).

They read like Postfix's and Dovecot's, so that what a learner meets here is
what a real school or company server will say later.
"""

from __future__ import annotations

# -- SMTP (RFC 5321, enhanced status codes from RFC 3463) --------------------
SMTP_IDENT = "ESMTP PixLab"
SMTP_MUST_STARTTLS = "530 5.7.0 Must issue a STARTTLS command first"
SMTP_AUTH_REQUIRED = "530 5.7.0 Authentication required"
SMTP_AUTH_NOT_ENABLED = "503 5.5.1 Error: authentication not enabled"
SMTP_AUTH_FAILED = "535 5.7.8 Error: authentication failed: authentication failure"
SMTP_AUTH_TOO_MANY = "421 4.7.0 Error: too many connections for this account"
SMTP_SENDER_OK = "250 2.1.0 Ok"
SMTP_RECIPIENT_OK = "250 2.1.5 Ok"
SMTP_SENDER_NOT_OWNED = "553 5.7.1 <{address}>: Sender address rejected: not owned by user {login}"
SMTP_RELAY_DENIED = "550 5.7.1 <{address}>: Relay access denied"
SMTP_USER_UNKNOWN = (
    "550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
)
SMTP_MAILBOX_FULL = "552 5.2.2 <{address}>: Mailbox is full"
SMTP_QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
SMTP_TEMPORARY_FAILURE = "451 4.3.0 Error: queue file write error"
SMTP_BAD_ADDRESS = "501 5.1.3 Bad recipient address syntax"

# -- POP3 (RFC 1939, RFC 2449 response codes) --------------------------------
POP3_GREETING = "+OK PixLab POP3 ready."
POP3_OK = "+OK"
POP3_LOGGED_IN = "+OK Logged in."
POP3_LOGOUT = "+OK Logging out."
POP3_LOGOUT_DELETED = "+OK Logging out, messages deleted."
POP3_BEGIN_TLS = "+OK Begin TLS negotiation now."
POP3_TLS_ACTIVE = "-ERR TLS is already active."
POP3_TLS_UNAVAILABLE = "-ERR STLS is not available on this server."
POP3_STLS_AFTER_LOGIN = "-ERR STLS is only allowed before login."
POP3_PLAINTEXT_DISALLOWED = (
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
)
POP3_AUTH_FAILED = "-ERR [AUTH] Authentication failed."
POP3_AUTH_ABORTED = "-ERR Authentication aborted by client."
POP3_AUTH_UNSUPPORTED = "-ERR Unsupported authentication mechanism."
POP3_NO_USERNAME = "-ERR No username given."
POP3_IN_USE = "-ERR [SYS/TEMP] Too many connections for this account, try again later."
POP3_NOT_LOGGED_IN = "-ERR Log in first."
POP3_ALREADY_LOGGED_IN = "-ERR Already logged in."
POP3_UNKNOWN_COMMAND = "-ERR Unknown command: {verb}"
POP3_BAD_SYNTAX = "-ERR Invalid arguments: {usage}"
POP3_NO_MESSAGE = "-ERR There's no message {number}."
POP3_DELETED_MESSAGE = "-ERR Message is deleted."
POP3_MARKED_DELETED = "+OK Marked to be deleted."
POP3_LINE_TOO_LONG = "-ERR Input line too long."
POP3_TOO_MANY_ERRORS = "-ERR Too many bad commands."
POP3_INACTIVITY = "-ERR Disconnected for inactivity."
POP3_TLS_FAILED = "-ERR TLS handshake failed."
