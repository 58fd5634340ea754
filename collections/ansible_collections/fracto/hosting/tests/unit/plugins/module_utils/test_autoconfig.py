# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mail client autoconfiguration (module_utils/mail/autoconfig.py): Thunderbird's document and Outlook's POX answer
name the branded mail name, TLS ports only and the address as login, and reach nginx as a string it cannot misread."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.mail import autoconfig, mta_sts, safe
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from ansible_collections.fracto.hosting.plugins.module_utils.web import sites as web
from role_templates import mail_templates, web_templates

POX = "{%s}" % autoconfig.POX_OUTLOOK


def test_thunderbird_gets_the_branded_name_tls_ports_and_the_address_as_login():
    root = ET.fromstring(autoconfig.thunderbird("cliente1.test", "mail.cliente1.test"))
    provider = root.find("emailProvider")
    assert root.get("version") == "1.1" and provider.get("id") == "cliente1.test"
    assert provider.findtext("domain") == "cliente1.test"
    servers = [(s.tag, s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"),
                s.findtext("username")) for s in provider if s.tag.endswith("Server")]
    assert servers == [
        ("incomingServer", "imap", "mail.cliente1.test", "993", "SSL", "%EMAILADDRESS%"),
        ("incomingServer", "pop3", "mail.cliente1.test", "995", "SSL", "%EMAILADDRESS%"),
        ("outgoingServer", "smtp", "mail.cliente1.test", "465", "SSL", "%EMAILADDRESS%"),
        ("outgoingServer", "smtp", "mail.cliente1.test", "587", "STARTTLS", "%EMAILADDRESS%"),
    ]


def test_outlook_gets_imap_and_smtp_over_ssl_at_the_branded_name():
    root = ET.fromstring(autoconfig.autodiscover("mail.dominioreseller.test"))
    account = root.find(POX + "Response/" + POX + "Account")
    assert account.findtext(POX + "Action") == "settings"
    protocols = [(p.findtext(POX + "Type"), p.findtext(POX + "Server"), p.findtext(POX + "Port"), p.findtext(POX + "SSL"))
                 for p in account.findall(POX + "Protocol")]
    assert protocols == [("IMAP", "mail.dominioreseller.test", "993", "on"), ("SMTP", "mail.dominioreseller.test", "465", "on")]


@pytest.mark.parametrize("domain, mail_name, field", [
    ('a.test";return 200 "x', "mail.a.test", "autoconfig.domain"),
    ("a.test", "mail.a.test</hostname><hostname>evil.test", "autoconfig.mail_name"),
    ("a.test", "$host", "autoconfig.mail_name"),
])
def test_a_value_that_is_not_a_checked_name_is_refused(domain, mail_name, field):
    with pytest.raises(safe.UnsafeValue) as refused:
        autoconfig.thunderbird(domain, mail_name)
    assert refused.value.field == field


def test_the_nginx_string_escapes_quotes_backslashes_and_line_ends_and_refuses_a_variable():
    assert autoconfig.nginx_string('a "b" \\ c\r\nd') == 'a \\"b\\" \\\\ c\\r\\nd'
    with pytest.raises(safe.UnsafeValue, match=r"\$"):
        autoconfig.nginx_string("$remote_addr")


def test_the_domain_vhost_serves_both_documents_over_https_only():
    entry = {"domain": "a.test", "client": "c1", "mx": "mail.a.test"}
    path = mta_sts.vhost_path("a.test")
    before = mta_sts.render([entry], {}, templates=mail_templates())[path]
    assert "config-v1.1.xml" not in before and "autodiscover.xml" not in before
    cert = ("/etc/fracto/tls/mta-sts.a.test/fullchain.pem", "/etc/fracto/tls/mta-sts.a.test/privkey.pem")
    after = mta_sts.render([entry], {"mta-sts.a.test": cert}, templates=mail_templates())[path]
    assert "location = /mail/config-v1.1.xml {" in after
    assert "location ~* ^/autodiscover/autodiscover\\.xml$ {" in after
    body = autoconfig.nginx_string(autoconfig.thunderbird("a.test", "mail.a.test"))
    assert 'return 200 "%s";' % body in after


def test_a_mail_domains_own_site_serves_thunderbirds_second_lookup(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    sites = {s["name"]: s for s in resolve_state(model)["hosts"]["cloud01"]["sites"]}
    assert sites["cliente1.test"]["mail_autoconfig"] == "mail.cliente1.test"       # client branding
    assert sites["cliente2.test"]["mail_autoconfig"] == "mail.dominioreseller.test"  # reseller branding
    assert "mail_autoconfig" not in sites["blog.cliente1.test"]  # a subdomain is no mail domain
    vhost = web.render_site(sites["cliente1.test"], None, templates=web_templates())
    body = autoconfig.nginx_string(autoconfig.thunderbird("cliente1.test", "mail.cliente1.test"))
    assert "    location = /.well-known/autoconfig/mail/config-v1.1.xml {\n" in vhost
    assert '        return 200 "%s";\n' % body in vhost
    assert "config-v1.1.xml" not in web.render_site(sites["blog.cliente1.test"], None, templates=web_templates())


def test_web_sites_refuses_a_mail_name_that_is_not_a_dns_name():
    site = {"client": "c1", "user": "c1", "name": "a.test", "aliases": [], "docroot": "/srv/www/c1/a.test/public", "php": None,
            "tls": "none", "mail_autoconfig": 'mail.a.test";return 200 "x'}
    user = {"name": "c1", "client": "c1", "home": "/srv/www/c1"}
    with pytest.raises(Refused) as refused:
        web.check_args([site], [], [user], ["c1"])
    assert "sites[0].mail_autoconfig" in str(refused.value)


def test_apple_devices_get_a_profile_of_the_imap_account_that_is_the_same_at_every_run():
    profile = plistlib.loads(autoconfig.apple_profile("cliente1.test", "mail.cliente1.test").encode())
    assert profile["PayloadType"] == "Configuration" and profile["PayloadIdentifier"] == "hosting.fracto.mail.cliente1.test"
    [account] = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed" and account["EmailAccountType"] == "EmailTypeIMAP"
    assert (account["IncomingMailServerHostName"], account["IncomingMailServerPortNumber"], account["IncomingMailServerUseSSL"]) \
        == ("mail.cliente1.test", 993, True)
    assert (account["OutgoingMailServerHostName"], account["OutgoingMailServerPortNumber"], account["OutgoingMailServerUseSSL"]) \
        == ("mail.cliente1.test", 465, True)
    assert autoconfig.apple_profile("cliente1.test", "mail.cliente1.test") == autoconfig.apple_profile("cliente1.test", "mail.cliente1.test")
    other = plistlib.loads(autoconfig.apple_profile("cliente2.test", "mail.cliente1.test").encode())
    assert other["PayloadUUID"] != profile["PayloadUUID"]
    vhost = mta_sts.render([{"domain": "a.test", "client": "c1", "mx": "mail.a.test"}],
                           {"mta-sts.a.test": ("/x/fullchain.pem", "/x/privkey.pem")}, templates=mail_templates())
    text = vhost[mta_sts.vhost_path("a.test")]
    assert "location = /apple.mobileconfig {" in text and "default_type application/x-apple-aspen-config;" in text
    assert 'filename="a.test.mobileconfig"' in text
