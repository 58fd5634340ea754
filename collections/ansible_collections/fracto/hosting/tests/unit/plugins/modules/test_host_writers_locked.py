# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The writer modules of a shared host (issue 12): each refuses hostile arguments before anything else, and does its
writing only while it holds the host-wide lock (two resellers' runs on one host never interleave).

The modules' main() runs with patched arguments; the lock is replaced by one another run holds, so a module that
would write outside it reaches a patched writer (which fails the test) instead of the lock's timeout.
"""

from __future__ import annotations

import importlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args

MODULES = "ansible_collections.fracto.hosting.plugins.modules."
# web_sites needs its templates (the role passes them); these calls stop before anything is rendered.
WEB_TEMPLATES = {"nginx_site": "{# not rendered #}\n", "php_pool": "{# not rendered #}\n", "logrotate": "{# not rendered #}\n"}


def run(capsys, name, args, monkeypatch=None, patch=None, forbid=None):
    """The module's main() with args (and patch over its attributes); its writers (write_atomic, Transaction) forbidden."""
    module = importlib.import_module(MODULES + name)
    for attr, value in (patch or {}).items():
        monkeypatch.setattr(module, attr, value)
    if forbid is not None:
        forbid(module, *[attr for attr in ("write_atomic", "Transaction") if hasattr(module, attr)])
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


class FakePyMySQL:
    class MySQLError(Exception):
        pass

    @staticmethod
    def connect(**_kw):
        raise AssertionError("connected to MariaDB outside the lock")


def cases(tmp_path):
    return [
        ("web_sites", {"sites": [], "users": [], "php_pools": [], "clients": [], "reseller": "demo", "templates": WEB_TEMPLATES}, {}),
        ("ip_bindings", {"bindings": [], "reseller": "demo"}, {}),
        ("host_state", {"objects": {}, "clients": [], "reseller": "demo", "path": str(tmp_path)}, {}),
        ("tls_certificates", {"certificates": [], "clients": [], "reseller": "demo", "store": str(tmp_path / "tls"),
                              "account_dir": str(tmp_path / "acme"), "webroot": str(tmp_path / "webroot")}, {}),
        ("mariadb_databases", {"databases": [{"name": "c1_wp", "user": "c1_wp", "client": "c1"}],
                               "passwords": {"c1_wp": "db-UNIT-SECRET-9"}, "reseller": "demo",
                               "owners": str(tmp_path / "owners.json")}, {"pymysql": FakePyMySQL}),
        ("sftp_access", {"users": [], "clients": [], "reseller": "demo", "templates": {"sshd_sftp": "{# not rendered #}\n"}}, {}),
    ]


@pytest.mark.parametrize("index", range(6), ids=["web_sites", "ip_bindings", "host_state", "tls_certificates", "mariadb_databases",
                                                 "sftp_access"])
def test_every_writer_waits_for_the_host_lock_and_names_its_holder(held, forbid, capsys, monkeypatch, tmp_path, index):
    name, args, patch = cases(tmp_path)[index]
    result = run(capsys, name, args, monkeypatch, patch, forbid)
    assert result.get("failed") and "another run holds the host lock" in result["msg"], result
    assert held == [("fracto.hosting." + name, "demo")]
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert "UNIT-SECRET" not in json.dumps(result)


@pytest.mark.parametrize("name, args, option", [
    ("web_sites", {"sites": [], "users": [{"name": "www-data", "client": "www-data", "home": "/srv/www/www-data"}], "clients": []},
     "users[0].name"),
    ("web_sites", {"sites": [], "users": [{"name": "c1\n", "client": "c1\n", "home": "/srv/www/c1\n"}], "clients": []},
     "users[0].name"),
    ("ip_bindings", {"bindings": [{"address": "198.51.100.1", "clients": ["c1\n    up id"]}], "reseller": "demo"},
     "bindings[0].clients[0]"),
    ("ip_bindings", {"bindings": [], "reseller": "../../etc/x"}, "reseller"),
    ("host_state", {"objects": {}, "clients": [], "reseller": "../etc/passwd"}, "reseller"),
    ("tls_certificates", {"certificates": [{"id": "a.test\n", "client": "c1", "source": "acme", "names": ["a.test"]}],
                          "clients": ["c1"], "reseller": "demo"}, "certificates[0].id"),
    ("tls_certificates", {"certificates": [{"id": "a.test", "client": "c1", "source": "acme", "names": ["a.test\n"]}],
                          "clients": ["c1"], "reseller": "demo"}, "certificates[0].names[0]"),
    ("tls_certificates", {"certificates": [], "clients": [], "reseller": "../../root"}, "reseller"),
    ("mariadb_databases", {"databases": [{"name": "mysql", "user": "root", "client": "c1"}], "passwords": {"mysql": "x-UNIT-SECRET"},
                           "reseller": "demo"}, "databases[0].name"),
    ("sftp_access", {"users": [{"client": "root", "keys": []}], "clients": ["root"], "reseller": "demo",
                     "templates": {"sshd_sftp": "x"}}, "users[0].client"),
    ("sftp_access", {"users": [{"client": "c1", "password_hash": "$6$x$UNIT-SECRET:0:0::/root:/bin/sh"}], "clients": ["c1"],
                     "reseller": "demo", "templates": {"sshd_sftp": "x"}}, "users[0].password_hash"),
    ("sftp_access", {"users": [{"client": "c1", "keys": ['command="sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPzPFu+4sU9iYkzZnT3C6Brre6O+7IZR0UHDr5kl7Ih7']}],
                     "clients": ["c1"], "reseller": "demo", "templates": {"sshd_sftp": "x"}}, "users[0].keys[0]"),
])
def test_hostile_arguments_fail_the_module_before_the_lock_and_any_write(held, forbid, capsys, monkeypatch, name, args, option):
    result = run(capsys, name, args, monkeypatch, {"pymysql": FakePyMySQL} if name == "mariadb_databases" else None, forbid)
    assert result.get("failed") and result["msg"].startswith(option + " ") and "refused" in result["msg"], result
    assert "nothing was changed" in result["msg"]
    assert held == []  # refused before it even asked for the lock
    assert "UNIT-SECRET" not in json.dumps(result)


@pytest.mark.parametrize("gecos, home, uid", [
    ("Site admin,,,", "/home/c1", 1000),          # an existing login user that happens to have the client's id
    ("fracto client other", "/srv/www/c1", 1001),  # another reseller's client
    ("", "/srv/www/c1", 998),                      # a system account (uid below 1000)
])
def test_an_existing_user_the_platform_did_not_create_never_gets_a_pool(held, forbid, capsys, monkeypatch, gecos, home, uid):
    import collections

    account = collections.namedtuple("Account", "pw_name pw_uid pw_gid pw_gecos pw_dir pw_shell")
    existing = account("c1", uid, uid, gecos, home, "/bin/bash")
    site = {"client": "c1", "name": "c1.test", "aliases": [], "user": "c1", "docroot": "/srv/www/c1/c1.test/public", "php": "8.2",
            "https_redirect": False, "hsts": False, "tls": "none", "certificate": None, "ipv4": None}
    args = {"sites": [site], "users": [{"name": "c1", "client": "c1", "home": "/srv/www/c1"}],
            "php_pools": [{"client": "c1", "user": "c1", "version": "8.2", "name": "c1-8.2"}], "clients": ["c1"], "reseller": "demo",
            "_ansible_check_mode": True, "templates": WEB_TEMPLATES}
    from ansible_collections.fracto.hosting.plugins.module_utils.web import accounts

    monkeypatch.setattr(accounts, "account_of", lambda name: existing if name == "c1" else None)
    monkeypatch.setattr(accounts, "gid_of", lambda name: uid if name == "c1" else 33)
    result = run(capsys, "web_sites", args, monkeypatch, None, forbid)
    assert result.get("failed") and result["msg"].startswith("users[0].name c1 is refused"), result
    assert "php_pool" not in json.dumps(result)
