"""Site migration from legacy01 (the old platform) to cloud01 (FractoCloud): content, report, reruns, errors, --check."""

import hashlib
import http.client
import json
import os
import re
import socket
import ssl

import pytest
import testinfra
import yaml
from conftest import PROJECT, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
LEGACY01 = testinfra.get_host("ansible://legacy01?ansible_inventory=" + INVENTORY)
CLIENTS = PROJECT / "inventories" / "demo" / "group_vars" / "all" / "clients"
REPORTS = PROJECT / ".fracto"
MIGRATE = str(PROJECT / "playbooks" / "migrate_site.yml")

C1_DOCROOT = "/srv/www/cliente1/cliente1.test/public"
C3_DOCROOT = "/srv/www/cliente3/cliente3.test/public"
C1_TITLE = "Cliente Uno - Talleres Uno"
C1_TEXT = "Texto leído de la base de datos cliente1_db."
C3_TITLE = "Bienvenidos - Cliente Tres"
CHANGED_FILE = "docs/horario.txt"


@pytest.fixture(scope="module")
def addresses(lab_resolve):
    return {"cloud01": lab_resolve("cloud01.fracto.test")[0], "legacy01": lab_resolve("legacy01.fracto.test")[0]}


def get(address, name, scheme="http", path="/"):
    """(status, body) of GET scheme://name/path sent to address (Host header and SNI name); the certificate is not checked here."""
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        raw = socket.create_connection((address, 443), timeout=10)
        conn = http.client.HTTPConnection(name)
        conn.sock = context.wrap_socket(raw, server_hostname=name)
    else:
        conn = http.client.HTTPConnection(address, 80, timeout=10)
    conn.request("GET", path, headers={"Host": name})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read().decode(errors="replace")


def title(body):
    match = re.search(r"<title>(.*?)</title>", body, re.S)
    return match.group(1).strip() if match else None


def tree_digest(host, root):
    """A digest of every file's path, owner, mode and content under root (to prove a failed run changed nothing)."""
    listing = host.check_output("cd %s && find . -printf '%%p %%u %%g %%m %%s\\n' | sort && find . -type f -print0 | sort -z "
                                "| xargs -0 sha256sum" % root)
    return hashlib.sha256(listing.encode()).hexdigest()


def report(client, plan=False):
    return json.loads((REPORTS / ("migration-%s%s.json" % ("plan-" if plan else "", client))).read_text())


def db_password():
    text = CLOUD01.file(C1_DOCROOT + "/wp-config.php").content_string
    return re.search(r"define\( 'DB_PASSWORD', '([^']+)' \)", text).group(1)


def test_legacy01_serves_the_old_sites(addresses):
    status, _headers, body = get(addresses["legacy01"], "cliente1.test")
    assert status == 200 and title(body) == C1_TITLE and C1_TEXT in body
    status, _headers, body = get(addresses["legacy01"], "www.cliente3.test")
    assert status == 200 and title(body) == C3_TITLE and 'content="Joomla! 2.5' in body


def test_cloud01_serves_the_migrated_site_with_content_from_the_migrated_database(addresses):
    status, headers, body = get(addresses["cloud01"], "cliente1.test", "https")
    assert status == 200 and title(body) == C1_TITLE and C1_TEXT in body
    assert headers["Server"].startswith("nginx")
    # The content comes from cloud01's own MariaDB, through the client's PHP-FPM pool.
    rows = CLOUD01.check_output("mysql -N -B -e \"SELECT title FROM cliente1_db.wp_pages WHERE slug = 'home'\"")
    assert rows.strip() == C1_TITLE
    assert CLOUD01.socket("unix:///run/php/fracto-cliente1-8.2.sock").is_listening
    status, _headers, _body = get(addresses["cloud01"], "cliente1.test", "http")
    assert status == 301  # the package (GDPR) serves it over HTTPS only


def test_files_belong_to_the_clients_user_on_the_new_host():
    index = CLOUD01.file(C1_DOCROOT + "/index.php")
    assert index.user == "cliente1" and index.group == "www-data" and index.mode == 0o640
    assert CLOUD01.user("cliente1").uid != LEGACY01.user("cliente1").uid  # ownership was mapped, not copied
    assert not CLOUD01.file(C1_DOCROOT + "/index.html").exists  # the placeholder is gone: the site is a mirror


def test_configs_are_rewritten_for_the_new_database(addresses):
    wp = CLOUD01.file(C1_DOCROOT + "/wp-config.php")
    assert wp.user == "cliente1" and wp.mode == 0o640
    assert "define( 'DB_NAME', 'cliente1_db' );" in wp.content_string
    assert "define( 'DB_USER', 'cliente1_db' );" in wp.content_string  # the new user (cliente1_web on legacy01)
    old_password = re.search(r"define\( 'DB_PASSWORD', '([^']+)' \)",
                             LEGACY01.file("/home/cliente1/public_html/wp-config.php").content_string).group(1)
    assert db_password() != old_password
    joomla = CLOUD01.file(C3_DOCROOT + "/configuration.php").content_string
    assert "public $db = 'cliente3_joomla';" in joomla and "public $user = 'cliente3_joomla';" in joomla
    assert "public $dbtype = 'mysqli';" in joomla and "public $sitename = 'Cliente Tres';" in joomla
    status, _headers, body = get(addresses["cloud01"], "cliente3.test")
    assert status == 200 and title(body) == C3_TITLE


