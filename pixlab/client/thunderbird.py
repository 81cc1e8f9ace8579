"""Thunderbird's own words, in French and English, for the learner's mail client.

The lab's client quotes what Thunderbird shows: the labels of its account
set-up and server settings, and its messages for connection, login, sending and
certificate failures. Every text here is copied from Thunderbird's localisation
files, never paraphrased:

- French: the repository thunderbird/thunderbird-l10n, under ``fr/mail/``
  (``messenger/accountcreation/accountHub.ftl``, ``accountSetup.ftl``,
  ``messenger/certError.ftl``, ``chrome/messenger/imapMsgs.properties``,
  ``localMsgs.properties``, ``messenger.properties``, ``am-server-top.dtd`` and
  ``chrome/messenger/messengercompose/composeMsgs.properties``); the security
  exception dialog, shared with Firefox, from mozilla-l10n/firefox-l10n,
  ``fr/security/manager/security/certificates/certManager.ftl``.
- English (en-US): the same files and string ids in
  thunderbird/thunderbird-l10n-source (the same paths without ``fr/``; also
  under ``mail/locales/en-US/`` in mozilla/releases-comm-central) and, for
  certManager.ftl, in mozilla-l10n/firefox-l10n-source.

Each entry's ``source`` names the French file and the string id
(``repository:path#id``); an id with a dot names a Fluent attribute (``.label``,
``.title``), which is the text shown. The French and English texts are those
of one release, Thunderbird 153.7.0esr, so the two languages match. Strings
that its French language pack does not translate (Thunderbird then falls back
to English) are left out rather than guessed.

The texts keep Thunderbird's typography: its French puts a no-break space
(U+00A0) before ``:``, ``;`` and ``!`` and inside « », written ``\\u00a0``
here. They keep its placeholders: ``%S``, ``%s`` and ``%d`` take the
arguments in order, ``%1$S`` names one; Fluent's ``{ $name }`` takes a keyword
argument (``not_after`` fills ``{ $not-after }``) and ``{ -brand-short-name }``
is the brand, "Thunderbird". `thunderbird` fills both. A few Fluent texts hold
Thunderbird's own markup (``<b>``, ``<a data-l10n-name=…>``); the helper does
not escape the arguments it puts in, so escape them first when the result is
rendered as HTML. In the two dialog buttons of the login-failed dialog, the
``&`` that marks the access key is left out, as Thunderbird draws them.

How Thunderbird puts the pieces together, so that the lab shows the same thing:

- POP3: an alert titled ``pop3.error_title`` (with the account name) reading
  the message, then, when the server gave a reason, a space,
  ``pop3.server_said`` (with the host name), a space and the server's text. A
  refused, timed-out or unknown host is reported with the ``pop3.server_not_found``,
  ``pop3.connection_refused`` and ``pop3.connection_timeout`` texts, which come
  from messenger.properties.
- Wrong password (IMAP, POP3 and SMTP alike): the dialog titled
  ``login.failed_title`` (account name) with ``login.failed`` (host name, user
  name) and the buttons ``login.retry_button``, Cancel and
  ``login.new_password_button``. For SMTP, Cancel then leads to ``smtp.auth_failed``.
- SMTP: an alert titled ``smtp.error_title`` reading ``smtp.send_failed``, a line
  break, then the specific message. A refused recipient (unknown user, relay
  denied, full mailbox) is always ``smtp.recipient_refused``, with the server's
  reply and the address; a refused MAIL FROM (which is also where a server
  that wants a login says so) is ``smtp.sender_refused``, except a 552 reply
  (``smtp.message_too_big``) and 451 or 452 (``smtp.too_many_recipients``).
- Certificate: a notification titled with the brand name ("Thunderbird")
  reading one of the ``cert.*`` texts; a click opens the exception dialog
  (``exception.*``).
"""

from __future__ import annotations

import re

from pixlab.typography import LANGUAGES

_TB = "thunderbird/thunderbird-l10n"
_FX = "mozilla-l10n/firefox-l10n"

# The French file of each group of strings; the en-US file has the same path in the
# matching -source repository, without "fr/".
_HUB = (_TB, "fr/mail/messenger/accountcreation/accountHub.ftl")
_SETUP = (_TB, "fr/mail/messenger/accountcreation/accountSetup.ftl")
_AM_SERVER = (_TB, "fr/mail/chrome/messenger/am-server-top.dtd")
_MESSENGER = (_TB, "fr/mail/chrome/messenger/messenger.properties")
_IMAP = (_TB, "fr/mail/chrome/messenger/imapMsgs.properties")
_POP3 = (_TB, "fr/mail/chrome/messenger/localMsgs.properties")
_COMPOSE = (_TB, "fr/mail/chrome/messenger/messengercompose/composeMsgs.properties")
_CERT_ERROR = (_TB, "fr/mail/messenger/certError.ftl")
_CERT_MANAGER = (_FX, "fr/security/manager/security/certificates/certManager.ftl")


def _entry(file: tuple[str, str], string_id: str, fr: str, en: str) -> dict[str, str]:
    repository, path = file
    return {"fr": fr, "en": en, "source": f"{repository}:{path}#{string_id}"}


# Thunderbird says the same when a POP3 handshake fails and when the server does
# not offer STLS: one string of its pop3.properties serves both.
_POP3_NO_TLS = _entry(
    _POP3,
    "nsErrorCouldNotConnectViaTls",
    "Impossible d’établir une connexion TLS vers le serveur POP3. Le serveur est peut-être "
    "éteint ou mal configuré. Veuillez vérifier que la configuration est correcte dans "
    "«\u00a0Paramètres serveur\u00a0» de votre serveur de courrier dans la fenêtre "
    "«\u00a0Paramètres des comptes\u00a0» et essayer à nouveau.",
    "Unable to establish TLS connection to POP3 server. The server may be down or may be "
    "incorrectly configured. Please verify the correct configuration in the Server "
    "Settings for your mail server in the Account Settings window and try again.",
)


