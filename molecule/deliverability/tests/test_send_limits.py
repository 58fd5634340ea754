"""Outgoing limits on mail01 (issue 13, docs/mail.md#outgoing-limits), enforced by rspamd with its buckets in Redis.

cliente3's overrides give each of its mailboxes 4 messages and 3 recipients per message; the lab's window is 60 s
instead of an hour (inventories/platform: fracto_mail__send_limit_window), so a drained bucket is seen within the
test. contacto@cliente3.test logs in on submission (587, STARTTLS verified against Pebble's root) and sends one
message at a time to mx01: once its bucket is full the next messages get 451 4.7.1 (deferred: a mail client keeps
them), sent again every few seconds they are accepted as the bucket drains, and mx01 ends with every message exactly
once. A message to 4 recipients is refused with 554 5.7.1 and reaches nobody.
"""

import os
import smtplib
import ssl
import time
import uuid

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
MX01_INBOX = "/var/mail/lab-mx/inbox/new"     # molecule/lab/roles/lab_mx: every inbox.test address lands here
NAME = "mail01.fracto.test"                   # cliente3's package is generic: the host's own mail name
LOGIN = ("contacto@cliente3.test", "demo-cliente3-contacto")  # its hash is in the demo inventory, not the vault
BURST, RECIPIENTS, WINDOW = 4, 3, 60


@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


def submit(address, context, recipients, subject):
    """Submit one message as LOGIN; returns None when accepted, else (code, text) of the refusal."""
    with smtplib.SMTP(address, 587, local_hostname="tester.fracto.test", timeout=30) as smtp:
        smtp._host = NAME  # the SNI name smtplib sends with STARTTLS
        smtp.starttls(context=context)
        smtp.login(*LOGIN)
        body = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nHow much may one mailbox send?\r\n" % (
            LOGIN[0], ", ".join(recipients), subject)
        try:
            smtp.sendmail(LOGIN[0], recipients, body)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error.decode()
    return None


def on_mx01(token):
    """How many messages whose subject holds token mx01 has."""
    found = MX01.run("grep -l -r -- %s %s" % (token, MX01_INBOX))
    return len(found.stdout.split()) if found.rc == 0 else 0


def test_the_limits_reach_rspamd_as_maps_it_reads():
    assert "4:contacto@cliente3.test" in MAIL01.file("/etc/rspamd/fracto/mailbox_rates.map").content_string.splitlines()
    assert "contacto@cliente3.test 3" in MAIL01.file("/etc/rspamd/fracto/recipient_limits.map").content_string.splitlines()
    assert MAIL01.file("/etc/rspamd/fracto/mailbox_rates.map").mode == 0o640
    assert MAIL01.run("ss -ltn | grep -c ':6379 '").stdout.strip() == "0"  # Redis: no TCP port, a socket only
    assert MAIL01.socket("unix:///run/redis/redis-server.sock").is_listening


def test_a_mailbox_over_its_limit_is_deferred_then_sends_again_and_nothing_is_lost(mail01_address, verified):
    time.sleep(WINDOW)  # a full bucket: whatever this mailbox sent before has drained
    token = uuid.uuid4().hex
    sent, deferred, refusals, first_refused = [], [], [], None
    for i in range(BURST + 4):  # until two are deferred (the bucket may drain by one while these are sent)
        subject = "%s-%d" % (token, i)
        refused = submit(mail01_address, verified, ["limit-%s@inbox.test" % token], subject)
        if refused is None:
            sent.append(subject)
            continue
        first_refused = len(sent) if first_refused is None else first_refused
        deferred.append(subject)
        refusals.append(refused)
        if len(refusals) == 2:
            break
    assert len(refusals) == 2 and first_refused >= BURST, "the first %d are accepted, then deferred: %s" % (BURST, refusals)
    code, text = refusals[0]
    assert code == 451 and "4.7.1" in text and "at most 4 messages per 60 seconds" in text, refusals
    # A mail client tries again later: every 5 s, one is accepted each WINDOW / BURST seconds as the bucket drains.
    pending = list(deferred)
    deadline = time.time() + 2 * WINDOW
    while pending and time.time() < deadline:
        time.sleep(5)
        if submit(mail01_address, verified, ["limit-%s@inbox.test" % token], pending[0]) is None:
            pending.pop(0)
    assert not pending, "still deferred after %d s" % (2 * WINDOW)
    total = len(sent) + len(deferred)
    deadline = time.time() + 60
    while on_mx01(token) < total and time.time() < deadline:
        time.sleep(1)
    assert on_mx01(token) == total  # every message once: none lost, none twice
    # Logged by rspamd, naming the bucket and the login.
    logged = MAIL01.run("grep -c 'ratelimit \"fracto_mailbox_4(4:contacto@cliente3.test)\" exceeded' /var/log/rspamd/rspamd.log")
    assert int(logged.stdout.strip() or 0) >= 2


def test_a_message_to_more_recipients_than_the_limit_is_refused_and_reaches_nobody(mail01_address, verified):
    token = uuid.uuid4().hex
    recipients = ["rcpt%d-%s@inbox.test" % (i, token) for i in range(RECIPIENTS + 1)]
    refused = submit(mail01_address, verified, recipients, token)
    assert refused is not None and refused[0] == 554 and "at most 3 per message" in refused[1], refused
    time.sleep(5)
    assert on_mx01(token) == 0
