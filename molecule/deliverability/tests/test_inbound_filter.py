"""Inbound filtering on mail01 (issue 13): rspamd scores what Postfix receives on port 25, Sieve files spam into Junk.

mx01 plays the outside mail server: it sends to info@cliente1.test on port 25 with STARTTLS, as any MTA would. A clean
message lands in INBOX; one carrying GTUBE's "add header" variant (obeyed in the lab only:
fracto_mail__rspamd_test_patterns) is marked "X-Spam: Yes" by rspamd and filed into Junk by the Sieve script Dovecot
runs before the mailbox's own; one carrying GTUBE itself is refused (5xx) while mx01 is connected, and is nowhere.
The mailbox is read over IMAPS from this machine, verified against Pebble's root.
"""

import os
import ssl
import time
import uuid

import pytest
import testinfra
from conftest import LabIMAP4SSL, script_answer

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
MAILBOX = "info@cliente1.test"
NAME = "mail.cliente1.test"
GTUBE_BODY = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_ADD_HEADER = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# Run on mx01: one message to mail01:25 (STARTTLS), a proper one (Date, Message-ID); prints the server's answer.
SEND = r"""
import email.utils, smtplib, ssl, sys
mail01, subject, body = sys.argv[1:4]
message = ("From: Sender <news@inbox.test>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
           % ("info@cliente1.test", subject, email.utils.formatdate(), email.utils.make_msgid(domain="inbox.test"), body))
with smtplib.SMTP(mail01, 25, local_hostname="mx01.fracto.test", timeout=30) as smtp:
    smtp.starttls(context=ssl._create_unverified_context())
    smtp.ehlo()
    try:
        smtp.sendmail("news@inbox.test", ["info@cliente1.test"], message)
        print("250 accepted")
    except smtplib.SMTPDataError as error:
        print(error.smtp_code, error.smtp_error.decode())
"""


def send_from_mx01(mail01, subject, body):
    """(code, text) of mail01's answer to mx01's message."""
    return script_answer(MX01, SEND, mail01, subject, body)


@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


def folders_with(mail01, verified, password, subject, wait=30):
    """The folders (INBOX, Junk) that hold the message with subject, once any does (polled for wait seconds)."""
    deadline = time.time() + wait
    while True:
        found = []
        with LabIMAP4SSL(mail01, NAME, verified) as imap:
            imap.login(MAILBOX, password)
            for folder in ("INBOX", "Junk"):
                imap.select(folder, readonly=True)
                _typ, data = imap.search(None, "SUBJECT", subject)
                if data[0].split():
                    found.append(folder)
        if found or time.time() >= deadline:
            return found
        time.sleep(1)


def header_of(mail01, verified, password, folder, subject, header):
    with LabIMAP4SSL(mail01, NAME, verified) as imap:
        imap.login(MAILBOX, password)
        imap.select(folder, readonly=True)
        _typ, data = imap.search(None, "SUBJECT", subject)
        _typ, fetched = imap.fetch(data[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (%s)])" % header)
        return fetched[0][1].decode().strip()


def test_rspamd_scores_port_25_and_dovecot_runs_the_junk_script():
    milters = MAIL01.check_output("postconf -h smtpd_milters non_smtpd_milters").splitlines()
    assert milters[0] == milters[1] and milters[0].endswith(":11332"), milters  # rspamd's proxy, as for DKIM
    assert MAIL01.file("/etc/dovecot/fracto/sieve/spam-to-junk.svbin").exists  # compiled by the role (sievec)
    sieve = MAIL01.check_output("doveconf -h plugin/sieve_before")
    assert sieve == "/etc/dovecot/fracto/sieve/spam-to-junk.sieve"
    assert MAIL01.run("rspamadm configtest").rc == 0


def test_a_clean_message_lands_in_inbox(mail01_address, verified, vault):
    subject = "clean-" + uuid.uuid4().hex[:10]
    assert send_from_mx01(mail01_address, subject, "The minutes of Monday's meeting are attached.")[0] == 250
    assert folders_with(mail01_address, verified, vault["vault_cliente1_info_password"], subject) == ["INBOX"]


def test_marked_spam_lands_in_junk(mail01_address, verified, vault):
    subject = "spam-" + uuid.uuid4().hex[:10]
    assert send_from_mx01(mail01_address, subject, GTUBE_ADD_HEADER)[0] == 250
    password = vault["vault_cliente1_info_password"]
    assert folders_with(mail01_address, verified, password, subject) == ["Junk"]
    assert header_of(mail01_address, verified, password, "Junk", subject, "X-Spam") == "X-Spam: Yes"


def test_gtube_is_refused_while_the_sender_is_connected(mail01_address, verified, vault):
    subject = "gtube-" + uuid.uuid4().hex[:10]
    code, text = send_from_mx01(mail01_address, subject, GTUBE_BODY)
    assert 500 <= code < 600, (code, text)
    assert folders_with(mail01_address, verified, vault["vault_cliente1_info_password"], subject, wait=5) == []
