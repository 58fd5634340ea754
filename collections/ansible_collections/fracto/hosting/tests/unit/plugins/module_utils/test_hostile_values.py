# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile values of a reseller's state: the whitelists of module_utils/state/rules.py and their use in validate_state().

Two parts: the rules one by one (rules.py), then every case file of tests/hostile/ that carries a `patch`, applied to
the base state of tests/base_inventory and validated here directly, without Ansible (tests/test_hostile.py runs the
same files through playbooks/validate.yml). Nothing a case puts in a secret may reach a message.
"""

from __future__ import annotations

import copy
import pathlib

import pytest
import yaml
from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import Problems, StatePath
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state

SECRET_MARK = "UNIT-SECRET"
SENTINEL = "SENTINEL-SECRET"
V6 = "$6$rounds=5000$fractounit$H9T9j4tBRkeh2kELRga9pOrkMrKVTh9zq6BQXN596vGdGYVpCGZB3iub1mTutvX7lCAycupaGJY4jh54.tTlA0"
V5 = "$5$abc$xhLlZvoXRNo2v63CS0Ku6RxTjR8AtjqvUgTrPKnxyb1"
BCRYPT = "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2O" + "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
ARGON2ID = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "wD+gvK9Jq0u5Z3Zq0Jx6dQ0x1bP3iYcV9jM8nXz0kQ4"
REPO = pathlib.Path(__file__).resolve().parents[8]
HOSTILE = REPO / "tests" / "hostile"
BASE = REPO / "tests" / "base_inventory"


def errors_of(state, inventory):
    return validate_state(state, inventory)[1].errors


def only_errors(state, inventory, *expected):
    """Every expected substring is in some error; returns the errors (for more asserts)."""
    found = errors_of(state, inventory)
    for text in expected:
        assert any(text in e for e in found), (text, found)
    return found


# -- whole-value matching ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern, good", [
    (rules.CLIENT_ID, "alfa"), (rules.SLUG, "gold"), (rules.DB_NAME, "alfa_wp"), (rules.DB_USER, "alfa_wp"),
    (rules.PHP_VERSION, "8.2"), (rules.MASTER_USER, "migrator"), (rules.IMAP_LOGIN, "info@alfa.test"),
    (rules.OLD_DB_NAME, "alfa_db"), (rules.CERT_NAME, "shop-ov"),
])
def test_no_grammar_accepts_a_trailing_newline(pattern, good):
    assert pattern.fullmatch(good)
    assert not pattern.fullmatch(good + "\n") and not pattern.fullmatch(good + "\r\n")


def test_state_path_and_messages_escape_control_characters():
    problems = Problems()
    problems.error(StatePath("fracto_clients") / "delta\n", "rule with\x00 a NUL")
    assert problems.errors == ['fracto_clients["delta\\x0a"]: rule with\\x00 a NUL']
    assert str(StatePath("x") / "a\u2028b") == 'x["a\\u2028b"]'


# -- control characters everywhere --------------------------------------------------------------------------------
@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"])
def test_a_control_character_anywhere_is_refused(state, inventory, char):
    state["fracto_clients"]["cliente3"]["mailboxes"]["contacto@cliente3.test"]["password"] = "contacto-%s%s5" % (SECRET_MARK, char)
    found = only_errors(state, inventory,
                        'fracto_clients.cliente3.mailboxes["contacto@cliente3.test"].password: contains a control character')
    assert not any(SECRET_MARK in e for e in found)


def test_keys_are_walked_too(state, inventory):
    state["fracto_clients"]["cliente1"]["mail_aliases"]["x\x00@cliente1.test"] = ["info@cliente1.test"]
    only_errors(state, inventory, 'fracto_clients.cliente1.mail_aliases["x\\x00@cliente1.test"]: the key contains a control character')


def test_lists_and_nested_values_are_walked(state, inventory):
    state["fracto_packages"]["entry"]["mail_branding"] = "generic\n"
    state["fracto_clients"]["cliente1"]["domains"]["Cliente1.TEST."]["subdomains"].append("x\ty")
    only_errors(state, inventory, "fracto_packages.entry.mail_branding: contains a control character",
                'fracto_clients.cliente1.domains["Cliente1.TEST."].subdomains[2]: contains a control character')


def test_pem_fields_may_hold_newlines_but_nothing_else(state, inventory):
    assert errors_of(state, inventory) == []   # the certificate's cert, chain and key are multi-line
    cert = state["fracto_clients"]["cliente1"]["certificates"][0]
    cert["key"] = cert["key"].replace("\n", "\r\n", 1)
    found = only_errors(state, inventory, "fracto_clients.cliente1.certificates[0].key: contains a control character")
    assert not any(SECRET_MARK in e or "PRIVATE KEY" in e for e in found)


def test_a_newline_outside_the_pem_fields_of_a_certificate_is_refused(state, inventory):
    state["fracto_clients"]["cliente1"]["certificates"][0]["name"] = "shop-ov\n"
    only_errors(state, inventory, "fracto_clients.cliente1.certificates[0].name: contains a control character")


# -- client ids and reseller names ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", ["root", "www-data", "mysql", "vmail", "dovecot", "dovenull", "nobody", "sshd",
                                 "systemd-network", "debian-exim", "fracto", "fracto-migrate", "admin", "restic", "backup"])
def test_reserved_client_ids(cid):
    assert "is reserved" in rules.client_id_problem(cid)


@pytest.mark.parametrize("cid", ["0", "1abc", "-x", "a_b", "A", "x" * 32, "a-", "a--b", "", "a.b", "a\n", 7, None])
def test_malformed_client_ids(cid):
    assert rules.client_id_problem(cid) is not None


@pytest.mark.parametrize("cid", ["alfa", "cliente1", "a", "a-b", "x" * 31, "rooted", "mailer-co"])
def test_client_ids_that_pass(cid):
    assert rules.client_id_problem(cid) is None


def test_a_reserved_client_id_is_refused_in_the_state(state, inventory):
    state["fracto_clients"]["www-data"] = state["fracto_clients"].pop("cliente3")
    only_errors(state, inventory, "fracto_clients.www-data: client id www-data is reserved")


@pytest.mark.parametrize("name, ok", [("demo", True), ("acme-hosting", True), ("fracto", False), ("root", False),
                                      ("1demo", False), ("demo\n", False), ("de_mo", False), ("x" * 32, False)])
def test_reseller_names(name, ok):
    assert (rules.reseller_name_problem(name) is None) is ok


# -- local parts ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("box", ["a/b@cliente1.test", "/@cliente1.test", "..@cliente1.test", "a..b@cliente1.test",
                                 "-x@cliente1.test", "x-@cliente1.test", "a:b@cliente1.test", "a|b@cliente1.test",
                                 "a*b@cliente1.test", "a%b@cliente1.test", "a'b@cliente1.test", "a=b@cliente1.test",
                                 "a" * 65 + "@cliente1.test"])
def test_hostile_local_parts_are_refused(state, inventory, box):
    state["fracto_clients"]["cliente1"]["mailboxes"][box] = {"password": "x-%s-7" % SECRET_MARK}
    only_errors(state, inventory, "is not a valid mailbox name")


def test_alias_keys_and_targets_follow_the_local_part_rule(state, inventory):
    aliases = state["fracto_clients"]["cliente1"]["mail_aliases"]
    aliases["team/x@cliente1.test"] = ["info@cliente1.test"]
    aliases["team@cliente1.test"] = ["|cmd@cliente1.test"]
    only_errors(state, inventory, 'mail_aliases["team/x@cliente1.test"]: invalid address: local part',
                'mail_aliases["team@cliente1.test"][0]: invalid address: local part')


# -- password hashes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [V6, V5, BCRYPT, BCRYPT.replace("$2b$", "$2y$"), ARGON2ID,
                                   ARGON2ID.replace("argon2id", "argon2i"),
                                   "$6$fractodemo$H9T9j4tBRkeh2kELRga9pOrkMrKVTh9zq6BQXN596vGdGYVpCGZB3iub1mTutvX7lCAycupaGJY4jh54.tTlA0"])
def test_whole_hashes_pass(value):
    assert rules.password_hash_problem(value) is None


@pytest.mark.parametrize("value", [
    V6 + "\n", V6 + ":0:0::/root::", V6[:-1], V6 + "A", V6.replace("fractounit", "frac:tounit"), V6.replace("$6$", "$6$$"),
    V6.replace("rounds=5000", "rounds=5000 "), V6.replace("rounds=5000", "rounds=50"), V5 + "x", BCRYPT[:-1],
    BCRYPT.replace("$12$", "$99$"), BCRYPT.replace("$2b$", "$2a$"), ARGON2ID + " x", ARGON2ID.replace("v=19$", ""),
    ARGON2ID.replace("c2FsdHNhbHRzYWx0", "c2Fs:dHNh"), "$1$salt$hash", "{PLAIN}secret", "plain-text", "", "$6$", None, 6,
])
def test_malformed_hashes_are_refused_without_showing_them(value):
    rule = rules.password_hash_problem(value)
    assert rule is not None and "the value is not shown" in rule
    assert not isinstance(value, str) or len(value) < 4 or value not in rule


def test_a_hash_in_the_state_is_never_echoed(state, inventory):
    hashed = V6[:-4] + "%s" % "UNIT-SECRET".replace("-", "")
    state["fracto_clients"]["cliente1"]["mailboxes"]["ana@cliente1.test"]["password_hash"] = hashed + "\nx:y"
    found = only_errors(state, inventory, 'mailboxes["ana@cliente1.test"].password_hash: contains a control character',
                        'mailboxes["ana@cliente1.test"].password_hash: must be a whole password hash')
    assert not any("UNITSECRET" in e for e in found)


# -- databases -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, spec, expected", [
    ("mysql", {}, "databases.mysql: mysql is a system schema of MariaDB"),
    ("information_schema", {}, "information_schema is a system schema of MariaDB"),
    ("cliente1_wp", {"user": "root"}, "databases.cliente1_wp.user: root is a reserved MariaDB account"),
    ("cliente1_wp", {"user": "debian_sys_maint"}, "debian_sys_maint is a reserved MariaDB account"),
    ("cliente2_wp", {}, "database names start with the client's prefix cliente1_"),
    ("cliente1_wp", {"user": "cliente2_wp"}, "database users start with the client's prefix cliente1_"),
    ("cliente1_", {}, "database names start with the client's prefix cliente1_"),
    ("cliente1_`x", {}, "database names are 1-64 of a-z, 0-9 and _"),
    ("cliente1_" + "x" * 56, {}, "database names are 1-64"),
    ("cliente1_wp", {"user": "cliente1_" + "x" * 24}, "database users are 1-32"),
])
def test_database_rules(state, inventory, name, spec, expected):
    dbs = state["fracto_clients"]["cliente1"]["databases"]
    dbs.clear()
    dbs[name] = dict({"password": "db-%s-3" % SECRET_MARK}, **spec)
    only_errors(state, inventory, expected)


def test_database_limits_pass(state, inventory):
    state["fracto_clients"]["cliente1"]["databases"] = {
        "cliente1_" + "x" * 55: {"password": "db-%s-3" % SECRET_MARK, "user": "cliente1_" + "x" * 23}}
    assert errors_of(state, inventory) == []


def test_database_names_and_users_are_unique_across_clients(state, inventory):
    state["fracto_clients"]["cliente1-x"] = dict(state["fracto_clients"].pop("cliente3"),
                                                 databases={"cliente1_x_wp": {"password": "db-%s-9" % SECRET_MARK}})
    state["fracto_clients"]["cliente1"]["databases"]["cliente1_x_db"] = {"password": "db-%s-8" % SECRET_MARK}
    state["fracto_clients"]["cliente1"]["databases"]["cliente1_wp"]["user"] = "cliente1_x_wp"
    found = only_errors(state, inventory,
                        "fracto_clients.cliente1.databases.cliente1_x_db: database names starting with cliente1_x_ belong to client cliente1-x",
                        "fracto_clients.cliente1.databases.cliente1_wp.user: database users starting with cliente1_x_ belong to client cliente1-x")
    assert len(found) == 2, found


def test_one_user_may_serve_two_databases_of_its_client_with_one_password(state, inventory):
    dbs = state["fracto_clients"]["cliente1"]["databases"]
    dbs["cliente1_shop"] = {"user": "cliente1_wp", "password": "db-%s-3" % SECRET_MARK}
    assert errors_of(state, inventory) == []
    dbs["cliente1_shop"]["password"] = "other-%s" % SECRET_MARK
    found = only_errors(state, inventory, "databases.cliente1_shop.password: user cliente1_wp serves several databases")
    assert not any(SECRET_MARK in e for e in found)


# -- backup repositories -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("repository, placeholder", [
    ("sftp:restic@backup01.fracto.test:/srv/restic/demo/{client}", True),
    ("sftp:backup01.fracto.test:/srv/restic", False),
    ("sftp:u123@u123.your-storagebox.de:restic", False),
    ("sftp://restic@backup01.fracto.test:2222//srv/restic/cliente1", False),
    ("sftp://restic@93.184.216.34//srv/restic/{client}", True),
    ("rest:https://rest.backup.test/", False),
    ("rest:https://user:p%40ss;w0rd@rest.backup.test:8000/demo/{client}/", True),
    ("s3:https://minio.backup.test:9000/bucket/demo", False),
    ("s3:s3.amazonaws.com/bucket/{client}", True),
    ("b2:my-bucket:demo/{client}", True),
    ("b2:my-bucket:", False),
])
def test_repositories_that_pass(repository, placeholder):
    parts, rule = rules.parse_repository(repository, placeholder=placeholder)
    assert rule is None and parts["backend"] in ("sftp", "rest", "s3", "b2")


@pytest.mark.parametrize("repository, placeholder, rule", [
    ("sftp:-oProxyCommand=id@backup.test:/srv", False, "not a whole sftp repository"),
    ("sftp:restic@-oProxyCommand=id:/srv", False, "not a whole sftp repository"),
    ("sftp://-oProxyCommand=id/srv", False, "not a whole sftp repository"),
    ("sftp:restic -o x@backup.test:/srv", False, "not a whole sftp repository"),
    ("sftp:restic@backup.test:/srv\n", False, "not a whole sftp repository"),
    ("sftp:restic@backup.test:-x", False, "must not start with '-'"),
    ("sftp:restic@backup.test:/srv/-x", False, "must not start with '-'"),
    ("sftp:restic@backup.test:", False, "an sftp repository needs a path"),
    ("sftp:restic@backup.test:/srv/../root", False, "must not contain '..'"),
    ("sftp:restic@backup:/srv", False, "needs at least 2 labels"),
    ("sftp:restic@127.0.0.1:/srv", False, "is not a public address"),
    ("sftp:restic@10.0.0.1:/srv", False, "is not a public address"),
    ("sftp:restic@backup.localhost:/srv", False, "special-use name"),
    ("sftp://restic@backup.test:0//srv", False, "port must be a number from 1 to 65535"),
    ("sftp://restic@backup.test:70000//srv", False, "port must be a number from 1 to 65535"),
    ("sftp://restic@[::1]//srv", False, "not a whole sftp repository"),
    ("rest:http://rest.backup.test/", False, "not a whole rest repository"),
    ("rest:https://u:p@ss@rest.backup.test/", False, "not a whole rest repository"),
    ("s3:http://minio.backup.test/bucket", False, "not a whole s3 repository"),
    ("s3:s3.test/{client}", True, "not a whole s3 repository"),
    ("b2:bucket:{client}/x", False, "a client's own target takes no placeholder"),
    ("b2:my-bucket:/x/{other}", True, "{client} is the only placeholder"),
    ("sftp:restic@backup.test:/srv/${HOME}", False, "not a whole sftp repository"),
    ("/srv/restic", False, "a local repository"),
    ("local:/srv/restic", False, "backend local is not supported"),
    ("relative/dir", False, "a local repository"),
    ("rclone:remote:x", False, "backend rclone is not supported"),
    ("azure:container:/x", False, "backend azure is not supported"),
    ("gs:bucket:/x", False, "backend gs is not supported"),
    ("swift:container:/x", False, "backend swift is not supported"),
    ("ftp://backup.test/x", False, "must be a restic repository of a supported backend"),
    ("", False, "must be a non-empty string"),
])
def test_repositories_refused(repository, placeholder, rule):
    parts, found = rules.parse_repository(repository, placeholder=placeholder)
    assert parts is None and rule in found, found


def test_a_refused_rest_url_never_shows_its_password(state, inventory):
    state["fracto_clients"]["cliente1"]["backup"]["repository"] = "rest:https://u:%s@rest.backup.test/-x" % SECRET_MARK
    state["fracto_reseller"]["backup"]["repository"] = "rest:https://u:%s@127.0.0.1/{client}" % SECRET_MARK
    found = only_errors(state, inventory, "fracto_clients.cliente1.backup.repository: a path component must not start with '-'",
                        "fracto_reseller.backup.repository: the address 127.0.0.1 is not a public address")
    assert not any(SECRET_MARK in e for e in found)


def test_a_repository_on_a_platform_host_is_refused(state, inventory):
    state["fracto_reseller"]["backup"]["repository"] = "sftp:restic@cloud01.fracto.test:/srv/restic/{client}"
    only_errors(state, inventory, "fracto_reseller.backup.repository: cloud01.fracto.test is a host of the platform that runs backups")


def test_a_reseller_repository_keeps_the_placeholder_in_the_path(state, inventory):
    state["fracto_reseller"]["backup"]["repository"] = "sftp:{client}@backup01.fracto.test:/srv/restic"
    only_errors(state, inventory, "fracto_reseller.backup.repository: not a whole sftp repository")


# -- reserved names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("domain, rule", [
    ("fracto.test", "fracto.test is reserved: the platform's domain"),
    ("mail01.fracto.test", "mail01.fracto.test is reserved"),
    ("x.y.fracto.test", "x.y.fracto.test is reserved"),
    ("evil.localhost", "special-use name"),
    ("nas.local", "special-use name"),
    ("10.in-addr.arpa", "special-use name"),
    ("x.invalid", "special-use name"),
])
def test_reserved_domains(state, inventory, domain, rule):
    state["fracto_clients"]["cliente3"]["domains"][domain] = {}
    only_errors(state, inventory, rule)


def test_a_domain_above_the_platform_and_an_inventory_host_name_are_reserved(state, inventory):
    state["fracto_platform"]["domain"] = "platform.example.test"
    inventory["hosts"].append("db01.example.net")
    inventory["groups"]["all"].append("db01.example.net")
    state["fracto_clients"]["cliente3"]["domains"]["example.test"] = {"subdomains": ["www2"]}
    state["fracto_clients"]["cliente3"]["domains"]["db01.example.net"] = {}
    only_errors(state, inventory, 'domains["example.test"]: example.test is reserved: the platform\'s domain platform.example.test',
                'domains["db01.example.net"]: db01.example.net is reserved: the name of a host of the platform')


def test_the_brand_domain_is_checked(state, inventory):
    state["fracto_reseller"]["brand_domain"] = "brand.fracto.test"
    only_errors(state, inventory, "fracto_reseller.brand_domain: brand.fracto.test is reserved")


# -- site migration ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/home/c1", "/home/c1/", "/home/c1/public_html", "/var/www/shop.example/htdocs",
                                  "/home/john.doe/www/site~old/a+b@c", "/var/www/html"])
def test_old_site_paths_that_pass(path):
    assert rules.old_site_path_problem(path) is None


@pytest.mark.parametrize("path", ["/", "/etc", "/etc/fracto", "/root", "/root/.ssh", "/dev", "/var/vmail", "/var/www",
                                  "/home", "/home/", "/home/../etc", "/home/c1/../../etc", "/home/c1/./x", "/home/c1//x",
                                  "/home/.", "/home/..", "/home/c1/a b", "/home/c1/x\n", "home/c1", "/home/C1",
                                  "/home/-x", "/home/c1/$(id)", "/home/c1/*", "/srv/www/c1", "/var/www/../lib"])
def test_old_site_paths_refused(path):
    assert rules.old_site_path_problem(path) == rules.OLD_PATH_RULE


def with_site(state, **site):
    state["fracto_clients"]["cliente1"]["migration"] = {"site": dict({"from": "legacy01", "path": "/home/c1/public_html"}, **site)}


@pytest.mark.parametrize("site, expected", [
    ({"from": "cloud01"}, "migration.site.from: host cloud01 is not in the inventory group fracto_legacy"),
    ({"from": "mail01"}, "migration.site.from: host mail01 is not in the inventory group fracto_legacy"),
    ({"path": "/etc/fracto"}, "migration.site.path: must be /home/<account>"),
    ({"database": "--all-databases", "target_database": "cliente1_wp"}, "migration.site.database: must be the name of the old database"),
    ({"database": "old\n", "target_database": "cliente1_wp"}, "migration.site.database: contains a control character"),
])
def test_site_migration_rules(state, inventory, site, expected):
    with_site(state, **site)
    only_errors(state, inventory, expected)


def test_a_legacy_host_that_is_also_a_platform_host_is_refused(state, inventory):
    inventory["groups"]["fracto_legacy"].append("cloud02")
    with_site(state, **{"from": "cloud02"})
    only_errors(state, inventory, "migration.site.from: host cloud02 is a host of the platform (fracto_web/fracto_mail), not of the old one")


# -- mail migration ------------------------------------------------------------------------------------------------
def with_mail(state, **mail):
    state["fracto_clients"]["cliente1"]["migration"] = {"mail": dict(
        {"from": "legacy01", "mailboxes": {"info@cliente1.test": {"password": "old-%s" % SECRET_MARK}}}, **mail)}


@pytest.mark.parametrize("source", ["legacy01", "legacy01:143", "imap.old-hosting.test", "imap.old-hosting.test:993",
                                    "93.184.216.34", "93.184.216.34:143"])
def test_imap_sources_that_pass(state, inventory, source):
    with_mail(state, **{"from": source})
    assert errors_of(state, inventory) == []


@pytest.mark.parametrize("source, rule", [
    ("mail01", "host mail01 is not in the inventory group fracto_legacy"),
    ("cloud01", "host cloud01 is not in the inventory group fracto_legacy"),
    ("mail01.fracto.test", "mail01.fracto.test is a host of the platform"),
    ("imap.fracto.test", "imap.fracto.test is under the platform's domain fracto.test"),
    ("127.0.0.1:143", "127.0.0.1 is not a public address"),
    ("0.0.0.0", "is not a public address"),
    ("192.168.1.10", "is not a public address"),
    ("localhost", "needs at least 2 labels"),
    ("imap.localhost", "special-use name"),
    ("unknown01", "needs at least 2 labels"),
    ("imap.old.test:99999", "port must be a number from 1 to 65535"),
    ("imap.old.test:１４３", "port must be a number from 1 to 65535"),
    ("-oimap.test", "starts or ends with a hyphen"),
])
def test_imap_sources_refused(state, inventory, source, rule):
    with_mail(state, **{"from": source})
    only_errors(state, inventory, "migration.mail.from: ", rule)


@pytest.mark.parametrize("mail, expected", [
    ({"master_user": "admin*master", "master_password": "m-%s" % SECRET_MARK}, "migration.mail.master_user: must be a user name"),
    ({"master_user": "a b", "master_password": "m-%s" % SECRET_MARK}, "migration.mail.master_user: must be a user name"),
    ({"folder_map": {"../../etc": "Archive"}}, "the old folder name: a folder name must not contain '..'"),
    ({"folder_map": {"Old": "/var/vmail"}}, "the new folder name: a folder name must not start with '/' or '~'"),
    ({"folder_map": {"Old": "~root"}}, "the new folder name: a folder name must not start with '/' or '~'"),
    ({"folder_map": {"Old": "*"}}, "IMAP wildcards"),
    ({"folder_map": {"%": "New"}}, "IMAP wildcards"),
    ({"folder_map": {"Old": "x" * 256}}, "folder names are strings of 1-255 characters"),
    ({"mailboxes": {"info@cliente1.test": {"user": "info\"x", "password": "p-%s" % SECRET_MARK}}},
     'mailboxes["info@cliente1.test"].user: must be the login on the old server'),
])
def test_mail_migration_rules(state, inventory, mail, expected):
    with_mail(state, **mail)
    found = only_errors(state, inventory, expected)
    assert not any(SECRET_MARK in e for e in found)


def test_folder_names_that_pass(state, inventory):
    with_mail(state, folder_map={"INBOX.Sent Items": "Sent", "Antiguos/2019": "Archive/2019", "Entwürfe": "Drafts"})
    assert errors_of(state, inventory) == []


# -- the other strings ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, value, expected", [
    (("fracto_reseller", "name"), "root", "fracto_reseller.name: reseller name root is reserved"),
    (("fracto_reseller", "name"), "../x", "fracto_reseller.name: must be a slug"),
    (("fracto_reseller", "contact_email"), "ops@x.test, evil@y.test", "fracto_reseller.contact_email: invalid address"),
    (("fracto_platform", "php_versions"), ["8.2\n"], "fracto_platform.php_versions[0]: must be a quoted version"),
    (("fracto_platform", "acme_directory"), "https://acme.test/dir\n", "fracto_platform.acme_directory: must be the https:// URL"),
    (("fracto_platform", "acme_directory"), "https://acme.test/\"dir", "fracto_platform.acme_directory: must be the https:// URL"),
    (("fracto_ip_pool", "198.51.100.30"), {"reseller": "x y", "host": "cloud01"}, 'fracto_ip_pool["198.51.100.30"].reseller'),
])
def test_other_strings(state, inventory, where, value, expected):
    node = state
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    only_errors(state, inventory, expected)


def test_package_and_certificate_names_are_whole_slugs(state, inventory):
    state["fracto_packages"]["gold\n"] = {"mail": True}
    state["fracto_packages"]["x" * 65] = {"mail": True}
    state["fracto_clients"]["cliente1"]["certificates"][0]["name"] = "../ov"
    only_errors(state, inventory, 'fracto_packages["gold\\x0a"]: package names are slugs',
                'fracto_packages.%s: package names are slugs' % ("x" * 65),
                "fracto_clients.cliente1.certificates[0].name: must be a slug")


def test_certificate_files_of_two_clients_never_collide(state, inventory, bundle_factory):
    """cliente1 + 'x-shop' and cliente1-x + 'shop' would both be the certificate cliente1-x-shop on the web host."""
    other = bundle_factory(["cliente1x.test"])
    state["fracto_clients"]["cliente1-x"] = dict(state["fracto_clients"].pop("cliente3"), domains={"cliente1x.test": {}},
                                                 certificates=[dict(other, name="shop")])
    state["fracto_clients"]["cliente1"]["certificates"][0]["name"] = "x-shop"
    del state["fracto_clients"]["cliente1-x"]["certificates"][0]["ca"]
    only_errors(state, inventory, "fracto_clients.cliente1-x.certificates[0].name: certificate shop would share its files "
                                  "(cliente1-x-shop) with fracto_clients.cliente1.certificates[0]")


@pytest.mark.parametrize("keep", [-1, 100001, True, "7"])
def test_keep_is_bounded(state, inventory, keep):
    state["fracto_clients"]["cliente1"]["backup"]["keep"] = {"daily": keep}
    only_errors(state, inventory, "fracto_clients.cliente1.backup.keep.daily: must be an integer from 0 to 100000")


# -- the case files of tests/hostile/ ------------------------------------------------------------------------------
def deep_merge(base, patch):
    """tests/test_bad_inventories.py's rules: mappings merge, "__delete__" removes, anything else replaces."""
    for key, value in patch.items():
        if value == "__delete__":
            del base[key]
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_base():
    variables = {}
    for path in sorted(BASE.glob("*/group_vars/all/*.yml")):
        variables.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    groups = {"all": []}

    def walk(name, node):
        node = node or {}
        hosts = list(node.get("hosts") or {})
        for child, sub in (node.get("children") or {}).items():
            hosts += walk(child, sub)
        groups.setdefault(name, []).extend(hosts)
        return hosts

    walk("all", yaml.safe_load((BASE / "platform" / "hosts.yml").read_text(encoding="utf-8"))["all"])
    return variables, {"hosts": sorted(set(groups["all"])), "groups": groups}


