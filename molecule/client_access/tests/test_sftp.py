"""SFTP for clients (issue 16): cliente1 (package gdpr, sftp: true) reaches its own files over SFTP, nothing else.

Every session is a real SSH connection from this machine to cloud01, cloud01's host key verified (read from the host),
with cliente1's password (from the demo vault, hashed on the controller) or Ana's key (the demo's, made here from the
seed its public half in the inventory was made from).
"""

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import uuid

import paramiko
import pytest
import testinfra
from conftest import PROJECT, https_get

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
PASSWORD = "demo-sftp-cliente1"  # vault_cliente1_sftp_password of the demo vault
KEY_SEED = b"fracto.hosting demo: cliente1's SFTP key, never a real one"
ANA_PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPzPFu+4sU9iYkzZnT3C6Brre6O+7IZR0UHDr5kl7Ih7 ana@cliente1"
DROPIN_TEMPLATE = PROJECT / "roles" / "fracto_web" / "templates" / "etc" / "ssh" / "sshd_config.d" / "fracto-sftp.conf.j2"


def ana_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(KEY_SEED).digest())
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    return paramiko.Ed25519Key.from_private_key(io.StringIO(text.decode()))


@pytest.fixture(scope="module")
def connect(cloud01_address):
    kind, blob = CLOUD01.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2]
    opened = []

    def open_session(user="cliente1", **auth):
        client = paramiko.SSHClient()
        client.get_host_keys().add(cloud01_address, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # cloud01's own key, or no session
        client.connect(cloud01_address, 22, username=user, timeout=15, allow_agent=False, look_for_keys=False, **auth)
        opened.append(client)
        return client

    yield open_session
    for client in opened:
        client.close()


def test_an_upload_over_sftp_lands_in_the_docroot_is_the_clients_and_is_served(connect, lab_resolve, pebble_root):
    name = "sftp-%s.html" % uuid.uuid4().hex[:8]
    body = "<p>uploaded over SFTP %s</p>\n" % name
    with connect(password=PASSWORD).open_sftp() as sftp:
        assert sftp.normalize(".") == "/cliente1"  # it starts in its home, inside the chroot /srv/www
        sftp.putfo(io.BytesIO(body.encode()), "cliente1.test/public/" + name)
    try:
        uploaded = CLOUD01.file("/srv/www/cliente1/cliente1.test/public/" + name)
        assert (uploaded.user, uploaded.group, uploaded.mode) == ("cliente1", "www-data", 0o640)
        status, _headers, served, _cert = https_get(lab_resolve("cliente1.test")[0], "cliente1.test", pebble_root, "/" + name)
        assert (status, served) == (200, body)
    finally:
        CLOUD01.run("rm -f -- /srv/www/cliente1/cliente1.test/public/%s" % name)


def test_anas_key_logs_in_too(connect):
    with connect(pkey=ana_key()).open_sftp() as sftp:
        assert "cliente1.test" in sftp.listdir(".")


@pytest.mark.parametrize("path", ["/", "/cliente2", "/cliente2/cliente2.test/public"])
def test_the_chroot_shows_no_other_client_nor_the_list_of_clients(connect, path):
    with connect(password=PASSWORD).open_sftp() as sftp, pytest.raises(PermissionError):
        sftp.listdir(path)


def test_no_command_runs_and_no_port_is_forwarded(connect):
    client = connect(password=PASSWORD)
    _stdin, stdout, _stderr = client.exec_command("id; echo ran-a-shell", timeout=5)
    try:
        output = stdout.channel.recv(4096)
    except TimeoutError:
        output = b""  # internal-sftp waits for an SFTP client: no shell ever read the command
    assert b"ran-a-shell" not in output and b"uid=" not in output
    with pytest.raises(paramiko.ChannelException):  # AllowTcpForwarding no: administratively prohibited
        client.get_transport().open_channel("direct-tcpip", ("127.0.0.1", 80), ("127.0.0.1", 0), timeout=10)


def plant_key(user, public_key):
    """A key the client's own code (its PHP) writes into its home, as OpenSSH's default place for keys."""
    script = 'umask 077; mkdir -p "$1/.ssh" && printf "%s\\n" "$2" > "$1/.ssh/authorized_keys"'
    planted = CLOUD01.run("runuser -u %s -- sh -c '%s' sh /srv/www/%s '%s'" % (user, script, user, public_key))
    assert planted.rc == 0, planted.stderr


def test_a_client_without_sftp_cannot_log_in_even_with_a_key_planted_in_its_home(connect):
    plant_key("cliente2", ANA_PUBLIC)
    try:
        for auth in ({"pkey": ana_key()}, {"password": PASSWORD}):
            with pytest.raises(paramiko.AuthenticationException):
                connect(user="cliente2", **auth)
    finally:
        CLOUD01.run("rm -rf -- /srv/www/cliente2/.ssh")


def test_a_client_with_sftp_logs_in_with_its_state_keys_only(connect):
    other = paramiko.Ed25519Key.from_private_key(io.StringIO(_fresh_openssh_key()))
    plant_key("cliente1", "%s %s" % (other.get_name(), other.get_base64()))
    try:
        with pytest.raises(paramiko.AuthenticationException):
            connect(pkey=other)
    finally:
        CLOUD01.run("rm -rf -- /srv/www/cliente1/.ssh")


def _fresh_openssh_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                      serialization.NoEncryption()).decode()


