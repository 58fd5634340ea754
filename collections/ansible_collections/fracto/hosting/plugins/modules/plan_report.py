#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plan_report
short_description: Print the plan (check mode) or the report of a run per client, and write it as JSON
version_added: 1.0.0
description:
  - Runs on the controller only (an action plugin).
  - 'Gathers the C(changes) of every result registered as C(<role>__result) or C(<role>__result_<concern>)
    (for example C(fracto_web__result_sites)) on the given hosts,
    groups them per client and prints one line per change, for example C(+ vhost shop.cliente1.test) or
    C(~ certificate cliente1.test: + blog.cliente1.test).'
  - In check mode this is the plan of the run; otherwise it is the report of what was done. The same
    content is written as JSON (C(plan-<reseller>.json) or C(report-<reseller>.json)) for CI.
  - 'Changes carry no secret: the modules that produce them never put one in.'
extends_documentation_fragment:
  - fracto.hosting.controller
  - fracto.hosting.report
options:
  state:
    description: The resolved state (C(fracto_state)), used for the reseller name and the list of services.
    type: dict
    required: true
  hosts:
    description: The hosts whose results are gathered; all inventory hosts by default.
    type: list
    elements: str
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Print and save the plan or the report of this run
  fracto.hosting.plan_report:
    state: "{{ fracto_state_public }}"
    dest: "{{ playbook_dir }}/../.fracto"
"""

RETURN = r"""
extends_documentation_fragment:
  - fracto.hosting.report
counts:
  description: Number of changes by action.
  returned: always
  type: dict
  sample: {create: 12, change: 1, remove: 0, keep: 0}
plan:
  description: The changes per client, each with its host and its printed line.
  returned: always
  type: dict
path:
  description: Path of the JSON document.
  returned: when O(dest) is set
  type: str
"""
