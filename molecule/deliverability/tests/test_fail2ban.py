"""Brute-force protection on mail01 (issue 13): fail2ban's jails for Dovecot, Postfix SASL and Roundcube.

The guessers are other lab containers, never this machine: legacy01 guesses IMAP passwords, mx01 guesses SMTP AUTH
passwords on submission and then webmail passwords. Each is banned after the lab's 3 failures (inventories/platform
group_vars/all/mail.yml) on every port of its jail, by nftables on mail01, and the ban expires after 30 s. This machine
(the controller, 198.51.100.1, in fracto_mail__fail2ban_ignore) fails as many times and still logs in.
"""

import imaplib
import os
import shlex
import ssl
import time

import pytest
import testinfra
from conftest import LabIMAP4SSL

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
LEGACY01 = testinfra.get_host("ansible://legacy01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
CONTROLLER = "198.51.100.1"
MAILBOX = "info@cliente1.test"
NAME = "mail.cliente1.test"
WEBMAIL = "webmail.cliente1.test"
BANTIME = 30

# Run on the guessing container (python3 of the lab's base image): one failed login per attempt, and what each did.
GUESS_IMAP = r"""
import imaplib, ssl, sys
context = ssl._create_unverified_context()
for attempt in range(int(sys.argv[2])):
    try:
        imap = imaplib.IMAP4_SSL(sys.argv[1], 993, ssl_context=context, timeout=40)
    except OSError as error:
        print("refused", error); continue
    try:
        imap.login("info@cliente1.test", "not-the-password-%d" % attempt)
        print("accepted")
    except imaplib.IMAP4.error:
        print("failed")
    imap.shutdown()
"""
GUESS_SMTP = r"""
import smtplib, ssl, sys
context = ssl._create_unverified_context()
for attempt in range(int(sys.argv[2])):
    try:
        smtp = smtplib.SMTP(sys.argv[1], 587, timeout=40)
        smtp.starttls(context=context)
        smtp.ehlo()
    except OSError as error:
        print("refused", error); continue
    try:
        # One mechanism per attempt (login() would try PLAIN, then LOGIN: two failures)
        smtp.user, smtp.password = "info@cliente1.test", "not-the-password-%d" % attempt
        smtp.auth("PLAIN", smtp.auth_plain)
        print("accepted")
    except smtplib.SMTPAuthenticationError:
        print("failed")
    smtp.close()
"""
GUESS_WEBMAIL = r"""
import http.cookiejar, re, ssl, sys, urllib.error, urllib.parse, urllib.request
context = ssl._create_unverified_context()
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                     urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
url = "https://%s/" % sys.argv[1]
for attempt in range(int(sys.argv[2])):
    try:
        page = opener.open(url + "?_task=login", timeout=40).read().decode()
        token = re.search(r'name="_token" value="([^"]+)"', page).group(1)
        form = {"_token": token, "_task": "login", "_action": "login", "_timezone": "UTC", "_url": "",
                "_user": "info@cliente1.test", "_pass": "not-the-password-%d" % attempt}
        opener.open(url + "?_task=login", data=urllib.parse.urlencode(form).encode(), timeout=40)
        print("accepted")
    except urllib.error.HTTPError as error:
        print("failed" if error.code == 401 else "refused %s" % error)  # Roundcube answers a failed login with 401
    except OSError as error:
        print("refused", error)
"""


def guess(host, script, target, attempts):
    """The outcome of each attempt of script run on host against target ('failed', 'accepted' or 'refused ...')."""
    run = host.run("python3 -c %s %s %d" % (shlex.quote(script), target, attempts))
    assert run.rc == 0, run.stderr
    return run.stdout.split("\n")[:-1]


def banned(jail):
    """The addresses jail bans now, as fail2ban-client lists them."""
    status = MAIL01.check_output("fail2ban-client status %s", jail)
    line = [line for line in status.splitlines() if "Banned IP list:" in line][0]
    return line.split("Banned IP list:")[1].split()


def wait_banned(jails, address, wait=20):
    """Whether one of jails bans address within wait seconds."""
    deadline = time.time() + wait
    while not any(address in banned(jail) for jail in jails) and time.time() < deadline:
        time.sleep(1)
    return any(address in banned(jail) for jail in jails)


def guessed_until_banned(outcomes):
    """The guesses failed until the ban refused the next ones (Dovecot's own log may count a failure twice, and
    failures of an earlier run within findtime count too)."""
    failed = [o for o in outcomes if o == "failed"]
    return len(failed) >= 1 and outcomes[:len(failed)] == failed and all(o.startswith("refused") for o in outcomes[len(failed):])


def can_connect(host, address, port):
    """Whether host opens a TCP connection to address:port within 3 s."""
    probe = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()"
    return host.run("python3 -c %s %s %d" % (shlex.quote(probe), address, port)).rc == 0


@pytest.fixture
def released():
    """No ban of the lab's guessers before the test (a late failure of an earlier run may have banned one), and none
    after it (the other scenarios use legacy01 and mx01)."""
    MAIL01.run("fail2ban-client unban 198.51.100.24 198.51.100.25")
    yield
    MAIL01.run("fail2ban-client unban 198.51.100.24 198.51.100.25")


@pytest.fixture(scope="module")
def verified(pebble_root):
    return ssl.create_default_context(cadata=pebble_root)


@pytest.fixture(scope="module")
def addresses(lab_resolve):
    return {name: lab_resolve(name + ".fracto.test")[0] for name in ("mail01", "legacy01", "mx01")}


def test_the_jails_run_and_never_ban_the_controller():
    status = MAIL01.check_output("fail2ban-client status")
    for jail in ("dovecot", "postfix-sasl", "roundcube-auth", "sshd"):
        assert jail in status, status
    for jail in ("dovecot", "postfix-sasl", "roundcube-auth"):
        assert CONTROLLER in MAIL01.check_output("fail2ban-client get %s ignoreip", jail)
    assert MAIL01.run("fail2ban-client --test").rc == 0


def test_an_imap_guesser_is_banned_on_every_mail_port_then_released(addresses, verified, vault, released):
    mail01, legacy01 = addresses["mail01"], addresses["legacy01"]
    outcomes = guess(LEGACY01, GUESS_IMAP, mail01, 3)
    assert guessed_until_banned(outcomes), outcomes
    assert wait_banned(["dovecot"], legacy01), MAIL01.check_output("fail2ban-client status dovecot")
    for port in (993, 995, 587, 465):
        assert not can_connect(LEGACY01, mail01, port), "legacy01 still reaches port %d" % port
    assert can_connect(MX01, mail01, 993), "the ban must be legacy01's alone"

    # The controller fails as often and still logs in (Dovecot delays each answer more after each failure).
    for attempt in range(3):
        with LabIMAP4SSL(mail01, NAME, verified, timeout=40) as imap:
            with pytest.raises(imaplib.IMAP4.error):
                imap.login(MAILBOX, "not-the-password-%d" % attempt)
    with LabIMAP4SSL(mail01, NAME, verified, timeout=40) as imap:
        assert imap.login(MAILBOX, vault["vault_cliente1_info_password"])[0] == "OK"
    assert CONTROLLER not in banned("dovecot")

    # The ban expires by itself.
    deadline = time.time() + BANTIME + 20
    while not can_connect(LEGACY01, mail01, 993) and time.time() < deadline:
        time.sleep(2)
    assert can_connect(LEGACY01, mail01, 993), "legacy01's ban did not expire"
    assert legacy01 not in banned("dovecot")


def test_an_smtp_auth_guesser_is_banned(addresses, released):
    mail01, mx01 = addresses["mail01"], addresses["mx01"]
    outcomes = guess(MX01, GUESS_SMTP, mail01, 3)
    assert guessed_until_banned(outcomes), outcomes
    # Postfix's own log (postfix-sasl) or Dovecot's, which checks the password for Postfix (dovecot: 587 and 465 too)
    assert wait_banned(["postfix-sasl", "dovecot"], mx01), MAIL01.check_output("fail2ban-client status postfix-sasl")
    assert not can_connect(MX01, mail01, 465)
    assert guess(MX01, GUESS_SMTP, mail01, 1)[0].startswith("refused")


def test_a_webmail_guesser_is_banned(addresses, released):
    mail01, mx01 = addresses["mail01"], addresses["mx01"]
    outcomes = guess(MX01, GUESS_WEBMAIL, WEBMAIL, 3)
    assert guessed_until_banned(outcomes), outcomes
    assert wait_banned(["roundcube-auth"], mx01), MAIL01.check_output("fail2ban-client status roundcube-auth")
    assert not can_connect(MX01, mail01, 443)
    assert can_connect(LEGACY01, mail01, 443), "the ban must be mx01's alone"
