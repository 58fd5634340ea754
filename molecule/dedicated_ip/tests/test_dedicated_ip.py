"""Dedicated IPv4 addresses (issue 5) on the demo: binding, sites, outgoing mail, rebinding, the pool view.

The demo binds 198.51.100.100 (web, cloud01) and 198.51.100.102 (mail, mail01) to cliente2. Every request and
message goes from this machine over the lab network; mail is read on the receiving side (mx01).
"""

import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import uuid

import dns.resolver
import dns.reversename
import pytest
import testinfra
import yaml
from conftest import LAB_DNS, PROJECT, run_playbook
from cryptography import x509

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
MX01 = testinfra.get_host("ansible://mx01?ansible_inventory=" + INVENTORY)
WEB_IP, MAIL_IP = "198.51.100.100", "198.51.100.102"
HELO = "smtp-198-51-100-102.fracto.test"
IFUPDOWN = "/etc/network/interfaces.d/fracto-demo"
INBOX = "/var/mail/lab-mx/inbox/new"
CLIENTE3_VHOST = "/etc/nginx/fracto/sites/cliente3.test.conf"
# The files of mail01 that hold cliente3's mail (its domain, its mailbox and its hash, no alias, no transport of its
# own): shared with the other clients, so only cliente3's lines are compared.
CLIENTE3_MAIL_FILES = ["/etc/dovecot/fracto/users", "/etc/postfix/fracto/domains", "/etc/postfix/fracto/mailboxes",
                       "/etc/postfix/fracto/aliases", "/etc/postfix/fracto/sender_transports"]
CONTACTO = ("contacto@cliente3.test", "demo-cliente3-contacto")  # its hash is in the inventory, not the vault



@pytest.fixture(scope="module")
def main_addresses(lab_resolve):
    return {"cloud01": lab_resolve("cloud01.fracto.test")[0], "mail01": lab_resolve("mail01.fracto.test")[0]}


def addresses(host):
    return re.findall(r"inet (\S+)", host.check_output("ip -4 -o addr show dev eth0"))


def raw_http(address, port, request, context=None, sni=None):
    """Send a raw request (no Host header unless given) over plain TCP or TLS; returns (response text, peer cert)."""
    with socket.create_connection((address, port), timeout=10) as raw:
        sock = context.wrap_socket(raw, server_hostname=sni) if context else raw
        cert = sock.getpeercert(binary_form=True) if context else None
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data.decode(errors="replace"), cert


def tls():
    """A real TLS handshake whose certificate is read, not trusted: what is checked is which certificate (its names).

    The chain's trust is the web scenario's business; here it would tie the test to Pebble's current root, which
    Pebble draws anew at each start.
    """
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def san(der):
    cert = x509.load_der_x509_certificate(der)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def send(vault_key, vault, sender, token):
    context = tls()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    address = resolver.resolve("mail01.fracto.test", "A")[0].to_text()
    with smtplib.SMTP(address, 587, local_hostname="tester.fracto.test", timeout=20) as smtp:
        smtp._host = "mail01.fracto.test"  # the SNI name smtplib sends with STARTTLS
        smtp.starttls(context=context)
        smtp.login(sender, vault[vault_key])
        smtp.sendmail(sender, ["probe-%s@inbox.test" % token],
                      "From: %s\r\nTo: probe-%s@inbox.test\r\nSubject: %s\r\n\r\nwhere does this leave from?\r\n" % (sender, token, token))