STRINGS: dict[str, dict[str, str]] = {
    # Account Hub: the account set-up screen of current Thunderbird (accountHub.ftl).
    "hub.title": _entry(
        _HUB,
        "account-hub-add-email-title",
        "Ajoutez votre compte",
        "Add Your Account",
    ),
    "hub.manual_configuration": _entry(
        _HUB,
        "account-hub-email-manual-configuration",
        "Configuration manuelle",
        "Manual configuration",
    ),
    "hub.manual_title": _entry(
        _HUB,
        "account-hub-manually-configure-email-title",
        "Établir la configuration du compte",
        "Set Up Account Configuration",
    ),
    "hub.incoming_settings": _entry(
        _HUB,
        "account-hub-email-setup-incoming",
        "Paramètres du serveur de réception",
        "Incoming server settings",
    ),
    "hub.outgoing_settings": _entry(
        _HUB,
        "account-hub-email-setup-outgoing",
        "Paramètres du serveur d’envoi",
        "Outgoing server settings",
    ),
    "hub.incoming_server": _entry(
        _HUB,
        "account-hub-manual-config-incoming-legend",
        "Serveur entrant",
        "Incoming server",
    ),
    "hub.outgoing_server": _entry(
        _HUB,
        "account-hub-manual-config-outgoing-legend",
        "Serveur sortant",
        "Outgoing server",
    ),
    "hub.protocol": _entry(
        _HUB,
        "account-hub-protocol-label",
        "Protocole",
        "Protocol",
    ),
    "hub.hostname": _entry(
        _HUB,
        "account-hub-result-hostname-label",
        "Nom d’hôte",
        "Hostname",
    ),
    "hub.port": _entry(
        _HUB,
        "account-hub-on-port-label",
        "Port",
        "Port",
    ),
    "hub.connection_security": _entry(
        _HUB,
        "account-hub-ssl-label",
        "Sécurité de la connexion",
        "Connection security",
    ),
    "hub.auth_method": _entry(
        _HUB,
        "account-hub-auth-label",
        "Méthode d’authentification",
        "Authentication method",
    ),
    "hub.username": _entry(
        _HUB,
        "account-hub-result-username-label",
        "Nom d’utilisateur",
        "Username",
    ),
    "hub.security.autodetect": _entry(
        _HUB,
        "account-hub-ssl-autodetect-option.label",
        "Autodétection",
        "Autodetect",
    ),
    "hub.security.none": _entry(
        _HUB,
        "account-hub-ssl-noencryption-option.label",
        "Aucune",
        "None",
    ),
    "hub.auth.none": _entry(
        _HUB,
        "account-hub-auth-no-authentication-option.label",
        "Pas d’authentification",
        "No Authentication",
    ),
    "hub.auth.normal_password": _entry(
        _HUB,
        "account-hub-ssl-cleartext-password-option.label",
        "Mot de passe normal",
        "Normal password",
    ),
    "hub.auth.encrypted_password": _entry(
        _HUB,
        "account-hub-ssl-encrypted-password-option.label",
        "Mot de passe chiffré",
        "Encrypted password",
    ),
    "hub.summary.port": _entry(
        _HUB,
        "account-hub-result-port-label",
        "Port\u00a0:",
        "Port:",
    ),
    "hub.summary.authentication": _entry(
        _HUB,
        "account-hub-result-authentication-type-label",
        "Authentification\u00a0:",
        "Authentication:",
    ),
    "hub.summary.username": _entry(
        _HUB,
        "account-hub-servers-username-label",
        "Nom d’utilisateur\u00a0:",
        "Username:",
    ),
    "hub.button.retest": _entry(
        _HUB,
        "account-hub-email-retest-button",
        "Retester",
        "Retest",
    ),
    "hub.button.test": _entry(
        _HUB,
        "account-hub-test-configuration",
        "Tester",
        "Test",
    ),
    "hub.button.continue": _entry(
        _HUB,
        "account-hub-email-continue-button",
        "Continuer",
        "Continue",
    ),
    "hub.button.confirm": _entry(
        _HUB,
        "account-hub-email-confirm-button",
        "Confirmer",
        "Confirm",
    ),
    "hub.button.configure_manually": _entry(
        _HUB,
        "account-hub-email-manually-configure-button",
        "Configurer manuellement",
        "Configure Manually",
    ),
    "hub.button.back": _entry(
        _HUB,
        "account-hub-email-back-button",
        "Retour",
        "Back",
    ),
    "hub.button.cancel": _entry(
        _HUB,
        "account-hub-email-cancel-button",
        "Annuler",
        "Cancel",
    ),
    "hub.button.stop": _entry(
        _HUB,
        "account-hub-email-stop-button",
        "Arrêter",
        "Stop",
    ),
    "hub.button.finish": _entry(
        _HUB,
        "account-hub-email-finish-button",
        "Terminer",
        "Finish",
    ),
    "hub.button.advanced": _entry(
        _HUB,
        "account-hub-advanced-setup-button",
        "Configuration avancée",
        "Advanced config",
    ),
    "hub.looking_up": _entry(
        _HUB,
        "account-hub-lookup-email-configuration-title",
        "Recherche de la configuration",
        "Looking up configuration",
    ),
    "hub.looking_up_guess": _entry(
        _HUB,
        "account-hub-lookup-email-configuration-subheader",
        "Essai des noms de serveurs courants…",
        "Trying common server names…",
    ),
    "hub.config_found": _entry(
        _HUB,
        "account-hub-config-success-title",
        "Paramètres du compte détectés automatiquement.",
        "Account settings found automatically.",
    ),
    "hub.config_found_db": _entry(
        _HUB,
        "account-hub-config-success-description-db",
        "Configuration trouvée dans la base de données des FAI de Mozilla.",
        "Configuration found in Mozilla ISPDB.",
    ),
    "hub.config_found_guess": _entry(
        _HUB,
        "account-hub-config-success-description-guess",
        "Configuration trouvée en essayant les noms de serveur courants.",
        "Configuration found by trying common server names.",
    ),
    "hub.config_found_isp": _entry(
        _HUB,
        "account-hub-config-success-description-isp",
        "Configuration trouvée chez le fournisseur de messagerie.",
        "Configuration found at email provider.",
    ),
    "hub.config_valid": _entry(
        _HUB,
        "account-hub-config-test-success",
        "Paramètres de configuration valides",
        "Configuration settings valid",
    ),
    "hub.settings_not_found": _entry(
        _HUB,
        "account-hub-find-account-settings-failed",
        "{ -brand-short-name } n’a pas trouvé les paramètres de votre compte de messagerie.",
        "{ -brand-short-name } failed to find the settings for your email account.",
    ),
    "hub.credentials_wrong": _entry(
        _HUB,
        "account-hub-credentials-wrong",
        "Échec de l’authentification. Veuillez vérifier le nom d’utilisateur et le mot de passe",
        "Authentication failed. Please check the username and password",
    ),
    "hub.authentication_error": _entry(
        _HUB,
        "account-hub-account-authentication-error",
        "Erreur d’authentification.",
        "Authentication error.",
    ),
    "hub.insecure_warning": _entry(
        _HUB,
        "account-hub-select-security-warning",
        '<span data-l10n-name="error-text">Attention\u00a0: serveur de courrier non sécurisé '
        "détecté.</span> Ce serveur n’est pas chiffré\u00a0; votre mot de passe et vos "
        "données sont exposés. Contactez votre administrateur pour sécuriser la connexion ou "
        'poursuivez à vos risques et périls. <a data-l10n-name="error-link">Voir la FAQ '
        "pour plus d’informations.</a>",
        '<span data-l10n-name="error-text">Warning: Insecure mail server detected.</span> This '
        "server lacks encryption, exposing your password and data. Contact your administrator "
        "to secure the connection or proceed at your own risk. <a "
        'data-l10n-name="error-link">See FAQ for more.</a>',
    ),
    "hub.hostname_invalid": _entry(
        _HUB,
        "account-hub-hostname-error-text",
        "Le nom d’hôte est vide ou invalide. Seuls des lettres, des nombres, des - et des . sont "
        "autorisés",
        "Hostname empty or invalid. Only letters, numbers, - and . are allowed",
    ),
    "hub.port_invalid": _entry(
        _HUB,
        "account-hub-port-error-text",
        "Le port doit être compris entre 1 et 65535",
        "Port must be between 1 and 65535",
    ),
    "hub.username_required": _entry(
        _HUB,
        "account-hub-username-error-text",
        "Le nom d’utilisateur doit être renseigné",
        "Username is required",
    ),
    "hub.unknown_hostname": _entry(
        _HUB,
        "account-hub-result-unknown-hostname",
        "Nom d’hôte inconnu",
        "Unknown Hostname",
    ),
    "hub.unverified_certificate": _entry(
        _HUB,
        "account-hub-result-unknown-cert",
        "Certificat non vérifié",
        "Unverified Certificate",
    ),
    "hub.adding_account": _entry(
        _HUB,
        "account-hub-adding-account-title",
        "Ajout du compte",
        "Adding Account",
    ),
    "hub.retesting": _entry(
        _HUB,
        "account-hub-adding-account-subheader",
        "Nouveau test des paramètres de configuration du compte",
        "Re-testing account configuration settings",
    ),
    "hub.creating_account": _entry(
        _HUB,
        "account-hub-creating-account",
        "Création du compte…",
        "Creating account…",
    ),
    "hub.account_added": _entry(
        _HUB,
        "account-hub-email-account-added-title",
        "Le compte a été ajouté",
        "Account successfully added",
    ),
    "hub.server_exists": _entry(
        _HUB,
        "account-hub-error-server-exists",
        "Le serveur de courrier entrant existe déjà.",
        "Incoming server already exists.",
    ),
    "hub.creation_error_title": _entry(
        _HUB,
        "account-hub-creation-error-title",
        "Erreur lors de la création du compte",
        "Error Creating Account",
    ),
    # Account set-up tab used before the Account Hub (accountSetup.ftl).
    "setup.manual_config_title": _entry(
        _SETUP,
        "account-setup-manual-config-title",
        "Paramètres du serveur",
        "Manual configuration",
    ),
    "setup.incoming_server": _entry(
        _SETUP,
        "account-setup-incoming-server-legend",
        "Serveur entrant",
        "Incoming server",
    ),
    "setup.outgoing_server": _entry(
        _SETUP,
        "account-setup-outgoing-server-legend",
        "Serveur sortant",
        "Outgoing server",
    ),
    "setup.protocol": _entry(
        _SETUP,
        "account-setup-protocol-label",
        "Protocole\u00a0:",
        "Protocol:",
    ),
    "setup.hostname": _entry(
        _SETUP,
        "account-setup-hostname-label",
        "Nom d’hôte\u00a0:",
        "Hostname:",
    ),
    "setup.port": _entry(
        _SETUP,
        "account-setup-port-label",
        "Port\u00a0:",
        "Port:",
    ),
    "setup.port_tooltip": _entry(
        _SETUP,
        "account-setup-port-label.title",
        "Indiquez 0 pour utiliser la détection automatique",
        "Set the port number to 0 for autodetection",
    ),
    "setup.connection_security": _entry(
        _SETUP,
        "account-setup-ssl-label",
        "Sécurité de la connexion\u00a0:",
        "Connection security:",
    ),
    "setup.auth_method": _entry(
        _SETUP,
        "account-setup-auth-label",
        "Méthode d’authentification\u00a0:",
        "Authentication method:",
    ),
    "setup.username": _entry(
        _SETUP,
        "account-setup-username-label",
        "Nom d’utilisateur\u00a0:",
        "Username:",
    ),
    "setup.auto_description": _entry(
        _SETUP,
        "account-setup-auto-description",
        "{ -brand-short-name } essayera de détecter automatiquement les champs qui sont laissés "
        "vides.",
        "{ -brand-short-name } will attempt to auto-detect fields that are left blank.",
    ),
    "setup.security.autodetect": _entry(
        _SETUP,
        "ssl-autodetect-option",
        "Autodétection",
        "Autodetect",
    ),
    "setup.security.none": _entry(
        _SETUP,
        "ssl-noencryption-option",
        "Aucun",
        "None",
    ),
    "setup.security.no_encryption": _entry(
        _SETUP,
        "account-setup-result-no-encryption",
        "Aucun chiffrement",
        "No Encryption",
    ),
    "setup.security.ssl_tls": _entry(
        _SETUP,
        "account-setup-result-ssl",
        "SSL/TLS",
        "SSL/TLS",
    ),
    "setup.security.starttls": _entry(
        _SETUP,
        "account-setup-result-starttls",
        "STARTTLS",
        "STARTTLS",
    ),
    "setup.auth.none": _entry(
        _SETUP,
        "ssl-no-authentication-option",
        "Pas d’authentification",
        "No authentication",
    ),
    "setup.auth.normal_password": _entry(
        _SETUP,
        "ssl-cleartext-password-option",
        "Mot de passe normal",
        "Normal password",
    ),
    "setup.auth.encrypted_password": _entry(
        _SETUP,
        "ssl-encrypted-password-option",
        "Mot de passe chiffré",
        "Encrypted password",
    ),
    "setup.result.incoming": _entry(
        _SETUP,
        "account-setup-incoming-title",
        "Entrant",
        "Incoming",
    ),
    "setup.result.outgoing": _entry(
        _SETUP,
        "account-setup-outgoing-title",
        "Sortant",
        "Outgoing",
    ),
    "setup.result.username": _entry(
        _SETUP,
        "account-setup-username-title",
        "Nom d’utilisateur",
        "Username",
    ),
    "setup.button.retest": _entry(
        _SETUP,
        "account-setup-button-retest",
        "Retester",
        "Re-test",
    ),
    "setup.button.done": _entry(
        _SETUP,
        "account-setup-button-done",
        "Terminé",
        "Done",
    ),
    "setup.button.manual_config": _entry(
        _SETUP,
        "account-setup-button-manual-config",
        "Configuration manuelle",
        "Configure manually",
    ),
    "setup.button.continue": _entry(
        _SETUP,
        "account-setup-button-continue",
        "Continuer",
        "Continue",
    ),
    "setup.button.cancel": _entry(
        _SETUP,
        "account-setup-button-cancel",
        "Annuler",
        "Cancel",
    ),
    "setup.button.stop": _entry(
        _SETUP,
        "account-setup-button-stop",
        "Arrêter",
        "Stop",
    ),
    "setup.button.advanced": _entry(
        _SETUP,
        "account-setup-advanced-setup-button",
        "Configuration avancée",
        "Advanced config",
    ),
    "setup.looking_up": _entry(
        _SETUP,
        "account-setup-looking-up-settings",
        "Recherche de la configuration…",
        "Looking up configuration…",
    ),
    "setup.looking_up_guess": _entry(
        _SETUP,
        "account-setup-looking-up-settings-guess",
        "Recherche de la configuration\u00a0: essai des noms de serveurs courants…",
        "Looking up configuration: Trying common server names…",
    ),
    "setup.checking_password": _entry(
        _SETUP,
        "account-setup-checking-password",
        "Vérification du mot de passe…",
        "Checking password…",
    ),
    "setup.password_ok": _entry(
        _SETUP,
        "account-setup-success-password",
        "Mot de passe OK",
        "Password OK",
    ),
    "setup.config_found_guess": _entry(
        _SETUP,
        "account-setup-success-guess",
        "Configuration trouvée en essayant les noms de serveur courants.",
        "Configuration found by trying common server names.",
    ),
    "setup.config_found_probe": _entry(
        _SETUP,
        "account-setup-success-half-manual",
        "Les paramètres suivants ont été trouvés en sondant le serveur donné\u00a0:",
        "The following settings were found by probing the given server:",
    ),
    "setup.config_found_db": _entry(
        _SETUP,
        "account-setup-success-settings-db",
        "Configuration trouvée dans la base de données des FAI de Mozilla.",
        "Configuration found in Mozilla ISP database.",
    ),
    "setup.config_found_isp": _entry(
        _SETUP,
        "account-setup-success-settings-isp",
        "Configuration trouvée chez le fournisseur de messagerie.",
        "Configuration found at email provider.",
    ),
    "setup.settings_not_found": _entry(
        _SETUP,
        "account-setup-find-settings-failed",
        "{ -brand-short-name } n’a pas trouvé les paramètres de votre compte de messagerie",
        "{ -brand-short-name } failed to find the settings for your email account",
    ),
    "setup.credentials_wrong": _entry(
        _SETUP,
        "account-setup-credentials-wrong",
        "Échec de l’authentification. Veuillez vérifier le nom d’utilisateur et le mot de passe",
        "Authentication failed. Please check the username and password",
    ),
    "setup.connection_error": _entry(
        _SETUP,
        "account-setup-step4-image.title",
        "Erreur de connexion",
        "Connection error",
    ),
    "setup.insecure.title": _entry(
        _SETUP,
        "account-setup-insecure-title",
        "Avertissement\u00a0!",
        "Warning!",
    ),
    "setup.insecure.incoming": _entry(
        _SETUP,
        "account-setup-insecure-incoming-title",
        "Paramètres du courrier entrant\u00a0:",
        "Incoming settings:",
    ),
    "setup.insecure.outgoing": _entry(
        _SETUP,
        "account-setup-insecure-outgoing-title",
        "Paramètres du courrier sortant\u00a0:",
        "Outgoing settings:",
    ),
    "setup.insecure.no_encryption": _entry(
        _SETUP,
        "account-setup-warning-cleartext",
        "<b>{ $server }</b> n’utilise pas de chiffrement.",
        "<b>{ $server }</b> does not use encryption.",
    ),
    "setup.insecure.details": _entry(
        _SETUP,
        "account-setup-warning-cleartext-details",
        "Les serveurs de courrier non sécurisés n’utilisent pas de connexions chiffrées pour "
        "protéger vos mots de passe et vos informations privées. En vous connectant à ce "
        "serveur, vous pourriez exposer votre mot de passe et vos informations privées.",
        "Insecure mail servers do not use encrypted connections to protect your passwords and "
        "private information. By connecting to this server you could expose your password and "
        "private information.",
    ),
    "setup.insecure.checkbox": _entry(
        _SETUP,
        "account-setup-insecure-server-checkbox",
        "Je comprends les risques",
        "I understand the risks",
    ),
    "setup.insecure.description": _entry(
        _SETUP,
        "account-setup-insecure-description",
        "{ -brand-short-name } peut vous permettre d’accéder à vos e-mails en utilisant les "
        "configurations fournies. Cependant, vous devriez contacter votre administrateur ou "
        "votre fournisseur de messagerie au sujet de ces connexions incorrectes. Consultez la "
        '<a data-l10n-name="thunderbird-faq-link">FAQ de Thunderbird</a> pour plus '
        "d’informations.",
        "{ -brand-short-name } can allow you to get to your mail using the provided "
        "configurations. However, you should contact your administrator or email provider "
        "regarding these improper connections. See the <a "
        'data-l10n-name="thunderbird-faq-link">Thunderbird FAQ</a> for more information.',
    ),
    "setup.insecure.change_settings": _entry(
        _SETUP,
        "insecure-dialog-cancel-button",
        "Modifier les paramètres",
        "Change Settings",
    ),
    "setup.insecure.confirm": _entry(
        _SETUP,
        "insecure-dialog-confirm-button",
        "Confirmer",
        "Confirm",
    ),
    "setup.creation_error_title": _entry(
        _SETUP,
        "account-setup-creation-error-title",
        "Erreur lors de la création du compte",
        "Error Creating Account",
    ),
    "setup.server_exists": _entry(
        _SETUP,
        "account-setup-error-server-exists",
        "Le serveur de courrier entrant existe déjà.",
        "Incoming server already exists.",
    ),
    # Account Settings > Server Settings (am-server-top.dtd, messenger.properties).
    "settings.server_settings": _entry(
        _AM_SERVER,
        "serverSettings.label",
        "Paramètres du serveur",
        "Server Settings",
    ),
    "settings.security_settings": _entry(
        _AM_SERVER,
        "securitySettings.label",
        "Paramètres de sécurité",
        "Security Settings",
    ),
    "settings.server_type": _entry(
        _AM_SERVER,
        "serverType.label",
        "Type de serveur\u00a0:",
        "Server Type:",
    ),
    "settings.server_name": _entry(
        _AM_SERVER,
        "serverName.label",
        "Nom du serveur\u00a0:",
        "Server Name:",
    ),
    "settings.user_name": _entry(
        _AM_SERVER,
        "userName.label",
        "Nom d’utilisateur\u00a0:",
        "User Name:",
    ),
    "settings.port": _entry(
        _AM_SERVER,
        "port.label",
        "Port\u00a0:",
        "Port:",
    ),
    "settings.port_default": _entry(
        _AM_SERVER,
        "serverPortDefault.label",
        "Défaut\u00a0:",
        "Default:",
    ),
    "settings.connection_security": _entry(
        _AM_SERVER,
        "connectionSecurity.label",
        "Sécurité de la connexion\u00a0:",
        "Connection security:",
    ),
    "settings.security.none": _entry(
        _AM_SERVER,
        "connectionSecurityType-0.label",
        "Aucune",
        "None",
    ),
    "settings.security.starttls": _entry(
        _AM_SERVER,
        "connectionSecurityType-2.label",
        "STARTTLS",
        "STARTTLS",
    ),
    "settings.security.ssl_tls": _entry(
        _AM_SERVER,
        "connectionSecurityType-3.label",
        "SSL/TLS",
        "SSL/TLS",
    ),
    "settings.auth_method": _entry(
        _AM_SERVER,
        "authMethod.label",
        "Méthode d’authentification\u00a0:",
        "Authentication method:",
    ),
    "settings.leave_on_server": _entry(
        _AM_SERVER,
        "leaveOnServer.label",
        "Laisser les messages sur le serveur",
        "Leave messages on server",
    ),
    "settings.headers_only": _entry(
        _AM_SERVER,
        "headersOnly.label",
        "Télécharger uniquement les en-têtes",
        "Fetch headers only",
    ),
    "settings.check_at_startup": _entry(
        _AM_SERVER,
        "loginAtStartup.label",
        "Vérifier le courrier au lancement",
        "Check for new messages at startup",
    ),
    "settings.auth.none": _entry(
        _MESSENGER,
        "authNo",
        "Pas d’authentification",
        "No authentication",
    ),
    "settings.auth.password_old": _entry(
        _MESSENGER,
        "authOld",
        "Mot de passe, méthode d’origine (non sécurisé)",
        "Password, original method (insecure)",
    ),
    "settings.auth.password_insecure": _entry(
        _MESSENGER,
        "authPasswordCleartextInsecurely",
        "Mot de passe, transmission non sécurisée",
        "Password, transmitted insecurely",
    ),
    "settings.auth.normal_password": _entry(
        _MESSENGER,
        "authPasswordCleartextViaSSL",
        "Mot de passe normal",
        "Normal password",
    ),
    "settings.auth.encrypted_password": _entry(
        _MESSENGER,
        "authPasswordEncrypted",
        "Mot de passe chiffré",
        "Encrypted password",
    ),
    "settings.auth.kerberos": _entry(
        _MESSENGER,
        "authKerberos",
        "Kerberos / GSSAPI",
        "Kerberos / GSSAPI",
    ),
    "settings.auth.tls_certificate": _entry(
        _MESSENGER,
        "authExternal",
        "Certificat TLS",
        "TLS Certificate",
    ),
    "settings.auth.ntlm": _entry(
        _MESSENGER,
        "authNTLM",
        "NTLM",
        "NTLM",
    ),
    "settings.auth.oauth2": _entry(
        _MESSENGER,
        "authOAuth2",
        "OAuth2",
        "OAuth2",
    ),
    "settings.auth.any_secure": _entry(
        _MESSENGER,
        "authAnySecure",
        "Toute méthode sécurisée (obsolète)",
        "Any secure method (deprecated)",
    ),
    "settings.auth.any": _entry(
        _MESSENGER,
        "authAny",
        "Toute méthode (non sécurisé)",
        "Any method (insecure)",
    ),
    "settings.smtp_security.none": _entry(
        _MESSENGER,
        "smtpServer-ConnectionSecurityType-0",
        "Aucune",
        "None",
    ),
    "settings.smtp_security.starttls_if_available": _entry(
        _MESSENGER,
        "smtpServer-ConnectionSecurityType-1",
        "STARTTLS, si disponible",
        "STARTTLS, if available",
    ),
    "settings.smtp_security.starttls": _entry(
        _MESSENGER,
        "smtpServer-ConnectionSecurityType-2",
        "STARTTLS",
        "STARTTLS",
    ),
    "settings.smtp_security.ssl_tls": _entry(
        _MESSENGER,
        "smtpServer-ConnectionSecurityType-3",
        "SSL/TLS",
        "SSL/TLS",
    ),
    "settings.server_type.pop3": _entry(
        _MESSENGER,
        "serverType-pop3",
        "Serveur de courrier POP",
        "POP Mail Server",
    ),
    "settings.server_type.imap": _entry(
        _MESSENGER,
        "serverType-imap",
        "Serveur de courrier IMAP",
        "IMAP Mail Server",
    ),
    # Connection and login errors shared by the protocols (messenger.properties). POP3 shows
    # the connection ones; IMAP, POP3 and SMTP all show the login-failed dialog.
    "net.server_not_found": _entry(
        _MESSENGER,
        "unknownHostError",
        "Impossible de se connecter au serveur %S.",
        "Failed to connect to server %S.",
    ),
    "net.connection_refused": _entry(
        _MESSENGER,
        "connectionRefusedError",
        "Impossible de se connecter au serveur %S\u00a0; la connexion a été refusée.",
        "Could not connect to server %S; the connection was refused.",
    ),
    "net.connection_timeout": _entry(
        _MESSENGER,
        "netTimeoutError",
        "Temps limite de connexion au serveur %S dépassé.",
        "Connection to server %S timed out.",
    ),
    "net.connection_reset": _entry(
        _MESSENGER,
        "netResetError",
        "La connexion au serveur %S a été réinitialisée.",
        "Connection to server %S was reset.",
    ),
    "net.connection_interrupted": _entry(
        _MESSENGER,
        "netInterruptError",
        "La connexion au serveur %S a été interrompue.",
        "Connection to server %S was interrupted.",
    ),
    "net.oauth2_failed": _entry(
        _MESSENGER,
        "oAuth2Error",
        "Échec de l’authentification lors de la connexion au serveur %S.",
        "Authentication failure while connecting to server %S.",
    ),
    "login.failed_title": _entry(
        _MESSENGER,
        "mailServerLoginFailedTitleWithAccount",
        "Échec de la connexion au compte «\u00a0%S\u00a0»",
        'Login to account "%S" failed',
    ),
    "login.failed": _entry(
        _MESSENGER,
        "mailServerLoginFailed2",
        "Échec de la connexion depuis le serveur %1$S avec le nom d’utilisateur %2$S.",
        "Login to server %1$S with username %2$S failed.",
    ),
    "login.retry_button": _entry(
        _MESSENGER,
        "mailServerLoginFailedRetryButton",
        "Réessayer",
        "Retry",
    ),
    "login.new_password_button": _entry(
        _MESSENGER,
        "mailServerLoginFailedEnterNewPasswordButton",
        "Saisir un nouveau mot de passe",
        "Enter New Password",
    ),
    "login.password_prompt": _entry(
        _MESSENGER,
        "passwordPrompt",
        "Saisissez votre mot de passe pour %1$S sur %2$S\u00a0:",
        "Enter your password for %1$S on %2$S:",
    ),
    "login.password_title": _entry(
        _MESSENGER,
        "passwordTitle",
        "Mot de passe pour le serveur de courrier requis",
        "Mail Server Password Required",
    ),
    "status.format": _entry(
        _MESSENGER,
        "statusMessage",
        "%1$S\u00a0: %2$S",
        "%1$S: %2$S",
    ),
    "folder.full": _entry(
        _MESSENGER,
        "mailboxTooLarge",
        "Le dossier %S est plein et ne peut pas contenir davantage de messages. Afin de faire de "
        "la place pour d’autres messages, supprimez les messages les plus anciens ou sans "
        "intérêt puis compactez le dossier.",
        "The folder %S is full, and can't hold any more messages. To make room for more messages, "
        "delete any old or unwanted mail and compact the folder.",
    ),
    # IMAP (imapMsgs.properties; login failures use login.*).
    "imap.alert_title": _entry(
        _IMAP,
        "imapAlertDialogTitle",
        "Alerte pour le compte %S",
        "Alert for account %S",
    ),
    "imap.server_not_found": _entry(
        _IMAP,
        "imapUnknownHostError",
        "Échec lors de la connexion au serveur %S.",
        "Failed to connect to server %S.",
    ),
    "imap.connection_refused": _entry(
        _IMAP,
        "imapConnectionRefusedError",
        "Impossible de se connecter au serveur de courrier %S\u00a0: la connexion a été refusée.",
        "Could not connect to mail server %S; the connection was refused.",
    ),
    "imap.connection_timeout": _entry(
        _IMAP,
        "imapNetTimeoutError",
        "Temps limite de connexion au serveur %S dépassé.",
        "Connection to server %S timed out.",
    ),
    "imap.tls_failed": _entry(
        _IMAP,
        "imapTlsError",
        "Une erreur TLS non récupérable s’est produite. Erreur d’établissement de la liaison ou "
        "bien, probablement, la version TLS ou le certificat utilisé par le serveur %S est "
        "incompatible.",
        "Non-overridable TLS error occurred. Handshake error or probably the TLS version or "
        "certificate used by server %S is incompatible.",
    ),
    "imap.server_disconnected": _entry(
        _IMAP,
        "imapServerDisconnected",
        "Le serveur %S s’est déconnecté. Il s’est peut-être arrêté, ou il y a un problème sur le "
        "réseau.",
        "Server %S has disconnected. The server may have gone down or there may be a network "
        "problem.",
    ),
    "imap.too_many_connections": _entry(
        _IMAP,
        "imapServerDroppedConnection2",
        "Impossible de se connecter à %S. Veuillez réessayer plus tard. Si le problème persiste, "
        "vous avez peut-être dépassé le nombre maximal de connexions à ce serveur. Vous "
        "pouvez réduire le nombre de connexions mises en cache dans les paramètres du serveur "
        "IMAP.",
        "Unable to connect to %S. Please try again later. If the problem persists, you may have "
        "exceeded the maximum number of connections to this server. You can reduce the number "
        "of cached connections in the IMAP server settings.",
    ),
    "imap.not_imap4": _entry(
        _IMAP,
        "imapServerNotImap4",
        "Le serveur de courrier %S n’est pas un serveur de type IMAP4.",
        "Mail server %S is not an IMAP4 mail server.",
    ),
    "imap.oauth2_failed": _entry(
        _IMAP,
        "imapOAuth2Error",
        "Échec de l’authentification lors de la connexion au serveur %S.",
        "Authentication failure while connecting to server %S.",
    ),
    "imap.login_failed": _entry(
        _MESSENGER,
        "mailServerLoginFailed2",
        "Échec de la connexion depuis le serveur %1$S avec le nom d’utilisateur %2$S.",
        "Login to server %1$S with username %2$S failed.",
    ),
    "imap.encrypted_password_unsupported": _entry(
        _IMAP,
        "imapAuthChangeEncryptToPlainSSL",
        "Le serveur IMAP %S ne semble pas gérer les mots de passe chiffrés. Si vous venez juste "
        "de définir le compte, veuillez modifier la «\u00a0Méthode d’authentification\u00a0» "
        "pour «\u00a0Mot de passe normal\u00a0» dans le menu «\u00a0Paramètres des comptes | "
        "Paramètres serveur\u00a0». Si cela fonctionnait auparavant et que cela échoue à "
        "présent, veuillez contacter votre administrateur de messagerie ou votre fournisseur.",
        "The IMAP server %S does not seem to support encrypted passwords. If you just set up this "
        "account, please try changing to 'Normal password' as the 'Authentication method' in "
        "the 'Account Settings | Server settings'. If it used to work and now suddenly fails, "
        "please contact your email administrator or provider.",
    ),
    "imap.encrypted_password_unsupported_cleartext": _entry(
        _IMAP,
        "imapAuthChangeEncryptToPlainNoSSL",
        "Le serveur IMAP %S ne semble pas gérer les mots de passe chiffrés. Si vous venez juste "
        "de définir le compte, veuillez modifier la «\u00a0Méthode d’authentification\u00a0» "
        "pour «\u00a0Mot de passe, transmission non sécurisée\u00a0» dans le menu "
        "«\u00a0Paramètres des comptes | Paramètres serveur\u00a0». Si cela fonctionnait "
        "auparavant et que cela échoue à présent, il se pourrait que quelqu’un ait dérobé "
        "votre mot de passe.",
        "The IMAP server %S does not seem to support encrypted passwords. If you just set up the "
        "account, please try changing to 'Password, transmitted insecurely' as the "
        "'Authentication method' in the 'Account Settings | Server settings'. If it used to "
        "work and now suddenly fails, this is a common scenario how someone could steal your "
        "password.",
    ),
    "imap.plain_password_refused": _entry(
        _IMAP,
        "imapAuthChangePlainToEncrypt",
        "Le serveur IMAP %S n’autorise pas les mots de passe non chiffrés. Veuillez modifier la "
        "«\u00a0Méthode d’authentification\u00a0» pour «\u00a0Mot de passe chiffré\u00a0» "
        "dans le menu «\u00a0Paramètres des comptes | Paramètres serveur\u00a0».",
        "The IMAP server %S does not allow plaintext passwords. Please try changing to 'Encrypted "
        "password' as the 'Authentication method' in the 'Account Settings | Server settings'.",
    ),
    "imap.auth_method_unsupported": _entry(
        _IMAP,
        "imapAuthMechNotSupported",
        "Le serveur IMAP %S ne gère pas la méthode d’authentification sélectionnée. Veuillez "
        "modifier la «\u00a0Méthode d’authentification\u00a0» dans le menu «\u00a0Paramètres "
        "des comptes | Paramètres serveur\u00a0».",
        "The IMAP server %S does not support the selected authentication method. Please change "
        "the 'Authentication method' in the 'Account Settings | Server settings'.",
    ),
    "imap.kerberos_failed": _entry(
        _IMAP,
        "imapAuthGssapiFailed",
        "Le ticket Kerberos/GSSAPI n’a pas été accepté par le serveur IMAP %S. Veuillez vérifier "
        "que vous êtes connecté dans le flux Kerberos/GSSAPI.",
        "The Kerberos/GSSAPI ticket was not accepted by the IMAP server %S. Please check that you "
        "are logged in to the Kerberos/GSSAPI realm.",
    ),
    "imap.command_failed": _entry(
        _IMAP,
        "imapServerCommandFailed",
        "La commande courante n’a pas abouti. Le serveur de courrier pour le compte %1$S a "
        "répondu\u00a0: %2$S",
        "The current command did not succeed. The mail server for account %1$S responded: %2$S",
    ),
    "imap.folder_command_failed": _entry(
        _IMAP,
        "imapFolderCommandFailed",
        "L’opération courante «\u00a0%2$S\u00a0» n’a pas abouti. Le serveur de courrier pour le "
        "compte %1$S a répondu\u00a0: %3$S",
        "The current operation on '%2$S' did not succeed. The mail server for account %1$S "
        "responded: %3$S",
    ),
    "imap.server_alert": _entry(
        _IMAP,
        "imapServerAlert",
        "Alerte pour le compte %1$S\u00a0: %2$S",
        "Alert from account %1$S: %2$S",
    ),
    "imap.password_prompt": _entry(
        _IMAP,
        "imapEnterServerPasswordPrompt",
        "Saisissez votre mot de passe pour %1$S sur %2$S\u00a0:",
        "Enter your password for %1$S on %2$S:",
    ),
    "imap.password_prompt_title": _entry(
        _IMAP,
        "imapEnterPasswordPromptTitleWithUsername",
        "Saisissez votre mot de passe pour %1$S",
        "Enter your password for %1$S",
    ),
    "imap.sending_login": _entry(
        _IMAP,
        "imapStatusSendingLogin",
        "Envoi des informations pour la connexion…",
        "Sending login information…",
    ),
    "imap.checking_capabilities": _entry(
        _IMAP,
        "imapStatusCheckCompat",
        "Vérification des capacités du serveur de courrier…",
        "Checking mail server capabilities…",
    ),
    "imap.no_new_messages": _entry(
        _IMAP,
        "imapNoNewMessages",
        "Pas de nouveau message sur le serveur.",
        "There are no new messages on the server.",
    ),
    "imap.quota_unsupported": _entry(
        _IMAP,
        "imapQuotaStatusNotSupported",
        "Ce serveur ne prend pas en charge les quotas.",
        "This server does not support quotas.",
    ),
    # POP3 (localMsgs.properties; connection errors and the login-failed dialog come from
    # messenger.properties, as Thunderbird's POP3 client does).
    "pop3.error_title": _entry(
        _POP3,
        "pop3ErrorDialogTitle",
        "Erreur avec le compte %S",
        "Error with account %S",
    ),
    "pop3.server_said": _entry(
        _POP3,
        "pop3ServerSaid",
        "Le serveur de courrier %S a répondu\u00a0:",
        "Mail server %S responded:",
    ),
    "pop3.server_not_found": _entry(
        _MESSENGER,
        "unknownHostError",
        "Impossible de se connecter au serveur %S.",
        "Failed to connect to server %S.",
    ),
    "pop3.connection_refused": _entry(
        _MESSENGER,
        "connectionRefusedError",
        "Impossible de se connecter au serveur %S\u00a0; la connexion a été refusée.",
        "Could not connect to server %S; the connection was refused.",
    ),
    "pop3.connection_timeout": _entry(
        _MESSENGER,
        "netTimeoutError",
        "Temps limite de connexion au serveur %S dépassé.",
        "Connection to server %S timed out.",
    ),
    "pop3.connection_reset": _entry(
        _MESSENGER,
        "netResetError",
        "La connexion au serveur %S a été réinitialisée.",
        "Connection to server %S was reset.",
    ),
    "pop3.connection_interrupted": _entry(
        _MESSENGER,
        "netInterruptError",
        "La connexion au serveur %S a été interrompue.",
        "Connection to server %S was interrupted.",
    ),
    "pop3.tls_failed": _POP3_NO_TLS,
    "pop3.starttls_not_offered": _POP3_NO_TLS,
    "pop3.login_failed": _entry(
        _MESSENGER,
        "mailServerLoginFailed2",
        "Échec de la connexion depuis le serveur %1$S avec le nom d’utilisateur %2$S.",
        "Login to server %1$S with username %2$S failed.",
    ),
    "pop3.password_failed": _entry(
        _POP3,
        "pop3PasswordFailed",
        "Échec de l’envoi du mot de passe pour l’utilisateur %1$S.",
        "Sending of password for user %1$S did not succeed.",
    ),
    "pop3.username_failed": _entry(
        _POP3,
        "pop3UsernameFailure",
        "Échec de l’envoi du nom d’utilisateur.",
        "Sending of username did not succeed.",
    ),
    "pop3.server_error": _entry(
        _POP3,
        "pop3ServerError",
        "Une erreur s’est produite avec le serveur de courrier POP3. Contactez l’administrateur "
        "de ce serveur ou essayez à nouveau.",
        "An error occurred with the POP3 mail server.",
    ),
    "pop3.temporary_error": _entry(
        _POP3,
        "pop3TempServerError",
        "Erreur temporaire de %S lors de la récupération des nouveaux messages. L’opération sera "
        "relancée lors de la prochaine recherche de nouveaux messages.",
        "Temporary error from %S while retrieving new messages. The operation will be retried at "
        "the next check for new messages.",
    ),
    "pop3.server_busy": _entry(
        _POP3,
        "pop3ServerBusy",
        "Le compte %S est en cours de traitement. Veuillez attendre la fin du processus pour "
        "récupérer les messages.",
        "The account %S is being processed. Please wait until processing is complete to get "
        "messages.",
    ),
    "pop3.uidl_unsupported": _entry(
        _POP3,
        "pop3ServerDoesNotSupportUidlEtc",
        "Le serveur de courrier POP3 (%S) ne gère pas UIDL ou XTND XLST, qui sont nécessaires "
        "pour la mise en œuvre des options «\u00a0Laisser sur le serveur\u00a0», "
        "«\u00a0Taille maximale de message\u00a0» ou «\u00a0Télécharger les en-têtes "
        "seulement\u00a0». Pour télécharger votre courrier, désactivez ces options dans "
        "«\u00a0Paramètres serveur\u00a0» pour votre serveur de courrier dans la fenêtre "
        "«\u00a0Paramètres des comptes\u00a0».",
        "The POP3 mail server (%S) does not support UIDL or XTND XLST, which are required to "
        "implement the ``Leave on Server'', ``Maximum Message Size'' or ``Fetch Headers "
        "Only'' options. To download your mail, turn off these options in the Server Settings "
        "for your mail server in the Account Settings window.",
    ),
    "pop3.top_unsupported": _entry(
        _POP3,
        "pop3ServerDoesNotSupportTopCommand",
        "Le serveur de courrier POP3 (%S) ne gère pas la commande TOP. Si le serveur ne gère pas "
        "cette commande, nous ne pouvons pas mettre en œuvre les préférences «\u00a0Taille "
        "maximale d’un message\u00a0» et «\u00a0Télécharger les en-têtes uniquement\u00a0». "
        "Cette option a été désactivée et les messages seront téléchargés quelle que soit "
        "leur taille.",
        "The POP3 mail server (%S) does not support the TOP command. Without server support for "
        "this, we cannot implement the ``Maximum Message Size'' or ``Fetch Headers Only'' "
        "preference.  This option has been disabled, and messages will be downloaded "
        "regardless of their size.",
    ),
    "pop3.encrypted_password_unsupported": _entry(
        _POP3,
        "pop3AuthChangeEncryptToPlainSSL",
        "Ce serveur POP3 ne semble pas gérer les mots de passe chiffrés. Si vous venez juste de "
        "configurer ce compte, veuillez modifier la «\u00a0Méthode d’authentification\u00a0» "
        "pour «\u00a0Mot de passe normal\u00a0» dans le menu «\u00a0Paramètres des comptes | "
        "Paramètres serveur\u00a0». Si cela fonctionnait auparavant et que cela échoue à "
        "présent, veuillez contacter votre administrateur de messagerie ou votre fournisseur.",
        "This POP3 server does not seem to support encrypted passwords. If you just set up this "
        "account, please try changing to 'Normal password' as the 'Authentication method' in "
        "the 'Account Settings | Server settings'. If it used to work and now suddenly fails, "
        "please contact your email administrator or provider.",
    ),
    "pop3.encrypted_password_unsupported_cleartext": _entry(
        _POP3,
        "pop3AuthChangeEncryptToPlainNoSSL",
        "Ce serveur POP3 ne semble pas gérer les mots de passe chiffrés. Si vous venez juste de "
        "configurer ce compte, veuillez modifier la «\u00a0Méthode d’authentification\u00a0» "
        "pour «\u00a0Mot de passe, transmission non sécurisée\u00a0» dans le menu "
        "«\u00a0Paramètres des comptes | Paramètres serveur\u00a0». Si cela fonctionnait "
        "auparavant et que cela échoue à présent, il se pourrait que quelqu’un ait dérobé "
        "votre mot de passe.",
        "This POP3 server does not seem to support encrypted passwords. If you just set up the "
        "account, please try changing to 'Password, transmitted insecurely' as the "
        "'Authentication method' in the 'Account Settings | Server settings'. If it used to "
        "work and now suddenly fails, this is a common scenario how someone could steal your "
        "password.",
    ),
    "pop3.plain_password_refused": _entry(
        _POP3,
        "pop3AuthChangePlainToEncrypt",
        "Ce serveur POP3 n’autorise pas les mots de passe non chiffrés. Veuillez modifier la "
        "«\u00a0Méthode d’authentification\u00a0» pour «\u00a0Mot de passe chiffré\u00a0» "
        "dans le menu «\u00a0Paramètres des comptes | Paramètres serveur\u00a0».",
        "This POP3 server does not allow plaintext passwords. Please try changing to 'Encrypted "
        "password' as the 'Authentication method' in the 'Account Settings | Server settings'.",
    ),
    "pop3.auth_method_unsupported": _entry(
        _POP3,
        "pop3AuthMechNotSupported",
        "Le serveur ne gère pas la méthode d’authentification sélectionnée. Veuillez modifier la "
        "«\u00a0Méthode d’authentification\u00a0» dans le menu «\u00a0Paramètres des comptes "
        "| Paramètres serveur\u00a0».",
        "The server does not support the selected authentication method. Please change the "
        "'Authentication method' in the 'Account Settings | Server settings'.",
    ),
    "pop3.kerberos_failed": _entry(
        _POP3,
        "pop3GssapiFailure",
        "Le ticket Kerberos/GSSAPI n’a pas été accepté par le serveur POP. Veuillez vérifier que "
        "vous êtes connecté dans le flux Kerberos/GSSAPI.",
        "The Kerberos/GSSAPI ticket was not accepted by the POP server. Please check that you are "
        "logged in to the Kerberos/GSSAPI realm.",
    ),
    "pop3.stat_failed": _entry(
        _POP3,
        "pop3StatFail",
        "La commande STAT a échoué. Erreur lors de la récupération des tailles et du nombre de "
        "messages.",
        "The STAT command did not succeed. Error getting message number and sizes.",
    ),
    "pop3.list_failed": _entry(
        _POP3,
        "pop3ListFailure",
        "La commande LIST a échoué. Erreur lors de la récupération de l’ID et de la taille d’un "
        "message.",
        "The LIST command did not succeed. Error getting the ID and size of a message.",
    ),
    "pop3.retr_failed": _entry(
        _POP3,
        "pop3RetrFailure",
        "La commande RETR a échoué. Erreur lors de la récupération d’un message.",
        "The RETR command did not succeed. Error retrieving a message.",
    ),
    "pop3.dele_failed": _entry(
        _POP3,
        "pop3DeleFailure",
        "La commande DELE a échoué. Erreur lors du marquage d’un message pour suppression.",
        "The DELE command did not succeed. Error marking a message as deleted.",
    ),
    "pop3.write_error": _entry(
        _POP3,
        "pop3MessageWriteError",
        "Une erreur s’est produite pendant l’enregistrement de vos messages. Assurez-vous que le "
        "système de fichiers vous donne les permissions d’écriture et que vous avez "
        "suffisamment d’espace disque disponible pour copier la boîte de réception.",
        "Unable to write the email to the mailbox. Make sure the file system allows you write "
        "privileges, and you have enough disk space to copy the mailbox.",
    ),
    "pop3.username_missing": _entry(
        _POP3,
        "pop3UsernameUndefined",
        "Vous n’avez pas spécifié de nom d’utilisateur pour ce serveur. Veuillez fournir un nom "
        "d’utilisateur dans les paramètres de votre compte de courrier et essayer à nouveau.",
        "You have not supplied a username for this server.  Please provide one in the account "
        "setup menu and try again.",
    ),
    "pop3.password_missing": _entry(
        _POP3,
        "pop3PasswordUndefined",
        "Erreur pendant la lecture du mot de passe pour le courrier.",
        "Error getting mail password.",
    ),
    "pop3.password_prompt": _entry(
        _POP3,
        "pop3EnterPasswordPrompt",
        "Saisissez votre mot de passe pour %1$S sur %2$S\u00a0:",
        "Enter your password for %1$S on %2$S:",
    ),
    "pop3.password_prompt_title": _entry(
        _POP3,
        "pop3EnterPasswordPromptTitleWithUsername",
        "Saisissez votre mot de passe pour %1$S",
        "Enter your password for %1$S",
    ),
    "pop3.new_password_prompt": _entry(
        _POP3,
        "pop3PreviouslyEnteredPasswordIsInvalidPrompt",
        "Veuillez saisir un nouveau mot de passe pour l’utilisateur %1$S sur %2$S\u00a0:",
        "Please enter a new password for user %1$S on %2$S:",
    ),
    "pop3.host_contacted": _entry(
        _POP3,
        "hostContact",
        "Hôte contacté, envoi des informations de connexion…",
        "Host contacted, sending login information…",
    ),
    "pop3.receiving": _entry(
        _POP3,
        "receivingMessages",
        "Téléchargement du message %1$S sur %2$S…",
        "Downloading message %1$S of %2$S…",
    ),
    "pop3.received": _entry(
        _POP3,
        "receivedMsgs",
        "Réception de %1$S messages sur %2$S ",
        "Received %1$S of %2$S messages",
    ),
    "pop3.no_new_messages": _entry(
        _POP3,
        "noNewMessages",
        "Aucun nouveau message.",
        "There are no new messages.",
    ),
    # SMTP, sending (composeMsgs.properties). The alert is titled smtp.error_title and reads
    # smtp.send_failed, a line break, then the specific message.
    "smtp.error_title": _entry(
        _COMPOSE,
        "sendMessageErrorTitle",
        "Erreur d’envoi du message",
        "Send Message Error",
    ),
    "smtp.send_failed": _entry(
        _COMPOSE,
        "sendFailed",
        "L’envoi du message a échoué.",
        "Sending of the message failed.",
    ),
    "smtp.server_not_found": _entry(
        _COMPOSE,
        "smtpSendFailedUnknownServer",
        "Une erreur est survenue lors de l’envoi de l’e-mail\u00a0: le serveur sortant (SMTP) "
        "«\u00a0%S\u00a0» est inconnu. Le serveur est peut-être mal configuré. Veuillez "
        "vérifier que les paramètres de votre serveur sortant (SMTP) sont corrects et essayez "
        "à nouveau.",
        "An error occurred while sending mail: Outgoing server (SMTP) %S is unknown. The server "
        "may be incorrectly configured. Please verify that your Outgoing server (SMTP) "
        "settings are correct and try again.",
    ),
    "smtp.connection_refused": _entry(
        _COMPOSE,
        "smtpSendRequestRefused",
        "Le message n’a pas pu être envoyé car la connexion au serveur sortant (SMTP) "
        "«\u00a0%S\u00a0» a échoué. Le serveur est peut-être indisponible ou refuse les "
        "connexions SMTP. Veuillez vérifier que les paramètres de votre serveur sortant "
        "(SMTP) sont corrects et essayez à nouveau.",
        "The message could not be sent because connecting to Outgoing server (SMTP) %S failed. "
        "The server may be unavailable or is refusing SMTP connections. Please verify that "
        "your Outgoing server (SMTP) settings are correct and try again.",
    ),
    "smtp.connection_timeout": _entry(
        _COMPOSE,
        "smtpSendTimeout",
        "Le message n’a pas pu être envoyé car la connexion au serveur sortant (SMTP) "
        "«\u00a0%S\u00a0» a expiré. Veuillez essayer à nouveau.",
        "The message could not be sent because the connection to Outgoing server (SMTP) %S timed "
        "out. Try again.",
    ),
    "smtp.connection_interrupted": _entry(
        _COMPOSE,
        "smtpSendInterrupted",
        "Le message n’a pas pu être envoyé car la connexion au serveur sortant (SMTP) "
        "«\u00a0%S\u00a0» a été perdue pendant la transaction. Veuillez essayer à nouveau.",
        "The message could not be sent because the connection to Outgoing server (SMTP) %S was "
        "lost in the middle of the transaction. Try again.",
    ),
    "smtp.security_issue": _entry(
        _COMPOSE,
        "smtpSecurityIssue",
        "La configuration liée à %S doit être corrigée.",
        "The configuration related to %S must be corrected.",
    ),
    "smtp.starttls_not_offered": _entry(
        _COMPOSE,
        "startTlsFailed",
        "Une erreur est survenue lors de l’envoi de l’e-mail\u00a0: impossible d’établir un lien "
        "sécurisé avec le serveur SMTP «\u00a0%S\u00a0» en utilisant «\u00a0STARTTLS\u00a0» "
        "puisqu’il ne propose pas cette fonctionnalité. Désactivez «\u00a0STARTTLS\u00a0» "
        "pour ce serveur ou contactez votre fournisseur d’accès à Internet.",
        "An error occurred while sending mail: Unable to establish a secure link with Outgoing "
        "server (SMTP) %S using STARTTLS since it doesn't advertise that feature. Switch off "
        "STARTTLS for that server or contact your service provider.",
    ),
    "smtp.login_failed": _entry(
        _MESSENGER,
        "mailServerLoginFailed2",
        "Échec de la connexion depuis le serveur %1$S avec le nom d’utilisateur %2$S.",
        "Login to server %1$S with username %2$S failed.",
    ),
    "smtp.auth_failed": _entry(
        _COMPOSE,
        "smtpAuthFailure",
        "Impossible de s’authentifier sur le serveur sortant (SMTP) %S. Veuillez vérifier votre "
        "mot de passe et la «\u00a0Méthode d’authentification\u00a0» dans le menu "
        "«\u00a0Paramètres des comptes | Serveur sortant (SMTP)\u00a0».",
        "Unable to authenticate to Outgoing server (SMTP) %S. Please check the password and "
        "verify the 'Authentication method' in 'Account Settings | Outgoing server (SMTP)'.",
    ),
    "smtp.encrypted_password_unsupported": _entry(
        _COMPOSE,
        "smtpHintAuthEncryptToPlainSsl",
        "Le serveur sortant (SMTP) %S ne semble pas gérer les mots de passe chiffrés. Si vous "
        "venez juste de définir le compte, veuillez modifier la «\u00a0Méthode "
        "d’authentification\u00a0» pour «\u00a0Mot de passe normal\u00a0» dans le menu "
        "«\u00a0Paramètres des comptes | Serveur sortant (SMTP)\u00a0». Si cela fonctionnait "
        "auparavant et que cela échoue à présent, veuillez contacter votre administrateur de "
        "messagerie ou votre fournisseur.",
        "The Outgoing server (SMTP) %S does not seem to support encrypted passwords. If you just "
        "set up the account, try changing the 'Authentication method' in 'Account settings | "
        "Outgoing server (SMTP)' to 'Normal password'.",
    ),
    "smtp.encrypted_password_unsupported_cleartext": _entry(
        _COMPOSE,
        "smtpHintAuthEncryptToPlainNoSsl",
        "Le serveur sortant (SMTP) %S ne semble pas gérer les mots de passe chiffrés. Si vous "
        "venez juste de définir le compte, veuillez modifier la «\u00a0Méthode "
        "d’authentification\u00a0» pour «\u00a0Mot de passe, transmission non "
        "sécurisée\u00a0» dans le menu «\u00a0Paramètres des comptes | Serveur sortant "
        "(SMTP)\u00a0». Si cela fonctionnait auparavant et que cela échoue à présent, il se "
        "pourrait que quelqu’un ait dérobé votre mot de passe.",
        "The Outgoing server (SMTP) %S does not seem to support encrypted passwords. If you just "
        "set up the account, try changing the 'Authentication method' in 'Account Settings | "
        "Outgoing server (SMTP)' to 'Password, transmitted insecurely'. If it used to work "
        "but now doesn't, you may be susceptible to getting your password stolen.",
    ),
    "smtp.plain_password_refused": _entry(
        _COMPOSE,
        "smtpHintAuthPlainToEncrypt",
        "Le serveur sortant (SMTP) %S n’autorise pas les mots de passe non chiffrés. Veuillez "
        "modifier la «\u00a0Méthode d’authentification\u00a0» pour «\u00a0Mot de passe "
        "chiffré\u00a0» dans le menu «\u00a0Paramètres des comptes | Serveur sortant "
        "(SMTP)\u00a0».",
        "The Outgoing server (SMTP) %S does not allow plaintext passwords. Please try changing "
        "the 'Authentication method' in 'Account Settings | Outgoing server (SMTP)' to "
        "'Encrypted password'.",
    ),
    "smtp.auth_method_unsupported": _entry(
        _COMPOSE,
        "smtpAuthMechNotSupported",
        "Le serveur sortant (SMTP) %S ne gère pas la méthode d’authentification sélectionnée. "
        "Veuillez modifier la «\u00a0Méthode d’authentification\u00a0» dans le menu "
        "«\u00a0Paramètres des comptes | Serveur sortant (SMTP)\u00a0».",
        "The Outgoing server (SMTP) %S does not support the selected authentication method. "
        "Please change the 'Authentication method' in 'Account Settings | Outgoing Server "
        "(SMTP)'.",
    ),
    "smtp.kerberos_failed": _entry(
        _COMPOSE,
        "smtpAuthGssapi",
        "Le ticket Kerberos/GSSAPI n’a pas été accepté par le serveur sortant (SMTP) %S. Veuillez "
        "vérifier que vous êtes connecté dans le flux Kerberos/GSSAPI.",
        "The Kerberos/GSSAPI ticket was not accepted by the Outgoing server (SMTP) %S. Please "
        "check that you are logged in to the Kerberos/GSSAPI realm.",
    ),
    "smtp.sender_refused": _entry(
        _COMPOSE,
        "errorSendingFromCommand",
        "Une erreur est survenue lors de l’envoi de l’e-mail. Le serveur e-mail a répondu\u00a0: "
        "%s. Veuillez vérifier que votre adresse e-mail dans les paramètres du compte est "
        "correcte et essayer à nouveau.",
        "An error occurred while sending mail. The mail server responded: %s. Please verify that "
        "your email address is correct in your account settings and try again.",
    ),
    "smtp.auth_required": _entry(
        _COMPOSE,
        "errorSendingFromCommand",
        "Une erreur est survenue lors de l’envoi de l’e-mail. Le serveur e-mail a répondu\u00a0: "
        "%s. Veuillez vérifier que votre adresse e-mail dans les paramètres du compte est "
        "correcte et essayer à nouveau.",
        "An error occurred while sending mail. The mail server responded: %s. Please verify that "
        "your email address is correct in your account settings and try again.",
    ),
    "smtp.recipient_refused": _entry(
        _COMPOSE,
        "errorSendingRcptCommand",
        "Une erreur est survenue lors de l’envoi de l’e-mail. Le serveur de courrier a "
        "répondu\u00a0: %1$S. Veuillez vérifier l’adresse du destinataire %2$S et essayer à "
        "nouveau.",
        "An error occurred while sending mail. The mail server responded:\n%1$S.\nPlease check "
        'the message recipient "%2$S" and try again.',
    ),
    "smtp.relay_refused": _entry(
        _COMPOSE,
        "errorSendingRcptCommand",
        "Une erreur est survenue lors de l’envoi de l’e-mail. Le serveur de courrier a "
        "répondu\u00a0: %1$S. Veuillez vérifier l’adresse du destinataire %2$S et essayer à "
        "nouveau.",
        "An error occurred while sending mail. The mail server responded:\n%1$S.\nPlease check "
        'the message recipient "%2$S" and try again.',
    ),
    "smtp.mailbox_full": _entry(
        _COMPOSE,
        "errorSendingRcptCommand",
        "Une erreur est survenue lors de l’envoi de l’e-mail. Le serveur de courrier a "
        "répondu\u00a0: %1$S. Veuillez vérifier l’adresse du destinataire %2$S et essayer à "
        "nouveau.",
        "An error occurred while sending mail. The mail server responded:\n%1$S.\nPlease check "
        'the message recipient "%2$S" and try again.',
    ),
    "smtp.data_refused": _entry(
        _COMPOSE,
        "errorSendingDataCommand",
        "Une erreur de serveur sortant (SMTP) est survenue lors de l’envoi de l’e-mail. Le "
        "serveur a répondu\u00a0: %s.",
        "An Outgoing server (SMTP) error occurred while sending mail. The server responded:  %s.",
    ),
    "smtp.message_refused": _entry(
        _COMPOSE,
        "errorSendingMessage",
        "Une erreur est survenue lors de l’envoi de l’e-mail. Le serveur a répondu\u00a0: %s. "
        "Veuillez vérifier le message et essayer à nouveau.",
        "An error occurred while sending mail. The mail server responded:  %s. Please check the "
        "message and try again.",
    ),
    "smtp.server_error": _entry(
        _COMPOSE,
        "smtpServerError",
        "Une erreur est survenue lors de l’envoi de l’e-mail\u00a0: erreur du serveur SMTP. Le "
        "serveur a répondu\u00a0: %s.",
        "An error occurred while sending mail: Outgoing server (SMTP) error. The server "
        "responded:  %s.",
    ),
    "smtp.message_too_big": _entry(
        _COMPOSE,
        "smtpPermSizeExceeded2",
        "Le message que vous essayez d’envoyer excède la taille globale limite du serveur. Le "
        "message n’a pas été envoyé\u00a0; réduisez la taille du message et essayez à "
        "nouveau. Le serveur à répondu\u00a0: «\u00a0%s\u00a0».",
        "The size of the message you are trying to send exceeds the global size limit of the "
        "server. The message was not sent; reduce the message size and try again. The server "
        "responded:  %s.",
    ),
    "smtp.too_many_recipients": _entry(
        _COMPOSE,
        "smtpTooManyRecipients",
        "Le message n’a pas été envoyé car le nombre de destinataires autorisé a été dépassé. Le "
        "serveur a répondu\u00a0: %s.",
        "The message was not sent due to exceeding the allowed number of recipients. The server "
        "responded: %s.",
    ),
    "smtp.non_ascii_recipient": _entry(
        _COMPOSE,
        "errorIllegalLocalPart2",
        "Des caractères non ASCII sont présents dans la partie locale de l’adresse e-mail du "
        "destinataire %s, mais votre serveur ne prend pas en charge SMTPUTF8. Veuillez "
        "modifier cette adresse puis réessayer.",
        "There are non-ASCII characters in the local part of the recipient address %s and your "
        "server does not support SMTPUTF8. Please change this address and try again.",
    ),
    "smtp.no_recipients": _entry(
        _COMPOSE,
        "noRecipients",
        "Aucun destinataire spécifié. Veuillez saisir un destinataire ou un groupe de discussion "
        "dans la zone d’adressage.",
        "No recipients were specified. Please enter a recipient or newsgroup in the addressing "
        "area.",
    ),
    "smtp.invalid_address_title": _entry(
        _COMPOSE,
        "addressInvalidTitle",
        "Adresse de destinataire invalide",
        "Invalid Recipient Address",
    ),
    "smtp.invalid_address": _entry(
        _COMPOSE,
        "addressInvalid",
        "%1$S n’est pas une adresse valide, car elle n’est pas au format utilisateur@domaine. "
        "Veuillez la corriger avant d’envoyer l’e-mail.",
        "%1$S is not a valid email address because it is not of the form user@host. You must "
        "correct it before sending the email.",
    ),
    "smtp.copy_to_sent_failed": _entry(
        _COMPOSE,
        "failedCopyOperation",
        "Le message a été envoyé avec succès, mais il n’a pas pu être copié dans le dossier "
        "Envoyés.",
        "The message was sent successfully, but could not be copied to your Sent folder.",
    ),
    "smtp.send_later_error_title": _entry(
        _COMPOSE,
        "sendLaterErrorTitle",
        "Erreur d’envoi différé",
        "Send Later Error",
    ),
    "smtp.send_later_failed": _entry(
        _COMPOSE,
        "unableToSendLater",
        "Impossible d’enregistrer votre message pour l’envoyer plus tard.",
        "Sorry, we were unable to save your message for sending later.",
    ),
    "smtp.sending": _entry(
        _COMPOSE,
        "sendingMessage",
        "Envoi du message…",
        "Sending message…",
    ),
    "smtp.delivering": _entry(
        _COMPOSE,
        "smtpDeliveringMail",
        "Envoi du courrier…",
        "Delivering mail…",
    ),
    "smtp.sent": _entry(
        _COMPOSE,
        "smtpMailSent",
        "Courrier envoyé avec succès",
        "Mail sent successfully",
    ),
    "smtp.password_prompt": _entry(
        _COMPOSE,
        "smtpEnterPasswordPromptWithUsername",
        "Saisissez votre mot de passe pour %2$S sur %1$S\u00a0:",
        "Enter your password for %2$S on %1$S:",
    ),
    "smtp.password_prompt_title": _entry(
        _COMPOSE,
        "smtpEnterPasswordPromptTitleWithHostname",
        "Mot de passe requis pour le serveur sortant (SMTP) %1$S",
        "Password Required for Outgoing (SMTP) Server %1$S",
    ),
    # Invalid server certificate: the notification, titled with the brand name
    # (certError.ftl); a click opens the exception dialog below.
    "cert.domain_mismatch": _entry(
        _CERT_ERROR,
        "cert-error-domain-mismatch",
        "Le certificat de { $hostname } n’est pas valide sur ce serveur. Quelqu’un pourrait "
        "essayer d’usurper l’identité du serveur et vous ne devriez pas continuer.",
        "The certificate for { $hostname } is not valid for that server. Someone could be trying "
        "to impersonate the server and you should not continue.",
    ),
    "cert.expired": _entry(
        _CERT_ERROR,
        "cert-error-expired",
        "Le certificat de { $hostname } a expiré le { $not-after }.",
        "The certificate for { $hostname } expired on { $not-after }.",
    ),
    "cert.not_yet_valid": _entry(
        _CERT_ERROR,
        "cert-error-not-yet-valid",
        "Le certificat pour { $hostname } ne sera pas valide jusqu’au { $not-before }.",
        "The certificate for { $hostname } will not be valid until { $not-before }.",
    ),
    "cert.untrusted": _entry(
        _CERT_ERROR,
        "cert-error-untrusted-default",
        "Le certificat pour { $hostname } ne provient pas d’une source sûre.",
        "The certificate for { $hostname } does not come from a trusted source.",
    ),
    "cert.connection_error": _entry(
        _CERT_ERROR,
        "cert-error-ssl-connection-error",
        "Une erreur est survenue lors de la connexion à { $hostname }.",
        "An error occurred connecting to { $hostname }.",
    ),
    "cert.inline.domain_mismatch": _entry(
        _CERT_ERROR,
        "cert-error-inline-domain-mismatch.title",
        "Erreur de connexion. Le certificat pour { $hostname } n’est pas valide pour ce serveur. "
        "Quelqu’un pourrait essayer d’usurper l’identité du serveur et vous ne devriez pas "
        "continuer. Cliquez pour ouvrir les paramètres de sécurité du serveur.",
        "Connection error. The certificate for { $hostname } is not valid for that server. "
        "Someone could be trying to impersonate the server and you should not continue. Click "
        "to open server security settings.",
    ),
    "cert.inline.expired": _entry(
        _CERT_ERROR,
        "cert-error-inline-expired.title",
        "Erreur de connexion. Le certificat pour { $hostname } a expiré le { $not-after }. "
        "Cliquez pour ouvrir les paramètres de sécurité du serveur.",
        "Connection error. The certificate for { $hostname } expired on { $not-after }. Click to "
        "open server security settings.",
    ),
    "cert.inline.untrusted": _entry(
        _CERT_ERROR,
        "cert-error-inline-untrusted-default.title",
        "Erreur de connexion. Le certificat pour { $hostname } ne provient pas d’une source sûre. "
        "Cliquez pour ouvrir les paramètres de sécurité du serveur.",
        "Connection error. The certificate for { $hostname } does not come from a trusted source. "
        "Click to open server security settings.",
    ),
    "cert.button.test": _entry(
        _CERT_ERROR,
        "certificate-check-test-button",
        "Tester la connexion au serveur",
        "Test connection to server",
    ),
    "cert.button.view": _entry(
        _CERT_ERROR,
        "certificate-check-view-button",
        "Afficher le certificat",
        "View Certificate",
    ),
    "cert.button.add_exception": _entry(
        _CERT_ERROR,
        "certificate-check-add-exception-button",
        "Ajouter une exception",
        "Add Exception",
    ),
    "cert.testing": _entry(
        _CERT_ERROR,
        "certificate-checking",
        "Test de la connexion au serveur { $hostname }…",
        "Testing connection to server { $hostname }…",
    ),
    "cert.test_success": _entry(
        _CERT_ERROR,
        "certificate-test-success",
        "Connexion sécurisée établie avec { $hostname }.",
        "Successfully established a secure connection to { $hostname }.",
    ),
    # The Add Security Exception dialog (certManager.ftl, shared with Firefox).
    "exception.title": _entry(
        _CERT_MANAGER,
        "exception-mgr.title",
        "Ajout d’une exception de sécurité",
        "Add Security Exception",
    ),
    "exception.confirm_button": _entry(
        _CERT_MANAGER,
        "exception-mgr-extra-button.label",
        "Confirmer l’exception de sécurité",
        "Confirm Security Exception",
    ),
    "exception.warning": _entry(
        _CERT_MANAGER,
        "add-exception-branded-warning",
        "Vous êtes en train de passer outre la façon dont { -brand-short-name } identifie ce site.",
        "You are about to override how { -brand-short-name } identifies this site.",
    ),
    "exception.supplemental_warning": _entry(
        _CERT_MANAGER,
        "exception-mgr-supplemental-warning",
        "Les banques, magasins et autres sites web publics légitimes ne vous demanderont pas de "
        "faire cela.",
        "Legitimate banks, stores, and other public sites will not ask you to do this.",
    ),
    "exception.location": _entry(
        _CERT_MANAGER,
        "exception-mgr-cert-location-url.value",
        "Adresse\u00a0:",
        "Location:",
    ),
    "exception.get_certificate": _entry(
        _CERT_MANAGER,
        "exception-mgr-cert-location-download.label",
        "Obtenir le certificat",
        "Get Certificate",
    ),
    "exception.view": _entry(
        _CERT_MANAGER,
        "exception-mgr-cert-status-view-cert.label",
        "Voir…",
        "View…",
    ),
    "exception.permanent": _entry(
        _CERT_MANAGER,
        "exception-mgr-permanent.label",
        "Conserver cette exception de façon permanente",
        "Permanently store this exception",
    ),
    "exception.invalid_header": _entry(
        _CERT_MANAGER,
        "add-exception-invalid-header",
        "Ce site essaie de s’identifier lui-même avec des informations invalides.",
        "This site attempts to identify itself with invalid information.",
    ),
    "exception.wrong_site": _entry(
        _CERT_MANAGER,
        "add-exception-domain-mismatch-short",
        "Mauvais site",
        "Wrong Site",
    ),
    "exception.wrong_site_long": _entry(
        _CERT_MANAGER,
        "add-exception-domain-mismatch-long",
        "Le certificat appartient à un site différent, ce qui pourrait indiquer que quelqu’un "
        "tente d’usurper l’identité de ce site.",
        "The certificate belongs to a different site, which could mean that someone is trying to "
        "impersonate this site.",
    ),
    "exception.outdated": _entry(
        _CERT_MANAGER,
        "add-exception-expired-short",
        "Informations obsolètes",
        "Outdated Information",
    ),
    "exception.outdated_long": _entry(
        _CERT_MANAGER,
        "add-exception-expired-long",
        "Le certificat n’est pas valide actuellement. Il a pu être volé ou perdu et peut être "
        "utilisé par quelqu’un pour usurper l’identité de ce site.",
        "The certificate is not currently valid. It may have been stolen or lost, and could be "
        "used by someone to impersonate this site.",
    ),
    "exception.unknown_identity": _entry(
        _CERT_MANAGER,
        "add-exception-unverified-or-bad-signature-short",
        "Identité inconnue",
        "Unknown Identity",
    ),
    "exception.unknown_identity_long": _entry(
        _CERT_MANAGER,
        "add-exception-unverified-or-bad-signature-long",
        "Le certificat n’est pas sûr car il est impossible de vérifier qu’il ait été délivré par "
        "une autorité de confiance utilisant une signature sécurisée.",
        "The certificate is not trusted because it hasn’t been verified as issued by a trusted "
        "authority using a secure signature.",
    ),
    "exception.valid": _entry(
        _CERT_MANAGER,
        "add-exception-valid-short",
        "Certificat valide",
        "Valid Certificate",
    ),
    "exception.valid_long": _entry(
        _CERT_MANAGER,
        "add-exception-valid-long",
        "Ce site fournit une identification valide et certifiée. Il n’est pas nécessaire "
        "d’ajouter une exception.",
        "This site provides valid, verified identification.  There is no need to add an exception.",
    ),
    "exception.checking": _entry(
        _CERT_MANAGER,
        "add-exception-checking-short",
        "Vérification des informations",
        "Checking Information",
    ),
    "exception.checking_long": _entry(
        _CERT_MANAGER,
        "add-exception-checking-long",
        "Tentative d’identification de ce site…",
        "Attempting to identify this site…",
    ),
    "exception.no_cert": _entry(
        _CERT_MANAGER,
        "add-exception-no-cert-short",
        "Pas d’informations disponibles",
        "No Information Available",
    ),
    "exception.no_cert_long": _entry(
        _CERT_MANAGER,
        "add-exception-no-cert-long",
        "Impossible d’obtenir l’état d’identification de ce site.",
        "Unable to obtain identification status for this site.",
    ),
}

