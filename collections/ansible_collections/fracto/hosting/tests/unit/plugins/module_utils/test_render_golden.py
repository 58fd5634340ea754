# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' default templates render, byte for byte, what the platform wrote before it had templates.

golden/cases.yml holds representative inputs (the demo's vhosts: PHP and static, ACME and commercial certificates,
redirects, HSTS, a dedicated address and its default server, a name left out of its certificate; pools; the mail
host's Dovecot, Postfix main.cf and master.cf with and without certificates, extra settings and sending transports;
webmail vhosts and Roundcube). The files under golden/ were written from them by the string-joining code the templates
replaced (module_utils/web/sites.py and mail/config.py before issue 18): a changed byte is a change the hosts see.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.web import sites as web
from role_templates import mail_templates, template_paths, web_templates

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
CASES = yaml.safe_load((GOLDEN / "cases.yml").read_text(encoding="utf-8"))
MAIL = CASES["mail"]
CERTS = {name: tuple(paths) for name, paths in MAIL["certs"].items()}


def golden(name):
    return (GOLDEN / name).read_text(encoding="utf-8")


def test_every_template_the_modules_render_is_one_the_roles_ship_and_pass():
    assert set(template_paths("fracto_web")) == set(web.TEMPLATES)
    assert set(template_paths("fracto_mail")) == set(mc.TEMPLATES)
    for path in list(template_paths("fracto_web").values()) + list(template_paths("fracto_mail").values()):
        assert path.is_file() and path.read_text(encoding="utf-8").endswith("\n"), path


@pytest.mark.parametrize("case", CASES["web_sites"], ids=[c["file"] for c in CASES["web_sites"]])
def test_vhost_is_rendered_as_before(case):
    cert = (case["cert"][0], case["cert"][1], set(case["cert"][2])) if case["cert"] else None
    text = web.render_site(case["site"], cert, case["reseller"], ip_default=case["ip_default"], templates=web_templates())
    assert text == golden(case["file"])


@pytest.mark.parametrize("case", CASES["php_pools"], ids=[c["file"] for c in CASES["php_pools"]])
def test_pool_is_rendered_as_before(case):
    assert web.render_pool(case["pool"], case["home"], case["reseller"], templates=web_templates()) == golden(case["file"])


def render_mail(case):
    templates = mail_templates()
    certs = CERTS if case.get("certs") else {}
    entry = next((w for w in MAIL["webmail_names"] if w["name"] == case.get("name")), None)
    what = case["what"]
    if what == "dovecot":
        return mc.render_dovecot(MAIL["hostname"], [m["name"] for m in MAIL["mail_names"]], certs, 5000, 5000, templates=templates)
    if what == "main":
        return mc.render_main(MAIL["hostname"], certs, case["extra"], templates=templates)
    if what == "master":
        transports = [tuple(t) for t in MAIL["transports"]] if case["transports"] else ()
        return mc.render_master(transports, templates=templates)
    if what == "webmail_vhost":
        return mc.render_webmail_vhost(entry, certs.get(entry["name"]), templates=templates)
    if what == "roundcube":
        return mc.render_roundcube(MAIL["webmail_names"], MAIL["des_key"], MAIL["hostname"], MAIL["ca_file"], templates=templates)
    assert what == "roundcube_host"
    mail_name = mc.mail_name_for(entry, MAIL["mail_names"], MAIL["hostname"], certs)
    return mc.render_roundcube_host(entry, mail_name, MAIL["ca_file"], templates=templates)


@pytest.mark.parametrize("case", MAIL["cases"], ids=[c["file"] for c in MAIL["cases"]])
def test_mail_configuration_is_rendered_as_before(case):
    assert render_mail(case) == golden(case["file"])


def test_the_whole_roundcube_and_webmail_file_sets_are_rendered_as_before():
    files = mc.roundcube_files(MAIL["webmail_names"], MAIL["mail_names"], MAIL["des_key"], MAIL["hostname"], CERTS,
                               MAIL["ca_file"], templates=mail_templates())
    assert files[mc.ROUNDCUBE_CONF] == golden("mail/config.inc.php")
    assert files["/etc/roundcube/fracto-webmail.cliente1.test.inc.php"] == golden("mail/fracto-webmail.cliente1.test.inc.php")
    vhosts = mc.nginx_files("/var/lib/fracto/acme", MAIL["webmail_names"], CERTS, templates=mail_templates())
    assert vhosts["/etc/nginx/fracto/sites/webmail.cliente1.test.conf"] == golden("mail/webmail.cliente1.test.conf")
