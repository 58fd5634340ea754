# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration.site in the state: validation of domain and target_database, and what resolution gives the web host."""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state

SECRET_MARK = "UNIT-SECRET"
PREFIX = "fracto_clients.cliente1.migration.site"


def errors(state, inventory):
    return validate_state(state, inventory)[1].errors


def with_site(state, **site):
    state["fracto_clients"]["cliente1"]["migration"] = {"site": dict({"from": "legacy01", "path": "/home/c1/public_html/"}, **site)}
    return state


def test_defaults_first_domain_and_same_database(state, inventory):
    with_site(state, database="cliente1_wp")
    model, problems = validate_state(state, inventory)
    assert problems.errors == []
    site = model["clients"]["cliente1"]["migration"]["site"]
    assert site == {"from": "legacy01", "path": "/home/c1/public_html", "database": "cliente1_wp",
                    "domain": "cliente1.test", "target_database": "cliente1_wp"}


def test_subdomain_and_other_target(state, inventory):
    with_site(state, database="old_db", target_database="cliente1_wp", domain="Shop.Cliente1.test")
    model, problems = validate_state(state, inventory)
    assert problems.errors == []
    assert model["clients"]["cliente1"]["migration"]["site"]["domain"] == "shop.cliente1.test"


def test_target_database_must_be_the_clients(state, inventory):
    with_site(state, database="old_db")
    found = errors(state, inventory)
    assert found == [PREFIX + ".database: the site's database moves into 'old_db', which must be one of the client's "
                     "databases (databases: cliente1_wp)"]
    with_site(state, database="old_db", target_database="nope")
    assert errors(state, inventory)[0].startswith(PREFIX + ".target_database: the site's database moves into 'nope'")


def test_domain_must_be_a_vhost_of_the_client(state, inventory):
    with_site(state, domain="cliente3.test")
    assert errors(state, inventory) == [PREFIX + ".domain: cliente3.test is not a domain or subdomain of this client (domains:)"]
    with_site(state, domain="www.cliente1.test")  # an alias is served by its domain's vhost: name the domain
    assert "is not a domain or subdomain" in errors(state, inventory)[0]


def test_target_without_database_and_bad_names(state, inventory):
    with_site(state, target_database="cliente1_wp")
    assert errors(state, inventory) == [PREFIX + ".target_database: needs database (the old database to migrate)"]
    with_site(state, database="bad name;", target_database="cliente1_wp")
    assert errors(state, inventory)[0].startswith(PREFIX + ".database: must be the name of the old database")
    with_site(state, path="/")
    assert errors(state, inventory) == [PREFIX + ".path: must be /home/<account>[/...] or /var/www/<site>[/...] on the old host "
                                        "(account, site: [a-z0-9][a-z0-9._-]{0,31}; components [A-Za-z0-9._~+@-]; "
                                        "no '.', '..' or empty component)"]


def test_resolved_migration_on_the_web_host_without_secret(state, inventory):
    with_site(state, database="old_db", target_database="cliente1_wp", domain="shop.cliente1.test")
    model, problems = validate_state(state, inventory)
    assert problems.errors == []
    host = resolve_state(model)["hosts"]["cloud01"]
    [migration] = host["migrations"]
    assert migration["target_user"] == "cliente1_wp" and migration["names"] == ["shop.cliente1.test"]
    assert migration["docroot"] == "/srv/www/cliente1/shop.cliente1.test/public" and migration["tls"] == "custom"
    assert migration["user"] == "cliente1" and migration["php"] == "8.2"
    assert SECRET_MARK not in repr(migration)
