# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the site migration modules share (module_utils/migrate/step.py) against its doc fragment (fracto.hosting.migrate)."""

from __future__ import annotations

import pwd

import pytest
import yaml
from ansible_collections.fracto.hosting.plugins.doc_fragments.migrate import ModuleDocFragment
from ansible_collections.fracto.hosting.plugins.module_utils.migrate import step


def documented(fragment):
    options = yaml.safe_load(fragment)["options"]
    return {name: (o["type"], o.get("required", False), o.get("default")) for name, o in options.items()}


def specified(spec):
    return {name: (o["type"], o.get("required", False), o.get("default")) for name, o in spec.items()}


def test_shared_options_are_the_documented_ones():
    assert specified(step.migrate_argument_spec(ssh=True)) == documented(ModuleDocFragment.SSH)
    assert specified(step.migrate_argument_spec(owner=True)) == documented(ModuleDocFragment.OWNER)
    assert specified(step.migrate_argument_spec(client=True)) == documented(ModuleDocFragment.DOCUMENTATION)


def test_own_options_are_kept_and_each_call_gets_a_new_spec():
    own = {"path": {"type": "path", "required": True}}
    spec = step.migrate_argument_spec(ssh=True, owner=True, client=True, options=own)
    assert sorted(spec) == ["client", "group", "key", "known_hosts", "owner", "path", "source"]
    assert spec["key"]["no_log"] is False  # a path to a key, not a secret: its value may be logged
    spec["source"]["required"] = False
    assert step.migrate_argument_spec(ssh=True)["source"]["required"] is True
    assert step.migrate_argument_spec() == {}


def test_remote_argv_runs_the_command_on_the_source_over_the_migration_ssh_without_a_shell():
    params = {"source": "root@legacy01.fracto.test", "key": "/var/lib/fracto-migrate/c1.database", "known_hosts": "/kh"}
    command = "mysqldump --single-transaction -- c1_db"
    argv = step.remote_argv(params, command)
    assert argv == ["ssh", "-F", "/dev/null", "-i", "/var/lib/fracto-migrate/c1.database", "-p", "22",
                    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
                    "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
                    "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-o", "GlobalKnownHostsFile=/dev/null",
                    "-o", "UserKnownHostsFile=/kh", "-o", "ClearAllForwardings=yes", "-o", "PermitLocalCommand=no",
                    "--", "root@legacy01.fracto.test", "mysqldump --single-transaction -- c1_db"]
    with pytest.raises(step.InvalidValue):
        step.remote_argv(dict(params, source="-oProxyCommand=touch /tmp/x@legacy01"), command)


@pytest.mark.parametrize("name, value", [
    ("client", "cliente1\n"),            # re.match(...$) let a trailing newline through
    ("client", "Cliente1"),
    ("client", "-cliente1"),
    ("owner", "www data"),
    ("path", "/home/c1/../../etc"),
    ("path", "/home/c1/public_html/"),
    ("path", "/home/c1/public_html\n"),
    ("path", "home/c1"),
    ("path", "/home/c1/-rf"),
    ("path", '/home/c1/x" y'),
    ("dest", "/srv/www/c1/./public"),
    ("source", "-oProxyCommand=x@legacy01"),
    ("source", "root@legacy01 -oProxyCommand=x"),
    ("source", "root@legacy01\n"),
    ("source_database", "c1_db; DROP"),
    ("source_database", "-a"),
    ("target_database", "c1-db"),
    ("target_user", "root'@'%"),
])
def test_values_are_matched_whole_against_their_whitelist(name, value):
    with pytest.raises(step.InvalidValue, match=name):
        step.check_value(name, value)
    assert step.check_params({name: value}, [name]) != []


@pytest.mark.parametrize("name, value", [
    ("client", "cliente1"), ("owner", "cliente1"), ("path", "/home/cliente1/public_html"), ("dest", "/srv/www/c1/c1.test/public"),
    ("source", "root@legacy01.fracto.test"), ("source", "root@198.51.100.24"), ("source_database", "old-db_1"),
    ("target_database", "cliente1_db"), ("target_user", "cliente1_db"),
])
def test_plain_values_pass(name, value):
    assert step.check_value(name, value) == value


def test_exclude_entries_are_file_names():
    assert step.check_params({"exclude": ["wp-config.php", "configuration.php"]}, ["exclude"]) == []
    assert step.check_params({"exclude": ["../x", "a/b", "-r"]}, ["exclude"]) != []
    assert len(step.check_params({"exclude": ["../x", "a/b", "-r"]}, ["exclude"])) == 3


def test_client_account_refuses_root_and_system_accounts():
    def entry(uid, gid=None):
        return lambda name: pwd.struct_passwd((name, "x", uid, uid if gid is None else gid, "", "/srv/www/" + name, "/usr/sbin/nologin"))
    assert step.client_account("cliente1", entry(2001)) == (2001, 2001, "/srv/www/cliente1")
    for uid in (0, 33, 999, 65534):
        with pytest.raises(step.InvalidValue, match="system account"):
            step.client_account("www-data", entry(uid))
    with pytest.raises(step.InvalidValue, match="system account"):
        step.client_account("cliente1", entry(2001, 0))  # the root group

    def missing(name):
        raise KeyError(name)

    with pytest.raises(step.InvalidValue, match="does not exist"):
        step.client_account("nosuchuser", missing)


def test_the_files_key_may_only_read_the_site_as_its_owner():
    command = step.files_forced_command("/home/cliente1/public_html", 2101, 2101)
    assert command == ("/usr/bin/setpriv --reuid=2101 --regid=2101 --clear-groups --no-new-privs -- "
                       "/usr/bin/rrsync -ro /home/cliente1/public_html")
    assert step.key_options(command) == 'restrict,command="%s"' % command
    for uid, gid in ((0, 2101), (33, 33), (2101, 0), (65534, 65534)):
        with pytest.raises(step.InvalidValue):
            step.files_forced_command("/home/cliente1/public_html", uid, gid)
    for path in ("/", "/home/c1/../..", '/home/c1" ssh-ed25519 AAAA', "/home/c1/x;id"):
        with pytest.raises(step.InvalidValue):
            step.files_forced_command(path, 2101, 2101)


def test_the_database_key_may_only_dump_one_database():
    command = step.dump_forced_command("cliente1_db", options=("--single-transaction", "--quick"))
    assert command == "/usr/bin/mysqldump --single-transaction --quick -- cliente1_db"
    assert step.dump_forced_command("old$db").endswith("-- 'old$db'")  # the shell of the forced command expands nothing
    for name in ("x;id", "--all-databases", "a b", "db\n", "a'b", "a`id`"):
        with pytest.raises(step.InvalidValue):
            step.dump_forced_command(name)
    with pytest.raises(step.InvalidValue):
        step.key_options('x" ssh-rsa AAAA')


def test_as_user_runs_argv_as_the_client_without_a_shell():
    assert step.as_user("cliente1", ["mysql", "--", "db"]) == ["runuser", "-u", "cliente1", "--", "mysql", "--", "db"]
    with pytest.raises(step.InvalidValue):
        step.as_user("-froot", ["id"])
