"""Vacation replies set in the webmail (issue 13): Roundcube's managesieve plugin over Dovecot's ManageSieve.

info@cliente1.test logs into webmail.cliente1.test in headless Chromium (Debian's, trusting Pebble's root), opens
Settings > Out of Office, writes a reply and turns it on; Roundcube stores it as the mailbox's active Sieve script
through ManageSieve (4190, STARTTLS, the brand's mail name verified). mx01 then sends a message to info@cliente1.test
on port 25, and the reply comes back to mx01's inbox. The reply is turned off again afterwards (doveadm).
"""

import os
import shlex
import shutil
import time
import uuid

import pytest
import testinfra
from conftest import PROJECT

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
MX01_INBOX = "/var/mail/lab-mx/inbox/new"   # molecule/lab/roles/lab_mx: every inbox.test address lands here
MAILBOX = "info@cliente1.test"
WEBMAIL = "webmail.cliente1.test"

# Run on mx01: a message from sender to info@cliente1.test through mail01:25 (STARTTLS), as an outside server sends.
SEND = r"""
import email.utils, smtplib, ssl, sys
mail01, sender = sys.argv[1:3]
message = ("From: %s\r\nTo: info@cliente1.test\r\nSubject: Are you there?\r\nDate: %s\r\nMessage-ID: %s\r\n\r\n"
           "Just checking.\r\n" % (sender, email.utils.formatdate(), email.utils.make_msgid(domain="inbox.test")))
with smtplib.SMTP(mail01, 25, local_hostname="mx01.fracto.test", timeout=30) as smtp:
    smtp.starttls(context=ssl._create_unverified_context())
    smtp.ehlo()
    smtp.sendmail(sender, ["info@cliente1.test"], message)
"""


@pytest.fixture
def vacation_off_afterwards():
    yield
    MAIL01.run("doveadm sieve deactivate -u %s", MAILBOX)


def set_vacation_in_webmail(mail01_address, home, password, subject, body):
    from playwright.sync_api import sync_playwright

    artefacts = PROJECT / ".fracto"
    artefacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, env=dict(os.environ, HOME=str(home)),
            args=["--no-sandbox", "--host-resolver-rules=MAP %s %s" % (WEBMAIL, mail01_address)])
        try:
            page = browser.new_page()
            page.goto("https://%s/" % WEBMAIL, timeout=30000)
            page.fill("#rcmloginuser", MAILBOX)
            page.fill("#rcmloginpwd", password)
            page.click("#rcmloginsubmit")
            page.wait_for_selector("#messagelist", timeout=30000)
            page.goto("https://%s/?_task=settings&_action=plugin.managesieve-vacation" % WEBMAIL, timeout=30000)
            page.wait_for_selector("#vacation_subject", timeout=30000)
            page.fill("#vacation_subject", subject)
            page.fill("#vacation_reason", body)
            page.select_option("#vacation_status", "on")
            page.screenshot(path=str(artefacts / "webmail-vacation-form.png"), full_page=True)
            page.evaluate("rcmail.command('plugin.managesieve-save')")
            page.wait_for_selector(".messagestack .confirmation, #messagestack .confirmation", timeout=30000)
            page.screenshot(path=str(artefacts / "webmail-vacation-saved.png"), full_page=True)
        finally:
            browser.close()


def replies_at_mx01(token, wait=60):
    """The messages in mx01's inbox addressed to the token's sender (polled for wait seconds)."""
    deadline = time.time() + wait
    while True:
        found = MX01.run("grep -l -r -- %s %s", "vacation-%s@inbox.test" % token, MX01_INBOX).stdout.split()
        replies = [path for path in found if "Auto-Submitted: auto-replied" in MX01.file(path).content_string]
        if replies or time.time() >= deadline:
            return replies
        time.sleep(2)


def test_a_vacation_set_in_the_webmail_answers_a_message(mail01_address, chromium_home, vault, vacation_off_afterwards):
    token = uuid.uuid4().hex[:10]
    subject = "Out of office " + token
    set_vacation_in_webmail(mail01_address, chromium_home, vault["vault_cliente1_info_password"], subject, "Back on Monday.")
    scripts = MAIL01.check_output("doveadm sieve list -u %s", MAILBOX)
    assert "ACTIVE" in scripts, scripts  # Roundcube stored the reply as the mailbox's active script, by ManageSieve

    run = MX01.run("python3 -c %s %s %s" % (shlex.quote(SEND), mail01_address, "vacation-%s@inbox.test" % token))
    assert run.rc == 0, run.stderr
    replies = replies_at_mx01(token)
    assert replies, "no vacation reply reached mx01"
    reply = MX01.file(replies[0]).content_string
    assert subject in reply and "Back on Monday." in reply
    assert "From: info@cliente1.test" in reply or "<info@cliente1.test>" in reply
