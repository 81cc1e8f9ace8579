"""The error catalogue: every failure a learner can meet, recognised from the real exception.

`classify` looks at the exception exactly as the stdlib raised it, at the
step where it happened and at where the connection really went, and names a
catalogue entry. Each entry says what a real program shows (quoted from
Thunderbird's own French and English texts where it has one), what happened in
plain words, and a hint that points at the setting to look at without giving
the answer.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixlab.client.network import NameNotFound
from pixlab.client.settings import ServerSettings
from pixlab.client.thunderbird import thunderbird
from pixlab.client.trace import ErrorReport
from pixlab.typography import french

if TYPE_CHECKING:
    from pixlab.client.network import Hop


class ClientError(Exception):
    """A failure the client itself detects (before or instead of asking the server)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Entry:
    """One catalogue entry, in French and English."""

    program: str  # key into pixlab.client.thunderbird.STRINGS, or "" when Thunderbird has none
    explanation: dict[str, str]
    hint: dict[str, str]


def _e(program: str, fr: str, en: str, hint_fr: str, hint_en: str) -> Entry:
    return Entry(program, {"fr": french(fr), "en": en}, {"fr": french(hint_fr), "en": hint_en})


CATALOGUE: dict[str, Entry] = {
    "server_not_found": _e(
        "server_not_found",
        "Le nom du serveur n'existe pas. Ton appareil a demandé son adresse, et personne ne le "
        "connaît. C'est souvent une faute de frappe.",
        "The server name does not exist. Your device asked for its address and nobody knows it. "
        "It is often a typo.",
        "Compare le nom d'hôte, lettre par lettre, avec la fiche de connexion.",
        "Compare the host name, letter by letter, with the connection sheet.",
    ),
    "connection_refused": _e(
        "connection_refused",
        "Le serveur existe, mais sur ce port, personne ne répond : la connexion est refusée "
        "tout de suite.",
        "The server exists, but nothing answers on this port: the connection is refused at once.",
        "Regarde le numéro de port. Quels ports ce serveur propose-t-il d'après la fiche ?",
        "Check the port number. Which ports does the sheet give for this server?",
    ),
    "connection_timeout": _e(
        "connection_timeout",
        "Ton appareil a frappé à la porte, et personne n'a ouvert : le réseau bloque ce port "
        "sans rien dire. Ici, le labo abandonne après quelques secondes ; un vrai logiciel "
        "attend bien plus longtemps (jusqu'à une minute ou deux) avant d'afficher l'erreur.",
        "Your device knocked and nobody opened: the network silently blocks this port. Here the "
        "lab gives up after a few seconds; a real program waits much longer (a minute or two) "
        "before it shows the error.",
        "Ce port est peut-être bloqué sur ce réseau. Existe-t-il un autre port pour le même "
        "service ?",
        "This port may be blocked on this network. Is there another port for the same service?",
    ),
    "plaintext_on_tls_port": _e(
        "connection_timeout",
        "Ce port attend une connexion chiffrée dès le début (SSL/TLS). Ton logiciel, lui, "
        "attend que le serveur parle en clair. Chacun attend l'autre : rien ne se passe, "
        "jusqu'à l'abandon.",
        "This port expects an encrypted connection from the start (SSL/TLS). Your program waits "
        "for the server to speak in clear. Each waits for the other: nothing happens, until one "
        "gives up.",
        "Le port et la sécurité de la connexion vont ensemble. Lequel des deux ne colle pas ?",
        "The port and the connection security go together. Which of the two does not fit?",
    ),
    "tls_on_plaintext_port": _e(
        "tls_failed",
        "Ton logiciel a commencé à chiffrer tout de suite (SSL/TLS), mais ce port commence "
        "en clair. Le serveur a répondu par du texte, que ton logiciel ne comprend pas comme "
        "du chiffrement.",
        "Your program started encrypting at once (SSL/TLS), but this port starts in clear. The "
        "server answered with text, which your program cannot read as encryption.",
        "Sur ce port, le chiffrement se demande après la connexion. Quel réglage de sécurité "
        "fait ça ?",
        "On this port, encryption is asked for after connecting. Which security setting does "
        "that?",
    ),
    "starttls_not_offered": _e(
        "starttls_not_offered",
        "Tu as demandé STARTTLS, mais le serveur ne le propose pas ici. Ton logiciel refuse "
        "de continuer sans chiffrement : c'est ce qu'il doit faire.",
        "You asked for STARTTLS, but the server does not offer it here. Your program refuses to "
        "go on without encryption: that is what it should do.",
        "Ce port parle-t-il en clair, ou est-il chiffré dès le début ?",
        "Does this port speak in clear, or is it encrypted from the start?",
    ),
    "login_refused_before_tls": _e(
        "login_refused_before_tls",
        "Le serveur refuse qu'on s'identifie sans chiffrement : ton mot de passe passerait en "
        "clair sur le réseau. Ton logiciel ne l'a pas envoyé.",
        "The server refuses logins without encryption: your password would cross the network "
        "in clear. Your program did not send it.",
        "Regarde le réglage « Sécurité de la connexion ».",
        "Look at the “Connection security” setting.",
    ),
    "cleartext_not_confirmed": _e(
        "insecure_warning",
        "Sans chiffrement, ton mot de passe et tes messages passent en clair : n'importe qui "
        "sur le même réseau peut les lire.",
        "Without encryption, your password and your messages travel in clear: anyone on the "
        "same network can read them.",
        "Pour tester quand même, coche « Je comprends les risques ». Mieux : choisis un "
        "chiffrement.",
        "To test anyway, tick “I understand the risks”. Better: choose encryption.",
    ),
    "wrong_credentials": _e(
        "login_failed",
        "Le serveur a bien reçu ta demande, mais le nom d'utilisateur ou le mot de passe ne "
        "correspond pas.",
        "The server got your request, but the user name or the password does not match.",
        "Le nom d'utilisateur, c'est quoi exactement d'après la fiche : l'adresse complète, ou "
        "seulement le début ? Et le mot de passe, respecte-t-il les majuscules ?",
        "What exactly is the user name on the sheet: the full address, or only its first part? "
        "And does the password respect capital letters?",
    ),
    "account_locked": _e(
        "login_failed",
        "Trop d'essais ratés : le serveur a bloqué le compte pour le protéger.",
        "Too many failed attempts: the server locked the account to protect it.",
        "Il faut passer par le service informatique (ou sa page de réinitialisation).",
        "You need the IT service (or its reset page).",
    ),
    "encrypted_password_unsupported": _e(
        "encrypted_password_unsupported",
        "« Mot de passe chiffré » ne veut pas dire « connexion chiffrée ». C'est une vieille "
        "méthode que ce serveur ne propose pas.",
        "“Encrypted password” does not mean “encrypted connection”. It is an old method this "
        "server does not offer.",
        "Avec SSL/TLS ou STARTTLS, le mot de passe est déjà protégé. Quelle méthode "
        "d'authentification reste-t-il ?",
        "With SSL/TLS or STARTTLS the password is already protected. Which authentication "
        "method is left?",
    ),
    "authentication_missing": _e(
        "",
        "Ton logiciel ne s'est pas identifié : le serveur ne sait pas qui tu es, et refuse.",
        "Your program did not log in: the server does not know who you are, and says no.",
        "Regarde la méthode d'authentification.",
        "Look at the authentication method.",
    ),
    "certificate_wrong_name": _e(
        "certificate_invalid",
        "Le certificat présenté est au nom d'un autre serveur que celui que tu as tapé. Soit "
        "le nom tapé n'est pas le bon, soit quelqu'un se fait passer pour le serveur.",
        "The certificate shown is for another server than the one you typed. Either the name "
        "you typed is wrong, or someone is pretending to be the server.",
        "Quel nom figure dans le certificat ? Et sur la fiche de connexion ?",
        "Which name is in the certificate? And on the connection sheet?",
    ),
    "certificate_expired": _e(
        "certificate_invalid",
        "Ton appareil juge le certificat du serveur périmé : d'après sa propre horloge, la "
        "date de fin est passée. Un certificat périmé ne prouve plus rien.",
        "Your device judges the server's certificate expired: by its own clock, the end date "
        "has passed. An expired certificate proves nothing any more.",
        "Vérifie d'abord la date et l'heure de ton appareil : si elles sont fausses, remets-les "
        "à l'heure automatique. Si elles sont justes, préviens le service informatique, et "
        "n'accepte pas le risque.",
        "First check your device's date and time: if they are wrong, set them to automatic "
        "time. If they are right, tell the IT service, and do not accept the risk.",
    ),
    "certificate_self_signed": _e(
        "certificate_invalid",
        "Le certificat n'est garanti par personne de confiance : il est signé par lui-même "
        "(ou par une autorité que ton appareil ne connaît pas). Rien ne prouve que ce serveur "
        "est le bon.",
        "Nobody you trust vouches for this certificate: it signed itself (or an authority your "
        "device does not know signed it). Nothing proves this server is the right one.",
        "Sur un Wi-Fi public, c'est exactement ce que montrerait un faux serveur. N'accepte "
        "pas le risque.",
        "On a public Wi-Fi, this is exactly what a fake server would show. Do not accept the "
        "risk.",
    ),
    "relay_refused": _e(
        "relay_refused",
        "Ce serveur accepte seulement le courrier destiné à son propre domaine : il refuse de "
        "faire suivre ton message ailleurs.",
        "This server only accepts mail for its own domain: it refuses to pass your message on.",
        "Pour envoyer, on utilise le port d'envoi, avec identification. Lequel ?",
        "To send, you use the submission port, with a login. Which one?",
    ),
    "auth_required_to_send": _e(
        "auth_required",
        "Le serveur d'envoi veut savoir qui tu es avant d'accepter un message.",
        "The outgoing server wants to know who you are before it takes a message.",
        "Regarde la méthode d'authentification du serveur sortant.",
        "Look at the outgoing server's authentication method.",
    ),
    "mailbox_full": _e(
        "mailbox_full",
        "La boîte du destinataire est pleine : son serveur refuse ton message. Ce n'est pas ta "
        "boîte à toi, et ton message n'est pas parti.",
        "The recipient's mailbox is full: their server refuses your message. It is not your own "
        "mailbox, and your message has not gone.",
        "Toi, tu ne peux pas vider sa boîte. Préviens le destinataire autrement (de vive voix, "
        "par téléphone), puis renvoie le message plus tard, quand il aura fait de la place.",
        "You cannot empty their mailbox. Tell the recipient another way (in person, by phone), "
        "then send the message again later, once they have made room.",
    ),
    "message_too_big": _e(
        "message_too_big",
        "Ton message est plus gros que ce que le serveur accepte : il le refuse en entier. "
        "Ce sont souvent les pièces jointes qui pèsent lourd.",
        "Your message is bigger than the server accepts: it refuses the whole of it. It is "
        "often the attachments that weigh a lot.",
        "Enlève ou réduis les pièces jointes (des photos plus petites, par exemple), ou "
        "partage le gros fichier par un lien, puis renvoie le message.",
        "Remove or shrink the attachments (smaller photos, for example), or share the big "
        "file through a link, then send the message again.",
    ),
    "recipient_unknown": _e(
        "recipient_refused",
        "Cette adresse n'existe pas sur le serveur du destinataire.",
        "This address does not exist on the recipient's server.",
        "Vérifie l'adresse du destinataire.",
        "Check the recipient's address.",
    ),
    "app_password_required": _e(
        "login_failed",
        "Ce compte a la validation en deux étapes : le serveur refuse son mot de passe "
        "habituel dans un logiciel de messagerie. Il attend un mot de passe d'application, "
        "fabriqué pour ce logiciel sur la page du compte.",
        "This account has two-step verification: the server refuses its usual password in a "
        "mail program. It expects an application password, made for this program on the "
        "account's page.",
        "Sur la page de ton compte, crée un mot de passe d'application, puis tape-le dans le "
        "logiciel à la place de ton mot de passe habituel.",
        "On your account's page, create an application password, then type it in the program "
        "instead of your usual password.",
    ),
    "sender_refused": _e(
        "sender_refused",
        "Le serveur refuse que tu envoies au nom d'une autre adresse que la tienne.",
        "The server refuses that you send in the name of another address than yours.",
        "L'adresse de l'expéditeur doit être celle du compte.",
        "The sender address must be the account's.",
    ),
    "server_disconnected": _e(
        "server_disconnected",
        "Le serveur a coupé la connexion sans explication.",
        "The server closed the connection without a word.",
        "Regarde ensemble le port et la sécurité de la connexion.",
        "Look at the port and the connection security together.",
    ),
    "protocol_error": _e(
        "",
        "Le serveur a répondu quelque chose que ton logiciel n'attendait pas.",
        "The server answered something your program did not expect.",
        "Regarde l'échange avec le serveur, ligne par ligne.",
        "Read the exchange with the server, line by line.",
    ),
}


