# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options the site migration modules share; module_utils/migrate/step.py builds their argument_spec.
    # fracto.hosting.migrate: the client of the ledger entries (site_config, site_sync, site_database).
    DOCUMENTATION = r"""
options:
  client:
    description: The client, for the ledger entries.
    type: str
    required: true
"""

    # fracto.hosting.migrate.ssh: the SSH connection to the old host (site_sync, site_database).
    SSH = r"""
options:
  source:
    description: The old host as C(user@address); the module connects to it over SSH as that user and only reads there.
    type: str
    required: true
  key:
    description: The private key of the migration.
    type: path
    required: true
  known_hosts:
    description: The known_hosts file of migration connections, written from the pinned platform keys (an unknown host key fails).
    type: path
    required: true
"""

    # fracto.hosting.migrate.owner: the owner of what is written for the client (site_config, site_sync).
    OWNER = r"""
options:
  owner:
    description: The client's system user, owner of what the module writes.
    type: str
    required: true
  group:
    description: The group of what the module writes (the web server reads through it).
    type: str
    default: www-data
"""
