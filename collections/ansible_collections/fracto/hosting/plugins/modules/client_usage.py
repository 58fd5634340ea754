#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: client_usage
short_description: Measure each client's disk use on a web host (files, logs, databases) against its quota
version_added: 1.0.0
description:
  - Measures, for each client of the web host, the space its home (C(/srv/www/<client>)), its logs
    (C(/srv/www/.logs/<client>)) and its MariaDB databases take, and compares the total with the package's
    C(web.disk_quota).
  - The platform's hosts have no per-user filesystem quota to enforce (containers on overlay, ext4 without quota
    mounts), so this is the fallback the platform documents; a client past its quota is returned in RV(over_quota),
    which the run's report lists under "needs attention". Nothing is written; runs the same in check mode.
  - du runs as root without following links (C(-P)) and without leaving the filesystem (C(-x)); the paths are rebuilt
    from client ids checked whole, never taken from the arguments.
options:
  users:
    description:
      - The clients' system users, as C(fracto_state.hosts[host].system_users) (client, home, disk_quota in bytes or
        null, databases the names of its databases).
    type: list
    elements: dict
    required: true
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Measure each client's disk use
  fracto.hosting.client_usage:
    users: "{{ fracto_state.hosts[inventory_hostname].system_users }}"
"""

RETURN = r"""
usage:
  description: Per client, bytes of files, logs, databases (per database), their total and its quota (or null).
  returned: always
  type: dict
over_quota:
  description: The clients past their quota, each with what it uses.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.web import usage


def main():
    module = AnsibleModule(
        argument_spec=dict(
            users=dict(type="list", elements="dict", required=True),
        ),
        supports_check_mode=True,
    )
    users = module.params["users"]
    try:
        usage.check_args(users)
    except Refused as exc:
        module.fail_json(msg="%s; nothing was measured" % exc)
    paths = [p for user in users for p in usage.paths_of(user["client"]).values() if os.path.isdir(p)]
    du_sizes = {}
    if paths:
        # du exits 1 when a path vanished or a directory is unreadable mid-walk: what it could measure still counts.
        rc, out, err = module.run_command(["du", "-s", "-x", "-P", "-B1", "--"] + paths)
        if rc not in (0, 1):
            module.fail_json(msg="du failed: %s" % err.strip())
        du_sizes = usage.parse_du(out)
    db_sizes = {}
    mariadb = module.get_bin_path("mariadb")
    if any(user.get("databases") for user in users) and mariadb:  # none yet: a plan for a new host
        # A measure is no reason to fail a converge: databases not measured count as 0, with a warning.
        rc, out, err = module.run_command([mariadb, "--batch", "--skip-column-names", "-e", usage.SCHEMA_SIZES])
        if rc == 0:
            db_sizes = usage.parse_schema_sizes(out)
        else:
            module.warn("the databases' sizes could not be read from MariaDB (counted as 0): %s" % err.strip())
    found, over = usage.usage(users, du_sizes, db_sizes)
    module.exit_json(changed=False, usage=found, over_quota=over)


if __name__ == "__main__":
    main()
