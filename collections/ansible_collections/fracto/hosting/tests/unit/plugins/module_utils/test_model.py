# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of the raw state into the normalised model (module_utils/state/model.py)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import Problems, StatePath
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import (
    merge_client_sources,
    parse_quota,
    repository_host,
    validate_state,
)

SECRET_MARK = "UNIT-SECRET"      # in every secret of the conftest state

G = 1024 ** 3


def errors_of(state, inventory):
    _model, problems = validate_state(state, inventory)
    return problems.errors


def one_error(state, inventory):
    errors = errors_of(state, inventory)
    assert len(errors) == 1, errors
    return errors[0]


# -- small parsers -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, size", [
    ("1", 1), ("1024", 1024), ("1K", 1024), ("500M", 500 * 1024 ** 2), ("2G", 2 * G), ("1T", 1024 ** 4),
    ("250M", 250 * 1024 ** 2),
])
def test_parse_quota(text, size):
    assert parse_quota(text) == size


@pytest.mark.parametrize("text", ["2GB", "2g", "0G", "0", "-1G", "1.5G", "G", "", " 2G", 2, 2.0, None, ["2G"]])
def test_parse_quota_refuses(text):
    assert parse_quota(text) is None


@pytest.mark.parametrize("repository, host", [
    ("sftp:restic@backup01.fracto.test:/srv/restic/demo", "backup01.fracto.test"),
    ("sftp:restic@Backup01.Fracto.TEST:/srv", "backup01.fracto.test"),
    ("sftp:backup01.fracto.test:/srv/restic", "backup01.fracto.test"),
    ("sftp://restic@backup01.fracto.test:2222//srv/restic", "backup01.fracto.test"),
    ("sftp://backup01.fracto.test/srv/restic", "backup01.fracto.test"),
    ("rest:https://user:pass@rest.backup.test:8000/demo/", "rest.backup.test"),
    ("rest:https://rest.backup.test/", "rest.backup.test"),
    ("rest:http://rest.backup.test/", None),          # not https: invalid, no host
    ("s3:s3.amazonaws.com/bucket/demo", "s3.amazonaws.com"),
    ("s3:https://minio.backup.test:9000/bucket", "minio.backup.test"),
    ("b2:bucket:demo", None),
    ("azure:container:/demo", None),
    ("gs:bucket:/demo", None),
    ("swift:container:/demo", None),
    ("rclone:remote:demo", None),
    ("/srv/restic/demo", None),                       # local: refused, no host
    ("local:/srv/restic/demo", None),
    ("relative/dir", None),
])
def test_repository_host(repository, host):
    assert repository_host(repository) == host


def test_merge_client_sources_refuses_one_id_twice():
    problems = Problems()
    merged, origin = merge_client_sources({
        "fracto_clients": {"a": {"x": 1}, "b": {}},
        "fracto_clients__b": {"b": {"y": 2}},
        "fracto_clients__c": {"c": {}},
        "fracto_clientsX": {"z": {}},            # not a client source
        "fracto_clients__d": None,               # an empty file
    }, problems)
    assert sorted(merged) == ["a", "b", "c"]
    assert origin == {"a": "fracto_clients", "b": "fracto_clients", "c": "fracto_clients__c"}
    assert problems.errors == ["fracto_clients__b.b: duplicate client id: also defined in fracto_clients"]


def test_state_path_rendering():
    path = StatePath("fracto_clients") / "gamma" / "domains" / "ALFA.test" / "aliases" / 0
    assert str(path) == 'fracto_clients.gamma.domains["ALFA.test"].aliases[0]'
    assert str(StatePath("x") / 'we"ird') == 'x["we\\"ird"]'


# -- the valid state -----------------------------------------------------------------------------
def test_valid_state_has_no_problem(state, inventory):
    _model, problems = validate_state(state, inventory)
    assert problems.errors == [] and problems.warnings == []


