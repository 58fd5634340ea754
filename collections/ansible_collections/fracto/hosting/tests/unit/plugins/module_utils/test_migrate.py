# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Site migration logic (module_utils/migrate/): CMS detection and findings, config rewrite, rsync, DB import, smoke, report."""

from __future__ import annotations

import http.server
import threading

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.migrate import cms, config, dbcopy, report, rsync, smoke

SECRET_NEW = "new-UNIT-SECRET-9"
SECRET_OLD = "old-UNIT-SECRET-8"
DB = {"host": "localhost", "name": "c1_db", "user": "c1_db", "password": SECRET_NEW}

JOOMLA25 = """<?php
defined('_JEXEC') or die;
final class JVersion
{
\tpublic $PRODUCT = 'Joomla!';
\tpublic $RELEASE = '2.5';
\tpublic $DEV_LEVEL = '28';
}
"""
WP_CONFIG = """<?php
// ** MySQL settings ** //
define( 'DB_NAME', 'old_db' );
define('DB_USER', "old_user");
define( 'DB_PASSWORD', '%s' );
define( 'DB_HOST', 'db.legacy:3306' );
define( 'DB_CHARSET', 'utf8' );
$table_prefix = 'wp_';
""" % SECRET_OLD
JCONFIG = """<?php
class JConfig {
\tpublic $dbtype = 'mysql';
\tpublic $host = 'localhost';
\tpublic $user = 'j25';
\tpublic $password = '%s';
\tpublic $db = 'j25';
\tpublic $dbprefix = 'jos_';
\tpublic $secret = 'keep-me';
}
""" % SECRET_OLD


def reader(files):
    return files.get


@pytest.mark.parametrize("files, name, version", [
    ({"libraries/cms/version/version.php": JOOMLA25}, "Joomla", "2.5.28"),
    ({"libraries/src/Version.php": "const MAJOR_VERSION = 4;\nconst MINOR_VERSION = 4;\nconst PATCH_VERSION = 3;"}, "Joomla", "4.4.3"),
    ({"libraries/joomla/version.php": "var $RELEASE = '1.5';\nvar $DEV_LEVEL = '26';"}, "Joomla", "1.5.26"),
    ({"wp-includes/version.php": "<?php\n$wp_version = '4.9.8';\n$required_php_version = '5.2.4';"}, "WordPress", "4.9.8"),
    ({"core/lib/Drupal.php": "  const VERSION = '10.2.1';"}, "Drupal", "10.2.1"),
    ({"includes/bootstrap.inc": "define('VERSION', '7.98');"}, "Drupal", "7.98"),
])
def test_detect_cms(files, name, version):
    found = cms.detect_cms(reader(files))
    assert (found["name"], found["version"]) == (name, version)


def test_custom_site_has_no_cms():
    assert cms.detect_cms(reader({"index.php": "<?php echo 1;"})) is None


def test_joomla_25_is_outdated_and_does_not_run_on_the_offered_php():
    found = cms.detect_cms(reader({"libraries/cms/version/version.php": JOOMLA25}))
    findings, need = cms.assess(found, ["8.2"], "8.2")
    assert need == {"min": "5.2.4", "max": "5.6"}
    assert findings[0]["level"] == "outdated"
    assert "Joomla 2.5.28 is outdated: Joomla 2.5 is end of life since 2014-12-31" in findings[0]["text"]
    assert findings[1]["level"] == "warning" and "needs PHP 5.2.4 to 5.6; the platform offers 8.2" in findings[1]["text"]


def test_current_releases_are_not_outdated():
    findings, _need = cms.assess({"name": "Drupal", "version": "10.2.1"}, ["8.2"], "8.2")
    assert findings == []
    findings, _need = cms.assess({"name": "WordPress", "version": "6.6.1", "php_min": "7.2.24"}, ["8.2"], "8.2")
    assert findings == []
    findings, _need = cms.assess({"name": "WordPress", "version": "4.9.8", "php_min": "5.2.4"}, ["8.2"], None)
    assert [f["level"] for f in findings] == ["outdated", "warning"] and "static" in findings[1]["text"]


def test_php_fits():
    assert cms.php_fits("8.2", {"min": "7.2.5", "max": "8.3"})
    assert not cms.php_fits("8.2", {"min": "5.2.4", "max": "5.6"})
    assert not cms.php_fits("7.4", {"min": "8.1", "max": None})
    assert cms.php_fits("8.1", {"min": "8.1", "max": None})


