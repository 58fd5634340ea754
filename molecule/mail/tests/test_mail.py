"""FractoMail on mail01: TLS-only access, branded names by SNI, delivery, quota, no open relay, webmail.

Every connection is made from this machine, over the lab network: Dovecot treats a connection from its
own address as secure, so a check that plaintext authentication is refused must come from another host.
"""

import http.client
import imaplib
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import uuid

import pytest
import testinfra
import yaml
from conftest import PROJECT, LabIMAP4SSL, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
CLIENTS = PROJECT / "inventories" / "demo" / "group_vars" / "all" / "clients"
# One name per branding mode of the demo: client (cliente1, gdpr), reseller (cliente2, business), generic (cliente3, entry).
MAIL_NAMES = ["mail.cliente1.test", "mail.dominioreseller.test", "mail01.fracto.test"]
# A mailbox of each branding, as the client's users would log in there.
CONTACTO = ("contacto@cliente3.test", "demo-cliente3-contacto")  # its hash is in the inventory, not the vault



@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


def unverified():
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def _san(cert):
    return [v for k, v in cert["subjectAltName"] if k == "DNS"]


@pytest.mark.parametrize("name", MAIL_NAMES)
@pytest.mark.parametrize("port", [993, 995, 465])
def test_implicit_tls_serves_the_branded_certificate(mail01_address, verified, name, port):
    with socket.create_connection((mail01_address, port), timeout=10) as raw, verified.wrap_socket(raw, server_hostname=name) as tls:
        assert name in _san(tls.getpeercert())
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("name", MAIL_NAMES)
@pytest.mark.parametrize("port", [587, 25])
def test_starttls_serves_the_branded_certificate(mail01_address, verified, name, port):
    with smtplib.SMTP(mail01_address, port, local_hostname="tester.fracto.test", timeout=15) as smtp:
        smtp._host = name  # the SNI name smtplib sends with STARTTLS
        smtp.starttls(context=verified)
        assert name in _san(smtp.sock.getpeercert())


def test_a_name_without_certificate_gets_the_default_one(mail01_address, verified):
    with socket.create_connection((mail01_address, 993), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|match"):
            verified.wrap_socket(raw, server_hostname="mail.unknown.test")


def test_plaintext_imap_login_is_refused(mail01_address):
    with imaplib.IMAP4(mail01_address, 143, timeout=10) as imap:
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="(?i)plaintext|privacy|ssl|tls"):
            imap.login(*CONTACTO)


# Dovecot's answer to a login without TLS when plaintext authentication is disabled (AUTH_PLAINTEXT_DISABLED_MSG).
PLAINTEXT_DISALLOWED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."


def test_plaintext_pop3_login_is_refused(mail01_address):
    """USER is answered with Dovecot's plaintext refusal (not a wrong password: the same mailbox logs in over POP3S)."""
    pop = poplib.POP3(mail01_address, 110, timeout=10)
    try:
        with pytest.raises(poplib.error_proto) as refused:
            pop.user(CONTACTO[0])
        reply = refused.value.args[0]
        reply = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        assert reply.startswith("-ERR") and PLAINTEXT_DISALLOWED in reply, reply
    finally:
        pop.close()
    pop = poplib.POP3_SSL(mail01_address, 995, context=unverified(), timeout=10)
    try:
        assert pop.user(CONTACTO[0]).startswith(b"+OK") and pop.pass_(CONTACTO[1]).startswith(b"+OK")
    finally:
        pop.quit()


def _auth_plain(address, password):
    import base64

    return "PLAIN " + base64.b64encode(("\0%s\0%s" % (address, password)).encode()).decode()


# Postfix's answers to AUTH before STARTTLS: on 587, where TLS is required (smtpd_tls_security_level=encrypt), every
# command but EHLO, STARTTLS, NOOP, RSET and QUIT; on 25, where SASL is off (the MX takes no logins at all).
AUTH_REFUSED = {587: (530, "5.7.0 Must issue a STARTTLS command first"),
                25: (503, "5.5.1 Error: authentication not enabled")}


@pytest.mark.parametrize("port", [25, 587])
def test_auth_before_starttls_is_refused(mail01_address, vault, port):
    """Real credentials (the demo vault's info@cliente1.test), so that the refusal is Postfix's TLS rule, never a
    wrong password (535); on 587 the same credentials log in after STARTTLS."""
    sender, password = "info@cliente1.test", vault["vault_cliente1_info_password"]
    with smtplib.SMTP(mail01_address, port, local_hostname="tester.fracto.test", timeout=15) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        code, message = smtp.docmd("AUTH", _auth_plain(sender, password))
        assert (code, message.decode()) == AUTH_REFUSED[port]
        if port == 587:
            smtp.starttls(context=unverified())
            smtp.ehlo()
            code, message = smtp.docmd("AUTH", _auth_plain(sender, password))
            assert code == 235, message  # Authentication successful