def classify(
    exc: BaseException, step: str, server: ServerSettings, hop: Hop | None
) -> ErrorReport:
    """Name the catalogue entry for an exception raised at a step."""
    return ErrorReport(_key(exc, step, server, hop), repr(exc), step)


def _key(exc: BaseException, step: str, server: ServerSettings, hop: Hop | None) -> str:
    if isinstance(exc, ClientError):
        return exc.key
    if isinstance(exc, NameNotFound | socket.gaierror):
        return "server_not_found"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        # Any other verification failure (unknown authority…) teaches the same lesson.
        return _CERTIFICATE_ERRORS.get(exc.verify_code, "certificate_self_signed")
    if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
        return "tls_on_plaintext_port"
    if step == "tcp" and isinstance(exc, TimeoutError):
        return "connection_timeout"
    if step in ("greeting", "tls") and _is_tls_port(hop) and not server.security.implicit_tls:
        return "plaintext_on_tls_port"
    text = str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        text = f"{code} {_decoded(reply)}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_decoded(exc.smtp_error)}"
    # smtplib's errors are OSErrors too; one that carries a reply is an answer, not silence.
    answered = isinstance(exc, smtplib.SMTPException) and not isinstance(
        exc, smtplib.SMTPServerDisconnected
    )
    return _key_from_reply(text, step) or (
        "server_disconnected"
        if (isinstance(exc, EOFError | OSError) and not answered) or "EOF" in text
        else "protocol_error"
    )