def test_model_is_normalised(state, inventory):
    model, _problems = validate_state(state, inventory)
    c1, c2, c3 = (model["clients"][c] for c in ("cliente1", "cliente2", "cliente3"))
    assert c1["domains"] == [{"name": "cliente1.test", "aliases": ["www.cliente1.test"],
                              "subdomains": ["shop.cliente1.test", "blog.cliente1.test"], "php": "8.2", "deny": []}]
    assert [d["name"] for d in c2["domains"]] == ["cliente2.test", "xn--caff-8oa.test"]
    assert c2["domains"][1]["aliases"] == ["www.xn--caff-8oa.test"] and c2["domains"][1]["php"] is None
    assert c1["path"] == "fracto_clients.cliente1" and c2["path"] == "fracto_clients__cliente2.cliente2"
    # Addresses lowercase, quotas in bytes, exactly one of password / password_hash.
    boxes = {b["address"]: b for b in c1["mailboxes"]}
    assert boxes["info@cliente1.test"]["quota"] == 2 * G and boxes["info@cliente1.test"]["password_hash"] is None
    assert boxes["ana@cliente1.test"]["quota"] is None and boxes["ana@cliente1.test"]["password"] is None
    assert c2["mail_aliases"] == [{"address": "info@xn--caff-8oa.test", "targets": ["hola@cliente2.test"]}]
    assert model["reseller"]["dedicated_ips"] == ["198.51.100.10", "198.51.100.11"]
    assert model["pool"]["198.51.100.30"] == {"reseller": None, "host": None, "helo": None}


def test_features_are_package_plus_overrides(state, inventory):
    model, _problems = validate_state(state, inventory)
    c3 = model["clients"]["cliente3"]
    assert c3["features"] == {"gdpr": False, "autossl": False, "https_redirect": False, "hsts": False, "mail": True,
                              "mail_branding": "generic", "mail_dmarc_policy": "quarantine", "mail_dkim_keys": "rsa", "webmail": True,
                              "backup": "none", "dedicated_ip": False, "web": {}, "mail_limits": {},
                              "mail_greylisting": False, "sftp": False}
    assert c3["overrides"] == ["webmail"]
    assert model["packages"]["entry"]["webmail"] is False      # the package itself is untouched


def test_dedicated_ip_forms(state, inventory):
    model, _problems = validate_state(state, inventory)
    assert model["clients"]["cliente2"]["dedicated_ip"] == {"web": "198.51.100.10", "mail": "198.51.100.11"}
    assert model["clients"]["cliente1"]["dedicated_ip"] == {"web": None, "mail": None}
    # A single address serves only the sites when mail is on another host ...
    state["fracto_clients__cliente2"]["cliente2"]["dedicated_ip"] = "198.51.100.10"
    model, problems = validate_state(state, inventory)
    assert not problems.errors and model["clients"]["cliente2"]["dedicated_ip"] == {"web": "198.51.100.10", "mail": None}
    # ... and both sides when web and mail are on the same host.
    inventory["groups"]["fracto_mail"].append("cloud01")
    state["fracto_clients__cliente2"]["cliente2"]["mail_host"] = "cloud01"
    model, problems = validate_state(state, inventory)
    assert not problems.errors, problems.errors
    assert model["clients"]["cliente2"]["dedicated_ip"] == {"web": "198.51.100.10", "mail": "198.51.100.10"}


def test_backup_targets(state, inventory):
    model, _problems = validate_state(state, inventory)
    b1, b2 = model["clients"]["cliente1"]["backup"], model["clients"]["cliente2"]["backup"]
    assert b1["managed_by"] == "client" and b1["source"] == "fracto_clients.cliente1.backup"
    assert b1["keep"] == {"daily": 7, "weekly": 4, "monthly": 6}
    assert b2["managed_by"] == "reseller" and b2["repository"] == "sftp:restic@backup01.fracto.test:/srv/restic/demo/cliente2"
    assert model["clients"]["cliente3"]["backup"] is None


def test_certificate_names_and_facts(state, inventory):
    model, _problems = validate_state(state, inventory)
    (cert,) = model["clients"]["cliente1"]["certificates"]
    assert cert["name"] == "shop-ov" and cert["names"] == ["shop.cliente1.test"]
    assert len(cert["fingerprint"]) == 64 and cert["not_after"]


def test_mail_names_per_branding(state, inventory):
    model, _problems = validate_state(state, inventory)
    clients = model["clients"]
    assert clients["cliente1"]["mail_names"] == ["mail.cliente1.test"]
    assert clients["cliente1"]["webmail_names"] == ["webmail.cliente1.test"]
    assert clients["cliente2"]["mail_names"] == ["mail.dominioreseller.test"]
    assert clients["cliente2"]["webmail_names"] == ["webmail.dominioreseller.test"]
    assert clients["cliente3"]["mail_names"] == ["mail01.fracto.test"]
    assert clients["cliente3"]["webmail_names"] == ["webmail.mail01.fracto.test"]


