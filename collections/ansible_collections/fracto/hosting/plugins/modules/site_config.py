#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_config
short_description: Write a migrated site's config with the new database host, name, user and password
version_added: 1.0.0
description:
  - Takes the old host's config file (C(wp-config.php) or Joomla's C(configuration.php)), replaces the database
    host, name, user and password with the new ones and writes it into the docroot, owned by the client.
    Everything else in the file is kept as it was. Joomla's retired C(mysql) driver becomes C(mysqli).
  - The config is kept out of the file copy (M(fracto.hosting.site_sync)) and written only here, so a rerun with an
    unchanged source changes nothing, and a change of another file does not touch it.
  - The file is read and written by a child process running as the client's system user O(owner) (no
    supplementary group), so a symlink or directory the client swapped into its docroot only leads where the client
    itself could write. The file itself must not be a symlink. It gets mode 0640 and the group its directory gives
    (the docroot is setgid www-data).
  - Secrets never appear in the output, the diff or an error - the database password (old and new), WordPress's
    keys and salts (C(AUTH_KEY) ... C(NONCE_SALT)), Joomla's C($secret), C($smtppass), C($password), and every
    setting whose name looks like a secret (pass, secret, key, salt, token, auth...).
  - Holds the host's writer lock while it writes.
extends_documentation_fragment:
  - fracto.hosting.migrate.owner
  - fracto.hosting.migrate
  - fracto.hosting.host_files
options:
  path:
    description: The config file on this host.
    type: path
    required: true
  kind:
    description: The format of the file.
    type: str
    choices: [wordpress, joomla]
    required: true
  content:
    description: The old host's config file, as text; secret (it holds the old password, keys and salts).
    type: str
    required: true
  database:
    description: The new database settings.
    type: dict
    required: true
    suboptions:
      host:
        description: The database host seen from the site.
        type: str
        default: localhost
      name:
        description: The database.
        type: str
        required: true
      user:
        description: The database user.
        type: str
        required: true
      password:
        description: The database user's password.
        type: str
        required: true
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Rewrite wp-config.php for the new database
  fracto.hosting.site_config:
    path: /srv/www/cliente1/cliente1.test/public/wp-config.php
    kind: wordpress
    content: "{{ old_config.content | b64decode }}"
    database: {name: cliente1_db, user: cliente1_db, password: "{{ vault_cliente1_db_password }}"}
    owner: cliente1
    client: cliente1
"""

RETURN = r"""
summary:
  description: C({file, changed, notes}) for the migration report.
  returned: always
  type: dict
notes:
  description: Other settings the rewrite changed (for example Joomla's database driver).
  returned: always
  type: list
  elements: str
changes:
  description: The ledger entry of the file (none when it already had this content).
  returned: always
  type: list
  elements: dict
"""

import os
import posixpath
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.clientfs import ClientFsError, read_as, write_as
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.config import ConfigError, mask, public_settings, rewrite
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import (
    DATABASE,
    DATABASE_USER,
    FILE_NAME,
    HOST,
    InvalidValue,
    check_value,
    client_account,
    migrate_argument_spec,
    run_step,
)

MODE = 0o640
DB_HOST = re.compile(r"(?:%s)(?::[0-9]{1,5})?" % HOST.pattern)
CHECKED = ("client", "owner", "path")


def configure(module):
    p = module.params
    kind, path = p["kind"], p["path"]
    try:
        check_value("path", path)
        check_value("file", posixpath.basename(path), FILE_NAME, "a file name")
        uid, gid, _home = client_account(p["owner"])
        check_value("database.name", p["database"]["name"], DATABASE, "a database name: letters, digits and _")
        check_value("database.user", p["database"]["user"], DATABASE_USER, "a database user: letters, digits and _")
        check_value("database.host", p["database"]["host"], DB_HOST, "a host name or address, with an optional :port")
    except InvalidValue as exc:
        module.fail_json(msg=str(exc))
    try:
        wanted, notes = rewrite(p["content"], kind, p["database"])
    except ConfigError as exc:
        module.fail_json(msg="the config of the old site cannot be rewritten: %s" % exc)
    try:
        current = read_as(path, uid, gid)
    except ClientFsError as exc:
        module.fail_json(msg="cannot read %s as %s: %s" % (path, p["owner"], exc))
    text = current["text"] if current else None
    changes = []
    if text != wanted:
        before = public_settings(text, kind) if text else {}
        after = public_settings(wanted, kind)
        detail = ["%s: %s -> %s" % (k, before.get(k, "none"), after[k]) for k in sorted(after) if before.get(k) != after[k]]
        detail.append("password set")
        changes.append({"action": "create" if current is None else "change", "kind": "site_config", "id": path,
                        "client": p["client"], "detail": detail + notes})
    elif current["uid"] != uid or current["mode"] != MODE or current["nlink"] != 1:
        changes.append({"action": "change", "kind": "site_config", "id": path, "client": p["client"],
                        "detail": ["owner %s, mode %04o (rewritten as the client)" % (p["owner"], MODE)]})
    result = dict(changed=bool(changes), changes=changes, notes=notes)
    if module._diff and changes:
        result["diff"] = dict(before_header=path, after_header=path, before=mask(text, kind) or "", after=mask(wanted, kind))
    if changes and not module.check_mode:
        try:
            written = write_as(path, wanted, uid, gid, MODE)
        except (ClientFsError, OSError) as exc:
            module.fail_json(msg="cannot write %s as %s: %s" % (path, p["owner"], getattr(exc, "strerror", None) or exc))
        if written["uid"] != uid:  # pragma: no cover - the child runs as uid
            module.fail_json(msg="%s was not written as %s" % (path, p["owner"]))
    result["summary"] = {"file": os.path.basename(path), "changed": result["changed"], "notes": notes}
    return result


def main():
    module = AnsibleModule(
        argument_spec=migrate_argument_spec(owner=True, client=True, options=dict(
            path=dict(type="path", required=True),
            kind=dict(type="str", required=True, choices=["wordpress", "joomla"]),
            content=dict(type="str", required=True, no_log=True),
            database=dict(type="dict", required=True, options=dict(
                host=dict(type="str", default="localhost"),
                name=dict(type="str", required=True),
                user=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
            )),
        )),
        supports_check_mode=True,
    )
    run_step(module, CHECKED, "site_config", configure)


if __name__ == "__main__":
    main()