def test_wp_config_rewrite_keeps_everything_else():
    text, notes = config.rewrite(WP_CONFIG, "wordpress", DB)
    settings = config.read_settings(text, "wordpress")
    assert settings == {"host": "localhost", "name": "c1_db", "user": "c1_db", "password": SECRET_NEW}
    assert "define( 'DB_CHARSET', 'utf8' );" in text and "$table_prefix = 'wp_';" in text and notes == []
    assert SECRET_OLD not in text
    assert config.rewrite(text, "wordpress", DB)[0] == text  # a second rewrite changes nothing


def test_joomla_configuration_rewrite_and_driver():
    text, notes = config.rewrite(JCONFIG, "joomla", DB)
    assert config.read_settings(text, "joomla") == {"host": "localhost", "name": "c1_db", "user": "c1_db", "password": SECRET_NEW}
    assert "public $dbtype = 'mysqli';" in text and "public $secret = 'keep-me';" in text
    assert notes == ["dbtype mysql -> mysqli (PHP 7 removed the mysql extension)"]


def test_quotes_in_passwords_are_escaped_and_masked():
    text, _notes = config.rewrite(WP_CONFIG, "wordpress", dict(DB, password="it's\\UNIT-SECRET"))
    assert "define( 'DB_PASSWORD', 'it\\'s\\\\UNIT-SECRET' );" in text
    assert config.read_settings(text, "wordpress")["password"] == "it's\\UNIT-SECRET"
    masked = config.mask(text, "wordpress")
    assert "UNIT-SECRET" not in masked and config.SECRET_MASK in masked
    assert "UNIT-SECRET" not in repr(config.public_settings(JCONFIG, "joomla"))


WP_SECRETS = """<?php
define( 'DB_PASSWORD', 'UNIT-SECRET-1' );
define( 'AUTH_KEY',         'UNIT-SECRET-2' );
define( 'SECURE_AUTH_KEY',  'UNIT-SECRET-3' . "UNIT-SECRET-4" );
define( 'LOGGED_IN_KEY',    'UNIT-SECRET-5' );
define( 'NONCE_KEY',        'UNIT-SECRET-6' );
define( 'AUTH_SALT',        'UNIT-SECRET-7' );
define( 'SECURE_AUTH_SALT', 'UNIT-SECRET-8
UNIT-SECRET-9' );
define('NONCE_SALT', "UNIT-SECRET-10"); // don't print: it's a 'salt'
$token = <<<'EOT'
UNIT-SECRET-11
EOT;
define( 'DB_NAME', 'keep_db' );
$table_prefix = 'wp_';
define('BROKEN_AUTH', 'UNIT-SECRET-12
"""
JOOMLA_SECRETS = """<?php
class JConfig {
\tpublic $password = 'UNIT-SECRET-1\\'s';
\tpublic $secret = 'UNIT-SECRET-2';
\tpublic $smtppass = "UNIT-SECRET-3";
\tpublic $smtpuser = 'mailer';
\tpublic $ftp_pass = 'UNIT-SECRET-4';
\tpublic $session_redis_server_auth = 'UNIT-SECRET-5';
\tpublic $sitename = 'Cliente Tres';
\tpublic $api = array('token' => 'UNIT-SECRET-6');
}
"""


@pytest.mark.parametrize("text, kind, kept", [
    (WP_SECRETS, "wordpress", ["define( 'DB_NAME', 'keep_db' );", "$table_prefix = 'wp_';", "define( 'AUTH_KEY',"]),
    (JOOMLA_SECRETS, "joomla", ["public $smtpuser = 'mailer';", "public $sitename = 'Cliente Tres';"]),
])
def test_diff_masks_every_secret_of_the_config(text, kind, kept):
    masked = config.mask(text, kind)
    assert "UNIT-SECRET" not in masked, masked
    assert masked.count(config.SECRET_MASK) >= 6
    for piece in kept:
        assert piece in masked


def test_missing_setting_is_a_clear_error():
    with pytest.raises(config.ConfigError, match="wp-config.php has no DB_HOST setting"):
        config.rewrite("<?php define('DB_NAME', 'x'); define('DB_USER', 'x'); define('DB_PASSWORD', 'x');", "wordpress", DB)


def test_rsync_command_pulls_with_the_migration_key():
    command = rsync.rsync_command("root@legacy01.fracto.test", "/srv/www/c1/c1.test/public", "/var/lib/fracto-migrate/c1.files",
                                  "/var/lib/fracto-migrate/known_hosts", "c1", ["wp-config.php"], dry_run=True)
    assert command[:5] == ["runuser", "-u", "c1", "--", "rsync"]  # received as the client, never as root
    assert "--delete" in command and "--dry-run" in command and "--exclude=/wp-config.php" in command
    assert command[-3:] == ["--", "root@legacy01.fracto.test:./", "/srv/www/c1/c1.test/public/"]  # rrsync -ro fixes the directory
    rsh = [c for c in command if c.startswith("--rsh=")][0]
    assert "-i /var/lib/fracto-migrate/c1.files" in rsh and "BatchMode=yes" in rsh
    assert "UserKnownHostsFile=/var/lib/fracto-migrate/known_hosts" in rsh


