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
    (with the side, web or mail, they use it for); returns the same as data and writes it as JSON
    (C(ip-pool-<reseller>.json) in O(dest)).
  - Bindings of other resellers are not in this inventory, so their addresses show as allocated.
  - An address bound for mail shows the HELO name its outgoing mail uses (C(smtp-<a>-<b>-<c>-<d>.<platform domain>)).
    With O(rdns), the reverse DNS of each of them is checked against that name (PTR equal to the HELO name, and
    the name's A record back to the address); a mismatch is shown and returned in RV(rdns_mismatch).
extends_documentation_fragment:
  - fracto.hosting.controller
  - fracto.hosting.report
options:
  show_free:
    description: List every free address on its own line instead of as ranges.
    type: bool
    default: false
  rdns:
    description: Check the reverse DNS of every address bound for mail against its HELO name (DNS queries, no host).
    type: bool
    default: false
  nameservers:
    description: Name servers to ask for O(rdns) (the lab DNS, for example); the controller's resolver if empty.
    type: list
    elements: str
    default: []
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Show the pool and write it as JSON
  fracto.hosting.ip_pool_info:
    dest: "{{ playbook_dir }}/../.fracto"

- name: Show the pool and check the reverse DNS of the mail addresses through the lab DNS
  fracto.hosting.ip_pool_info:
    rdns: true
    nameservers: [198.51.100.20]
"""

RETURN = r"""
extends_documentation_fragment:
  - fracto.hosting.report
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
      description: Each address with C(state), C(reseller), C(host), C(clients) and C(sides); C(helo) for an address
        bound for mail, and C(rdns) (empty when it matches) when O(rdns) is set.
      type: list
      elements: dict
rdns_mismatch:
  description: Address -> why its reverse DNS does not match its HELO name.
  returned: when O(rdns) is set
  type: dict
  sample: {198.51.100.102: "no PTR record for 198.51.100.102 (HELO name smtp-198-51-100-102.fracto.test)"}
path:
  description: Path of the JSON document.
  returned: when O(dest) is set
  type: str
"""
