# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The validated model resolved into one desired state per host (module_utils/state/resolve.py)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import MAX_NAMES_PER_CERT, resolve_state

SECRET_MARK = "UNIT-SECRET"      # in every secret of the conftest state


def resolved(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    return resolve_state(model)


@pytest.fixture
def desired(state, inventory):
    return resolved(state, inventory)


def by(items, key):
    return {item[key]: item for item in items}


def test_hosts_and_roles(desired):
    assert sorted(desired["hosts"]) == ["cloud01", "cloud02", "mail01"]
    assert desired["hosts"]["cloud01"]["roles"] == ["web"]
    assert desired["hosts"]["mail01"]["roles"] == ["mail"]
    assert desired["hosts"]["cloud01"]["clients"] == ["cliente1", "cliente2"]
    assert desired["hosts"]["mail01"]["clients"] == ["cliente1", "cliente2", "cliente3"]
    assert [u["name"] for u in desired["hosts"]["cloud02"]["system_users"]] == ["cliente3"]


def test_package_and_overrides_are_resolved(desired):
    clients = desired["clients"]
    assert clients["cliente3"]["features"]["webmail"] is True          # override
    assert clients["cliente3"]["features"]["autossl"] is False         # package
    assert clients["cliente1"]["gdpr"] is True and clients["cliente2"]["gdpr"] is False
    assert clients["cliente1"]["backup"] == "client" and clients["cliente2"]["backup"] == "reseller"
    assert clients["cliente3"]["backup"] == "none"


def test_vhosts_domain_with_aliases_and_subdomains(desired):
    sites = by(desired["hosts"]["cloud01"]["sites"], "name")
    assert list(sites) == ["cliente1.test", "shop.cliente1.test", "blog.cliente1.test", "cliente2.test", "xn--caff-8oa.test"]
    apex = sites["cliente1.test"]
    assert apex["aliases"] == ["www.cliente1.test"] and apex["docroot"] == "/srv/www/cliente1/cliente1.test/public"
    assert (apex["tls"], apex["certificate"], apex["https_redirect"], apex["hsts"]) == ("acme", "cliente1.test", True, True)
    shop = sites["shop.cliente1.test"]
    assert shop["aliases"] == [] and shop["docroot"] == "/srv/www/cliente1/shop.cliente1.test/public"
    assert (shop["tls"], shop["certificate"]) == ("custom", "cliente1-shop-ov")
    assert sites["blog.cliente1.test"]["tls"] == "acme" and sites["blog.cliente1.test"]["php"] == "8.2"
    assert sites["xn--caff-8oa.test"]["aliases"] == ["www.xn--caff-8oa.test"] and sites["xn--caff-8oa.test"]["php"] is None
    assert sites["cliente2.test"]["hsts"] is False and sites["cliente2.test"]["ipv4"] == "198.51.100.10"


def test_sites_without_tls_do_not_redirect(desired):
    (site,) = desired["hosts"]["cloud02"]["sites"]
    assert (site["name"], site["tls"], site["certificate"]) == ("cliente3.test", "none", None)
    assert site["https_redirect"] is False and site["hsts"] is False
    assert desired["hosts"]["cloud02"]["certificates"] == []


def test_php_pools_one_per_client_and_version(state, inventory):
    state["fracto_clients__cliente2"]["cliente2"]["domains"]["caffè.test"]["php"] = "8.2"
    pools = resolved(state, inventory)["hosts"]["cloud01"]["php_pools"]
    assert [p["name"] for p in pools] == ["cliente1-8.2", "cliente2-8.2", "cliente2-8.3"]


def test_acme_certificates_leave_custom_names_out(desired):
    certs = by(desired["hosts"]["cloud01"]["certificates"], "id")
    assert certs["cliente1.test"]["source"] == "acme"
    assert certs["cliente1.test"]["names"] == ["cliente1.test", "www.cliente1.test", "blog.cliente1.test"]
    assert certs["cliente1-shop-ov"]["source"] == "custom" and certs["cliente1-shop-ov"]["names"] == ["shop.cliente1.test"]
    assert certs["xn--caff-8oa.test"]["names"] == ["xn--caff-8oa.test", "www.xn--caff-8oa.test"]
    assert all(c["client"] in ("cliente1", "cliente2") for c in certs.values())


def test_acme_certificates_are_split_at_the_name_limit(state, inventory):
    state["fracto_clients"]["cliente1"]["domains"]["big.test"] = {"subdomains": ["s%d" % i for i in range(MAX_NAMES_PER_CERT + 20)]}
    host = resolved(state, inventory)["hosts"]["cloud01"]
    certs = by(host["certificates"], "id")
    assert len(certs["big.test"]["names"]) == MAX_NAMES_PER_CERT and certs["big.test"]["names"][0] == "big.test"
    assert len(certs["big.test-2"]["names"]) == 21
    # Each vhost names the certificate that holds its name.
    sites = by(host["sites"], "name")
    assert sites["big.test"]["certificate"] == sites["s98.big.test"]["certificate"] == "big.test"
    assert sites["s99.big.test"]["certificate"] == sites["s119.big.test"]["certificate"] == "big.test-2"
    for site in host["sites"]:
        if site["tls"] == "acme":
            assert site["name"] in certs[site["certificate"]]["names"], site["name"]


def test_mail_names_per_branding(desired):
    mail = desired["hosts"]["mail01"]
    names = by(mail["mail_names"], "name")
    assert names == {
        "mail.cliente1.test": {"name": "mail.cliente1.test", "branding": "client", "clients": ["cliente1"]},
        "mail.dominioreseller.test": {"name": "mail.dominioreseller.test", "branding": "reseller", "clients": ["cliente2"]},
        "mail01.fracto.test": {"name": "mail01.fracto.test", "branding": "generic", "clients": ["cliente3"]},
    }
    assert sorted(by(mail["webmail_names"], "name")) == [
        "webmail.cliente1.test", "webmail.dominioreseller.test", "webmail.mail01.fracto.test"]


def test_mail_certificates_pair_mail_and_webmail(desired):
    certs = by(desired["hosts"]["mail01"]["certificates"], "id")
    assert certs["mail.cliente1.test"] == {"id": "mail.cliente1.test", "client": "cliente1", "source": "acme",
                                           "names": ["mail.cliente1.test", "webmail.cliente1.test"]}
    assert certs["mail.dominioreseller.test"]["names"] == ["mail.dominioreseller.test", "webmail.dominioreseller.test"]
    generic = [c for c in certs.values() if "mail01.fracto.test" in c["names"]]
    assert len(generic) == 1 and generic[0]["names"] == ["mail01.fracto.test", "webmail.mail01.fracto.test"]


def test_shared_mail_names_belong_to_the_reseller(state, inventory):
    state["fracto_clients"]["cliente5"] = {"package": "business", "web_host": "cloud02", "mail_host": "mail01",
                                           "domains": {"cliente5.test": {}}}
    state["fracto_clients"]["cliente6"] = {"package": "entry", "web_host": "cloud02", "mail_host": "mail01",
                                           "domains": {"cliente6.test": {}}}
    mail = resolved(state, inventory)["hosts"]["mail01"]
    names = by(mail["mail_names"], "name")
    assert names["mail.dominioreseller.test"]["clients"] == ["cliente2", "cliente5"]
    assert names["mail01.fracto.test"]["clients"] == ["cliente3", "cliente6"]
    assert [n["name"] for n in mail["mail_names"]].count("mail.dominioreseller.test") == 1
    certs = by(mail["certificates"], "id")
    assert certs["mail.dominioreseller.test"]["client"] == "(reseller)"


def test_client_branding_names_every_domain(state, inventory):
    state["fracto_clients__cliente2"]["cliente2"]["overrides"] = {"mail_branding": "client"}
    clients = resolved(state, inventory)["clients"]
    assert clients["cliente2"]["mail_names"] == ["mail.cliente2.test", "mail.xn--caff-8oa.test"]
    assert clients["cliente2"]["webmail_names"] == ["webmail.cliente2.test", "webmail.xn--caff-8oa.test"]


def test_mail_objects(desired):
    mail = desired["hosts"]["mail01"]
    assert [(d["domain"], d["client"]) for d in mail["mail_domains"]] == [
        ("cliente1.test", "cliente1"), ("cliente2.test", "cliente2"), ("xn--caff-8oa.test", "cliente2"), ("cliente3.test", "cliente3")]
    assert [b["address"] for b in mail["mailboxes"]] == [
        "info@cliente1.test", "ana@cliente1.test", "hola@cliente2.test", "contacto@cliente3.test"]
    assert by(mail["mail_aliases"], "address")["info@xn--caff-8oa.test"]["targets"] == ["hola@cliente2.test"]


def test_ip_bindings(desired):
    assert desired["hosts"]["cloud01"]["ip_bindings"] == [{"address": "198.51.100.10", "sides": ["web"], "clients": ["cliente2"]}]
    assert desired["hosts"]["mail01"]["ip_bindings"] == [
        {"address": "198.51.100.11", "sides": ["mail"], "clients": ["cliente2"], "helo": "smtp-198-51-100-11.fracto.test"}]
    assert desired["hosts"]["cloud02"]["ip_bindings"] == []


def test_ip_shared_by_two_clients_and_both_sides(state, inventory):
    state["fracto_packages"]["business"]["mail"] = True
    state["fracto_clients"]["cliente5"] = {"package": "business", "web_host": "cloud01", "mail_host": "mail01",
                                           "domains": {"cliente5.test": {}}, "dedicated_ip": {"web": "198.51.100.10"}}
    inventory["groups"]["fracto_mail"].append("cloud01")
    state["fracto_clients"]["cliente6"] = {"package": "business", "web_host": "cloud01", "mail_host": "cloud01",
                                           "domains": {"cliente6.test": {}}, "dedicated_ip": "198.51.100.10"}
    bindings = resolved(state, inventory)["hosts"]["cloud01"]["ip_bindings"]
    assert bindings == [{"address": "198.51.100.10", "sides": ["web", "mail"], "clients": ["cliente2", "cliente5", "cliente6"],
                         "helo": "smtp-198-51-100-10.fracto.test"}]


def test_backup_jobs_per_side(desired):
    web = by(desired["hosts"]["cloud01"]["backup_jobs"], "client")
    mail = by(desired["hosts"]["mail01"]["backup_jobs"], "client")
    assert (web["cliente1"]["side"], web["cliente1"]["what"]) == ("web", ["files", "databases"])
    assert (mail["cliente1"]["side"], mail["cliente1"]["what"]) == ("mail", ["mailboxes"])
    assert web["cliente1"]["managed_by"] == "client"
    assert web["cliente1"]["repository"] == mail["cliente1"]["repository"] == "sftp:restic@backup.cliente1-offsite.test:/srv/restic"
    assert web["cliente2"]["managed_by"] == "reseller"
    assert web["cliente2"]["repository"] == "sftp:restic@backup01.fracto.test:/srv/restic/demo/cliente2"
    assert "cliente3" not in mail and desired["hosts"]["cloud02"]["backup_jobs"] == []


def test_dns_map(desired):
    dns = desired["dns"]
    assert dns["cliente1.test"] == {"host": "cloud01", "ipv4": None}
    assert dns["www.cliente1.test"] == dns["shop.cliente1.test"] == {"host": "cloud01", "ipv4": None}
    assert dns["xn--caff-8oa.test"] == dns["www.xn--caff-8oa.test"] == {"host": "cloud01", "ipv4": "198.51.100.10"}
    # Shared mail names stay on the host's main address; the dedicated mail address has its HELO name (A and PTR).
    assert dns["mail.dominioreseller.test"] == dns["webmail.dominioreseller.test"] == {"host": "mail01", "ipv4": None}
    assert dns["smtp-198-51-100-11.fracto.test"] == {"host": "mail01", "ipv4": "198.51.100.11", "ptr": True}
    assert dns["mail.cliente1.test"] == {"host": "mail01", "ipv4": None}
    assert dns["cliente3.test"] == {"host": "cloud02", "ipv4": None}
    for host in ("cloud01", "cloud02", "mail01"):
        assert dns["%s.fracto.test" % host]["host"] == host
    assert "legacy01.fracto.test" not in dns


def test_client_without_mail_is_not_on_the_mail_host(state, inventory):
    """A client whose package has no mail: mail_host is checked, but nothing of it lands on mail01."""
    state["fracto_packages"]["web"] = {"autossl": True, "backup": "reseller"}
    state["fracto_clients"] = {"cliente4": {"package": "web", "web_host": "cloud02", "mail_host": "mail01",
                                            "domains": {"cliente4.test": {}}}}
    del state["fracto_clients__cliente2"]
    desired = resolved(state, inventory)
    assert sorted(desired["hosts"]) == ["cloud02"]
    assert [j["side"] for j in desired["hosts"]["cloud02"]["backup_jobs"]] == ["web"]


def test_public_parts_carry_no_secret(desired):
    public = {k: desired[k] for k in ("reseller", "platform", "clients", "dns", "mail_dns")}
    assert SECRET_MARK not in json.dumps(public)
    assert "backup" not in desired["reseller"]
    # The host slices do carry them (roles need them): that is why resolve: true needs no_log.
    assert SECRET_MARK in json.dumps(desired["hosts"])


def test_a_helo_name_given_in_the_pool_goes_to_the_binding_and_the_dns_map(state, inventory):
    state["fracto_ip_pool"]["198.51.100.11"]["helo"] = "MX.Cliente1.test"
    desired = resolved(state, inventory)
    binding = by(desired["hosts"]["mail01"]["ip_bindings"], "address")["198.51.100.11"]
    assert binding["helo"] == "mx.cliente1.test"
    assert desired["dns"]["mx.cliente1.test"] == {"host": "mail01", "ipv4": "198.51.100.11", "ptr": True}
    assert "smtp-198-51-100-11.fracto.test" not in desired["dns"]
