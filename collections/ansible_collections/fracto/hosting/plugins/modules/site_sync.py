#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_sync
short_description: Pull a site's files from the old host with rsync over SSH (deltas only, owned by the client)
version_added: 1.0.0
description:
  - Runs on the host that receives the site and pulls O(source):O(path) into O(dest) with rsync over SSH, using the
    migration key O(key) and its own known_hosts file O(known_hosts).
  - Only what changed is transferred (rsync deltas); the target mirrors the source (files deleted there are deleted
    here); every file is owned by O(owner):O(group) whatever its owner was on the old host (modes 2750 for directories, 0640 for files).
  - Files matching O(exclude) (the site's config, rewritten apart by M(fracto.hosting.site_config)) are neither
    copied nor deleted.
  - The source is only read.
extends_documentation_fragment:
  - fracto.hosting.migrate.ssh
  - fracto.hosting.migrate.owner
  - fracto.hosting.migrate
options:
  path:
    description: The site's directory on the old host.
    type: path
    required: true
  dest:
    description: The docroot that receives the site; it must exist (C(site.yml) creates it).
    type: path
    required: true
  exclude:
    description: Paths relative to the site's directory that are left out.
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
    description: Debian 12 hosts of the platform, with rsync and ssh.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Copy the site's files
  fracto.hosting.site_sync:
    source: root@legacy01.fracto.test
    path: /home/cliente1/public_html
    dest: /srv/www/cliente1/cliente1.test/public
    key: /root/.ssh/fracto-migrate
    known_hosts: /root/.ssh/fracto-migrate.known_hosts
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
  description: Files whose owner, mode or time only was set.
  returned: always
  type: list
  elements: str
changes:
  description: The ledger entry of the copy (none when nothing changed).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.rsync import changes, parse_itemized, rsync_command
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import migrate_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=migrate_argument_spec(ssh=True, owner=True, client=True, options=dict(
            path=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            exclude=dict(type="list", elements="str", default=[]),
        )),
        supports_check_mode=True,
    )
    p = module.params
    if not os.path.isdir(p["dest"]):
        module.fail_json(msg="the docroot %s does not exist: apply site.yml first" % p["dest"])
    command = rsync_command(p["source"], p["path"], p["dest"], p["key"], p["known_hosts"], p["owner"], p["group"],
                            p["exclude"], dry_run=module.check_mode)
    rc, out, err = module.run_command(command)
    if rc != 0:
        module.fail_json(msg="rsync from %s:%s failed (rc %d): %s" % (p["source"], p["path"], rc, (err or out).strip()[-2000:]))
    result = parse_itemized(out)
    entries = changes(result, p["client"], p["dest"], "%s:%s" % (p["source"], p["path"]))
    output = dict(result, changed=bool(entries), changes=entries)
    if module._diff and entries:
        output["diff"] = dict(before_header=p["dest"], after_header="%s:%s" % (p["source"], p["path"]),
                              before="", after="".join(line + "\n" for line in entries[0]["detail"][1:]))
    module.exit_json(**output)


if __name__ == "__main__":
    main()
