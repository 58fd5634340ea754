"""Each client's logs (issue 16): cliente1 reads, over SFTP, its access log with the request just made, its PHP errors,
and nothing of another client's; its package (gdpr) truncates visitors' addresses, cliente2's (business) does not.

The requests are real HTTPS requests from this machine to cloud01 (the lab CA verified); the logs are read through
cliente1's own SFTP session (the link `logs` in its home), as the client would.
"""

import os
import re
import shlex
import uuid

import pytest
import testinfra
from conftest import https_get
from test_sftp import PASSWORD, connect  # noqa: F401 (connect: the SFTP session fixture)

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
LOGS = "/srv/www/.logs"


def read_over_sftp(connect, path):  # noqa: F811
    with connect(password=PASSWORD).open_sftp() as sftp, sftp.open(path) as handle:
        return handle.read().decode()


def visit(lab_resolve, pebble_root, name):
    path = "/log-probe-%s" % uuid.uuid4().hex[:12]
    status, _headers, _body, _cert = https_get(lab_resolve(name)[0], name, pebble_root, path)
    assert status == 404
    return path


def lines_with(text, needle):
    return [line for line in text.splitlines() if needle in line]


def test_cliente1_reads_its_access_log_with_the_request_just_made_its_address_truncated(connect, lab_resolve, pebble_root):  # noqa: F811
    path = visit(lab_resolve, pebble_root, "cliente1.test")
    lines = lines_with(read_over_sftp(connect, "logs/access.log"), "GET %s " % path)
    assert len(lines) == 1, lines
    # The gdpr package keeps the visitor's network only: an IPv4 /24 ends in .0 (the lab's addresses are IPv4).
    assert re.match(r"[0-9]+\.[0-9]+\.[0-9]+\.0 - - \[", lines[0]), lines[0]


def test_a_package_without_truncation_logs_the_whole_address(lab_resolve, pebble_root):
    path = visit(lab_resolve, pebble_root, "cliente2.test")
    lines = lines_with(CLOUD01.file("%s/cliente2/access.log" % LOGS).content_string, "GET %s " % path)
    assert len(lines) == 1 and not re.match(r"[0-9.]+\.0 ", lines[0]), lines
    assert re.match(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ - - \[", lines[0]), lines[0]


def test_cliente1_reads_its_php_errors(connect, lab_resolve, pebble_root):  # noqa: F811
    marker = "fracto-log-probe-%s" % uuid.uuid4().hex[:12]
    script = "/srv/www/cliente1/cliente1.test/public/%s.php" % marker
    CLOUD01.run_expect([0], "runuser -u cliente1 -- sh -c %s" % shlex.quote(
        "printf '%%s' '<?php error_log(\"%s\"); echo \"ok\";' > %s" % (marker, script)))
    try:
        status, _headers, body, _cert = https_get(lab_resolve("cliente1.test")[0], "cliente1.test", pebble_root, "/%s.php" % marker)
        assert (status, body) == (200, "ok")
        assert lines_with(read_over_sftp(connect, "logs/php-error.log"), marker)
    finally:
        CLOUD01.run("rm -f -- %s" % script)


@pytest.mark.parametrize("command", [
    "cat %s/cliente1/access.log" % LOGS,
    "cat %s/cliente1/php-error.log" % LOGS,
    "ls %s/cliente1" % LOGS,
    "ls %s" % LOGS,
    "touch %s/cliente1/planted" % LOGS,
])
def test_another_client_reads_nothing_of_cliente1s_logs_and_writes_nothing_there(command):
    assert "planted" not in CLOUD01.run("ls -a %s/cliente1" % LOGS).stdout
    run = CLOUD01.run("runuser -u cliente2 -- %s" % command)
    assert run.rc != 0 and "Permission denied" in run.stderr, (run.rc, run.stdout, run.stderr)


def test_cliente1_cannot_write_into_its_log_directory_so_root_never_follows_a_path_it_planted(connect):  # noqa: F811
    with connect(password=PASSWORD).open_sftp() as sftp, pytest.raises(PermissionError):
        sftp.symlink("/etc/shadow", "logs/planted")
    log_dir = CLOUD01.file("%s/cliente1" % LOGS)
    assert (log_dir.user, log_dir.group, log_dir.mode) == ("root", "cliente1", 0o751)


def test_a_rotation_keeps_the_client_reading_and_nginx_writing(connect, lab_resolve, pebble_root):  # noqa: F811
    before = visit(lab_resolve, pebble_root, "cliente1.test")
    CLOUD01.run_expect([0], "logrotate --force /etc/logrotate.d/fracto-client-cliente1")
    # The newest rotated copy: access.log-<date>-<epoch> (dateext; delaycompress keeps it plain until the next one).
    newest = CLOUD01.check_output("ls -t %s/cliente1 | grep -m1 '^access\\.log-[0-9]*-[0-9]*$'" % LOGS)
    rotated = CLOUD01.file("%s/cliente1/%s" % (LOGS, newest))
    assert rotated.group == "cliente1" and rotated.mode == 0o640
    assert lines_with(read_over_sftp(connect, "logs/" + newest), "GET %s " % before)
    php_errors = CLOUD01.check_output("ls -t %s/cliente1 | grep -m1 '^php-error\\.log-'" % LOGS)
    # The client's own file is renamed, never compressed, and a new one is made for it.
    assert not php_errors.endswith(".gz") and CLOUD01.file("%s/cliente1/php-error.log" % LOGS).user == "cliente1"
    after = visit(lab_resolve, pebble_root, "cliente1.test")  # copytruncate: nginx goes on in the same file
    assert lines_with(read_over_sftp(connect, "logs/access.log"), "GET %s " % after)
