#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: migration_report
short_description: Print the report of each migrated site and write it as text and JSON
version_added: 1.0.0
description:
  - Runs on the controller only (an action plugin).
  - Takes the results that C(playbooks/migrate_site.yml) gathered per site (preflight, files, database, config,
    smoke test, or the step that failed and why) and prints one block per site, with every C(OUTDATED) finding
    (for example Joomla 2.5, end of life since 2014-12-31) and every difference the smoke test found.
  - Says which step each site is at (C(step) in its JSON) - C(migrated) (copied and smoke-tested, DNS may move),
    C(cut over) (live on the new host, left as it is by later runs) or C(failed) (at the named step).
  - Writes C(migration-<client>.json) and C(migration-<client>.txt) per site into O(dest)
    (C(migration-plan-<client>.*) in check mode, where they are the plan of the migration). No secret is part of them.
extends_documentation_fragment:
  - fracto.hosting.controller
  - fracto.hosting.report
options:
  sites:
    description: The results per site.
    type: list
    elements: dict
    required: true
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Print and save the report of each site
  fracto.hosting.migration_report:
    sites: "{{ groups['fracto_web'] | map('extract', hostvars, 'fracto_migrate__sites') | flatten }}"
    dest: "{{ playbook_dir }}/../.fracto"
"""

RETURN = r"""
extends_documentation_fragment:
  - fracto.hosting.report
failed_sites:
  description: Clients whose migration failed, with the step.
  returned: always
  type: dict
outdated:
  description: Clients with an outdated CMS, with the findings.
  returned: always
  type: dict
cut_over:
  description: Clients whose site is cut over (live on the new host, not copied by this run), with the date of the cut-over.
  returned: always
  type: dict
paths:
  description: Documents written.
  returned: when O(dest) is set
  type: list
  elements: str
"""