def test_auth_is_offered_on_submission_after_starttls(mail01_address):
    with smtplib.SMTP(mail01_address, 587, local_hostname="tester.fracto.test", timeout=15) as smtp:
        smtp.starttls(context=unverified())
        smtp.ehlo()
        assert smtp.has_extn("auth")


def test_no_open_relay(mail01_address):
    """An unauthenticated message to an outside domain is refused at RCPT: nothing is ever sent out."""
    with smtplib.SMTP(mail01_address, 25, local_hostname="tester.fracto.test", timeout=15) as smtp:
        smtp.starttls(context=unverified())
        smtp.ehlo()
        assert smtp.mail("someone@outside.example")[0] == 250
        code, message = smtp.rcpt("victim@elsewhere.example")
        smtp.rset()
        assert code >= 500 and b"Relay access denied" in message


@pytest.fixture(scope="module")
def delivered(mail01_address, verified, vault):
    """A message submitted with authentication on 587 (STARTTLS) to the alias sales@cliente1.test; its subject."""
    subject = "fracto-test-%s" % uuid.uuid4().hex[:12]
    sender, password = "info@cliente1.test", vault["vault_cliente1_info_password"]
    body = "From: %s\r\nTo: sales@cliente1.test\r\nSubject: %s\r\n\r\nHello from the mail test.\r\n" % (sender, subject)
    with smtplib.SMTP(mail01_address, 587, local_hostname="tester.fracto.test", timeout=15) as smtp:
        smtp._host = "mail.cliente1.test"  # the SNI name smtplib sends with STARTTLS
        smtp.starttls(context=verified)
        smtp.login(sender, password)
        smtp.sendmail(sender, ["sales@cliente1.test"], body)  # the alias: info and ana
    return subject


def test_submitted_message_is_delivered_and_read_back_over_imaps(mail01_address, verified, vault, delivered):
    for address, secret in (("ana@cliente1.test", vault["vault_cliente1_ana_password"]),
                            ("info@cliente1.test", vault["vault_cliente1_info_password"])):
        found = []
        for _attempt in range(30):
            with LabIMAP4SSL(mail01_address, "mail.cliente1.test", verified) as imap:
                imap.login(address, secret)
                imap.select("INBOX", readonly=True)
                _typ, data = imap.search(None, "SUBJECT", delivered)
                found = data[0].split()
            if found:
                break
            time.sleep(1)
        assert found, "%s did not receive %s" % (address, delivered)


def test_quota_is_reported_and_enforced(mail01_address):
    user, password = CONTACTO
    maildirsize = "/var/vmail/cliente3.test/contacto/Maildir/maildirsize"
    with imaplib.IMAP4_SSL(mail01_address, 993, ssl_context=unverified(), timeout=10) as imap:
        imap.login(user, password)
        _typ, data = imap.getquotaroot("INBOX")
        assert b"STORAGE" in data[1][0] and b"256000" in data[1][0]  # 250M in KiB
    # Make the mailbox look full (a Maildir++ maildirsize of the quota's header and one usage line: Dovecot trusts an
    # over-quota file of two lines written in the last 15 minutes), then an APPEND must be refused.
    MAIL01.run("printf '262144000S\\n262144000 1\\n' > %s && chown vmail:vmail %s" % (maildirsize, maildirsize))
    try:
        with imaplib.IMAP4_SSL(mail01_address, 993, ssl_context=unverified(), timeout=10) as imap:
            imap.login(user, password)
            typ, data = imap.append("INBOX", None, None, b"Subject: over quota\r\n\r\n" + b"x" * 4096 + b"\r\n")
            assert typ == "NO" and b"quota" in data[0].lower(), data
    finally:
        MAIL01.run("rm -f %s" % maildirsize)


