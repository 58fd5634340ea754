"""Mail client autoconfiguration (issue 16): what Thunderbird and Outlook find for a client's mail domain.

Each request is made as the mail client makes it: autoconfig.<domain> or autodiscover.<domain> resolved in the lab
DNS (the state's DNS map), HTTPS verified against Pebble's root with the name as SNI. One client of each branding of
the demo: cliente1 (its own names), cliente2 (the reseller's), cliente3 (the platform's generic mail host name).
"""

import http.client
import plistlib
import ssl
import xml.etree.ElementTree as ET

import pytest
from conftest import LabIMAP4SSL, LabSMTPS, https_get

BRANDED = [("cliente1.test", "mail.cliente1.test"),          # client branding
           ("cliente2.test", "mail.dominioreseller.test"),   # reseller branding
           ("xn--caff-8oa.test", "mail.dominioreseller.test"),
           ("cliente3.test", "mail01.fracto.test")]          # generic
CONTACTO = ("contacto@cliente3.test", "demo-cliente3-contacto")  # its hash is in the inventory, not the vault
POX = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
POX_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"""


def thunderbird_document(lab_resolve, pebble_root, domain, address):
    """(status, headers, parsed document) of Thunderbird's first lookup for address (its autoconfig URL)."""
    name = "autoconfig." + domain
    status, headers, body, cert = https_get(lab_resolve(name)[0], name, pebble_root,
                                            "/mail/config-v1.1.xml?emailaddress=" + address)
    assert name in [v for k, v in cert["subjectAltName"] if k == "DNS"]
    return status, headers, ET.fromstring(body)


@pytest.mark.parametrize("domain, mail_name", BRANDED)
def test_thunderbird_finds_the_branded_servers_over_verified_https(lab_resolve, mail01_address, pebble_root, domain, mail_name):
    assert lab_resolve("autoconfig." + domain) == [mail01_address]
    status, headers, root = thunderbird_document(lab_resolve, pebble_root, domain, "someone@" + domain)
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    provider = root.find("emailProvider")
    assert provider.get("id") == domain and provider.findtext("domain") == domain
    servers = {(s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"))
               for s in provider if s.tag in ("incomingServer", "outgoingServer")}
    assert servers == {("imap", mail_name, "993", "SSL"), ("pop3", mail_name, "995", "SSL"),
                       ("smtp", mail_name, "465", "SSL"), ("smtp", mail_name, "587", "STARTTLS")}


@pytest.mark.parametrize("domain, mail_name", BRANDED[:2])
def test_the_clients_own_site_answers_thunderbirds_second_lookup(lab_resolve, pebble_root, domain, mail_name):
    """https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml, asked when autoconfig.<domain> does not answer,
    is served by the domain's website on the web host, with the same settings."""
    [address] = lab_resolve(domain)  # cloud01, or the client's dedicated address there
    status, headers, body, _cert = https_get(address, domain, pebble_root, "/.well-known/autoconfig/mail/config-v1.1.xml")
    assert status == 200 and headers["Content-Type"].startswith("application/xml"), (status, headers, body[:200])
    provider = ET.fromstring(body).find("emailProvider")
    assert provider.get("id") == domain
    assert {s.findtext("hostname") for s in provider if s.tag.endswith("Server")} == {mail_name}


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"])
@pytest.mark.parametrize("domain, mail_name", BRANDED)
def test_outlook_autodiscover_answers_a_pox_request(lab_resolve, mail01_address, pebble_root, domain, mail_name, path):
    name = "autodiscover." + domain
    assert lab_resolve(name) == [mail01_address]
    status, headers, body, _cert = https_get(mail01_address, name, pebble_root, path, method="POST",
                                             body=POX_REQUEST % ("someone@" + domain),
                                             headers={"Content-Type": "text/xml"})
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    account = ET.fromstring(body).find(POX + "Response/" + POX + "Account")
    protocols = {(p.findtext(POX + "Type"), p.findtext(POX + "Server"), p.findtext(POX + "Port"), p.findtext(POX + "SSL"))
                 for p in account.findall(POX + "Protocol")}
    assert protocols == {("IMAP", mail_name, "993", "on"), ("SMTP", mail_name, "465", "on")}


def test_the_settings_thunderbird_gets_log_in_for_real(lab_resolve, pebble_root):
    """The generic client's document, used as Thunderbird uses it: IMAP and SMTP at the named host and ports, TLS
    verified for that name, the address as login."""
    address, password = CONTACTO
    _status, _headers, root = thunderbird_document(lab_resolve, pebble_root, "cliente3.test", address)
    provider = root.find("emailProvider")
    verified = ssl.create_default_context(cadata=pebble_root)
    imap = provider.find("incomingServer[@type='imap']")
    host = imap.findtext("hostname")
    login = imap.findtext("username").replace("%EMAILADDRESS%", address)
    with LabIMAP4SSL(lab_resolve(host)[0], host, verified) as client:
        assert client.login(login, password)[0] == "OK"
    smtp = provider.find("outgoingServer[socketType='SSL']")
    assert smtp.findtext("port") == "465"
    with LabSMTPS(lab_resolve(host)[0], host, verified) as client:
        assert client.ehlo()[0] == 250 and client.login(login, password)[0] == 235


@pytest.mark.parametrize("domain, mail_name", BRANDED)
def test_an_apple_device_gets_a_profile_of_the_branded_imap_account(lab_resolve, pebble_root, domain, mail_name):
    name = "autoconfig." + domain
    status, headers, body, _cert = https_get(lab_resolve(name)[0], name, pebble_root, "/apple.mobileconfig")
    assert status == 200 and headers["Content-Type"] == "application/x-apple-aspen-config"
    assert headers["Content-Disposition"] == 'attachment; filename="%s.mobileconfig"' % domain
    [account] = plistlib.loads(body.encode())["PayloadContent"]
    assert (account["IncomingMailServerHostName"], account["IncomingMailServerPortNumber"]) == (mail_name, 993)
    assert (account["OutgoingMailServerHostName"], account["OutgoingMailServerPortNumber"]) == (mail_name, 465)
    assert account["IncomingMailServerUseSSL"] and account["OutgoingMailServerUseSSL"]


def test_no_document_is_served_over_plain_http(lab_resolve):
    name = "autoconfig.cliente1.test"
    conn = http.client.HTTPConnection(lab_resolve(name)[0], 80, timeout=10)
    conn.request("GET", "/mail/config-v1.1.xml", headers={"Host": name})
    assert conn.getresponse().status == 404
