#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_sync
short_description: Pull a site's files from the old host with rsync over SSH, received as the client
version_added: 1.0.0
description:
  - Runs on the host that receives the site and pulls the old site into O(dest) with rsync over SSH, using the
    migration key O(key) and the pinned host keys of O(known_hosts) (an old host whose key is not there is refused).
  - The key is restricted on the old host to a read-only rsync of the site's directory O(path) (C(rrsync -ro), run as
    the owner of that directory); the module asks for the root of that directory.
  - The receiving rsync runs as the client's system user O(owner) (C(runuser)), so nothing is written where the
    client cannot write, whatever it changes in its tree during the copy. Nothing comes from the old host but
    content - no owner, group, permission, setuid bit, device or special file - and symlinks pointing out of the
    tree are left out (C(--safe-links)). Files get mode 0640 and directories 2750; what the client owns under
    O(dest) then gets the group O(group) (the web server's), set by root through directory handles opened
    without following symlinks.
  - Only what changed is transferred (rsync deltas); the target mirrors the source (files deleted there are deleted
    here). Files matching O(exclude) (the site's config, rewritten apart by M(fracto.hosting.site_config)) are
    neither copied nor deleted.
  - Holds the host's writer lock while it runs (two runs on one host do not write at once).
  - The source is only read.
extends_documentation_fragment:
  - fracto.hosting.migrate.ssh
  - fracto.hosting.migrate.owner
  - fracto.hosting.migrate
options:
  path:
    description: The site's directory on the old host (for messages; the key's forced command fixes it there).
    type: path
    required: true
  dest:
    description: The docroot that receives the site; it must exist and belong to O(owner) (C(site.yml) creates it).
    type: path
    required: true
  exclude:
    description: File names of the site's top directory that are left out.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Runs rsync with C(--dry-run) and reports what would be copied, created and deleted; writes nothing.
  diff_mode:
    support: partial
    description: The list of files is the difference; file contents are not shown.
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform, with rsync, ssh and runuser.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Copy the site's files
  fracto.hosting.site_sync:
    source: root@legacy01.fracto.test
    path: /home/cliente1/public_html
    dest: /srv/www/cliente1/cliente1.test/public
    key: /var/lib/fracto-migrate/cliente1.files
    known_hosts: /var/lib/fracto-migrate/known_hosts
    owner: cliente1
    exclude: [wp-config.php, configuration.php]
    client: cliente1
"""

RETURN = r"""
copied:
  description: Files transferred (new or changed), relative to the docroot.
  returned: always
  type: list
  elements: str
created:
  description: Directories and links created.
  returned: always
  type: list
  elements: str
deleted:
  description: Files deleted because they are gone from the source.
  returned: always
  type: list
  elements: str
attributes:
  description: Files whose owner, mode or time only was set (by rsync, or the group and setgid bit set afterwards).
  returned: always
  type: list
  elements: str
changes:
  description: The ledger entry of the copy (none when nothing changed).
  returned: always
  type: list
  elements: dict
"""

import grp
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.clientfs import ClientFsError, fix_tree, open_client_dir
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.rsync import DIR_MODE, changes, parse_itemized, rsync_command
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import InvalidValue, client_account, migrate_argument_spec, run_step

CHECKED = ("client", "owner", "group", "source", "path", "dest", "key", "known_hosts", "exclude")


def sync(module):
    p = module.params
    try:
        uid, _gid, _home = client_account(p["owner"])
        web_gid = grp.getgrnam(p["group"]).gr_gid
    except InvalidValue as exc:
        module.fail_json(msg=str(exc))
    except KeyError:
        module.fail_json(msg="group: %s does not exist" % p["group"])
    try:
        top = open_client_dir(p["dest"], uid)
    except ClientFsError as exc:
        module.fail_json(msg="the docroot %s is not a directory of %s: %s (apply site.yml first)" % (p["dest"], p["owner"], exc))
    try:
        command = rsync_command(p["source"], p["dest"], p["key"], p["known_hosts"], p["owner"], p["exclude"], dry_run=module.check_mode)
        rc, out, err = module.run_command(command, cwd="/")
        if rc != 0:
            module.fail_json(msg="rsync from %s:%s as %s failed (rc %d): %s"
                             % (p["source"], p["path"], p["owner"], rc, (err or out).strip()[-2000:]))
        result = parse_itemized(out)
        if not module.check_mode:
            fixed = fix_tree(top, uid, web_gid, DIR_MODE)
            known = set(result["attributes"]) | set(result["created"]) | set(result["copied"]) | {"./"}
            result["attributes"] += [name for name in fixed if name not in known]
    finally:
        os.close(top)
    entries = changes(result, p["client"], p["dest"], "%s:%s" % (p["source"], p["path"]))
    output = dict(result, changed=bool(entries), changes=entries)
    if module._diff and entries:
        output["diff"] = dict(before_header=p["dest"], after_header="%s:%s" % (p["source"], p["path"]),
                              before="", after="".join(line + "\n" for line in entries[0]["detail"][1:]))
    return output


def main():
    module = AnsibleModule(
        argument_spec=migrate_argument_spec(ssh=True, owner=True, client=True, options=dict(
            path=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            exclude=dict(type="list", elements="str", default=[]),
        )),
        supports_check_mode=True,
    )
    run_step(module, CHECKED, "site_sync", sync)


if __name__ == "__main__":
    main()
