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
  - Passwords (old and new) never appear in the output, the diff or an error.
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
    description: The old host's config file, as text; secret (it holds the old password).
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

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.config import ConfigError, mask, public_settings, rewrite
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import migrate_argument_spec


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
    p = module.params
    kind, path = p["kind"], p["path"]
    try:
        wanted, notes = rewrite(p["content"], kind, p["database"])
    except ConfigError as exc:
        module.fail_json(msg="the config of the old site cannot be rewritten: %s" % exc)
    try:
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    try:
        uid, gid = pwd.getpwnam(p["owner"]).pw_uid, grp.getgrnam(p["group"]).gr_gid
    except KeyError as exc:
        module.fail_json(msg="unknown owner or group: %s" % exc)
    changes = []
    if current != wanted:
        before = public_settings(current, kind) if current else {}
        after = public_settings(wanted, kind)
        detail = ["%s: %s -> %s" % (k, before.get(k, "none"), after[k]) for k in sorted(after) if before.get(k) != after[k]]
        detail.append("password set")
        changes.append({"action": "create" if current is None else "change", "kind": "site_config", "id": path,
                        "client": p["client"], "detail": detail + notes})
    result = dict(changed=bool(changes), changes=changes, notes=notes)
    if module._diff and changes:
        result["diff"] = dict(before_header=path, after_header=path, before=mask(current, kind) or "", after=mask(wanted, kind))
    if changes and not module.check_mode:
        write_atomic(path, wanted, mode=0o640, owner=uid, group=gid)
    elif current is not None:
        stat = os.stat(path)
        if (stat.st_uid, stat.st_gid) != (uid, gid) or stat.st_mode & 0o7777 != 0o640:
            result["changed"] = True
            result["changes"] = [{"action": "change", "kind": "site_config", "id": path, "client": p["client"],
                                  "detail": ["owner %s:%s, mode 0640" % (p["owner"], p["group"])]}]
            if not module.check_mode:
                os.chown(path, uid, gid)
                os.chmod(path, 0o640)
    result["summary"] = {"file": os.path.basename(path), "changed": result["changed"], "notes": notes}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
