# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the site migration modules share (site_sync, site_database, site_config, site_inspect).

The options several of them take, documented once in the doc fragment fracto.hosting.migrate (the SSH connection
to the old host, the owner of what is written, the client of the ledger entries); the whitelist every value
coming from a reseller's state is checked against before it is used (whole-value matches, docs/security.md); the
client's system account the writers act as; and the forced commands that restrict the migration keys on the old
host (read-only rsync of the site's directory, one database dump).
"""

from __future__ import annotations

import posixpath
import pwd
import re
import shlex

from ansible_collections.fracto.hosting.plugins.module_utils import argguard, lock
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.rsync import ssh_command

# Whole-value whitelists (re.fullmatch: a trailing newline does not pass).
CLIENT_ID = argguard.CLIENT_ID
SYSTEM_USER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
GROUP = SYSTEM_USER
# An absolute path of plain components: no '..', '.', empty component, component starting with '-', quote,
# backslash, space, control character; at most 4096 characters.
PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))(?!-)[A-Za-z0-9._@+~-]+)+")
FILE_NAME = re.compile(r"(?!\.\.?$)(?!-)[A-Za-z0-9._@+~-]{1,255}")
HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
                  r"|\d{1,3}(?:\.\d{1,3}){3}")
SOURCE = re.compile(r"(?P<user>[a-z_][a-z0-9_-]{0,31})@(?P<host>%s)" % HOST.pattern)
# Database names and users on the target (what mariadb_databases creates) and on the old host (quoted where used).
DATABASE = re.compile(r"[A-Za-z0-9_]{1,64}")
SOURCE_DATABASE = re.compile(r"(?!-)[A-Za-z0-9_$-]{1,64}")  # quoted wherever a shell reads it
DATABASE_USER = re.compile(r"[A-Za-z0-9_]{1,80}")
# System accounts below this uid (and nobody) never receive a site: a client id named like one is refused.
MIN_CLIENT_UID = 1000
NOBODY_UID = 65534

VALIDATORS = {
    "client": (CLIENT_ID, "a client id: [a-z0-9][a-z0-9-]*, at most 31 characters"),
    "owner": (SYSTEM_USER, "a system user name: [a-z0-9][a-z0-9_-]*, at most 32 characters"),
    "run_as": (SYSTEM_USER, "a system user name: [a-z0-9][a-z0-9_-]*, at most 32 characters"),
    "group": (GROUP, "a group name: [a-z0-9][a-z0-9_-]*, at most 32 characters"),
    "path": (PATH, "an absolute path of plain components (letters, digits, . _ @ + ~ -; no '..', no leading '-')"),
    "dest": (PATH, "an absolute path of plain components (letters, digits, . _ @ + ~ -; no '..', no leading '-')"),
    "key": (PATH, "an absolute path of plain components"),
    "known_hosts": (PATH, "an absolute path of plain components"),
    "state_dir": (PATH, "an absolute path of plain components"),
    "source": (SOURCE, "user@host (a user name and a host name or IPv4 address)"),
    "source_database": (SOURCE_DATABASE, "a database name: letters, digits, _, $ and -, not starting with -, at most 64 characters"),
    "target_database": (DATABASE, "a database name: letters, digits and _, at most 64 characters"),
    "target_user": (DATABASE_USER, "a database user: letters, digits and _, at most 80 characters"),
    "database": (SOURCE_DATABASE, "a database name: letters, digits, _, $ and -, not starting with -, at most 64 characters"),
}


class InvalidValue(ValueError):
    """A value that does not match its whitelist; the message names the option and the rule (never a secret)."""


def check_value(name, value, pattern=None, rule=None):
    """Raise InvalidValue unless value matches its whitelist as a whole."""
    if pattern is None:
        pattern, rule = VALIDATORS[name]
    if not isinstance(value, str) or len(value) > 4096 or not pattern.fullmatch(value):
        raise InvalidValue("%s: %r is not %s" % (name, value if isinstance(value, str) and len(value) < 200 else "(value)", rule))
    if name in VALIDATORS and VALIDATORS[name][0] is PATH and posixpath.normpath(value) != value:
        raise InvalidValue("%s: %r is not a normalized absolute path" % (name, value))
    return value


def check_params(params, names):
    """Check every named option that is set; [] or the messages of the values refused."""
    errors = []
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            try:
                if name == "exclude":
                    check_value(name, item, FILE_NAME, "a file name of the site's top directory")
                else:
                    check_value(name, item)
            except InvalidValue as exc:
                errors.append(str(exc))
    return errors


def validate_module(module, names):
    """Fail the module, naming the option and the rule, when a value is outside its whitelist."""
    errors = check_params(module.params, names)
    if errors:
        module.fail_json(msg="refused before anything was done: %s" % "; ".join(errors))


def run_step(module, names, step, body):
    """A writing step's run: the values of names checked first (validate_module), then body(module) under the host lock
    (named after the step and the client, in check mode too), and the module exited with what body returned."""
    validate_module(module, names)
    module.exit_json(**lock.run_locked(module, "%s %s" % (step, module.params["client"]), lambda: body(module)))


def client_account(name, getpwnam=pwd.getpwnam):
    """(uid, gid, home) of the client's system user; refuses root, system accounts and nobody."""
    check_value("owner", name)
    try:
        entry = getpwnam(name)
    except KeyError:
        raise InvalidValue("owner: the system user %s does not exist (apply site.yml first)" % name) from None
    if entry.pw_uid < MIN_CLIENT_UID or entry.pw_uid == NOBODY_UID or entry.pw_gid == 0:
        raise InvalidValue("owner: %s is a system account (uid %d), not a client's user: nothing is written as it"
                           % (name, entry.pw_uid))
    return entry.pw_uid, entry.pw_gid, entry.pw_dir


def as_user(user, argv):
    """argv run as the client's system user (runuser: no shell, no login, the client's own groups)."""
    check_value("owner", user)
    return ["runuser", "-u", user, "--"] + list(argv)


def migrate_argument_spec(ssh=False, owner=False, client=False, options=None):
    """The argument_spec of a migration module: the shared options it asks for (ssh: source, key, known_hosts;
    owner: owner, group; client) and its own options. A new dict at each call."""
    spec = {}
    if ssh:
        spec.update(source=dict(type="str", required=True),
                    key=dict(type="path", required=True, no_log=False),
                    known_hosts=dict(type="path", required=True))
    spec.update(options or {})
    if owner:
        spec.update(owner=dict(type="str", required=True),
                    group=dict(type="str", default="www-data"))
    if client:
        spec.update(client=dict(type="str", required=True))
    return spec


def remote_argv(params, command):
    """The argv (no local shell) that runs command on params' source over the migration SSH.

    The key's forced command on the old host decides what really runs there; command is what it expects."""
    check_value("source", params["source"])
    return ssh_command(params["key"], params["known_hosts"]) + ["--", params["source"], command]


# Forced commands of the migration keys in the old host's authorized_keys. sshd runs them with the login user's
# shell: every value in them is whitelisted first (no quote, no space, no shell character can reach them).
KEY_RESTRICTIONS = "restrict"


def files_forced_command(path, uid, gid, rrsync="/usr/bin/rrsync", setpriv="/usr/bin/setpriv", min_uid=MIN_CLIENT_UID):
    """The key may only run a read-only rsync of path, as the owner of path (never as root on the old host)."""
    check_value("path", path)
    check_value("rrsync", rrsync, PATH, "an absolute path")
    check_value("setpriv", setpriv, PATH, "an absolute path")
    if path == "/":
        raise InvalidValue("path: / is not a site's directory")
    uid, gid = int(uid), int(gid)
    if uid < max(int(min_uid), 1) or uid == NOBODY_UID or gid == 0:
        raise InvalidValue("path: %s belongs to a system account (uid %d, gid %d), not to a client" % (path, uid, gid))
    return "%s --reuid=%d --regid=%d --clear-groups --no-new-privs -- %s -ro %s" % (setpriv, uid, gid, rrsync, path)


def dump_forced_command(database, mysqldump="/usr/bin/mysqldump", options=()):
    """The key may only dump this one database (root over the old host's socket, read only)."""
    check_value("source_database", database)
    check_value("mysqldump", mysqldump, PATH, "an absolute path")
    return " ".join([mysqldump] + list(options) + ["--", shlex.quote(database)])


def key_options(forced_command):
    """The options of a migration key's authorized_keys line: no shell, no forwarding, no pty, one command."""
    if '"' in forced_command or "\\" in forced_command or "\n" in forced_command:
        raise InvalidValue("forced command: quotes, backslashes and newlines are not allowed")
    return '%s,command="%s"' % (KEY_RESTRICTIONS, forced_command)
