"""The lab: DNS answers for every name of the demo state, Pebble serves ACME over TLS, backup01 takes SFTP."""

import json
import os
import socket
import ssl
import subprocess
import urllib.request

import dns.resolver
import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
ACME = testinfra.get_host("ansible://acme?ansible_inventory=" + INVENTORY)
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)

WEB_NAMES = ["cliente1.test", "www.cliente1.test", "shop.cliente1.test", "blog.cliente1.test", "cliente3.test"]
# cliente2 has a dedicated web address on cloud01: its names point at it (molecule/dedicated_ip).
DEDICATED_WEB_NAMES = ["cliente2.test", "www.xn--caff-8oa.test"]
MAIL_NAMES = ["mail.cliente1.test", "webmail.cliente1.test", "mail.dominioreseller.test",
              "webmail.dominioreseller.test", "mail01.fracto.test"]


@pytest.mark.parametrize("name", WEB_NAMES)
def test_web_names_resolve_to_cloud01(lab_resolve, name):
    assert lab_resolve(name) == lab_resolve("cloud01.fracto.test")


@pytest.mark.parametrize("name", DEDICATED_WEB_NAMES)
def test_names_of_a_client_with_a_dedicated_address_resolve_to_it(lab_resolve, name):
    assert lab_resolve(name) == ["198.51.100.100"]


@pytest.mark.parametrize("name", MAIL_NAMES)
def test_mail_names_resolve_to_mail01(lab_resolve, name):
    assert lab_resolve(name) == lab_resolve("mail01.fracto.test")


def test_unknown_lab_name_is_nxdomain(lab_resolve):
    with pytest.raises(dns.resolver.NXDOMAIN):
        lab_resolve("not-a-client.test")


def test_hosts_resolve_lab_names_through_the_lab_dns():
    assert CLOUD01.run("getent hosts shop.cliente1.test").stdout.split()[0] == CLOUD01.interface("eth0").addresses[0]


def test_pebble_serves_acme_directory_over_verified_tls(lab_resolve):
    ca = ACME.file("/etc/pebble/lab-ca.pem").content_string
    context = ssl.create_default_context(cadata=ca)
    address = lab_resolve("acme.fracto.test")[0]
    with socket.create_connection((address, 14000), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="acme.fracto.test") as tls:
            tls.sendall(b"GET /dir HTTP/1.1\r\nHost: acme.fracto.test\r\nConnection: close\r\n\r\n")
            body = b""
            while chunk := tls.recv(65536):
                body += chunk
    directory = json.loads(body.split(b"\r\n\r\n", 1)[1])
    assert {"newAccount", "newNonce", "newOrder"} <= set(directory)


def test_pebble_root_is_served_by_management_api(lab_resolve):
    ca = ACME.file("/etc/pebble/lab-ca.pem").content_string
    context = ssl.create_default_context(cadata=ca)
    context.check_hostname = False  # the management API is reached by address here
    address = lab_resolve("acme.fracto.test")[0]
    with urllib.request.urlopen("https://%s:15000/roots/0" % address, context=context, timeout=10) as response:
        assert b"BEGIN CERTIFICATE" in response.read()


def test_pebble_certificate_validity_is_90_days():
    config = json.loads(ACME.file("/etc/pebble/pebble-config.json").content_string)
    assert config["pebble"]["certificateValidityPeriod"] == 90 * 86400


def test_backup01_accepts_sftp_with_the_lab_key(project, lab_resolve):
    address = lab_resolve("backup01.fracto.test")[0]
    key = project / ".fracto" / "lab" / "id_ed25519"
    run = subprocess.run(
        ["sftp", "-i", str(key), "-b", "-", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "restic@%s" % address],
        input="mkdir probe\nls\nrmdir probe\n", capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert "probe" in run.stdout


def test_backup01_refuses_a_shell_to_the_backup_account(project, lab_resolve):
    """The key logs in, but the command asked for (id) never runs: sshd, forced to internal-sftp in a chroot, answers
    with its own refusal, which it prints only to a session it has authenticated (a refused key, an unreachable host
    or a wrong host key would not get it)."""
    address = lab_resolve("backup01.fracto.test")[0]
    key = project / ".fracto" / "lab" / "id_ed25519"
    run = subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "restic@%s" % address, "id"],
        capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1 and run.stdout == "This service allows sftp connections only.\n", (run.stdout, run.stderr)
    assert "uid=" not in run.stdout + run.stderr