# OpenSSL's X509_V_ERR codes (x509_vfy.h) for the certificate lessons.
_CERTIFICATE_ERRORS = {
    62: "certificate_wrong_name",  # X509_V_ERR_HOSTNAME_MISMATCH
    10: "certificate_expired",  # X509_V_ERR_CERT_HAS_EXPIRED
    18: "certificate_self_signed",  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
}


def _decoded(reply: bytes | str) -> str:
    return reply if isinstance(reply, str) else reply.decode("utf-8", "replace")


def _is_tls_port(hop: Hop | None) -> bool:
    return hop is not None and hop.port in (465, 993, 995) and hop.address is not None


# What servers say, matched in order (Dovecot's and Postfix's wording, as the lab speaks it).
_REPLIES: tuple[tuple[str, str], ...] = (
    ("Application-specific password required", "app_password_required"),  # Gmail's words
    ("locked", "account_locked"),
    ("PRIVACYREQUIRED", "login_refused_before_tls"),
    ("Plaintext authentication disallowed", "login_refused_before_tls"),
    ("Must issue a STARTTLS", "login_refused_before_tls"),
    ("AUTHENTICATIONFAILED", "wrong_credentials"),
    ("[AUTH] Authentication failed", "wrong_credentials"),
    ("535", "wrong_credentials"),
    ("Relay access denied", "relay_refused"),
    ("Authentication required", "auth_required_to_send"),
    # 552 says "message too big" as well as "mailbox full" (RFC 5321 section 4.2.2): the
    # enhanced code tells them apart (RFC 3463: 5.2.2 mailbox full, 5.3.4 message too big).
    ("5.2.2", "mailbox_full"),
    ("Mailbox is full", "mailbox_full"),
    ("5.3.4", "message_too_big"),
    ("message size exceeds", "message_too_big"),  # aiosmtpd's, to MAIL FROM's SIZE=
    ("Too much mail data", "message_too_big"),  # aiosmtpd's, past its limit during DATA
    ("Message size exceeds", "message_too_big"),  # Postfix's
    ("User unknown", "recipient_unknown"),
    ("Sender address rejected", "sender_refused"),
    ("Log in first", "authentication_missing"),
    ("not authenticated", "authentication_missing"),
    ("Not authenticated", "authentication_missing"),
)


