# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the site migration modules share (site_sync, site_database, site_config).

The options several of them take, documented once in the doc fragment fracto.hosting.migrate (the SSH connection
to the old host, the owner of what is written, the client of the ledger entries), and the command line that runs
a command on the old host over that connection.
"""

from __future__ import annotations

import shlex

from ansible_collections.fracto.hosting.plugins.module_utils.migrate.rsync import ssh_command


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


def remote_shell(params, command):
    """The shell command line that runs command (itself a shell command line) on params' source over SSH."""
    return " ".join(shlex.quote(part) for part in ssh_command(params["key"], params["known_hosts"]) + [params["source"], command])
