"""The messages waiting in a new learner's inbox: friendly, short, each teaching something."""

from __future__ import annotations

import functools
import time
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from flask_babel import gettext as _


def welcome_messages(address: str, domain: str) -> list[tuple[bytes, int]]:
    """The welcome messages (bytes, arrival time), oldest first, in the interface's language."""
    service = formataddr((_("Service informatique du lycée"), f"informatique@{domain}"))
    teacher = formataddr((_("Mme Durand, professeure documentaliste"), f"cdi@{domain}"))
    texts = [
        (
            service,
            _("Bienvenue dans ta boîte aux lettres d'entraînement !"),
            _(
                "Bonjour !\n\n"
                "Cette boîte aux lettres est à toi, rien que pour t'entraîner. Tout se passe "
                "dans PixLab : aucun message ne part sur Internet.\n\n"
                "Ta fiche de connexion te donne trois choses :\n"
                "- ton adresse, qui est aussi ton nom d'utilisateur ;\n"
                "- ton mot de passe ;\n"
                "- le nom des serveurs et leurs ports.\n\n"
                "Un conseil de pro : un vrai service informatique ne te demandera jamais ton "
                "mot de passe par message. Si quelqu'un le fait, c'est une arnaque "
                "(on appelle ça de l'hameçonnage).\n\n"
                "Bon entraînement !\n"
                "Le service informatique"
            ),
        ),
        (
            teacher,
            _("IMAP ou POP3 : quelle différence ?"),
            _(
                "Bonjour,\n\n"
                "Pour relever ton courrier, ton logiciel parle au serveur avec l'un de ces "
                "deux protocoles.\n\n"
                "IMAP laisse tout sur le serveur. Ton ordinateur et ton téléphone voient la "
                "même boîte : un message lu ou rangé sur l'un l'est aussi sur l'autre.\n\n"
                "POP3 télécharge les messages sur un seul appareil et, souvent, les efface du "
                "serveur. Ton autre appareil ne les voit plus !\n\n"
                "Essaie : règle ton téléphone en IMAP et ton ordinateur en POP3, puis regarde "
                "ce que devient la boîte de réception du téléphone quand l'ordinateur relève "
                "le courrier.\n\n"
                "Mme Durand"
            ),
        ),
        (
            service,
            _("Le cadenas : des ports et du chiffrement"),
            _(
                "Bonjour,\n\n"
                "Un serveur de courrier a plusieurs portes, qu'on appelle des ports. Sur "
                "certaines, tout est chiffré dès le début (SSL/TLS). Sur d'autres, la "
                "conversation commence en clair, puis se chiffre quand le logiciel le demande "
                "(STARTTLS).\n\n"
                "Le port et la sécurité de la connexion vont toujours ensemble : si l'un ne "
                "correspond pas à l'autre, ça ne marche pas.\n\n"
                "Sans chiffrement, ton mot de passe traverse le réseau en clair. Dans PixLab, "
                "le panneau « Ce que voit un espion sur le réseau » te montre exactement ce "
                "qu'il pourrait lire.\n\n"
                "Le service informatique"
            ),
        ),
    ]
    now = int(time.time())
    messages = []
    for index, (sender, subject, body) in enumerate(texts):
        arrived = now - (len(texts) - index) * 600  # ten minutes apart, the newest last
        raw = _template(sender, subject, body)
        for placeholder, value in ((_TO, address), (_DATE, formatdate(arrived)),
                                   (_ID, make_msgid(domain=domain))):
            raw = raw.replace(placeholder.encode(), value.encode("ascii"), 1)
        messages.append((raw, arrived))
    return messages


# A class joins at once, and encoding three French messages (their accented headers and
# bodies) was two thirds of a join. The same texts give the same bytes but for the
# recipient, the date and the id, which are plain ASCII and take the placeholders' places.
_TO, _DATE, _ID = "to@pixlab.invalid", formatdate(0), "<pixlab-id@pixlab.invalid>"


@functools.lru_cache(maxsize=64)
def _template(sender: str, subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = _TO
    message["Subject"] = subject
    message["Date"] = _DATE
    message["Message-ID"] = _ID
    message.set_content(body)
    return message.as_bytes()
