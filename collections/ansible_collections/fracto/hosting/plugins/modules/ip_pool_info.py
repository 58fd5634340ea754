#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ip_pool_info
short_description: Show the platform's dedicated IPv4 pool at a glance
version_added: 1.0.0
description:
  - Runs on the controller only (an action plugin); it validates the state like M(fracto.hosting.client_state) first.
  - Prints a table of C(fracto_ip_pool) as seen from the reseller of the inventory, free addresses,
    addresses per reseller and per host, and the clients of this reseller bound to each address
    (with the side, web or mail, they use it for); returns the same as data and writes it as JSON.
  - Bindings of other resellers are not in this inventory, so their addresses show as allocated.
options:
  dest:
    description: Directory on the controller where C(ip-pool-<reseller>.json) is written; nothing is written if unset.
    type: path
  show_free:
    description: List every free address on its own line instead of as ranges.
    type: bool
    default: false
extends_documentation_fragment:
  - fracto.hosting.controller
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Show the pool and write it as JSON
  fracto.hosting.ip_pool_info:
    dest: "{{ playbook_dir }}/../.fracto"
"""

RETURN = r"""
pool:
  description: The pool.
  returned: success
  type: dict
  contains:
    counts:
      description: Addresses by state (free, allocated, bound).
      type: dict
      sample: {free: 144, allocated: 3, bound: 3}
    per_reseller:
      description: Allocated addresses per reseller.
      type: dict
    per_host:
      description: Addresses per host that carries them.
      type: dict
    addresses:
      description: Each address with C(state), C(reseller), C(host), C(clients) and C(sides).
      type: list
      elements: dict
path:
  description: Path of the JSON document.
  returned: when O(dest) is set
  type: str
msg:
  description: The printed table.
  returned: always
  type: str
"""