def test_rsync_takes_nothing_but_content_from_the_old_site():
    command = rsync.rsync_command("root@legacy01", "/srv/www/c1/d/public", "/k", "/kh", "c1")
    for option in ("--no-devices", "--no-specials", "--safe-links", "--no-owner", "--no-group", "--no-perms", "--no-hard-links"):
        assert option in command
    assert "--chmod=D750,F640" in command  # new files 0640, directories 0750 (setgid from the docroot): no setuid bit
    assert not any(c in ("--archive", "-a", "--devices", "--specials", "--owner", "--group", "--perms", "-D", "--copy-links", "-L",
                         "--copy-unsafe-links", "--keep-dirlinks", "-K") or c.startswith("--chown") for c in command)
    assert command[-3] == "--" and command.count("--") == 2  # runuser -- rsync ... -- source dest


def test_ssh_pins_host_keys_and_reads_no_user_config():
    command = rsync.ssh_command("/k", "/var/lib/fracto-migrate/known_hosts")
    joined = " ".join(command)
    assert "StrictHostKeyChecking=yes" in command and "UserKnownHostsFile=/var/lib/fracto-migrate/known_hosts" in command
    assert "accept-new" not in joined and "StrictHostKeyChecking=no" not in joined and "UserKnownHostsFile=/dev/null" not in joined
    assert command[1:3] == ["-F", "/dev/null"] and "GlobalKnownHostsFile=/dev/null" in command


def test_itemized_output():
    output = "\n".join([
        ".d..t...... ./",
        ">f+++++++++ index.php",
        "cd+++++++++ assets/",
        ">f.st...... assets/style.css",
        "*deleting   old.html",
        ".f...p..... docs/horario.txt",
        "Number of files: 5 (reg: 4, dir: 1)",
    ])
    parsed = rsync.parse_itemized(output)
    assert parsed == {"copied": ["index.php", "assets/style.css"], "created": ["assets/"], "deleted": ["old.html"],
                      "attributes": ["docs/horario.txt"]}
    [entry] = rsync.changes(parsed, "c1", "/srv/www/c1/c1.test/public", "legacy01:/home/c1/public_html")
    assert entry["kind"] == "site_files" and "~ index.php" in entry["detail"] and "- old.html" in entry["detail"]
    assert rsync.changes(rsync.parse_itemized(".d..t...... ./\n"), "c1", "/d", "s") == []


def test_import_only_when_empty_or_source_changed():
    assert dbcopy.import_reason(0, "abc", "abc") == "the target database is empty"
    assert dbcopy.import_reason(3, None, "abc") == "the target database was never imported by a migration"
    assert dbcopy.import_reason(3, "abc", "def") == "the source database changed since the last import"
    assert dbcopy.import_reason(3, "abc", "abc") is None
    assert "--single-transaction" in dbcopy.dump_command("c1_db") and "--skip-dump-date" in dbcopy.dump_command("c1_db")
    assert dbcopy.strip_definer(b"/*!50013 DEFINER=`old`@`localhost` SQL SECURITY DEFINER */") == b"/*!50013 SQL SECURITY DEFINER */"
    assert dbcopy.defaults_file("c1_db", 'a"b') == '[client]\nuser="c1_db"\npassword="a\\"b"\n'
    with pytest.raises(ValueError):  # a newline would add an option (plugin-dir, init-command...) to the file
        dbcopy.defaults_file("c1_db", "x\nplugin-dir=/tmp")
    with pytest.raises(ValueError):
        dbcopy.defaults_file("c1_db\n", "x")


def test_title_and_compare():
    assert smoke.title_of("<html><head><TITLE>\n  Caf&eacute;  Uno </TITLE>") == "Café Uno"
    assert smoke.title_of("no title") is None
    same = smoke.compare("c1.test", (200, "A", None), (200, "A", None))
    assert same["match"] and same["differences"] == []
    diff = smoke.compare("c1.test", (200, "A", None), (500, "Database error", None))
    assert diff["differences"] == ["status 200 on the old site, 500 on the new one",
                                   "title 'A' on the old site, 'Database error' on the new one"]
    assert not smoke.compare("c1.test", (200, "A", None), (None, None, "ConnectionRefusedError: refused"))["match"]