def _key_from_reply(text: str, step: str) -> str | None:
    for needle, key in _REPLIES:
        if needle in text:
            return key
    return None


# The exception types a client operation may raise, for callers that want them all.
CLIENT_EXCEPTIONS = (
    OSError,
    ssl.SSLError,
    imaplib.IMAP4.error,
    poplib.error_proto,
    smtplib.SMTPException,
    ClientError,
    EOFError,
)


@dataclass(frozen=True)
class Quote:
    """Which of Thunderbird's texts a failure shows, and what fills its placeholders.

    `args` and `kwargs` name values among "host", "user", "reply" (the server's
    answer), "recipient" and "not_after"; `kwargs` maps a Fluent { $name } to one.
    """

    string: str
    args: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, str], ...] = ()


def program_quote(key: str, protocol: str) -> Quote | None:
    """The Thunderbird text for a catalogue entry and a protocol (None where it shows none)."""
    words = _PROTOCOL_WORDS[protocol]
    server_error = {
        "imap": Quote("imap.command_failed", ("host", "reply")),
        "pop3": Quote("pop3.server_error"),
        "smtp": Quote("smtp.server_error", ("reply",)),
    }[protocol]
    table = {
        "server_not_found": Quote(words["server_not_found"], ("host",)),
        "connection_refused": Quote(words["connection_refused"], ("host",)),
        "connection_timeout": Quote(words["connection_timeout"], ("host",)),
        # Thunderbird waits for a greeting that never comes, then gives up.
        "plaintext_on_tls_port": Quote(words["connection_timeout"], ("host",)),
        "tls_on_plaintext_port": Quote(words["tls_failed"], ("host",)),
        "starttls_not_offered": Quote(words["starttls_not_offered"], ("host",)),
        "login_refused_before_tls": Quote(words["plain_password_refused"], ("host",)),
        "cleartext_not_confirmed": Quote("setup.insecure.no_encryption", (), (("server", "host"),)),
        "wrong_credentials": Quote("login.failed", ("host", "user")),
        "account_locked": Quote("login.failed", ("host", "user")),
        "app_password_required": Quote("login.failed", ("host", "user")),
        "encrypted_password_unsupported": Quote(
            words["encrypted_password_unsupported"], ("host",)
        ),
        "authentication_missing": server_error,
        "protocol_error": server_error,
        "certificate_wrong_name": Quote("cert.domain_mismatch", (), (("hostname", "host"),)),
        # Its text needs the end date, which a refused handshake does not give the client.
        "certificate_expired": Quote(
            "cert.expired", (), (("hostname", "host"), ("not_after", "not_after"))
        ),
        "certificate_self_signed": Quote("cert.untrusted", (), (("hostname", "host"),)),
        # Thunderbird shows one text for every refused recipient, whatever the reason.
        "relay_refused": Quote("smtp.recipient_refused", ("reply", "recipient")),
        "recipient_unknown": Quote("smtp.recipient_refused", ("reply", "recipient")),
        "mailbox_full": Quote("smtp.recipient_refused", ("reply", "recipient")),
        "message_too_big": Quote("smtp.message_too_big", ("reply",)),
        "auth_required_to_send": Quote("smtp.sender_refused", ("reply",)),
        "sender_refused": Quote("smtp.sender_refused", ("reply",)),
        "server_disconnected": Quote(words["connection_interrupted"], ("host",)),
    }
    return table.get(key)


