#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: client_state
short_description: Validate a reseller's client state and resolve it into per-host desired state
version_added: 1.0.0
description:
  - Runs on the controller only (an action plugin); it never contacts a managed host.
  - Reads the variables of the state contract, C(fracto_platform), C(fracto_ip_pool), C(fracto_reseller),
    C(fracto_packages), C(fracto_clients) and every C(fracto_clients__<part>) variable (one file per client;
    a client id defined twice is an error), templates them (vault values included) and validates every key
    and every rule of the contract.
  - 'All problems are reported at once, each with the path of the field and the rule it breaks, for example
    C(fracto_clients.gamma.domains["ALFA.test"]: name alfa.test is already claimed by client alfa).
    No value of a secret field (password, key) is ever printed.'
  - With O(resolve=true), packages, overrides and defaults are resolved into one desired state per
    inventory host, returned as the fact C(fracto_state) that the roles consume. That fact holds
    secrets, so the task must set C(no_log=true).
  - See C(docs/state.md) of the project for every key accepted.
options:
  resolve:
    description:
      - Return the resolved desired state as the fact C(fracto_state).
      - Requires C(no_log=true) on the task since the state carries passwords and keys.
    type: bool
    default: false
extends_documentation_fragment:
  - fracto.hosting.controller
attributes:
  check_mode:
    support: full
    description: Validation changes nothing; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Validate the reseller state without touching any host
  fracto.hosting.client_state:

- name: Resolve the desired state of every host
  fracto.hosting.client_state:
    resolve: true
  no_log: true
"""

RETURN = r"""
msg:
  description: One line saying whether the state is valid, with counts, or the list of errors.
  returned: always
  type: str
  sample: "the state of reseller demo is valid: 4 clients, 17 names, 2 hosts"
errors:
  description: 'Every problem found, as C(<path>: <rule>).'
  returned: failed
  type: list
  elements: str
clients:
  description: The ids of the clients of the state.
  returned: success
  type: list
  elements: str
hosts:
  description: The inventory hosts that serve at least one client.
  returned: success
  type: list
  elements: str
ansible_facts:
  description: The resolved state.
  returned: success and O(resolve=true)
  type: dict
  contains:
    fracto_state:
      description:
        - C(reseller), C(platform), C(clients) (a summary per client), C(dns) (each name and the host that
          serves it) and C(hosts), the desired state of each host (sites, certificates, mail domains,
          mailboxes, mail names, IP bindings, backup jobs and C(ledger), its secret-free objects).
      type: dict
"""