def sftp_access(users, tmp_path):
    """fracto.hosting.sftp_access on cloud01 for the demo reseller's cliente1, as the role calls it (the action
    hashes the password on the controller; the template read by a lookup, never templated again)."""
    play = tmp_path / "sftp_access.yml"
    play.write_text(json.dumps([{"name": "SFTP of cliente1", "hosts": "cloud01", "gather_facts": False, "tasks": [{
        "name": "Converge cliente1's SFTP", "fracto.hosting.sftp_access": {
            "users": "{{ sftp_users }}", "clients": ["cliente1"], "reseller": "demo",
            "templates": {"sshd_sftp": "{{ lookup('ansible.builtin.file', '%s', rstrip=false) }}" % DROPIN_TEMPLATE}}}]}]))
    run = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(play), "-e", json.dumps({"sftp_users": users})],
                         capture_output=True, text=True, cwd=PROJECT, timeout=300, check=False,
                         env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"))
    output = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)
    assert run.returncode == 0, output
    assert "$6$" not in output  # no hash in what the run prints
    return output


def test_a_client_whose_sftp_is_taken_away_can_no_longer_log_in(connect, tmp_path):
    sftp_access([], tmp_path)
    try:
        for auth in ({"pkey": ana_key()}, {"password": PASSWORD}):
            with pytest.raises(paramiko.AuthenticationException):
                connect(**auth)
        assert not CLOUD01.file("/etc/ssh/fracto-sftp/cliente1").exists
        assert "fracto-sftp" not in CLOUD01.user("cliente1").groups
    finally:
        sftp_access([{"client": "cliente1", "password": PASSWORD, "keys": [ANA_PUBLIC]}], tmp_path)
    with connect(password=PASSWORD).open_sftp() as sftp:  # given back: the state's next converge keeps this hash
        assert sftp.normalize(".") == "/cliente1"


def test_the_drop_in_leaves_sshd_configuration_for_everyone_else_as_it_was():
    """Debian's sshd_config includes the drop-in at its top: anyone outside the group keeps what sshd_config says after
    its Include line (X11Forwarding yes) and runs no forced command; a client of the group gets the chroot."""
    everyone = CLOUD01.run("sshd -T -C user=nobody,host=ops.example,addr=192.0.2.1")
    assert everyone.rc == 0, everyone.stderr
    assert "x11forwarding yes" in everyone.stdout and "forcecommand none" in everyone.stdout
    client = CLOUD01.run("sshd -T -C user=cliente1,host=ops.example,addr=192.0.2.1")
    assert "forcecommand internal-sftp -d /%u -u 0027" in client.stdout and "chrootdirectory /srv/www" in client.stdout