# -- rules, one at a time ------------------------------------------------------------------------
def test_duplicate_names_across_clients(state, inventory):
    state["fracto_clients"]["cliente3"]["domains"]["CLIENTE1.test"] = {}
    state["fracto_clients"]["cliente3"]["domains"]["caffè.TEST."] = {}
    errors = errors_of(state, inventory)
    assert errors == [
        'fracto_clients.cliente3.domains["CLIENTE1.test"]: name cliente1.test is already claimed by client cliente1 '
        '(fracto_clients.cliente1.domains["Cliente1.TEST."])',
        'fracto_clients.cliente3.domains["caffè.TEST."]: name xn--caff-8oa.test is already claimed by client cliente2 '
        '(fracto_clients__cliente2.cliente2.domains["caffè.test"])',
    ]


def test_name_under_another_clients_domain_blames_only_the_intruder(state, inventory):
    # cliente2 (checked after cliente1) claims a subdomain of cliente1 as a domain: only cliente2 is wrong.
    state["fracto_clients__cliente2"]["cliente2"]["domains"]["shop.cliente1.test"] = {}
    # cliente1 (checked first) claims a name under cliente3's domain.
    state["fracto_clients"]["cliente1"]["domains"]["blog.cliente3.test"] = {}
    assert errors_of(state, inventory) == [
        'fracto_clients.cliente1.domains["blog.cliente3.test"]: name blog.cliente3.test is under cliente3.test, '
        'a domain of client cliente3',
        'fracto_clients__cliente2.cliente2.domains["shop.cliente1.test"]: name shop.cliente1.test is already claimed '
        'by client cliente1 (fracto_clients.cliente1.domains["Cliente1.TEST."].subdomains[0])',
    ]


def test_mail_name_cannot_be_a_site(state, inventory):
    state["fracto_clients"]["cliente1"]["domains"]["Cliente1.TEST."]["subdomains"].append("webmail")
    assert "webmail.cliente1.test is a mail name of client cliente1 (mail_branding: client)" in one_error(state, inventory)


@pytest.mark.parametrize("ip, rule", [
    ("198.51.100.300", "'198.51.100.300' is not an IPv4 address"),
    ("198.51.100.99", "198.51.100.99 is not in fracto_ip_pool"),
    ("198.51.100.20", "198.51.100.20 is allocated to reseller other, not to demo"),
    ("198.51.100.30", "198.51.100.30 is not allocated to any reseller in fracto_ip_pool"),
    ("198.51.100.11", "198.51.100.11 is on host mail01, not on cloud01 which serves the sites of this client"),
])
def test_dedicated_ip_rules(state, inventory, ip, rule):
    state["fracto_clients__cliente2"]["cliente2"]["dedicated_ip"] = {"web": ip}
    assert one_error(state, inventory) == "fracto_clients__cliente2.cliente2.dedicated_ip.web: " + rule


def test_dedicated_ip_needs_the_package_to_allow_it(state, inventory):
    state["fracto_clients"]["cliente3"]["dedicated_ip"] = "198.51.100.12"
    assert one_error(state, inventory) == (
        "fracto_clients.cliente3.dedicated_ip: package 'entry' does not allow a dedicated IP (dedicated_ip: false)")


@pytest.mark.parametrize("change, error", [
    ({"hsts": False}, "fracto_clients.cliente1.overrides.hsts: gdpr rule hsts: hsts must be true"),
    ({"https_redirect": False},
     "fracto_clients.cliente1.overrides.https_redirect: gdpr rule http-redirects-to-https: https_redirect must be true"),
])
def test_gdpr_rules_name_the_override(state, inventory, change, error):
    state["fracto_clients"]["cliente1"]["overrides"] = change
    assert one_error(state, inventory) == error


def test_gdpr_rules_name_the_package(state, inventory):
    state["fracto_packages"]["gdpr"]["autossl"] = False
    assert one_error(state, inventory) == (
        "fracto_packages.gdpr.autossl: gdpr rule https-everywhere: autossl is off and no certificate covers "
        "cliente1.test, www.cliente1.test, blog.cliente1.test")


