"""Helpers shared by the scenarios' testinfra tests: the lab's DNS and addresses, seen from the machine."""

import http.client
import imaplib
import os
import pathlib
import re
import shlex
import smtplib
import socket
import ssl

import dns.resolver
import pytest

PROJECT = pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", pathlib.Path(__file__).resolve().parents[1]))
LAB_DNS = "198.51.100.20"  # acme, fixed in .config/molecule/config.yml


@pytest.fixture(scope="session")
def lab_resolve():
    """Resolve a lab name through the lab's own DNS, as Pebble and the hosts do."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    resolver.lifetime = 5

    def resolve(name):
        return sorted(answer.to_text() for answer in resolver.resolve(name, "A"))

    return resolve


@pytest.fixture(scope="session")
def cloud01_address(lab_resolve):
    """cloud01's address on the lab network (the web host)."""
    return lab_resolve("cloud01.fracto.test")[0]


@pytest.fixture(scope="session")
def mail01_address(lab_resolve):
    """mail01's address on the lab network (the mail host)."""
    return lab_resolve("mail01.fracto.test")[0]


@pytest.fixture(scope="session")
def project():
    return PROJECT


@pytest.fixture(scope="session")
def pebble_root(lab_resolve):
    """Pebble's current issuing root, from its management API (it draws a new one at each start)."""
    import ssl
    import urllib.request

    import testinfra

    acme = testinfra.get_host("ansible://acme?ansible_inventory=" + os.environ["MOLECULE_INVENTORY_FILE"])
    context = ssl.create_default_context(cadata=acme.file("/etc/pebble/lab-ca.pem").content_string)
    context.check_hostname = False  # the management API is reached by address
    address = lab_resolve("acme.fracto.test")[0]
    with urllib.request.urlopen("https://%s:15000/roots/0" % address, context=context, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="session")
def vault():
    """The demo's vault (group_vars/all/vault.yml), decrypted with the demo password."""
    import subprocess

    import yaml

    demo = PROJECT / "inventories" / "demo"
    run = subprocess.run(["ansible-vault", "view", "--vault-id", "demo@%s" % (demo / "vault-password.txt"),
                          str(demo / "group_vars" / "all" / "vault.yml")],
                         capture_output=True, text=True, check=True, env=dict(os.environ, ANSIBLE_VAULT_IDENTITY_LIST=""))
    return yaml.safe_load(run.stdout)


def run_playbook(project, *args, env=None, timeout=900):
    """Run ansible-playbook on the demo inventory from the project directory; returns (rc, output)."""
    import subprocess

    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    command = ["ansible-playbook"] + (["-i", inventory] if inventory else []) + \
        ["-e", "fracto_reseller_dir=%s" % (project / "inventories" / "demo")]
    # Molecule forces colour for its children; the tests read plain text.
    plain = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0"}
    run = subprocess.run(command + list(args), capture_output=True, text=True, cwd=project,
                         env=dict(os.environ, **plain, **(env or {})), timeout=timeout, check=False)
    return run.returncode, re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)


class LabIMAP4SSL(imaplib.IMAP4_SSL):
    """IMAPS to an address of the lab, with the branded name as SNI and as the name verified."""

    def __init__(self, address, name, context, timeout=10):
        self._address = address
        super().__init__(name, 993, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self._address, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class LabSMTPS(smtplib.SMTP_SSL):
    """SMTPS (465) to an address of the lab, with the branded name as SNI and as the name verified."""

    def __init__(self, address, name, context):
        self._address = address
        super().__init__(name, 465, local_hostname="tester.fracto.test", context=context, timeout=20)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((self._address, port), timeout)
        return self.context.wrap_socket(sock, server_hostname=host)


@pytest.fixture(scope="session")
def promtool_check():
    """``promtool check metrics`` on the controller for a text (promtool unpacked from Debian's prometheus .deb by
    scripts/ensure-promtool.sh, never the server installed); returns (returncode, output)."""
    import subprocess

    path = subprocess.run(["bash", str(PROJECT / "scripts" / "ensure-promtool.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()

    def check(text):
        proc = subprocess.run([path, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout + proc.stderr

    return check


@pytest.fixture
def chromium_home(tmp_path, pebble_root):
    """A HOME for Debian's headless Chromium whose NSS store (~/.pki/nssdb) trusts Pebble's root."""
    import shutil
    import subprocess

    certutil = shutil.which("certutil")
    assert shutil.which("chromium") and certutil, "run scripts/ensure-browser.sh (Debian's chromium and libnss3-tools)"
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble_root)
    subprocess.run([certutil, "-d", "sql:%s" % nssdb, "-N", "--empty-password"], check=True)
    subprocess.run([certutil, "-d", "sql:%s" % nssdb, "-A", "-t", "C,,", "-n", "pebble-root", "-i", str(root)], check=True)
    return home


def https_get(address, name, cadata, path="/", method="GET", body=None, headers=None):
    """GET (or method, with body) https://name/path from address with SNI name, verified against cadata; returns
    (status, headers, body, cert)."""
    context = ssl.create_default_context(cadata=cadata)
    with socket.create_connection((address, 443), timeout=10) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
        cert = tls.getpeercert()
        conn = http.client.HTTPConnection(name)
        conn.sock = tls
        conn.request(method, path, body=body, headers=dict(headers or {}, Host=name))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace"), cert


def script_answer(host, script, *args):
    """(code, text) of the line '<code> <text>' a python3 script run on a lab host prints (an SMTP server's answer)."""
    run = host.run("python3 -c %s %s" % (shlex.quote(script), " ".join(shlex.quote(str(a)) for a in args)))
    assert run.rc == 0, run.stderr
    code, _sep, text = run.stdout.strip().partition(" ")
    return int(code), text