def pem_of(variables, name):
    """@PEM:shop.cert@ and friends: the committed bundle of alfa in the base inventory."""
    kind, field = name.split(".")
    assert kind == "shop", "only the shop bundle is known here: %s" % name
    return variables["fracto_clients"]["alfa"]["certificates"][0][field]


def fill(value, variables):
    if isinstance(value, dict):
        return {k: fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, variables) for v in value]
    if isinstance(value, str) and value.startswith("@PEM:") and value.endswith("@"):
        return pem_of(variables, value[5:-1])
    return value


CASES = sorted(HOSTILE.glob("[0-9][0-9]-*.yml")) if HOSTILE.is_dir() else []
# Values of the state only: templates and inventory files (classes template-code, inventory-origin) need Ansible.
PATCH_CASES = [p for p in CASES if "patch" in yaml.safe_load(p.read_text(encoding="utf-8"))
               and yaml.safe_load(p.read_text(encoding="utf-8"))["class"] not in ("template-code", "inventory-origin")]


def test_the_case_files_cover_every_class_of_values():
    if not CASES:
        pytest.skip("tests/hostile is not next to this collection")
    classes = {yaml.safe_load(p.read_text(encoding="utf-8"))["class"] for p in PATCH_CASES}
    assert len(PATCH_CASES) >= 40
    for required in ("backup-repository", "control-chars", "local-part", "password-hash", "database", "client-id",
                     "reserved-name", "migration-site", "migration-mail", "trailing-newline"):
        assert required in classes, required


@pytest.mark.parametrize("case_path", PATCH_CASES, ids=[p.stem for p in PATCH_CASES])
def test_hostile_case_is_refused_by_the_validator(case_path):
    case = yaml.safe_load(case_path.read_text(encoding="utf-8"))
    if case.get("files") or case["class"] in ("reseller-identity", "template-code", "inventory-origin") \
            or any("reseller inventory" in e for e in case["expect"]):
        pytest.skip("refused while the inventory loads (origin.py), before the validator: tests/test_hostile.py runs it")
    variables, inventory = load_base()
    before = set(validate_state(copy.deepcopy(variables), inventory)[1].errors)
    variables = deep_merge(variables, fill(case["patch"], variables))
    _model, problems = validate_state(variables, inventory)
    new = [e for e in problems.errors if e not in before]
    assert new, "%s was accepted" % case_path.name
    text = "\n".join(problems.errors + problems.warnings)
    missing = [e for e in case["expect"] if e not in text]
    assert not missing, (missing, new)
    leaked = SENTINEL in text or "PRIVATE KEY" in text
    assert not leaked, "%s: a secret reached a message" % case_path.name
