#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_inspect
short_description: Preflight of a site migration, on the old host (size, CMS and version, PHP, config, database)
version_added: 1.0.0
description:
  - Runs on the source host of a migration and changes nothing there.
  - Measures the site (bytes and files), finds its CMS and version (WordPress, Joomla, Drupal), says whether that
    version is outdated (for example Joomla 2.5, end of life since 2014-12-31), which PHP versions it runs on
    compared with those the platform offers and the one its new vhost runs, and which config files
    (C(wp-config.php), Joomla's C(configuration.php)) carry its database settings.
  - With O(database), checks that the database exists on the source and measures it (root over the unix socket).
  - Fails with a clear message when the path does not exist or is not a directory, when it goes through a symlink,
    or when it belongs to root or a system account (uid below O(min_uid)); a site's directory belongs to its client.
  - Files are read as the owner of the site's directory (a child process with that uid), never following a symlink
    as root; a symlink the old site planted towards another tenant's files or the host's reads nothing.
  - Returns the forced commands that restrict the migration keys on this host (RV(forced_commands)), built from
    whitelisted values - a read-only C(rrsync) of the site's directory run as its owner, and one C(mysqldump).
  - With O(read), reads only that file of the site's directory (as its owner) and returns it in RV(content). The
    task that asks for it must be C(no_log) (a config holds passwords).
extends_documentation_fragment:
  - fracto.hosting.read_only
options:
  path:
    description: The site's directory on this host.
    type: path
    required: true
  php_offered:
    description: The PHP versions the platform offers (C(fracto_platform.php_versions)).
    type: list
    elements: str
    default: []
  php_target:
    description: The PHP version of the vhost that receives the site; empty for a static vhost.
    type: str
  database:
    description: The site's database on this host.
    type: str
  read:
    description: Only read this file of the site's top directory (for example C(wp-config.php)) and return it.
    type: str
  owner:
    description:
      - The account of the old platform that must own the site's directory (for example the client's old user);
        a directory of another account is refused, so that a client cannot name another tenant's old site.
    type: str
  min_uid:
    description: The lowest uid of a client's user on this host; a directory owned by a lower uid is refused.
    type: int
    default: 1000
  rrsync:
    description: Where C(rrsync) is on this host (Debian's rsync package ships it).
    type: path
    default: /usr/bin/rrsync
  setpriv:
    description: Where C(setpriv) is on this host (util-linux).
    type: path
    default: /usr/bin/setpriv
  mysqldump:
    description: Where C(mysqldump) is on this host.
    type: path
    default: /usr/bin/mysqldump
  deny:
    description:
      - The URL paths the new vhost denies (the domain's C(deny) list); a C(.htaccess) denying every request to a
        directory under one of them is served by the vhost, not a finding.
    type: list
    elements: str
    default: []
attributes:
  platform:
    support: full
    platforms: posix
    description: The old platform's hosts (any POSIX host with Python 3).
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Inspect the old site
  fracto.hosting.site_inspect:
    path: /home/cliente1/public_html
    php_offered: ["8.2"]
    php_target: "8.2"
    database: cliente1_db
  delegate_to: legacy01
"""

RETURN = r"""
size_bytes:
  description: Bytes of the site's files.
  returned: always
  type: int
files:
  description: Number of files.
  returned: always
  type: int
uses_php:
  description: Whether the site has PHP files.
  returned: always
  type: bool
cms:
  description: The CMS found, C({name, version, file}), or null.
  returned: always
  type: dict
php_range:
  description: The PHP versions the site runs on, as text (for example C(5.2.4 to 5.6)), or null when unknown.
  returned: always
  type: str
findings:
  description:
    - What an operator must know, each C({level, text}); C(level) is C(outdated), C(warning) or C(info).
    - And one per rule of the site's C(.htaccess) files that the new vhost does not serve (nginx reads no C(.htaccess)),
      C(text) naming the file and line - C(exposed) for a rule that protected something (deny, password), C(htaccess)
      for the rest (rewrites, redirects, PHP settings, headers). A CMS front controller, dotfile denials and
      C(Options -Indexes) are served by the vhost and not listed.
  returned: always
  type: list
  elements: dict
config_files:
  description: The config files with database settings, each C({file, kind, settings}); C(settings) never holds the password.
  returned: always
  type: list
  elements: dict
database:
  description: The source database, C({name, tables, size_bytes}), when O(database) is set.
  returned: when database is set
  type: dict
owner:
  description: The owner of the site's directory, C({uid, gid, name}).
  returned: always
  type: dict
forced_commands:
  description: The forced commands of the migration keys, C({files, database}) (C(database) null without O(database)).
  returned: unless read is set
  type: dict
content:
  description: The file asked for with O(read), base64; secret.
  returned: when read is set
  type: str
"""

import base64
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused, string_list, url_path
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.clientfs import ClientFsError, read_as, read_many_as
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.dbcopy import DUMP_OPTIONS
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import (
    FILE_NAME,
    InvalidValue,
    check_value,
    dump_forced_command,
    files_forced_command,
)
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.survey import (
    READ_LIMIT,
    assess_site,
    database_facts,
    database_query,
    files_to_read,
    htaccess_findings,
    measure,
    site_owner,
)


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        php_offered=dict(type="list", elements="str", default=[]),
        php_target=dict(type="str"),
        database=dict(type="str"),
        read=dict(type="str"),
        owner=dict(type="str"),
        min_uid=dict(type="int", default=1000),
        rrsync=dict(type="path", default="/usr/bin/rrsync"),
        setpriv=dict(type="path", default="/usr/bin/setpriv"),
        mysqldump=dict(type="path", default="/usr/bin/mysqldump"),
        deny=dict(type="list", elements="str", default=[]),
    )


def checked_owner(module, p):
    """The owner of the site's directory ({uid, gid, name}) once every value is checked; fails the module otherwise."""
    root = p["path"]
    try:
        check_value("path", root)
        if p["database"] is not None:
            check_value("database", p["database"])
        if p["read"] is not None:
            check_value("read", p["read"], FILE_NAME, "a file name of the site's top directory")
        string_list("deny", p["deny"], url_path)
    except (InvalidValue, Refused) as exc:
        module.fail_json(msg="refused before anything was read: %s" % exc)
    if not os.path.exists(root):
        module.fail_json(msg="the source path %s does not exist" % root)
    if not os.path.isdir(root):
        module.fail_json(msg="the source path %s is not a directory" % root)
    try:
        owner = site_owner(root, p["min_uid"])
    except InvalidValue as exc:
        module.fail_json(msg=str(exc))
    if p["owner"] is not None and owner["name"] != p["owner"]:
        module.fail_json(msg="the source path %s belongs to %s, not to the client's old account %s: refused"
                         % (root, owner["name"] or "uid %d" % owner["uid"], p["owner"]))
    return owner


def exit_with_file(module, root, name, owner):
    """read=: one file of the site's top directory, read as its owner, returned base64-encoded."""
    try:
        found = read_as(os.path.join(root, name), owner["uid"], owner["gid"])
    except ClientFsError as exc:
        module.fail_json(msg="cannot read %s of %s as its owner: %s" % (name, root, exc))
    if found is None:
        module.fail_json(msg="%s/%s does not exist" % (root, name))
    module.exit_json(changed=False, owner=owner, content=base64.b64encode(found["text"].encode("utf-8")).decode("ascii"))


def require_tools(module, p):
    """The tools the migration key is restricted with must be on this host."""
    for tool in ("rrsync", "setpriv") + (("mysqldump",) if p["database"] else ()):
        if not os.access(p[tool], os.X_OK):
            module.fail_json(msg="%s is not installed on this host (%s): the migration key is restricted with it" % (tool, p[tool]))


def forced_commands(module, p, owner):
    """The commands the migration key is restricted to (files, and the database dump when there is one)."""
    try:
        return {"files": files_forced_command(p["path"], owner["uid"], owner["gid"], p["rrsync"], p["setpriv"], p["min_uid"]),
                "database": dump_forced_command(p["database"], p["mysqldump"], DUMP_OPTIONS) if p["database"] else None}
    except InvalidValue as exc:
        module.fail_json(msg=str(exc))


def database_size(module, database, result):
    """{name, tables, size_bytes} of the source database, read as root; fails the module (with result) otherwise."""
    rc, out, err = module.run_command(["mysql", "--batch", "--skip-column-names", "-e", database_query(database)])
    if rc != 0:
        module.fail_json(msg="cannot read the databases of the source as root: %s" % (err or out).strip(), **result)
    facts = database_facts(database, out)
    if facts is None:
        module.fail_json(msg="the source database %s does not exist" % database, **result)
    return facts


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    root = p["path"]
    owner = checked_owner(module, p)
    if p["read"] is not None:
        exit_with_file(module, root, p["read"], owner)

    require_tools(module, p)
    try:
        texts = read_many_as([os.path.join(root, name) for name in files_to_read()], owner["uid"], owner["gid"], READ_LIMIT)
    except ClientFsError as exc:
        module.fail_json(msg="cannot read the site as its owner: %s" % exc)
    size, files, uses_php, rules = measure(root)
    site = assess_site(lambda relative: texts.get(os.path.join(root, relative)), uses_php, p["php_offered"], p["php_target"])
    try:
        site["findings"] += htaccess_findings(root, rules, lambda paths: read_many_as(paths, owner["uid"], owner["gid"], READ_LIMIT),
                                              p["deny"])
    except ClientFsError as exc:
        module.fail_json(msg="cannot read the site's .htaccess files as its owner: %s" % exc)
    forced = forced_commands(module, p, owner)
    result = dict(changed=False, size_bytes=size, files=files, uses_php=uses_php, owner=owner, forced_commands=forced, **site)
    if p["database"]:
        result["database"] = database_size(module, p["database"], result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
