# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/render.py (the one place templates are rendered) and the override points it serves: the operator's
template files and settings (role variables), the package's whitelisted web settings (module_utils/tunables.py)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fracto.hosting.plugins.module_utils import render, tunables
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError, Templates
from ansible_collections.fracto.hosting.plugins.module_utils.web import sites as web
from role_templates import mail_templates, sources, web_templates

SITE = {"client": "c1", "name": "c1.test", "aliases": ["www.c1.test"], "user": "c1", "docroot": "/srv/www/c1/c1.test/public",
        "php": "8.2", "https_redirect": True, "hsts": True, "tls": "acme", "certificate": "c1.test", "ipv4": None}
CERT = ("/etc/fracto/tls/c1.test/fullchain.pem", "/etc/fracto/tls/c1.test/privkey.pem", {"c1.test", "www.c1.test"})
POOL = {"client": "c1", "user": "c1", "version": "8.2", "name": "c1-8.2"}


# --------------------------------------------------------------------------- the renderer

def test_a_template_renders_its_context_and_keeps_its_last_newline():
    templates = Templates({"t": "{% for n in names %}\n  {{ n }}\n{% endfor %}\nend\n\n"})
    assert templates.render("t", {"names": ["a", "b"]}) == "  a\n  b\nend\n\n"


def test_a_name_the_context_lacks_fails_naming_the_template():
    with pytest.raises(RenderError, match=r"template templates\.t: UndefinedError: 'nope' is undefined"):
        Templates({"t": "x {{ nope }}\n"}).render("t", {})


def test_a_template_that_does_not_compile_fails_naming_it():
    with pytest.raises(RenderError, match=r"template templates\.t: does not compile"):
        Templates({"t": "{% if %}"}).render("t", {})


def test_a_missing_template_fails_naming_it():
    assert Templates({"a": "x", "b": ""}).missing(["a", "b", "c"]) == ["b", "c"]
    with pytest.raises(RenderError, match=r"templates\.c: is missing"):
        Templates({}).render("c", {})
    with pytest.raises(RenderError, match="must be a mapping"):
        Templates(["x"])


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",          # the classic sandbox escape
    "{{ cycler.__init__.__globals__.os.system('id') }}",      # globals of a Jinja helper
    "{{ site.__class__ }}",
])
def test_the_sandbox_refuses_python_internals(source):
    with pytest.raises(RenderError, match="SecurityError|UndefinedError"):
        Templates({"t": source}).render("t", {"site": {"name": "x"}})


def test_without_jinja2_the_modules_fail_naming_the_package(monkeypatch):
    class Module:
        def fail_json(self, **kwargs):
            raise SystemExit(kwargs)

    monkeypatch.setattr(render, "HAS_JINJA2", False)
    with pytest.raises(SystemExit) as exc:
        render.require(Module(), {}, ("nginx_site",), "fracto_web")
    assert "python3-jinja2" in exc.value.args[0]["msg"] and "nothing was changed" in exc.value.args[0]["msg"]
    monkeypatch.setattr(render, "HAS_JINJA2", True)
    with pytest.raises(SystemExit) as exc:
        render.require(Module(), {"nginx_site": "x"}, ("nginx_site", "php_pool"), "fracto_web")
    assert exc.value.args[0]["msg"].startswith("templates.php_pool: missing (the role fracto_web passes")


# --------------------------------------------------------------------------- nginx: package and operator settings

def test_the_packages_client_max_body_size_is_in_every_server_that_serves_the_site():
    site = dict(SITE, aliases=["www.c1.test", "old.c1.test"], client_max_body_size="64m")  # old.c1.test: HTTP only
    text = web.render_site(site, CERT, templates=web_templates())
    servers = text.split("server {")[1:]
    assert [("return 301" in s, "client_max_body_size 64m;" in s) for s in servers] == [(True, False), (False, True), (False, True)]
    assert "client_max_body_size" not in web.render_site(SITE, CERT, templates=web_templates())  # nginx's default