def test_report_flags_the_joomla_site_as_outdated_and_holds_no_secret():
    joomla = report("cliente3")
    assert joomla["status"] == "ok" and joomla["preflight"]["cms"]["name"] == "Joomla"
    assert joomla["preflight"]["cms"]["version"] == "2.5.28"
    assert any("end of life since 2014" in text for text in joomla["outdated"])
    assert "! OUTDATED: Joomla 2.5.28 is outdated" in (REPORTS / "migration-cliente3.txt").read_text()
    site = report("cliente1")
    assert site["status"] == "ok" and site["outdated"] == [] and all(s["match"] for s in site["smoke"])
    assert {s["name"] for s in site["smoke"]} == {"cliente1.test", "www.cliente1.test"}
    for path in REPORTS.glob("migration-*"):
        assert db_password() not in path.read_text()


def test_report_lists_each_htaccess_rule_the_new_vhost_does_not_serve(addresses):
    """cliente3's old site ran Joomla's .htaccess on Apache (lab_legacy's fixture): the SEF front controller is what the
    vhost's try_files does, and logs/ is denied by the domain's deny list (403 on cloud01); the exploit-blocking rewrite
    ([F]) and the deny of private/, which the state does not have, are EXPOSED findings with their file and line."""
    findings = [f for f in report("cliente3")["preflight"]["findings"] if f["level"] in ("htaccess", "exposed")]
    assert findings == [
        {"level": "exposed", "text": ".htaccess:7: RewriteRule .* index.php [F]: access rule not translated: the new host"
                                     " serves what it refused [with 2 RewriteCond]"},
        {"level": "exposed", "text": "private/.htaccess:1: Require all denied: access rule not translated: the new host serves"
                                     " /private/ without it; deny: [/private/] on the domain denies it"}]
    text = (REPORTS / "migration-cliente3.txt").read_text()
    assert "! EXPOSED: private/.htaccess:1: Require all denied" in text and "! EXPOSED: .htaccess:7: RewriteRule" in text
    assert CLOUD01.file(C3_DOCROOT + "/logs/.htaccess").exists  # copied as it was (nginx denies dotfiles)
    assert get(addresses["cloud01"], "cliente3.test", path="/logs/access.log")[0] == 403
    assert get(addresses["cloud01"], "cliente3.test", path="/private/notas.txt")[0] == 200  # what the finding says


def test_check_shows_what_would_be_copied_and_changes_nothing():
    LEGACY01.check_output("echo 'Sábados de 10:00 a 14:00.' >> /home/cliente1/public_html/%s" % CHANGED_FILE)
    before = tree_digest(CLOUD01, C1_DOCROOT)
    rc, output = run_playbook(PROJECT, MIGRATE, "--check", "-e", "client=cliente1")
    assert rc == 0, output
    assert "would migrate (check mode: nothing was changed)" in output
    assert "files: would copy 1, created 0, deleted 0: %s" % CHANGED_FILE in output
    plan = report("cliente1", plan=True)
    assert plan["files"]["copied"] == [CHANGED_FILE] and plan["check_mode"] is True
    assert tree_digest(CLOUD01, C1_DOCROOT) == before
    assert db_password() not in output


def test_rerun_after_one_file_changed_transfers_only_that_file():
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente1")
    assert rc == 0, output
    site = report("cliente1")
    assert site["files"]["copied"] == [CHANGED_FILE] and site["files"]["deleted"] == []
    assert site["database"]["reason"] == "unchanged since the last import"
    assert [c["changed"] for c in site["config"]] == [False]
    assert "Sábados" in CLOUD01.file(C1_DOCROOT + "/" + CHANGED_FILE).content_string
    assert db_password() not in output


def _state_with(tmp_path, **site):
    client = yaml.safe_load((CLIENTS / "cliente1.yml").read_text())
    client["fracto_clients__cliente1"]["cliente1"]["migration"]["site"].update(site)
    extra = tmp_path / "cliente1.yml"
    extra.write_text(yaml.safe_dump(client))
    return "@%s" % extra


def test_wrong_source_path_is_a_clear_error_and_changes_nothing(tmp_path):
    before = tree_digest(CLOUD01, C1_DOCROOT)
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente1", "-e", _state_with(tmp_path, path="/home/cliente1/nope"))
    assert rc != 0
    assert "FAILED at step 'Preflight: inspect the source site': the source path /home/cliente1/nope does not exist" in output
    assert report("cliente1")["failed_step"] == "Preflight: inspect the source site"
    assert tree_digest(CLOUD01, C1_DOCROOT) == before


def test_unreachable_source_is_a_clear_error_and_changes_nothing():
    before = tree_digest(CLOUD01, C1_DOCROOT)
    # An address of the lab network that no host has: the target cannot reach the source over SSH.
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente1", "-e", "fracto_migration_address=198.51.100.250")
    assert rc != 0
    assert "FAILED at step 'Preflight: the source answers over SSH from the target'" in output
    assert "198.51.100.250" in output
    assert tree_digest(CLOUD01, C1_DOCROOT) == before


def test_unknown_client_is_refused_before_any_host_is_touched():
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente2")
    assert rc != 0 and "client cliente2 has no migration.site in the state (clients with one: cliente1, cliente3)" in output
