"""Greylisting per package on mail01 (issue 13): the entry package has it (cliente3), the others do not.

mx01 plays an outside mail server sending on port 25. Its first message to contacto@cliente3.test is deferred
(451 4.7.1, rspamd's greylisting through the milter, while mx01 is connected: mx01 keeps it); tried again before the
lab's delay (fracto_mail__greylist_delay: 15 s) it is deferred again; after it, accepted and delivered. A message to
cliente1 (gdpr package, no greylisting) and one to both clients are accepted at once: greylisting waits only when
every recipient's client chose it, also for a body deferred a moment before for another client. The mailbox is
read over IMAPS from this machine, verified against Pebble's root.
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
GREYLISTED = ("contacto@cliente3.test", "demo-cliente3-contacto")  # entry package; its hash is in the demo inventory
NOT_GREYLISTED = "info@cliente1.test"                              # gdpr package
NAME = "mail01.fracto.test"                                        # cliente3's package is generic: the host's name
DELAY = 15

# Run on mx01: the message of argv[4] (the same bytes on every attempt, as an MTA retries) to mail01:25 with
# STARTTLS, envelope from argv[2] to the comma-separated argv[3]; prints the server's answer.
SEND = r"""
import smtplib, ssl, sys
mail01, sender, recipients, message = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
with smtplib.SMTP(mail01, 25, local_hostname="mx01.fracto.test", timeout=30) as smtp:
    smtp.starttls(context=ssl._create_unverified_context())
    smtp.ehlo()
    try:
        smtp.sendmail(sender, recipients, message)
        print("250 accepted")
    except smtplib.SMTPDataError as error:
        print(error.smtp_code, error.smtp_error.decode())
"""


def message(recipients, subject):
    """A message never seen before: rspamd remembers for a day the senders (envelope sender, recipient, address) and
    the bodies that waited once, so each test has its own sender and body."""
    return ("From: Sender <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@inbox.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "The newsletter of the week, number %s.\r\n" % (sender_of(subject), ", ".join(recipients), subject, subject,
                                                             subject))


def sender_of(subject):
    return "news-%s@inbox.test" % subject


def send_from_mx01(mail01, recipients, subject, text):
    """(code, text) of mail01's answer to mx01's message."""
    return script_answer(MX01, SEND, mail01, sender_of(subject), ",".join(recipients), text)


@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


def in_inbox(mail01, verified, login, subject, name=NAME, wait=30):
    """Whether the mailbox's INBOX holds the message with subject (polled for wait seconds)."""
    deadline = time.time() + wait
    while True:
        with LabIMAP4SSL(mail01, name, verified) as imap:
            imap.login(*login)
            imap.select("INBOX", readonly=True)
            _typ, data = imap.search(None, "SUBJECT", subject)
        if data[0].split() or time.time() >= deadline:
            return bool(data[0].split())
        time.sleep(1)


def test_only_the_domains_of_the_package_with_greylisting_are_in_the_map():
    domains = MAIL01.file("/etc/rspamd/fracto/greylisted_domains.map").content_string.splitlines()
    assert "cliente3.test" in domains and "cliente1.test" not in domains and "cliente2.test" not in domains
    greylist = MAIL01.check_output("rspamadm configdump greylist")
    assert "timeout = %d;" % DELAY in greylist and '"FRACTO_NOT_GREYLISTED"' in greylist, greylist
    assert '"198.51.100.1",' in greylist or '"198.51.100.1"\n' in greylist  # the controller: never greylisted


def test_a_first_message_waits_the_delay_then_is_delivered(mail01_address, verified):
    subject = "grey-" + uuid.uuid4().hex[:10]
    text = message([GREYLISTED[0]], subject)
    first = send_from_mx01(mail01_address, [GREYLISTED[0]], subject, text)
    assert first[0] == 451 and "Try again later" in first[1], first
    assert send_from_mx01(mail01_address, [GREYLISTED[0]], subject, text)[0] == 451  # too early
    assert not in_inbox(mail01_address, verified, GREYLISTED, subject, wait=1)
    time.sleep(DELAY + 1)
    assert send_from_mx01(mail01_address, [GREYLISTED[0]], subject, text) == (250, "accepted")
    assert in_inbox(mail01_address, verified, GREYLISTED, subject)
    assert MAIL01.run("grep -q 'greylisted until' /var/log/rspamd/rspamd.log").rc == 0


@pytest.mark.parametrize("recipients", [[NOT_GREYLISTED], [GREYLISTED[0], NOT_GREYLISTED]], ids=["other", "both"])
def test_mail_to_a_client_without_greylisting_is_accepted_at_once(mail01_address, verified, vault, recipients):
    subject = "nogrey-" + uuid.uuid4().hex[:10]
    assert send_from_mx01(mail01_address, recipients, subject, message(recipients, subject)) == (250, "accepted")
    login = (NOT_GREYLISTED, vault["vault_cliente1_info_password"])
    assert in_inbox(mail01_address, verified, login, subject, name="mail.cliente1.test")


def test_a_body_deferred_for_one_client_is_not_held_for_another(mail01_address, verified, vault):
    """rspamd remembers the bodies it deferred: a copy of one, within the delay, to a client without greylisting is
    accepted at once (its check of known bodies runs only when every recipient chose greylisting)."""
    subject = "samebody-" + uuid.uuid4().hex[:10]
    text = message([GREYLISTED[0]], subject)
    assert send_from_mx01(mail01_address, [GREYLISTED[0]], subject, text)[0] == 451
    assert send_from_mx01(mail01_address, [NOT_GREYLISTED], subject, text) == (250, "accepted")
    login = (NOT_GREYLISTED, vault["vault_cliente1_info_password"])
    assert in_inbox(mail01_address, verified, login, subject, name="mail.cliente1.test")