# Thunderbird's brand terms (fr/mail/branding/thunderbird/brand.ftl), the same in both languages.
_TERMS = {
    "brand-shorter-name": "Thunderbird",
    "brand-short-name": "Thunderbird",
    "brand-product-name": "Thunderbird",
    "brand-full-name": "Mozilla Thunderbird",
}

_PLACEHOLDER = re.compile(
    r"%%|%(?:(?P<index>\d+)\$)?[SsdX]|\{\s*(?P<sigil>[$-])(?P<name>[A-Za-z][\w-]*)\s*\}"
)


def thunderbird(key: str, lang: str, *args: str, **kwargs: str) -> str:
    """The text of `key` in `lang` ("fr" or "en"), its placeholders filled.

    ``%S``, ``%s``, ``%d`` and ``%X`` take the positional arguments in order and
    ``%2$S`` the second one; ``{ $name }`` takes the keyword argument ``name``
    (underscores stand for the hyphens of Fluent names); ``{ -brand-short-name }``
    and the other brand terms become "Thunderbird". Raises KeyError for an
    unknown key and ValueError for an unknown language or a missing argument.
    """
    entry = STRINGS[key]
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: Thunderbird's strings here are in fr and en")
    text = entry[lang]
    position = 0

    def fill(match: re.Match[str]) -> str:
        nonlocal position
        if match.group(0) == "%%":
            return "%"
        name = match.group("name")
        if name is None:
            if match.group("index"):
                index = int(match.group("index")) - 1
            else:
                index = position
                position += 1
            if index >= len(args):
                raise ValueError(f"{key} needs argument {index + 1} for {match.group(0)}")
            return args[index]
        if match.group("sigil") == "-":
            if name not in _TERMS:
                raise ValueError(f"{key}: unknown Fluent term -{name}")
            return _TERMS[name]
        for candidate in (name, name.replace("-", "_")):
            if candidate in kwargs:
                return kwargs[candidate]
        raise ValueError(f"{key} needs the keyword argument {name.replace('-', '_')}")

    return _PLACEHOLDER.sub(fill, text)
