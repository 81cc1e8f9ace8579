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
SMTP_ACCOUNT_LOCKED = "535 5.7.8 Error: account locked after too many failed logins"
SMTP_AUTH_TOO_MANY = "421 4.7.0 Error: too many connections for this account"
# Two-step verification on, the account's own password given: Gmail's replies, word for word
# (its IMAP and SMTP texts as mail programs reported them in mutt-wizard issue 831, himalaya
# issue 58 and openmail issue 1 on GitHub; POP3's in mailman issue 50). Its SMTP reply has
# two lines and ends with a session id.
SMTP_APP_PASSWORD_REQUIRED = (
    "534-5.7.9 Application-specific password required. For more information, go to\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor {session} - gsmtp"
)
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
# RFC 5321 section 4.5.3.2: a server that gives up on a silent client says so with a 421.
SMTP_TIMEOUT = "421 4.4.2 {hostname} Error: timeout exceeded"

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
POP3_APP_PASSWORD_REQUIRED = (
    "-ERR [AUTH] Application-specific password required: "
    "http://support.google.com/accounts/bin/answer.py?answer=185833"
)
POP3_ACCOUNT_LOCKED = "-ERR [AUTH] Account locked after too many failed logins."
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
# Expunged meanwhile by another session (an IMAP client, another POP3 client's QUIT).
POP3_EXPUNGED_MESSAGE = "-ERR Message was expunged by another session."
POP3_MARKED_DELETED = "+OK Marked to be deleted."
POP3_LINE_TOO_LONG = "-ERR Input line too long."
POP3_TOO_MANY_ERRORS = "-ERR Too many bad commands."
POP3_INACTIVITY = "-ERR Disconnected for inactivity."
POP3_TLS_FAILED = "-ERR TLS handshake failed."

# -- IMAP (RFC 3501 and its extensions; the words are Dovecot's) -------------
# Tagged texts are given without their tag: the server puts the command's tag first.
IMAP_GREETING = "PixLab ready."
IMAP_CONTINUE = "+ OK"
IMAP_IDLING = "+ idling"
IMAP_COMPLETED = "OK {command} completed."
IMAP_LOGGED_IN = "OK [CAPABILITY {capabilities}] Logged in"
IMAP_SELECTED = "OK [READ-WRITE] Select completed."
IMAP_EXAMINED = "OK [READ-ONLY] Examine completed."
IMAP_APPENDED = "OK [APPENDUID {uidvalidity} {uid}] Append completed."
IMAP_COPIED = "OK [COPYUID {uidvalidity} {source} {target}] Copy completed."
IMAP_MOVED_UIDS = "* OK [COPYUID {uidvalidity} {source} {target}] Moved UIDs."
IMAP_NO_MESSAGES = "OK No messages found."
IMAP_BEGIN_TLS = "OK Begin TLS negotiation now."
IMAP_BYE_LOGOUT = "* BYE Logging out"
IMAP_BYE_INACTIVITY = "* BYE Disconnected for inactivity."
IMAP_BYE_TOO_MANY_ERRORS = "* BYE Too many invalid IMAP commands."
IMAP_BYE_LINE_TOO_LONG = "* BYE [TOOBIG] Command line too long."
IMAP_BYE_MAILBOX_DELETED = "* BYE Selected mailbox was deleted, have to disconnect."
IMAP_LITERAL_TOO_LONG = "BAD [TOOBIG] Literal too large (the limit is {limit} bytes)."
IMAP_QUOTA_ALERT = "* OK [ALERT] Your mailbox is {percent}% full ({usage} KB of {quota} KB)."
IMAP_SERVER_BUG = (
    "NO [SERVERBUG] Internal error occurred. Refer to server log for more information."
)
IMAP_BAD_COMMAND_LINE = "BAD Error in IMAP command received by server."
IMAP_BAD_SYNTAX = "BAD Error in IMAP command {command}: {detail}"
IMAP_UNKNOWN_COMMAND = "BAD Error in IMAP command {command}: Unknown command."
IMAP_NOT_AUTHENTICATED = "BAD Error in IMAP command {command}: Log in first."
IMAP_ALREADY_AUTHENTICATED = "BAD Error in IMAP command {command}: Already logged in."
IMAP_NO_MAILBOX_SELECTED = "BAD Error in IMAP command {command}: No mailbox selected."
IMAP_TLS_ACTIVE = "BAD TLS is already active."
IMAP_TLS_UNAVAILABLE = "BAD STARTTLS is not available on this server."
IMAP_PRIVACY_REQUIRED = (
    "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
)
IMAP_AUTH_FAILED = "NO [AUTHENTICATIONFAILED] Authentication failed."
IMAP_AUTH_ABORTED = "BAD Authentication aborted by client."
IMAP_AUTH_UNSUPPORTED = "NO Unsupported authentication mechanism."
IMAP_TOO_MANY_CONNECTIONS = (
    "NO [UNAVAILABLE] Maximum number of connections for this account exceeded."
)
IMAP_EXPECTED_DONE = "BAD Expected DONE."
IMAP_NO_SUCH_MAILBOX = "NO [NONEXISTENT] Mailbox doesn't exist: {name}"
IMAP_TRYCREATE = "NO [TRYCREATE] Mailbox doesn't exist: {name}"
IMAP_MAILBOX_EXISTS = "NO [ALREADYEXISTS] Mailbox already exists"
IMAP_TARGET_EXISTS = "NO [ALREADYEXISTS] Target mailbox already exists"
IMAP_INVALID_NAME = "NO Invalid mailbox name: {reason}"
IMAP_DELETE_INBOX = "NO [CANNOT] INBOX can't be deleted."
IMAP_HAS_CHILDREN = "NO [CANNOT] Mailbox has children, delete them first"
IMAP_RENAME_UNDER_ITSELF = "NO [CANNOT] Can't rename mailbox under its own child."
IMAP_SAME_MAILBOX = "NO [CANNOT] Source and destination mailboxes are the same."
IMAP_READ_ONLY = "NO Mailbox is read-only."
IMAP_OVERQUOTA = "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
IMAP_EMPTY_MESSAGE = "NO Can't save a zero byte message."
IMAP_EXPUNGE_ISSUED = "NO [EXPUNGEISSUED] Some of the requested messages no longer exist."
IMAP_BADCHARSET = "NO [BADCHARSET (US-ASCII UTF-8)] Unknown charset: {charset}"
IMAP_QUOTA_ROOT = "User quota"
IMAP_NO_QUOTA_ROOT = "NO Quota root doesn't exist."
IMAP_SETQUOTA_DENIED = "NO [NOPERM] Permission denied"
IMAP_APP_PASSWORD_REQUIRED = (
    "NO [ALERT] Application-specific password required: "
    "https://support.google.com/accounts/answer/185833 (Failure)"
)
IMAP_ACCOUNT_LOCKED = "NO [AUTHENTICATIONFAILED] Account locked after too many failed logins."
