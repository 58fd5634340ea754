"""Sender binding on mail01 (issue 13): an authenticated mailbox sends only as its own address and its aliases.

A mailbox of cliente1 logged in on submission (587, STARTTLS) or submissions (465) that gives as envelope sender an
address of cliente2's domain (whose mail leaves from cliente2's dedicated address) is refused with Postfix's 553 5.7.1
and nothing reaches either recipient, the local one or the one outside (mx01); the same login sending as itself or
as the alias sales@cliente1.test (info and ana) is delivered. Every connection goes from this machine over the lab
network with TLS verified against Pebble's root, as a mail client would.
"""

import os
import smtplib
import ssl
import time
import uuid

import pytest
import testinfra
from conftest import LabIMAP4SSL, LabSMTPS

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
MX01_INBOX = "/var/mail/lab-mx/inbox/new"   # molecule/lab/roles/lab_mx: every inbox.test address lands here
NAME = "mail.cliente1.test"                 # cliente1's branded mail name (its certificate is served by SNI)
LOGINS = {"info@cliente1.test": "vault_cliente1_info_password", "ana@cliente1.test": "vault_cliente1_ana_password"}


@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


def session(port, address, context, login, password):
    """An authenticated submission session on port (587 with STARTTLS, or 465) as login."""
    if port == 465:
        smtp = LabSMTPS(address, NAME, context)
    else:
        smtp = smtplib.SMTP(address, 587, local_hostname="tester.fracto.test", timeout=20)
        smtp._host = NAME  # the SNI name smtplib sends with STARTTLS
        smtp.starttls(context=context)
    smtp.ehlo()
    smtp.login(login, password)
    return smtp


def message(sender, recipients, subject):
    return "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nWho may send as %s?\r\n" % (sender, ", ".join(recipients), subject, sender)


def inbox_has(address, password, subject, mail01_address, context, wait=30):
    """True once the message with subject is in address's INBOX (polled for wait seconds, read over IMAPS)."""
    deadline = time.time() + wait
    while True:
        with LabIMAP4SSL(mail01_address, NAME, context) as imap:
            imap.login(address, password)
            imap.select("INBOX", readonly=True)
            _typ, data = imap.search(None, "SUBJECT", subject)
            found = bool(data[0].split())
        if found or time.time() >= deadline:
            return found
        time.sleep(1)


def test_the_login_map_gives_each_address_its_owners():
    """What Postfix reads (the compiled lmdb map), not only the source file."""
    def owners(key):
        return MAIL01.run("postmap -q %s lmdb:/etc/postfix/fracto/sender_logins" % key)

    assert owners("info@cliente1.test").stdout.strip() == "info@cliente1.test"
    assert owners("sales@cliente1.test").stdout.strip() == "ana@cliente1.test,info@cliente1.test"
    assert owners("info@xn--caff-8oa.test").stdout.strip() == "hola@cliente2.test"   # cliente2's alias: its mailbox
    assert owners("@cliente2.test").rc == 1 and owners("nobody@cliente2.test").rc == 1  # no catch-all, no stranger


@pytest.mark.parametrize("port", [587, 465])
@pytest.mark.parametrize("sender", ["hola@cliente2.test", "info@xn--caff-8oa.test", "nobody@cliente2.test",
                                    "someone@outside.example"])