@pytest.mark.parametrize("repository, rule", [
    ("/srv/restic/cliente1", "a local repository (a path on the host itself) is refused"),
    ("sftp:restic@mail01.fracto.test:/srv/restic", "mail01.fracto.test is a host of the platform that runs backups"),
    ("sftp:restic@cloud02.fracto.test:/srv/restic", "cloud02.fracto.test is a host of the platform that runs backups"),
    ("sftp:restic@cloud01:/srv/restic", "the host is not a valid name: needs at least 2 labels"),
])
def test_backup_must_be_offsite(state, inventory, repository, rule):
    """Every target (gdpr or not) is outside the platform's web and mail hosts: refused by the repository rules."""
    state["fracto_clients"]["cliente1"]["backup"]["repository"] = repository
    assert one_error(state, inventory).startswith("fracto_clients.cliente1.backup.repository: " + rule)


def test_gdpr_backup_none(state, inventory):
    state["fracto_clients"]["cliente1"]["overrides"] = {"backup": "none"}
    del state["fracto_clients"]["cliente1"]["backup"]
    assert one_error(state, inventory) == (
        "fracto_clients.cliente1.overrides.backup: gdpr rule encrypted-offsite-backup: backup must be reseller or client, not none")


@pytest.mark.parametrize("php, rule", [
    ("7.4", "PHP 7.4 is not offered by the platform (offered: 8.2, 8.3; or false for a static site)"),
    (8.2, 'must be a quoted string such as "8.2" (YAML reads 8.2 as a number)'),
    (True, "PHP True is not offered"),
])
def test_php_rules(state, inventory, php, rule):
    state["fracto_clients"]["cliente1"]["domains"]["Cliente1.TEST."]["php"] = php
    assert one_error(state, inventory).startswith('fracto_clients.cliente1.domains["Cliente1.TEST."].php: ' + rule)


@pytest.mark.parametrize("key, host, rule", [
    ("web_host", "cloud09", "host cloud09 is not in the inventory"),
    ("web_host", "legacy01", "host legacy01 is not in the inventory group fracto_web"),
    ("mail_host", "cloud02", "host cloud02 is not in the inventory group fracto_mail"),
    ("web_host", 3, "must be an inventory host name, got an integer"),
])
def test_inventory_host_rules(state, inventory, key, host, rule):
    state["fracto_clients"]["cliente3"][key] = host
    assert one_error(state, inventory) == "fracto_clients.cliente3.%s: %s" % (key, rule)


@pytest.mark.parametrize("key, rule", [
    ("web_host", "is required"),
    ("mail_host", "is required: package 'entry' includes mail"),
    ("package", "is required"),
])
def test_missing_required_key_is_reported_once(state, inventory, key, rule):
    del state["fracto_clients"]["cliente3"][key]
    assert one_error(state, inventory) == "fracto_clients.cliente3.%s: %s" % (key, rule)


def test_missing_domains(state, inventory):
    del state["fracto_clients"]["cliente3"]["domains"]
    assert errors_of(state, inventory)[0] == "fracto_clients.cliente3.domains: is required"


@pytest.mark.parametrize("where, key", [
    (("fracto_platform",), "php_version"),
    (("fracto_reseller",), "dedicated_ip"),
    (("fracto_packages", "business"), "autosll"),
    (("fracto_clients", "cliente3"), "web_hots"),
    (("fracto_clients", "cliente3", "overrides"), "webmial"),
    (("fracto_clients", "cliente1", "domains", "Cliente1.TEST."), "alias"),
    (("fracto_clients", "cliente1", "mailboxes", "Info@cliente1.test"), "qouta"),
    (("fracto_clients", "cliente1", "backup"), "pasword"),
])
def test_unknown_keys_are_refused_once(state, inventory, where, key):
    node = state
    for part in where:
        node = node[part]
    node[key] = "x"
    error = one_error(state, inventory)
    assert error.split(": ")[0].endswith("." + key) and ": unknown key (allowed: " in error


def test_unknown_package_even_of_a_wrong_type(state, inventory):
    state["fracto_clients"]["cliente3"]["package"] = "gold"
    assert one_error(state, inventory) == "fracto_clients.cliente3.package: unknown package 'gold' (defined: business, entry, gdpr)"
    state["fracto_clients"]["cliente3"]["package"] = ["entry"]
    assert "unknown package ['entry']" in one_error(state, inventory)


