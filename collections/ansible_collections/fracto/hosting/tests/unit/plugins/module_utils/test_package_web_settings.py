# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A package's web settings (fracto_packages.<p>.web): whole values of a whitelist, validated with the state and
resolved onto the vhosts and PHP-FPM pools of the package's clients (module_utils/tunables.py)."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils import tunables
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from ansible_collections.fracto.hosting.plugins.module_utils.web import sites as web
from role_templates import web_templates

WEB = {"client_max_body_size": "64m", "php_ini": {"memory_limit": "256M", "upload_max_filesize": "64M",
                                                  "post_max_size": "64M", "max_execution_time": 120}}


def resolve(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    return resolve_state(model)


def test_the_packages_settings_reach_its_clients_vhosts_and_pools_only(state, inventory):
    state["fracto_packages"]["business"]["web"] = WEB
    hosts = resolve(state, inventory)["hosts"]
    sites = {s["name"]: s for s in hosts["cloud01"]["sites"]}
    assert sites["cliente2.test"]["client_max_body_size"] == "64m"
    assert sites["xn--caff-8oa.test"]["client_max_body_size"] == "64m"
    assert "client_max_body_size" not in sites["cliente1.test"]  # gdpr package: nginx's default
    pools = {p["name"]: p for p in hosts["cloud01"]["php_pools"]}
    assert pools["cliente2-8.3"]["php_ini"] == {"max_execution_time": "120", "memory_limit": "256M", "post_max_size": "64M",
                                                "upload_max_filesize": "64M"}
    assert "php_ini" not in pools["cliente1-8.2"]
    vhost = web.render_site(sites["cliente2.test"], None, templates=web_templates())
    assert "    client_max_body_size 64m;\n" in vhost


def test_the_packages_php_process_limit_reaches_its_clients_pools_only(state, inventory):
    state["fracto_packages"]["business"]["web"] = {"php_max_children": 12}
    pools = {p["name"]: p for p in resolve(state, inventory)["hosts"]["cloud01"]["php_pools"]}
    assert pools["cliente2-8.3"]["max_children"] == 12 and "php_ini" not in pools["cliente2-8.3"]
    assert "max_children" not in pools["cliente1-8.2"]
    render = web.render_pool
    assert "\npm.max_children = 12\n" in render(pools["cliente2-8.3"], "/srv/www/cliente2", templates=web_templates())
    assert "\npm.max_children = 5\n" in render(pools["cliente1-8.2"], "/srv/www/cliente1", templates=web_templates())


@pytest.mark.parametrize("value", [0, 101, -1, True, "ten", "5\npm = static", "5 ", 1.5])
def test_a_php_process_limit_outside_1_to_100_is_refused_on_the_controller_and_on_the_host(state, inventory, value):
    state["fracto_packages"]["business"]["web"] = {"php_max_children": value}
    _model, problems = validate_state(state, inventory)
    assert "fracto_packages.business.web.php_max_children: " + tunables.MAX_CHILDREN_RULE in problems.errors
    pool = {"client": "c1", "user": "c1", "version": "8.2", "name": "c1-8.2", "max_children": value}
    with pytest.raises(web.g.Refused) as refused:
        web.check_args([], [pool], [{"name": "c1", "client": "c1", "home": "/srv/www/c1"}], ["c1"])
    assert "php_pools[0].max_children" in str(refused.value) and tunables.MAX_CHILDREN_RULE in str(refused.value)


def test_a_client_override_replaces_the_packages_web_settings(state, inventory):
    state["fracto_packages"]["business"]["web"] = WEB
    state["fracto_clients__cliente2"]["cliente2"]["overrides"] = {"web": {"client_max_body_size": "256m"}}
    hosts = resolve(state, inventory)["hosts"]
    sites = {s["name"]: s for s in hosts["cloud01"]["sites"]}
    assert sites["cliente2.test"]["client_max_body_size"] == "256m"
    assert "php_ini" not in {p["name"]: p for p in hosts["cloud01"]["php_pools"]}["cliente2-8.3"]


def test_without_web_settings_the_resolved_state_is_as_before(state, inventory):
    hosts = resolve(state, inventory)["hosts"]
    assert all("client_max_body_size" not in s for s in hosts["cloud01"]["sites"])
    assert all("php_ini" not in p for p in hosts["cloud01"]["php_pools"])


@pytest.mark.parametrize("settings, expected", [
    ({"client_max_body_size": "2g"}, "fracto_packages.business.web.client_max_body_size: " + tunables.BODY_SIZE_RULE),
    ({"client_max_body_size": "64m;\n}\nserver {"}, "fracto_packages.business.web.client_max_body_size: "),
    ({"client_max_body_size": "64m\n"}, "fracto_packages.business.web.client_max_body_size: " + tunables.BODY_SIZE_RULE),
    ({"php_ini": {"memory_limit": "-1"}}, "fracto_packages.business.web.php_ini.memory_limit: must be a size"),
    ({"php_ini": {"max_execution_time": 0}}, "fracto_packages.business.web.php_ini.max_execution_time: must be a whole number"),
    ({"php_ini": {"open_basedir": "/"}}, "fracto_packages.business.web.php_ini.open_basedir: unknown PHP setting (allowed: "),
    ({"php_ini": {"auto_prepend_file": "/tmp/shell.php"}}, "fracto_packages.business.web.php_ini.auto_prepend_file: unknown"),
    ({"php_ini": "memory_limit=1G"}, "fracto_packages.business.web.php_ini: must be a mapping"),
    ({"nginx": "client_max_body_size 0;"}, "fracto_packages.business.web.nginx: unknown key (allowed: "),
    ("client_max_body_size 64m", "fracto_packages.business.web: must be a mapping"),
])
def test_a_bad_web_setting_is_refused_naming_the_field_and_the_rule(state, inventory, settings, expected):
    state["fracto_packages"]["business"]["web"] = settings
    _model, problems = validate_state(state, inventory)
    assert any(e.startswith(expected) for e in problems.errors), problems.errors


def test_a_bad_override_is_refused_at_the_clients_path(state, inventory):
    state["fracto_clients__cliente2"]["cliente2"]["overrides"] = {"web": {"client_max_body_size": "0"}}
    _model, problems = validate_state(state, inventory)
    assert "fracto_clients__cliente2.cliente2.overrides.web.client_max_body_size: " + tunables.BODY_SIZE_RULE in problems.errors
