"""DKIM on mail01 (issue 13): mail from cliente1 reaches mx01 signed, and the signature verifies against the key
published in the lab DNS.

The converge (molecule/mail/converge.yml) runs site.yml, whose fracto_mail role makes a key per mail domain on mail01
(fracto.hosting.mail_server, module_utils/mail/dkim.py), then molecule/lab/mail_dkim_dns.yml publishes the TXT records
of the run's report (site__report.mail_dns, DKIM included) in the lab DNS. Here a mailbox of cliente1 sends through
submission (587, STARTTLS verified against Pebble's root) to inbox.test, whose MX is mx01; the message as mx01 stored
it is verified by dkimpy (a verifier of its own, not our code) with the key it finds in the lab DNS. Needs: the lab
up (make demo or molecule converge -s mail), dkimpy on the controller (requirements.txt).
"""

import os
import ssl
import time
import uuid

import dkim
import dns.resolver
import pytest
import testinfra
from conftest import LAB_DNS
from test_sender_binding import LOGINS, MX01_INBOX, message, session

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
SENDER = "info@cliente1.test"


@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


def lab_txt(name):
    """dkimpy's dnsfunc: the TXT record at name as the lab DNS serves it (its strings joined), or None."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    resolver.lifetime = 5
    try:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    return b"".join(answer[0].strings)


def received_on_mx01(token, wait=60):
    """The bytes of the message carrying token in mx01's inbox (polled for wait seconds)."""
    deadline = time.time() + wait
    while time.time() < deadline:
        found = MX01.run("grep -r -l -- %s %s" % (token, MX01_INBOX))
        if found.rc == 0:
            return MX01.file(found.stdout.split()[0]).content
        time.sleep(1)
    pytest.fail("the message %s never reached mx01" % token)


@pytest.fixture(scope="module")
def signed_message(vault, mail01_address, verified):
    token = uuid.uuid4().hex
    smtp = session(587, mail01_address, verified, SENDER, vault[LOGINS[SENDER]])
    try:
        smtp.sendmail(SENDER, ["dkim-%s@inbox.test" % token], message(SENDER, ["dkim-%s@inbox.test" % token], "dkim " + token))
    finally:
        smtp.quit()
    return received_on_mx01(token)


def test_the_message_reaches_mx01_signed_by_cliente1s_domain(signed_message):
    signature = dkim.DKIM(signed_message)
    headers = [value for name, value in signature.headers if name.lower() == b"dkim-signature"]
    assert headers, "no DKIM-Signature on the message mx01 received"
    tags = dkim.util.parse_tag_value(headers[0].replace(b"\r\n", b"").replace(b" ", b"").replace(b"\t", b""))
    assert tags[b"d"] == b"cliente1.test" and tags[b"a"] == b"rsa-sha256" and tags[b"s"].startswith(b"fr")


def test_the_signature_verifies_against_the_key_in_the_lab_dns(signed_message):
    assert dkim.verify(signed_message, dnsfunc=lambda name, timeout=5: lab_txt(name))


def test_a_changed_body_no_longer_verifies(signed_message):
    """The verifier is really checking: the same message with one word changed fails."""
    tampered = signed_message.replace(b"Who may send", b"Who can send")
    assert tampered != signed_message
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: lab_txt(name))


def test_the_private_key_stays_on_mail01_readable_by_rspamd_only():
    index = MAIL01.file("/etc/fracto/dkim/index.json")
    assert index.exists and "PRIVATE" not in index.content_string
    keys = MAIL01.run("ls /etc/fracto/dkim/keys").stdout.split()
    assert any(k.startswith("cliente1.test.fr") for k in keys)
    for name in keys:
        key = MAIL01.file("/etc/fracto/dkim/keys/" + name)
        assert (key.user, key.group, key.mode) == ("root", "_rspamd", 0o640)
    directory = MAIL01.file("/etc/fracto/dkim/keys")
    assert (directory.user, directory.group, directory.mode) == ("root", "_rspamd", 0o750)