@pytest.mark.parametrize("box, spec, path, rule", [
    ("x@cliente2.test", {"password": "x-%s-7" % SECRET_MARK}, 'mailboxes["x@cliente2.test"]',
     "the domain of x@cliente2.test is not a domain or subdomain of this client"),
    ("x@www.cliente1.test", {"password": "x-%s-7" % SECRET_MARK}, 'mailboxes["x@www.cliente1.test"]',
     "the domain of x@www.cliente1.test is not a domain or subdomain of this client"),
    ("in..fo@cliente1.test", {"password": "x-%s-7" % SECRET_MARK}, 'mailboxes["in..fo@cliente1.test"]',
     "invalid address: local part 'in..fo' is not a valid mailbox name"),
    ("info@cliente1.test", {"password": "x-%s-7" % SECRET_MARK, "quota": "2GB"}, 'mailboxes["info@cliente1.test"].quota',
     "must be a size such as 500M, 2G or 1T"),
    ("info@cliente1.test", {"password": "short"}, 'mailboxes["info@cliente1.test"].password',
     "must be a string of at least 10 characters"),
    ("info@cliente1.test", {"password": ["x-%s-7" % SECRET_MARK]}, 'mailboxes["info@cliente1.test"].password',
     "must be a string of at least 10 characters"),
    ("info@cliente1.test", {"password_hash": "md5-%s-plain" % SECRET_MARK}, 'mailboxes["info@cliente1.test"].password_hash',
     "must be a whole password hash: sha512-crypt"),
    ("info@cliente1.test", {}, 'mailboxes["info@cliente1.test"]',
     "give exactly one of password (from the vault) or password_hash"),
])
def test_mailbox_rules(state, inventory, box, spec, path, rule):
    boxes = state["fracto_clients"]["cliente1"]["mailboxes"]
    boxes.pop("Info@cliente1.test")
    boxes[box] = spec
    if box != "info@cliente1.test":
        boxes["info@cliente1.test"] = {"password": "info-%s-2" % SECRET_MARK}   # the alias target stays a mailbox
    error = one_error(state, inventory)
    assert error.startswith("fracto_clients.cliente1.%s: " % path) and rule in error, error


def test_reseller_backup_needs_client_placeholder(state, inventory):
    state["fracto_reseller"]["backup"]["repository"] = "sftp:restic@backup01.fracto.test:/srv/restic/demo"
    # Reported once, at the reseller; the business client using it is not blamed again.
    assert one_error(state, inventory) == (
        "fracto_reseller.backup.repository: a reseller target must contain {client}: one repository per client")


def test_certificate_rules(state, inventory, shop_bundle, bundle_factory):
    cert = state["fracto_clients"]["cliente1"]["certificates"][0]
    other = bundle_factory(["shop.cliente1.test"])
    cert["key"] = other["key"]
    assert one_error(state, inventory) == (
        "fracto_clients.cliente1.certificates[0]: certificate shop-ov refused: key does not match the certificate")
    expired = bundle_factory(["shop.cliente1.test"], days_from=-100, days_to=-1)
    cert.update(cert=expired["cert"], chain=expired["chain"], key=expired["key"])
    assert "certificate shop-ov refused: certificate expired on" in one_error(state, inventory)
    cert.update(cert=shop_bundle["cert"], chain=shop_bundle["chain"], key=shop_bundle["key"],
                names=["shop.cliente1.test", "blog.cliente1.test"])
    assert one_error(state, inventory) == ("fracto_clients.cliente1.certificates[0].names[1]: certificate shop-ov "
                                           "does not cover blog.cliente1.test (it covers shop.cliente1.test)")


def test_certificate_soon_expiring_is_a_warning(state, inventory, bundle_factory):
    soon = bundle_factory(["shop.cliente1.test"], days_to=10)
    state["fracto_clients"]["cliente1"]["certificates"][0].update(cert=soon["cert"], chain=soon["chain"], key=soon["key"])
    _model, problems = validate_state(state, inventory)
    assert problems.errors == []
    assert len(problems.warnings) == 1 and "certificate shop-ov expires in" in problems.warnings[0]


def test_certificate_must_cover_a_whole_vhost(state, inventory, bundle_factory):
    half = bundle_factory(["cliente1.test"])     # not www.cliente1.test, served by the same vhost
    state["fracto_clients"]["cliente1"]["certificates"].append(
        {"name": "apex", "cert": half["cert"], "chain": half["chain"], "key": half["key"]})
    assert "certificate apex covers cliente1.test but not www.cliente1.test, served by the same vhost" in one_error(state, inventory)