# Each protocol's own Thunderbird text for the failures that all three share, written out
# in full so that a test can find every key the lab uses.
_PROTOCOL_WORDS: dict[str, dict[str, str]] = {
    "imap": {
        "server_not_found": "imap.server_not_found",
        "connection_refused": "imap.connection_refused",
        "connection_timeout": "imap.connection_timeout",
        "tls_failed": "imap.tls_failed",
        # Thunderbird's IMAP code says the same when the server offers no STARTTLS.
        "starttls_not_offered": "imap.tls_failed",
        "plain_password_refused": "imap.plain_password_refused",
        "encrypted_password_unsupported": "imap.encrypted_password_unsupported",
        "connection_interrupted": "imap.server_disconnected",
    },
    "pop3": {
        "server_not_found": "pop3.server_not_found",
        "connection_refused": "pop3.connection_refused",
        "connection_timeout": "pop3.connection_timeout",
        "tls_failed": "pop3.tls_failed",
        "starttls_not_offered": "pop3.starttls_not_offered",
        "plain_password_refused": "pop3.plain_password_refused",
        "encrypted_password_unsupported": "pop3.encrypted_password_unsupported",
        "connection_interrupted": "pop3.connection_interrupted",
    },
    "smtp": {
        "server_not_found": "smtp.server_not_found",
        "connection_refused": "smtp.connection_refused",
        "connection_timeout": "smtp.connection_timeout",
        "tls_failed": "smtp.security_issue",
        "starttls_not_offered": "smtp.starttls_not_offered",
        "plain_password_refused": "smtp.plain_password_refused",
        "encrypted_password_unsupported": "smtp.encrypted_password_unsupported",
        "connection_interrupted": "smtp.connection_interrupted",
    },
}


def program_message(
    key: str, protocol: str, lang: str, values: dict[str, str]
) -> str | None:
    """What Thunderbird shows for this failure, in its own words, filled from `values`.

    None where it shows nothing, or where a value its text needs is missing.
    """
    quote = program_quote(key, protocol)
    if quote is None:
        return None
    needed = [*quote.args, *(name for _, name in quote.kwargs)]
    if any(not values.get(name) for name in needed):
        return None
    try:
        return thunderbird(
            quote.string,
            lang,
            *(values[name] for name in quote.args),
            **{fluent: values[name] for fluent, name in quote.kwargs},
        )
    except ValueError:
        return None
