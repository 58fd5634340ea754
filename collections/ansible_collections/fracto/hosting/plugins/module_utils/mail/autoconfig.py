# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mail client autoconfiguration of a mail domain (issue 16, docs/mail.md#mail-client-autoconfiguration).

Thunderbird asks https://autoconfig.<domain>/mail/config-v1.1.xml (Mozilla's "autoconfig" format, version 1.1),
Outlook posts a POX request to https://autodiscover.<domain>/autodiscover/autodiscover.xml. Both answers name the
client's branded mail name (the MX of its branding, the name whose certificate IMAP and SMTP present by SNI), TLS
ports only (993, 995, 465 and 587 with STARTTLS) and the whole address as the login, as Dovecot and Postfix expect.
The answers hold the domain and the mail name only (checked names, no reseller text), built here as XML and served
inline by the mail domain's vhost (mail/mta_sts.py), so no script runs for them; the domain's own site serves
Thunderbird's document too, at its second lookup https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml
(web/sites.py), for a client whose domain's website is on the platform.
"""

from __future__ import annotations

import plistlib
import uuid
import xml.etree.ElementTree as ET

from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe

THUNDERBIRD_PATH = "/mail/config-v1.1.xml"
SITE_PATH = "/.well-known/autoconfig" + THUNDERBIRD_PATH  # Thunderbird's second lookup, on https://<domain>/
APPLE_PATH = "/apple.mobileconfig"  # an Apple configuration profile (iPhone, iPad, macOS Mail), unsigned
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"  # matched without case: Outlook also asks /Autodiscover/Autodiscover.xml
# (protocol, port, Thunderbird's socketType): TLS only, as the mail host serves them (no plaintext 143/110/25 login).
INCOMING = (("imap", 993, "SSL"), ("pop3", 995, "SSL"))
OUTGOING = (("smtp", 465, "SSL"), ("smtp", 587, "STARTTLS"))
POX_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
POX_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def _child(parent, tag, text=None, **attrs):
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = str(text)
    return node


def _xml(root):
    ET.indent(root, "  ")  # one element a line: what a person reading the answer expects
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + ET.tostring(root, encoding="unicode") + "\n"


def thunderbird(domain, mail_name):
    """The clientConfig document of domain, its servers at mail_name (both checked host names)."""
    domain = safe.domain(domain, "autoconfig.domain")
    mail_name = safe.hostname(mail_name, "autoconfig.mail_name")
    root = ET.Element("clientConfig", {"version": "1.1"})
    provider = _child(root, "emailProvider", id=domain)
    _child(provider, "domain", domain)
    _child(provider, "displayName", "Mail of %s" % domain)
    _child(provider, "displayShortName", domain)
    for tag, servers in (("incomingServer", INCOMING), ("outgoingServer", OUTGOING)):
        for kind, port, socket_type in servers:
            server = _child(provider, tag, type=kind)
            _child(server, "hostname", mail_name)
            _child(server, "port", port)
            _child(server, "socketType", socket_type)
            _child(server, "authentication", "password-cleartext")  # over TLS: Dovecot and Postfix take PLAIN/LOGIN
            _child(server, "username", "%EMAILADDRESS%")
    return _xml(root)


def autodiscover(mail_name):
    """Outlook's POX autodiscover answer: IMAP on 993 and SMTP on 465 at mail_name, SSL on, the address as login."""
    mail_name = safe.hostname(mail_name, "autodiscover.mail_name")
    root = ET.Element("Autodiscover", {"xmlns": POX_RESPONSE})
    account = _child(_child(root, "Response", xmlns=POX_OUTLOOK), "Account")
    _child(account, "AccountType", "email")
    _child(account, "Action", "settings")
    for kind, port in (("IMAP", 993), ("SMTP", 465)):
        protocol = _child(account, "Protocol")
        for tag, text in (("Type", kind), ("Server", mail_name), ("Port", port), ("DomainRequired", "off"), ("SPA", "off"),
                          ("SSL", "on"), ("AuthRequired", "on")):
            _child(protocol, tag, text)
    return _xml(root)


def apple_profile(domain, mail_name):
    """An Apple configuration profile (com.apple.mail.managed) for an IMAP account of domain at mail_name: IMAP 993 and
    SMTP 465 over SSL, the user types its address and password on the device. Its UUIDs are derived from the names, so
    the same domain always gets the same profile (a rerun changes nothing; installing it again replaces it)."""
    domain = safe.domain(domain, "autoconfig.domain")
    mail_name = safe.hostname(mail_name, "autoconfig.mail_name")
    ident = "hosting.fracto.mail." + domain
    account = {
        "PayloadType": "com.apple.mail.managed", "PayloadVersion": 1, "PayloadIdentifier": ident + ".account",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, "account." + domain)).upper(),
        "PayloadDisplayName": "Mail of %s" % domain, "EmailAccountDescription": domain, "EmailAccountType": "EmailTypeIMAP",
        "IncomingMailServerHostName": mail_name, "IncomingMailServerPortNumber": 993, "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": mail_name, "OutgoingMailServerPortNumber": 465, "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword", "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": ident,
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, "profile." + domain)).upper(),
        "PayloadDisplayName": "Mail of %s" % domain, "PayloadContent": [account],
    }
    return plistlib.dumps(profile, sort_keys=True).decode("utf-8")


def nginx_string(text):
    """text as the body of an nginx double-quoted string (`return 200 "..."`): backslash, quote and line ends escaped.
    A `$` would be read as a variable and is refused (the documents above hold checked names only)."""
    if "$" in text:
        raise safe.UnsafeValue("autoconfig", "a document served inline cannot hold '$'")
    return text.replace("\\", "\\\\").replace("\"", "\\\"").replace("\r", "\\r").replace("\n", "\\n")