def received(token, timeout=60):
    """The first Received header of the message with token, as mx01 wrote it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = MX01.run("grep -l -r -- %s %s" % (token, INBOX))
        if found.rc == 0:
            text = MX01.file(found.stdout.split()[0]).content_string
            header = re.search(r"^Received: (.*?)\n(?!\s)", text, re.M | re.S).group(1)
            return " ".join(header.split())
        time.sleep(1)
    raise AssertionError("message %s never reached mx01; mail01 queue: %s" % (token, MAIL01.run("postqueue -p").stdout))


def sent_from(vault, vault_key, sender):
    token = uuid.uuid4().hex
    send(vault_key, vault, sender, token)
    return received(token)


def sent_from_cliente3():
    """The Received header of a message of cliente3 (whose password is the demo's, not in the vault)."""
    return sent_from({"contacto": CONTACTO[1]}, "contacto", CONTACTO[0])


CLIENTE1 = ("vault_cliente1_info_password", "info@cliente1.test")
CLIENTE2 = ("vault_cliente2_hola_password", "hola@cliente2.test")


# --------------------------------------------------------------------------- binding on the hosts

def test_addresses_are_bound_live_beside_the_main_address(main_addresses):
    assert "%s/32" % WEB_IP in addresses(CLOUD01) and "%s/24" % main_addresses["cloud01"] in addresses(CLOUD01)
    assert "%s/32" % MAIL_IP in addresses(MAIL01) and "%s/24" % main_addresses["mail01"] in addresses(MAIL01)
    assert MAIL_IP not in " ".join(addresses(CLOUD01)) and WEB_IP not in " ".join(addresses(MAIL01))


def test_addresses_are_persistent_in_ifupdown_and_survive_a_restart_of_networking(main_addresses):
    stanza = CLOUD01.file(IFUPDOWN).content_string
    assert "iface eth0:6464 inet manual" in stanza and "up ip -4 addr replace %s/32 dev eth0" % WEB_IP in stanza
    assert "source /etc/network/interfaces.d/*" in CLOUD01.file("/etc/network/interfaces").content_string
    CLOUD01.run("ip -4 addr del %s/32 dev eth0" % WEB_IP)  # as after a reboot: the address is gone
    assert "%s/32" % WEB_IP not in addresses(CLOUD01)
    CLOUD01.check_output("systemctl restart networking")
    assert "%s/32" % WEB_IP in addresses(CLOUD01) and "%s/24" % main_addresses["cloud01"] in addresses(CLOUD01)
    CLOUD01.check_output("systemctl restart networking")  # twice: harmless
    assert "%s/32" % WEB_IP in addresses(CLOUD01)


# --------------------------------------------------------------------------- sites

def test_request_without_host_header_reaches_the_clients_site():
    response, _cert = raw_http(WEB_IP, 80, b"GET / HTTP/1.0\r\n\r\n")
    assert response.startswith("HTTP/1.1 301") and "Location: https://cliente2.test/" in response


def test_tls_handshake_without_sni_gets_the_clients_certificate_and_site():
    response, cert = raw_http(WEB_IP, 443, b"GET / HTTP/1.0\r\n\r\n", tls())
    assert "cliente2.test" in san(cert)
    assert response.startswith("HTTP/1.1 200") and "<title>cliente2.test</title>" in response


def test_other_clients_do_not_answer_on_the_address():
    response, cert = raw_http(WEB_IP, 443, b"GET / HTTP/1.0\r\nHost: cliente1.test\r\n\r\n", tls(),
                              sni="cliente1.test")
    assert "cliente1.test" not in san(cert) and "<title>cliente1.test</title>" not in response


def test_the_clients_names_point_at_the_address_and_are_served_there(lab_resolve, main_addresses):
    assert lab_resolve("cliente2.test") == [WEB_IP] and lab_resolve("cliente1.test") == [main_addresses["cloud01"]]
    for name in ("www.cliente2.test", "xn--caff-8oa.test"):
        response, cert = raw_http(WEB_IP, 443, b"GET / HTTP/1.0\r\nHost: " + name.encode() + b"\r\n\r\n",
                                  tls(), sni=name)
        assert response.startswith("HTTP/1.1 200") and name in san(cert)


# --------------------------------------------------------------------------- outgoing mail

def test_helo_name_has_matching_a_and_ptr_records():
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    assert [a.to_text() for a in resolver.resolve(HELO, "A")] == [MAIL_IP]
    assert [a.to_text() for a in resolver.resolve(dns.reversename.from_address(MAIL_IP), "PTR")] == [HELO + "."]
    assert [a.to_text() for a in resolver.resolve("inbox.test", "MX")] == ["10 mx01.fracto.test."]


def test_mail_of_the_client_leaves_from_its_address_with_its_helo(vault):
    header = sent_from(vault, *CLIENTE2)
    assert header.startswith("from %s (%s [%s])" % (HELO, HELO, MAIL_IP)), header


def test_mail_of_another_client_leaves_from_the_main_address(vault, main_addresses):
    header = sent_from(vault, *CLIENTE1)
    assert header.startswith("from mail01.fracto.test (") and "[%s])" % main_addresses["mail01"] in header, header


def test_postfix_sends_per_sender():
    assert MAIL01.check_output("postmap -q @cliente2.test lmdb:/etc/postfix/fracto/sender_transports") == "smtp-198-51-100-102:"
    assert MAIL01.run("postmap -q @cliente1.test lmdb:/etc/postfix/fracto/sender_transports").rc == 1
    master = MAIL01.file("/etc/postfix/master.cf").content_string
    assert "-o smtp_bind_address=%s\n  -o smtp_helo_name=%s\n" % (MAIL_IP, HELO) in master


# --------------------------------------------------------------------------- the pool view

def pool_view(inventory, tmp_path, *extra, platform=PROJECT / "inventories" / "platform"):
    run = subprocess.run(["ansible-playbook", "-i", str(platform), "-e", "fracto_reseller_dir=%s" % inventory, "playbooks/ip_pool.yml",
                          "-e", "fracto_ip_pool_rdns=true",
                          "-e", "fracto_report_dir=%s" % tmp_path,
                          "-e", json.dumps({"fracto_ip_pool_nameservers": [LAB_DNS]})] + list(extra),
                         capture_output=True, text=True, cwd=PROJECT, timeout=120, check=False,
                         env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout, json.loads((tmp_path / "ip-pool-demo.json").read_text())


def test_pool_view_of_the_demo_platform(tmp_path):
    out, view = pool_view(PROJECT / "inventories" / "demo", tmp_path)
    assert "150 addresses, 144 free, 4 allocated, 2 bound" in out
    assert "free: 198.51.100.104-198.51.100.109, 198.51.100.112-198.51.100.249" in out
    by = {a["address"]: a for a in view["addresses"]}
    assert (by[WEB_IP]["state"], by[WEB_IP]["clients"], by[WEB_IP]["sides"]) == ("bound", ["cliente2"], ["web"])
    assert (by[MAIL_IP]["state"], by[MAIL_IP]["helo"], by[MAIL_IP]["rdns"]) == ("bound", HELO, "")
    assert by["198.51.100.101"]["state"] == "allocated" and by["198.51.100.111"]["reseller"] == "other-reseller"
    assert by["198.51.100.104"]["state"] == "free"


def test_pool_view_reports_a_reverse_dns_that_does_not_match_the_helo_name(tmp_path):
    # Another platform domain gives other HELO names: the lab's PTR records no longer match them.
    platform = tmp_path / "platform"  # the platform's domain is the platform inventory's
    shutil.copytree(PROJECT / "inventories" / "platform", platform)
    edit(platform / "group_vars" / "all" / "platform.yml", lambda d: d["fracto_platform"].update(domain="elsewhere.test"))
    out, view = pool_view(PROJECT / "inventories" / "demo", tmp_path, platform=platform)
    by = {a["address"]: a for a in view["addresses"]}
    assert by[MAIL_IP]["rdns"] == "PTR of %s is %s, HELO name is smtp-198-51-100-102.elsewhere.test" % (MAIL_IP, HELO)
    assert "! PTR of %s" % MAIL_IP in out


# --------------------------------------------------------------------------- rebinding and unbinding

def temp_inventory(tmp_path, change):
    """A copy of the demo reseller's inventory with a changed state (named demo: the directory names the reseller)."""
    copy = tmp_path / "demo"
    shutil.copytree(PROJECT / "inventories" / "demo", copy, symlinks=False)
    change(copy / "group_vars" / "all")
    return copy


def edit(path, func):
    data = yaml.safe_load(path.read_text())
    func(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def rebind_to_cliente1(group_vars):
    edit(group_vars / "packages.yml", lambda d: d["fracto_packages"]["gdpr"].update(dedicated_ip=True))
    edit(group_vars / "clients" / "cliente2.yml", lambda d: d["fracto_clients__cliente2"]["cliente2"].pop("dedicated_ip"))
    edit(group_vars / "clients" / "cliente1.yml",
         lambda d: d["fracto_clients__cliente1"]["cliente1"].update(dedicated_ip={"web": WEB_IP, "mail": MAIL_IP}))


def unbind(group_vars):
    edit(group_vars / "clients" / "cliente2.yml", lambda d: d["fracto_clients__cliente2"]["cliente2"].pop("dedicated_ip"))


def site(inventory, tmp_path, *extra):
    # The plan and report of the copy go to tmp_path (FRACTO_REPORT_DIR also holds the lab's key: kept).
    command = ["ansible-playbook", "-i", INVENTORY, "-e", "fracto_reseller_dir=%s" % inventory, "playbooks/site.yml",
               "-e", "fracto_report_dir=%s" % tmp_path] + list(extra)
    run = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=900, check=False,
                         env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0"))
    return run.returncode, re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)


def untouched():
    """What rebinding must not touch: cliente3's vhost on cloud01 and its mail on mail01 (its lines of the users file
    and of the Postfix maps, what Postfix and Dovecot read of them, its messages). Hashes only: no hash is printed."""
    import hashlib

    def digest(text):
        return hashlib.sha256(text.encode()).hexdigest()

    state = {CLIENTE3_VHOST: digest(CLOUD01.file(CLIENTE3_VHOST).content_string)}
    for path in CLIENTE3_MAIL_FILES:
        lines = [line for line in MAIL01.file(path).content_string.splitlines() if "cliente3" in line]
        state[path] = digest("\n".join(lines)) if lines else None
    lookups = {"domains": "cliente3.test", "mailboxes": CONTACTO[0], "sender_transports": "@cliente3.test"}
    for table, key in lookups.items():
        found = MAIL01.run("postmap -q %s lmdb:/etc/postfix/fracto/%s" % (key, table))
        state["postmap %s %s" % (table, key)] = (found.rc, found.stdout.strip())
    state["doveadm user"] = digest(MAIL01.check_output("doveadm user %s" % CONTACTO[0]))
    state["messages"] = digest(MAIL01.run("cd /var/vmail/cliente3.test 2>/dev/null && find . -type f \\( -path '*/cur/*' -o "
                                          "-path '*/new/*' \\) -print0 | sort -z | xargs -0 -r sha256sum").stdout)
    return state


def test_cliente3_has_its_mail_and_no_transport_of_its_own():
    """The baseline untouched() compares: cliente3's mail is there (domain, mailbox), without a sending address."""
    state = untouched()
    assert state["/etc/dovecot/fracto/users"] and state["/etc/postfix/fracto/domains"] and state["/etc/postfix/fracto/mailboxes"]
    assert state["postmap domains cliente3.test"][0] == 0 and state["postmap mailboxes %s" % CONTACTO[0]][0] == 0
    assert state["postmap sender_transports @cliente3.test"] == (1, "")
    assert state["/etc/postfix/fracto/sender_transports"] is None


def test_rebinding_and_unbinding_leave_the_other_clients_untouched(tmp_path, vault, main_addresses):
    before = untouched()
    try:
        rebound = temp_inventory(tmp_path / "rebound", rebind_to_cliente1)
        # The plan of the move (with, in the plan only, cliente2 moved to .103, which has no PTR record in the lab):
        # it shows the binding changes, the reverse-DNS mismatch under "needs attention", and changes nothing.
        planned = temp_inventory(tmp_path / "planned", lambda group_vars: (rebind_to_cliente1(group_vars), edit(
            group_vars / "clients" / "cliente2.yml",
            lambda d: d["fracto_clients__cliente2"]["cliente2"].update(dedicated_ip={"mail": "198.51.100.103"}))))
        rc, out = site(planned, tmp_path, "--check", "--diff")
        assert rc == 0, out[-3000:]
        assert re.search(r"~ ip_binding %s: client: cliente2 -> cliente1" % re.escape(WEB_IP), out), out[-3000:]
        assert "+ ip_binding 198.51.100.103: added on eth0 as /32 (mail)" in out
        assert "+ mail_sender cliente1.test: mail leaves from %s (HELO %s)" % (MAIL_IP, HELO) in out
        assert "~ mail_sender cliente2.test: mail leaves from 198.51.100.103 (HELO smtp-198-51-100-103.fracto.test)" in out
        assert "+    listen %s:443 ssl http2 default_server;" % WEB_IP in out  # the diff of cliente1's vhost
        assert re.search(r"! \(reseller\): 198\.51\.100\.103 reverse DNS does not match its HELO name: no PTR record", out), \
            out[out.find("needs attention"):][:2000]
        assert "default_server" not in CLOUD01.file("/etc/nginx/fracto/sites/cliente1.test.conf").content_string
        assert "198.51.100.103" not in " ".join(addresses(MAIL01))

        rc, out = site(rebound, tmp_path)
        assert rc == 0, out[-3000:]
        _response, cert = raw_http(WEB_IP, 443, b"GET / HTTP/1.0\r\n\r\n", tls())
        assert "cliente1.test" in san(cert)
        response, cert = raw_http(main_addresses["cloud01"], 443, b"GET / HTTP/1.0\r\nHost: cliente2.test\r\n\r\n",
                                  tls(), sni="cliente2.test")
        assert response.startswith("HTTP/1.1 200") and "cliente2.test" in san(cert)  # cliente2 still served
        assert sent_from(vault, *CLIENTE1).startswith("from %s (%s [%s])" % (HELO, HELO, MAIL_IP))
        assert "[%s])" % main_addresses["mail01"] in sent_from(vault, *CLIENTE2)
        header = sent_from_cliente3()  # cliente3's mail still leaves from mail01's own address and name
        assert header.startswith("from mail01.fracto.test (") and "[%s])" % main_addresses["mail01"] in header, header
        assert untouched() == before

        unbound = temp_inventory(tmp_path / "unbound", unbind)
        rc, out = site(unbound, tmp_path)
        assert rc == 0, out[-3000:]
        assert "- ip_binding %s" % WEB_IP in out and "- ip_binding %s" % MAIL_IP in out
        assert WEB_IP not in " ".join(addresses(CLOUD01)) and MAIL_IP not in " ".join(addresses(MAIL01))
        assert not CLOUD01.file(IFUPDOWN).exists and not MAIL01.file(IFUPDOWN).exists
        assert "%s/24" % main_addresses["cloud01"] in addresses(CLOUD01)
        assert WEB_IP not in CLOUD01.check_output("cat /etc/nginx/fracto/sites/*.conf")
        assert "[%s])" % main_addresses["mail01"] in sent_from(vault, *CLIENTE2)
        assert untouched() == before
    finally:
        # Leave the lab as it was found: the demo converged again.
        rc, out = run_playbook(PROJECT, "playbooks/site.yml")
        assert rc == 0, out[-3000:]
    assert "%s/32" % WEB_IP in addresses(CLOUD01) and "%s/32" % MAIL_IP in addresses(MAIL01)
    _response, cert = raw_http(WEB_IP, 443, b"GET / HTTP/1.0\r\n\r\n", tls())
    assert "cliente2.test" in san(cert)
    assert untouched() == before