def test_a_mailbox_of_cliente1_cannot_send_as_another_address(mail01_address, verified, vault, port, sender):
    """Refused at RCPT (smtpd_delay_reject) with 553 5.7.1 naming the sender and the login; no recipient is accepted,
    so nothing is queued: neither ana (local) nor the outside recipient on mx01 ever gets it."""
    token = uuid.uuid4().hex[:12]
    subject = "fracto-spoof-%s" % token
    outside = "probe-%s@inbox.test" % token
    recipients = ["ana@cliente1.test", outside]
    smtp = session(port, mail01_address, verified, "info@cliente1.test", vault[LOGINS["info@cliente1.test"]])
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail(sender, recipients, message(sender, recipients, subject))
    finally:
        smtp.quit()
    expected = "5.7.1 <%s>: Sender address rejected: not owned by user info@cliente1.test" % sender
    assert refused.value.recipients == {r: (553, expected.encode()) for r in recipients}
    assert not inbox_has("ana@cliente1.test", vault[LOGINS["ana@cliente1.test"]], subject, mail01_address, verified, wait=10)
    assert MX01.run("grep -r -l -- %s %s" % (token, MX01_INBOX)).rc == 1, "the refused message reached mx01"
    assert token not in MAIL01.check_output("postqueue -p")


@pytest.mark.parametrize("port", [587, 465])
@pytest.mark.parametrize("login, sender", [
    ("info@cliente1.test", "info@cliente1.test"),     # its own address
    ("info@cliente1.test", "sales@cliente1.test"),    # an alias that delivers to it
    ("ana@cliente1.test", "sales@cliente1.test"),     # the same alias, its other mailbox
])
def test_a_mailbox_sends_as_itself_and_as_its_aliases(mail01_address, verified, vault, port, login, sender):
    subject = "fracto-sender-%s" % uuid.uuid4().hex[:12]
    recipients = ["ana@cliente1.test"]
    smtp = session(port, mail01_address, verified, login, vault[LOGINS[login]])
    try:
        assert smtp.sendmail(sender, recipients, message(sender, recipients, subject)) == {}
    finally:
        smtp.quit()
    assert inbox_has("ana@cliente1.test", vault[LOGINS["ana@cliente1.test"]], subject, mail01_address, verified)


@pytest.mark.parametrize("port", [587, 465])
@pytest.mark.parametrize("header_from", ["hola@cliente2.test", "sales@cliente1.test",
                                         "info@cliente1.test, hola@cliente2.test"])
def test_a_from_header_other_than_the_envelope_sender_is_refused(mail01_address, verified, vault, port, header_from):
    """The envelope sender is the login's own, but the From: a reader sees (and DMARC judges) is another address, even
    one of its own aliases, or several: rspamd refuses the message at the end of DATA (5.7.1), nothing is delivered."""
    token = uuid.uuid4().hex[:12]
    outside = "from-%s@inbox.test" % token
    smtp = session(port, mail01_address, verified, "info@cliente1.test", vault[LOGINS["info@cliente1.test"]])
    body = "From: %s\r\nTo: %s\r\nSubject: fracto-from-%s\r\n\r\nWho wrote this?\r\n" % (header_from, outside, token)
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("info@cliente1.test", [outside], body)
    finally:
        smtp.quit()
    assert refused.value.smtp_code == 554 and b"5.7.1 The From: header must be the address you send as" in refused.value.smtp_error
    assert MX01.run("grep -r -l -- %s %s" % (token, MX01_INBOX)).rc == 1, "the refused message reached mx01"
    assert token not in MAIL01.check_output("postqueue -p")


def test_a_from_header_with_a_display_name_and_another_case_is_the_same_sender(mail01_address, verified, vault):
    token = uuid.uuid4().hex[:12]
    outside = "from-%s@inbox.test" % token
    smtp = session(587, mail01_address, verified, "info@cliente1.test", vault[LOGINS["info@cliente1.test"]])
    body = 'From: "Info, Cliente1" <Info@Cliente1.test>\r\nTo: %s\r\nSubject: fracto-from-%s\r\n\r\nHello\r\n' % (outside, token)
    try:
        assert smtp.sendmail("info@cliente1.test", [outside], body) == {}
    finally:
        smtp.quit()
    deadline = time.time() + 60
    while MX01.run("grep -r -l -- %s %s" % (token, MX01_INBOX)).rc != 0:
        assert time.time() < deadline, "the message never reached mx01"
        time.sleep(1)
