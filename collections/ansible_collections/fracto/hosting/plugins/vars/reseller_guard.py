# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Refuse a reseller's state given as an inventory (-i), while the inventory loads (before anything is templated)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: reseller_guard
short_description: Refuse a reseller's state given as an inventory
version_added: 1.0.0
description:
  - A reseller's state is data written by the reseller (docs/security.md#inventories). It is read by
    M(fracto.hosting.client_state) from the directory given with C(-e fracto_reseller_dir=<dir>), never loaded as an
    Ansible inventory, whose variables Ansible would template and whose files it would parse (hosts, scripts).
  - This plugin stops a run, as the inventory loads, when an inventory source defines reseller state
    (C(fracto_reseller), C(fracto_packages), C(fracto_clients)), the sign that a reseller's directory was given with C(-i).
  - Enable it in C(ansible.cfg) with C(vars_plugins_enabled = ansible.builtin.host_group_vars, fracto.hosting.reseller_guard).
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
from ansible_collections.fracto.hosting.plugins.module_utils.state.origin import is_reseller_source, read_source


def ignored(name):
    """Ansible's own rule for the files an inventory directory skips (anything else it parses as an inventory)."""
    return IGNORED.search(to_bytes(name)) is not None


_SEEN = set()


class VarsModule(BaseVarsPlugin):
    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        real = os.path.realpath(path)
        if real in _SEEN or not os.path.isdir(real):
            return {}
        _SEEN.add(real)
        source = read_source(path, lambda name: loader.load_from_file(name, cache="none", unsafe=True), ignored)
        if is_reseller_source(source):
            raise AnsibleError("%s defines a reseller's state: a reseller's state is data, not an inventory; give its "
                               "directory with -e fracto_reseller_dir=%s, never with -i" % (source["path"], source["path"]))
        return {}