def test_the_operators_nginx_lines_are_in_every_server_that_serves_the_site():
    extra, _ini = web.operator_settings("add_header X-Frame-Options SAMEORIGIN always;\n\nlocation = /robots.txt {\n"
                                        "    return 200 \"User-agent: *\\n\";\n}\n")
    assert extra == ["add_header X-Frame-Options SAMEORIGIN always;", "location = /robots.txt {",
                     "    return 200 \"User-agent: *\\n\";", "}"]
    text = web.render_site(SITE, CERT, server_extra=extra, templates=web_templates())
    assert text.count("    add_header X-Frame-Options SAMEORIGIN always;\n") == 1  # port 80 only redirects
    assert "\n    location = /robots.txt {\n        return 200" in text


@pytest.mark.parametrize("extra, php_ini, option", [
    ("gzip on;\x00", {}, "nginx_server_extra"),
    ("gzip on;\rroot /;", {}, "nginx_server_extra"),
    (["gzip on;"], {}, "nginx_server_extra"),
    ("", {"memory_limit]": "1G"}, "php_ini"),
    ("", {"memory_limit": "1G\nphp_admin_value[open_basedir] = /"}, "php_ini[memory_limit]"),
    ("", {"memory_limit": "1G]"}, "php_ini[memory_limit]"),
])
def test_the_operators_settings_stay_one_line_each(extra, php_ini, option):
    with pytest.raises(Refused) as exc:
        web.operator_settings(extra, php_ini)
    assert exc.value.option == option


def test_a_pool_gets_the_operators_ini_settings_and_the_packages_over_them():
    _extra, ini = web.operator_settings("", {"expose_php": False, "memory_limit": "128M", "date.timezone": "Europe/Madrid"})
    pool = dict(POOL, php_ini={"memory_limit": "256M", "max_execution_time": "60"})
    text = web.render_pool(pool, "/srv/www/c1", "demo", ini, templates=web_templates())
    assert text.endswith("php_admin_flag[log_errors] = on\n"
                         "php_admin_value[date.timezone] = Europe/Madrid\n"
                         "php_admin_value[expose_php] = Off\n"
                         "php_admin_value[max_execution_time] = 60\n"
                         "php_admin_value[memory_limit] = 256M\n")
    assert text.startswith("; managed by fracto.hosting web_sites: reseller=demo client=c1 php=8.2\n[c1-8.2]\n")


def test_an_operators_own_template_replaces_the_roles():
    own = dict(sources("fracto_web"), nginx_site="server {\n    server_name {{ ([site.name] + site.aliases) | join(' ') }};\n"
                                                 "    root {{ site.docroot }};\n}\n")
    text = web.render_site(SITE, CERT, "demo", templates=Templates(own))
    assert text == ("# managed by fracto.hosting web_sites: reseller=demo client=c1 site=c1.test tls=acme\n"
                    "server {\n    server_name c1.test www.c1.test;\n    root /srv/www/c1/c1.test/public;\n}\n")
    assert web.owner_of(text) == "c1" and web.reseller_of(text) == "demo"  # the first line stays the module's


# --------------------------------------------------------------------------- Postfix: the operator's parameters

def test_a_postfix_setting_replaces_the_templates_parameter_of_that_name():
    main = mc.render_main("mail01.fracto.test", {}, dict(mc.sender_settings(), message_size_limit=36700160),
                          templates=mail_templates())
    assert main.count("message_size_limit") == 1 and "\nmessage_size_limit = 36700160\n" in main
    assert main.endswith("mailbox_size_limit = 0\nmessage_size_limit = 36700160\n"
                         "sender_dependent_default_transport_maps = lmdb:/etc/postfix/fracto/sender_transports\n")


def test_a_postfix_setting_must_be_a_parameter_and_one_line():
    with pytest.raises(mc.safe.UnsafeValue, match="postfix_settings"):
        mc.render_main("mail01.fracto.test", {}, {"message_size_limit = 1\nmynetworks": "0.0.0.0/0"}, templates=mail_templates())
    with pytest.raises(mc.safe.UnsafeValue, match=r"postfix_settings\[mynetworks\]"):
        mc.render_main("mail01.fracto.test", {}, {"mynetworks": "127.0.0.0/8\nrelayhost = evil"}, templates=mail_templates())


# --------------------------------------------------------------------------- the package's web settings (tunables)