def test_all_errors_are_reported_at_once(state, inventory):
    state["fracto_clients"]["cliente1"]["domains"]["Cliente1.TEST."]["php"] = "7.4"
    state["fracto_clients"]["cliente3"]["domains"]["-bad.test"] = {}
    state["fracto_clients__cliente2"]["cliente2"]["dedicated_ip"] = {"web": "198.51.100.99"}
    state["fracto_reseller"]["contact_email"] = "nobody"
    assert len(errors_of(state, inventory)) == 4


# -- robustness ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, 1, "x", ["x"], {"webmial": True}])
def test_wrong_types_are_errors_not_crashes(state, inventory, value):
    """Also: a client is never dropped silently (package: null used to skip it without an error)."""
    for target in (("fracto_reseller",), ("fracto_packages",), ("fracto_ip_pool",), ("fracto_clients", "cliente3"),
                   ("fracto_clients", "cliente3", "overrides"), ("fracto_clients", "cliente3", "package"),
                   ("fracto_clients", "cliente3", "domains"), ("fracto_clients", "cliente1", "certificates"),
                   ("fracto_clients", "cliente1", "mailboxes"), ("fracto_clients", "cliente1", "backup"),
                   ("fracto_clients__cliente2", "cliente2", "dedicated_ip")):
        broken = json.loads(json.dumps(state))
        node = broken
        for part in target[:-1]:
            node = node[part]
        node[target[-1]] = value
        _model, problems = validate_state(broken, inventory)
        if value is None and target[-1] in ("overrides", "certificates", "mailboxes", "dedicated_ip"):
            continue            # null means "none" for these optional keys
        assert problems.errors, target


def test_mail_host_of_a_client_without_mail_serves_nothing(state, inventory):
    state["fracto_packages"]["web"] = {"autossl": True}
    state["fracto_clients"]["cliente4"] = {"package": "web", "web_host": "cloud02", "mail_host": "mail01",
                                           "domains": {"cliente4.test": {}}}
    model, problems = validate_state(state, inventory)
    assert not problems.errors, problems.errors
    assert model["clients"]["cliente4"]["mail_host"] is None and model["clients"]["cliente4"]["mail_names"] == []


def test_no_secret_in_any_message(state, inventory):
    """Break every secret-bearing field: the messages name the field, never the value."""
    c1 = state["fracto_clients"]["cliente1"]
    c1["mailboxes"]["Info@cliente1.test"]["password"] = ["info-%s" % SECRET_MARK]
    c1["mailboxes"]["ana@cliente1.test"]["password_hash"] = "plain-%s" % SECRET_MARK
    c1["databases"]["cliente1_wp"]["password"] = {"v": SECRET_MARK}
    c1["backup"]["password"] = 12345
    c1["certificates"][0]["key"] = "%s not a key" % SECRET_MARK
    state["fracto_reseller"]["backup"]["password"] = [SECRET_MARK]
    c1["migration"] = {"mail": {"from": "legacy01", "mailboxes": {"info@cliente1.test": {"password": SECRET_MARK, "pw": SECRET_MARK}}}}
    _model, problems = validate_state(state, inventory)
    assert len(problems.errors) >= 7
    assert not any(SECRET_MARK in message for message in problems.errors + problems.warnings)


@pytest.mark.parametrize("spec", [{"password": "info-%s-2" % SECRET_MARK, "quota": "2GB"}, {"password": "short"}])
def test_a_broken_mailbox_is_still_a_mailbox(state, inventory, spec):
    """One defect, one error: the migration that names the mailbox is not blamed as well."""
    c1 = state["fracto_clients"]["cliente1"]
    c1["mailboxes"]["Info@cliente1.test"] = spec
    c1["migration"] = {"mail": {"from": "legacy01", "mailboxes": {"info@cliente1.test": {"password": "old-%s" % SECRET_MARK}}}}
    assert one_error(state, inventory).startswith('fracto_clients.cliente1.mailboxes["Info@cliente1.test"].')


def test_a_pool_helo_name_must_be_a_host_name(state, inventory):
    state["fracto_ip_pool"]["198.51.100.11"]["helo"] = "not a name"
    assert one_error(state, inventory).startswith('fracto_ip_pool["198.51.100.11"].helo: invalid name \'not a name\': must be a host name')
