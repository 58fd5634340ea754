# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Refuse a reseller inventory that is not data only, while the inventory loads (before anything is templated)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: reseller_guard
short_description: Refuse a reseller inventory that sets anything but its state and secrets
version_added: 1.0.0
description:
  - A reseller's inventory is data written by the reseller (docs/security.md#inventories). This plugin reads each
    inventory source as it loads; a source that defines the reseller state (C(fracto_reseller), C(fracto_clients), ...)
    may only hold C(group_vars/all/) files with those keys and its own C(vault_*) secrets, templated at most as a plain
    C({{ vault_name }}) reference. Anything else (an Ansible or connection variable, a role variable, a host, a
    lookup) stops the run with every breach named, before any variable is templated or any host contacted.
  - Enable it in C(ansible.cfg) with C(vars_plugins_enabled = ansible.builtin.host_group_vars, fracto.hosting.reseller_guard);
    M(fracto.hosting.client_state) refuses to validate a reseller inventory this plugin did not check.
  - It adds no variable.
options:
  stage:
    ini:
      - key: stage
        section: fracto.hosting.reseller_guard
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
extends_documentation_fragment:
  - ansible.builtin.vars_plugin_staging
"""

import os

from ansible.errors import AnsibleError
from ansible.inventory.manager import IGNORED
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.vars import BaseVarsPlugin
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import Problems
from ansible_collections.fracto.hosting.plugins.module_utils.state.origin import (
    check_reseller_source,
    is_reseller_source,
    read_source,
)


def ignored(name):
    """Ansible's own rule for the files an inventory directory skips (anything else it parses as an inventory)."""
    return IGNORED.search(to_bytes(name)) is not None


CHECKED = set()  # real paths of the reseller sources checked in this process (client_state asks)
_SEEN = set()


class VarsModule(BaseVarsPlugin):
    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        real = os.path.realpath(path)
        if real in _SEEN or not os.path.isdir(real):
            return {}
        _SEEN.add(real)
        source = read_source(path, lambda name: loader.load_from_file(name, cache="none", unsafe=True), ignored)
        if not is_reseller_source(source):
            return {}
        problems = Problems()
        check_reseller_source(source, set(), problems)
        if problems.errors:
            raise AnsibleError("the reseller inventory %s is refused (%d errors):\n  - %s"
                               % (source["path"], len(problems.errors), "\n  - ".join(problems.errors)))
        CHECKED.add(real)
        return {}