@pytest.mark.parametrize("value, ok", [
    ("64m", True), ("1g", True), ("1G", True), ("1024m", True), ("512k", True), ("99999", True), (1024, True), ("100000", False),
    ("2g", False), ("1025m", False), ("0", False), ("064m", False), ("64M ", False), ("64m\n", False), ("64mb", False),
    ("-1", False), ("64m;", False), ("1e6", False), (True, False), (None, False), ("", False),
])
def test_client_max_body_size_is_a_bounded_nginx_size(value, ok):
    assert (tunables.body_size_problem(value) is None) is ok


@pytest.mark.parametrize("name, value, ok", [
    ("memory_limit", "256M", True), ("memory_limit", "2G", True), ("memory_limit", "16M", True),
    ("memory_limit", "8M", False), ("memory_limit", "3G", False), ("memory_limit", "-1", False),
    ("upload_max_filesize", "64M", True), ("upload_max_filesize", "2G", False), ("post_max_size", "1G", True),
    ("max_execution_time", 60, True), ("max_execution_time", "3600", True), ("max_execution_time", "0", False),
    ("max_execution_time", "3601", False), ("max_execution_time", "60s", False),
    ("disable_functions", "", False), ("open_basedir", "/", False), ("auto_prepend_file", "/tmp/x.php", False),
])
def test_php_ini_settings_are_a_whitelist_with_a_grammar_each(name, value, ok):
    assert (tunables.php_ini_problem(name, value) is None) is ok


class Path(str):
    def __truediv__(self, key):
        return Path("%s.%s" % (self, key))


def test_web_settings_are_normalised_and_every_problem_names_its_field_and_rule():
    errors = []
    good = tunables.web_settings({"client_max_body_size": "64m", "php_ini": {"max_execution_time": 60, "memory_limit": "256M"}},
                                 lambda path, rule: errors.append((path, rule)), Path("web"))
    assert good == {"client_max_body_size": "64m", "php_ini": {"max_execution_time": "60", "memory_limit": "256M"}} and not errors
    bad = tunables.web_settings({"client_max_body_size": "10g", "php_ini": {"open_basedir": "/", "memory_limit": "1T"},
                                 "server_snippet": "root /;"}, lambda path, rule: errors.append((path, rule)), Path("web"))
    assert bad == {"php_ini": {}}
    assert sorted(errors) == [
        ("web.client_max_body_size", tunables.BODY_SIZE_RULE),
        ("web.php_ini.memory_limit", tunables.PHP_INI["memory_limit"][3]),
        ("web.php_ini.open_basedir", "unknown PHP setting (allowed: max_execution_time, memory_limit, post_max_size, "
                                     "upload_max_filesize)"),
        ("web.server_snippet", "unknown key (allowed: client_max_body_size, disk_quota, log_retention_days, log_truncate_ip, php_ini, "
                               "php_max_children)"),
    ]


@pytest.mark.parametrize("site, pool, option", [
    ({"client_max_body_size": "64m;\n}"}, {}, "sites[0].client_max_body_size"),
    ({"client_max_body_size": "9g"}, {}, "sites[0].client_max_body_size"),
    ({}, {"php_ini": {"auto_prepend_file": "/tmp/x"}}, "php_pools[0].php_ini.auto_prepend_file"),
    ({}, {"php_ini": {"memory_limit": "256M\nphp_admin_value[open_basedir] = /"}}, "php_pools[0].php_ini.memory_limit"),
    ({}, {"php_ini": "memory_limit = 1G"}, "php_pools[0].php_ini"),
])
def test_the_module_checks_the_package_settings_again_whole(site, pool, option):
    users = [{"name": "c1", "client": "c1", "home": "/srv/www/c1"}]
    site = dict(SITE, docroot="/srv/www/c1/c1.test/public", **site)
    with pytest.raises(Refused) as exc:
        web.check_args([site], [dict(POOL, **pool)], users, ["c1"], "demo")
    assert exc.value.option == option


def test_web_sites_fails_before_anything_without_its_templates(capsys, tmp_path):
    from ansible_collections.fracto.hosting.plugins.modules import web_sites

    args = {"sites": [], "users": [], "clients": [], "reseller": "demo", "_ansible_check_mode": True,
            "templates": {"nginx_site": "x"}}
    capsys.readouterr()
    with patch_module_args(args), pytest.raises(SystemExit):
        web_sites.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and result["msg"].startswith("templates.logrotate, templates.php_pool: missing")
