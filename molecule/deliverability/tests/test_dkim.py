"""DKIM, SPF and DMARC of mail leaving mail01 (issue 13), as the receiving MX mx01 sees them: mail from cliente1 (the
host's address) and from cliente2 (its dedicated address 198.51.100.102) reaches mx01 signed by the sender's domain,
the signature verifies against the key published in the lab DNS, SPF passes for the address the message came from,
and the domain's DMARC record is found, with both results aligned to the From: domain (so DMARC passes).

The converge (molecule/deliverability/converge.yml, the mail scenario's) runs site.yml, whose fracto_mail role makes a key per mail domain on mail01
(fracto.hosting.mail_server, module_utils/mail/dkim.py), then molecule/lab/mail_dkim_dns.yml publishes the TXT records
of the run's report (site__report.mail_dns, DKIM included) in the lab DNS. Here a mailbox of cliente1 sends through
submission (587, STARTTLS verified against Pebble's root) to inbox.test, whose MX is mx01; the message as mx01 stored
it is verified by dkimpy (a verifier of its own, not our code) with the key it finds in the lab DNS. SPF is judged on
mx01 by Debian's policyd-spf (molecule/lab/roles/lab_mx), which asks the lab DNS and records its result in the
Received-SPF header. Needs: the lab up (make demo or molecule converge -s mail), dkimpy on the controller
(requirements.txt).
"""

import email.parser
import email.utils
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
# Each sender, with the address its mail leaves mail01 from: the host's own for cliente1, the dedicated one for cliente2.
SENDERS = {
    "info@cliente1.test": {"password": LOGINS["info@cliente1.test"], "leaves_from": "198.51.100.22"},
    "hola@cliente2.test": {"password": "vault_cliente2_hola_password", "leaves_from": "198.51.100.102"},
}


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


@pytest.fixture(scope="module", params=sorted(SENDERS))
def sender(request):
    return request.param


@pytest.fixture(scope="module")
def signed_message(sender, vault, mail01_address, verified):
    token = uuid.uuid4().hex
    smtp = session(587, mail01_address, verified, sender, vault[SENDERS[sender]["password"]])
    try:
        smtp.sendmail(sender, ["dkim-%s@inbox.test" % token], message(sender, ["dkim-%s@inbox.test" % token], "dkim " + token))
    finally:
        smtp.quit()
    return received_on_mx01(token)


def signature_tags(signed):
    headers = [value for name, value in dkim.DKIM(signed).headers if name.lower() == b"dkim-signature"]
    assert headers, "no DKIM-Signature on the message mx01 received"
    return dkim.util.parse_tag_value(headers[0].replace(b"\r\n", b"").replace(b" ", b"").replace(b"\t", b""))


def spf_result(signed):
    """policyd-spf's Received-SPF header for the MAIL FROM identity, as a dict of its fields plus its result."""
    headers = email.parser.BytesParser().parsebytes(signed, headersonly=True).get_all("Received-SPF") or []
    mailfrom = [" ".join(h.split()) for h in headers if "identity=mailfrom" in h]
    assert mailfrom, "mx01 recorded no SPF result for the envelope sender: %r" % headers
    result, _sep, fields = mailfrom[0].partition(" (mailfrom) ")
    found = dict(f.strip().split("=", 1) for f in fields.split(";") if "=" in f)
    found["result"] = result
    return found


def test_the_message_reaches_mx01_signed_by_the_senders_domain(sender, signed_message):
    tags = signature_tags(signed_message)
    assert tags[b"d"] == sender.split("@")[1].encode() and tags[b"a"] == b"rsa-sha256" and tags[b"s"].startswith(b"fr")


def test_the_signature_verifies_against_the_key_in_the_lab_dns(signed_message):
    assert dkim.verify(signed_message, dnsfunc=lambda name, timeout=5: lab_txt(name))


def test_spf_passes_for_the_address_the_message_left_from(sender, signed_message):
    """cliente2's mail leaves from its dedicated address, which its SPF record names (ip4:); cliente1's from mail01."""
    found = spf_result(signed_message)
    assert found["result"] == "Pass", found
    assert found["client-ip"] == SENDERS[sender]["leaves_from"] and found["envelope-from"] == sender


def test_dmarc_is_published_and_both_results_align_with_the_from_domain(sender, signed_message):
    """A receiver finds the domain's DMARC policy; DKIM's d= and SPF's envelope domain are the From: domain (DMARC's
    alignment), so with the two passes above the message passes DMARC."""
    domain = sender.split("@")[1]
    record = lab_txt(("_dmarc.%s." % domain).encode())
    assert record is not None and record.startswith(b"v=DMARC1;") and b"p=" in record
    from_domain = email.utils.parseaddr(email.parser.BytesParser().parsebytes(signed_message, headersonly=True)["From"])[1].split("@")[1]
    assert from_domain == domain
    assert signature_tags(signed_message)[b"d"].decode() == from_domain
    assert spf_result(signed_message)["envelope-from"].split("@")[1] == from_domain


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
