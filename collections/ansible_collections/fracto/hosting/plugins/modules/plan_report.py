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
  - 'Then the DNS records each client publishes for its mail (C(mail_dns) of the state: MX, SPF, DMARC, TLS-RPT,
    MTA-STS; per branding, docs/mail.md; and the DKIM TXT record of each key the mail hosts returned in
    C(fracto_mail__result_server.dkim)), printed as zone file lines per client and written in the JSON document as
    C(mail_dns). With O(dns_check=true) each is resolved live and what is missing or different is listed under
    "needs attention" (never fatal; a resolver that fails is reported).'
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
  dns_check:
    description:
      - 'Resolve every mail DNS record live (dnspython) and list what is missing or different under "needs attention":
        an MX that is not among the most preferred exchangers, an SPF record without our mechanisms (or more than
        one), a DMARC, TLS-RPT or MTA-STS record without our tags. Other records and mechanisms of the client stay
        allowed.'
      - After 3 lookups in a row that fail (timeout, no server answers) the rest is not asked; that is reported too.
    type: bool
    default: false
  nameservers:
    description: The DNS servers O(dns_check) asks (addresses); the controller's resolver when empty.
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

- name: The same, with the clients' mail DNS records resolved through the lab DNS
  fracto.hosting.plan_report:
    state: "{{ fracto_state_public }}"
    dest: "{{ playbook_dir }}/../.fracto"
    dns_check: true
    nameservers: [198.51.100.20]
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
mail_dns:
  description: The mail DNS records each client publishes (C(client), C(domain), C(purpose), C(name), C(type), C(value);
    C(priority) of an MX, C(policy) text of an MTA-STS record); also in the JSON document.
  returned: always
  type: list
  elements: dict
  sample:
    - {client: cliente1, domain: cliente1.test, purpose: spf, name: cliente1.test, type: TXT,
       value: "v=spf1 a:mail.cliente1.test -all"}
attention:
  description: What needs an operator's attention (the live DNS check's findings among them), as printed.
  returned: always
  type: list
  elements: dict
path:
  description: Path of the JSON document.
  returned: when O(dest) is set
  type: str
"""