@pytest.mark.parametrize("target, starttls", [
    ("mail.cliente1.test:25", "smtp"),
    ("mail.cliente1.test:587", "smtp"),
    ("mail.cliente1.test:465", None),
    ("mail.cliente1.test:993", None),
    ("mail.cliente1.test:995", None),
])
def test_tls_is_compliant_with_mozilla_intermediate(mail01_address, pebble_root, tmp_path, target, starttls):
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble_root)
    command = ["sslyze", "--mozilla_config=intermediate", "--certinfo_ca_file=%s" % root]
    if starttls:
        command.append("--starttls=%s" % starttls)
    run = subprocess.run(command + ["%s{%s}" % (target, mail01_address)], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "%s: OK - Compliant." % target in run.stdout


def test_mail_files_hold_no_secret_for_others():
    assert MAIL01.file("/etc/dovecot/fracto/users").mode == 0o640
    assert MAIL01.file("/etc/postfix/fracto/sni.lmdb").mode == 0o600
    assert MAIL01.file("/etc/postfix/fracto/sni").mode == 0o600


def test_check_diff_shows_mailbox_and_domain_changes_without_secrets(tmp_path):
    state = yaml.safe_load((CLIENTS / "cliente3.yml").read_text())
    client = state["fracto_clients__cliente3"]["cliente3"]
    client["domains"]["cliente3-nuevo.test"] = {}
    client["mailboxes"]["nuevo@cliente3-nuevo.test"] = {"password_hash": client["mailboxes"]["contacto@cliente3.test"]["password_hash"],
                                                       "quota": "100M"}
    client["mailboxes"]["contacto@cliente3.test"]["quota"] = "300M"
    extra = tmp_path / "changed.yml"
    extra.write_text(yaml.safe_dump(state))
    before = MAIL01.run("cat /etc/dovecot/fracto/users /etc/postfix/fracto/domains | sha256sum").stdout
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "--check", "--diff", "--limit", "mail01,localhost",
                              "-e", "@%s" % extra, env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc == 0, output[-3000:]
    assert "+ mail_domain cliente3-nuevo.test" in output
    assert "+ mailbox nuevo@cliente3-nuevo.test: quota 100M" in output
    assert "~ mailbox contacto@cliente3.test: quota: 250M -> 300M" in output
    assert "nuevo@cliente3-nuevo.test:********" in output  # the users file in the diff, redacted
    assert "$6$" not in output and "fractodemo" not in output and "demo-" not in output
    assert MAIL01.run("cat /etc/dovecot/fracto/users /etc/postfix/fracto/domains | sha256sum").stdout == before


def test_rerun_changes_nothing(tmp_path):
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "--limit", "mail01,localhost",
                              env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc == 0, output[-3000:]
    recap = [line for line in output.splitlines() if line.startswith("mail01 ")]
    lines = output.splitlines()
    changed = [next(t for t in reversed(lines[:i]) if t.startswith("TASK ")) for i, line in enumerate(lines)
               if line.startswith("changed: [mail01]")]
    assert recap and "changed=0" in recap[-1], (recap, changed)


WEBMAIL = [("webmail.cliente1.test", "cliente1.test"), ("webmail.dominioreseller.test", "dominioreseller.test")]


@pytest.mark.parametrize("name, brand", WEBMAIL)
def test_webmail_login_page_carries_its_brand(mail01_address, verified, name, brand):
    with socket.create_connection((mail01_address, 443), timeout=10) as raw, verified.wrap_socket(raw, server_hostname=name) as tls:
        conn = http.client.HTTPConnection(name)
        conn.sock = tls
        conn.request("GET", "/", headers={"Host": name})
        response = conn.getresponse()
        page = response.read().decode(errors="replace")
    assert response.status == 200
    assert "<title>Webmail %s :: " % brand in page  # Roundcube's title: "<product name> :: Welcome to <product name>"
    assert response.getheader("Strict-Transport-Security")


def test_webmail_in_a_real_browser(mail01_address, chromium_home, vault, delivered):
    """Headless Chromium (Debian's) trusting Pebble's root through its NSS store: log in, find the message."""
    from playwright.sync_api import sync_playwright

    chromium, home = shutil.which("chromium"), chromium_home
    name, brand = WEBMAIL[0]
    artefacts = PROJECT / ".fracto"
    artefacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, env=dict(os.environ, HOME=str(home)),
            args=["--no-sandbox", "--host-resolver-rules=MAP %s %s" % (name, mail01_address)])
        try:
            page = browser.new_page()
            page.goto("https://%s/" % name, timeout=30000)
            assert page.title().startswith("Webmail %s :: " % brand)
            page.screenshot(path=str(artefacts / ("webmail-%s-login.png" % name)))
            page.fill("#rcmloginuser", "info@cliente1.test")
            page.fill("#rcmloginpwd", vault["vault_cliente1_info_password"])
            page.click("#rcmloginsubmit")
            page.wait_for_selector("#messagelist", timeout=30000)
            page.wait_for_selector("text=%s" % delivered, timeout=30000)
            page.screenshot(path=str(artefacts / ("webmail-%s.png" % name)), full_page=True)
        finally:
            browser.close()


def test_failed_postfix_check_puts_the_previous_configuration_back(tmp_path):
    before = MAIL01.file("/etc/postfix/main.cf").content_string
    extra = tmp_path / "broken.json"
    extra.write_text('{"fracto_mail__postfix_settings": {"queue_directory": "/nonexistent"}}')
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "--limit", "mail01,localhost", "-e", "@%s" % extra,
                              env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc != 0
    assert "postfix check failed" in output and "the previous configuration was put back" in output
    assert MAIL01.file("/etc/postfix/main.cf").content_string == before
    assert MAIL01.service("postfix").is_running