def test_fetch_sends_the_host_header_to_the_address():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            seen.append(self.headers["Host"])
            body = b"<title>Hola</title>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    original = smoke.http.client.HTTPConnection

    class Connection(original):
        def __init__(self, host, port, timeout):
            super().__init__(host, server.server_port, timeout=timeout)

    smoke.http.client.HTTPConnection = Connection
    try:
        assert smoke.fetch("127.0.0.1", "c1.test") == (200, "Hola", None)
    finally:
        smoke.http.client.HTTPConnection = original
        server.server_close()
    assert seen == ["c1.test"]


def test_report_flags_outdated_and_failed_steps():
    site = {"client": "c3", "domain": "c3.test", "from": "legacy01", "path": "/home/c3", "host": "cloud01", "docroot": "/srv/www/c3",
            "status": "ok", "php": "8.2",
            "preflight": {"size_bytes": 2048, "files": 3, "free_bytes": 10 * 1024 ** 3, "uses_php": True,
                          "cms": {"name": "Joomla", "version": "2.5.28"}, "php_range": "5.2.4 to 5.6",
                          "findings": [{"level": "outdated", "text": "Joomla 2.5.28 is outdated: Joomla 2.5 is end of life since 2014-12-31"}]},
            "files": {"copied": ["index.php"], "created": [], "deleted": [], "attributes": []},
            "database": {"source": "j25", "target": "c3_joomla", "reason": "the target database is empty"},
            "config": [{"file": "configuration.php", "changed": True, "notes": []}],
            "smoke": [{"name": "c3.test", "old": {"status": 200, "title": "T"}, "new": {"status": 200, "title": "T"}, "match": True,
                       "differences": []}]}
    text = "\n".join(report.format_site(site))
    assert "migrated" in text and "! OUTDATED: Joomla 2.5.28 is outdated" in text and "CMS: Joomla 2.5.28" in text
    assert "files: copied 1, created 0, deleted 0: index.php" in text and "configuration.php rewritten" in text
    assert "smoke: c3.test old 200 'T', new 200 'T': same" in text
    assert report.document(site)["outdated"] == ["Joomla 2.5.28 is outdated: Joomla 2.5 is end of life since 2014-12-31"]
    failed = dict(site, status="failed", failed_step="Preflight: inspect the source site", error="the source path /x does not exist")
    assert "FAILED at step 'Preflight: inspect the source site': the source path /x does not exist" in report.format_site(failed)[0]
    assert report.human(10 * 1024 ** 3) == "10.0 GiB" and report.human(10) == "10 B"


def test_report_says_which_step_each_site_is_at():
    where = {"client": "c1", "domain": "c1.test", "from": "legacy01", "path": "/home/c1", "host": "cloud01", "docroot": "/srv/www/c1"}
    live = dict(where, status="cut_over", cut_over_at="2026-12-07T21:00:00Z", cut_over_now=False)
    assert report.format_site(live)[0].endswith(
        "cut over on 2026-12-07T21:00:00Z: left as it is, nothing copied (the live site is never overwritten; -e force=true"
        " copies it again from the old host)")
    assert report.document(live)["step"] == "cut over"
    marked = dict(live, cut_over_now=True)
    assert report.format_site(marked)[0].endswith("marked as cut over: later runs leave the live site as it is")
    assert report.format_site(dict(marked, check_mode=True))[0].endswith("would be marked as cut over (check mode: nothing was changed)")
    forced = dict(where, status="ok", forced_over_cut_over="2026-12-07T21:00:00Z")
    assert report.format_site(forced)[0].endswith("migrated (forced over the live site, cut over on 2026-12-07T21:00:00Z)")
    assert report.document(forced)["step"] == "migrated"
    assert report.format_site(dict(forced, forced_over_cut_over=None))[0].endswith(": migrated")
    assert report.document(dict(where, status="failed", failed_step="x", error="y"))["step"] == "failed"


def test_report_names_what_a_hostile_dump_tried():
    site = {"client": "c1", "domain": "c1.test", "from": "legacy01", "path": "/home/c1", "host": "cloud01", "docroot": "/srv/www/c1",
            "status": "failed", "failed_step": "Database: dump the source and import it as the client's database user", "error": "denied",
            "database": {"source": "c1", "target": "c1_db", "reason": "the target database is empty",
                         "findings": ["line 5: USE `cliente2_db`;"]}}
    text = "\n".join(report.format_site(site))
    assert "! database: the dump reaches beyond the client's database (refused by the import as its user): line 5: USE `cliente2_db`;" in text
