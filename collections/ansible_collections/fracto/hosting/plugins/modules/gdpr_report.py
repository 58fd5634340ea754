#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gdpr_report
short_description: Check every client against the GDPR policy on the real hosts and write the report per reseller
version_added: 1.0.0
description:
  - Runs on the controller only (an action plugin); the controller must reach the hosts' addresses over the network.
  - 'Probes, for every client: each of its names and webmail names over HTTPS (a TLS handshake with SNI set to
    the name, verified against O(ca_bundle) and checked to cover the name; then C(GET /) with the name as Host)
    and over HTTP (C(GET /), which must redirect to C(https://<name>/)); each of its mail names in clear
    (IMAP 143, POP3 110, SMTP 25 and 587: no plaintext authentication may be offered before TLS; a closed
    port passes) and over TLS (993, 995, 465: the certificate verifies for the name).'
  - Connects to the name's dedicated IPv4 when it has one, else to the address of its host (O(addresses));
    nothing is resolved through DNS and no login is ever attempted (POP3 gets a C(USER) of a probe name, never
    a C(PASS)).
  - Judges the backup requirement from the job records read on the hosts (O(evidence), from
    M(fracto.hosting.gdpr_evidence)) -- for every backup job of the client, a record with C(encrypted),
    C(outside_host), C(last_status=ok) and a C(last_success) within O(max_backup_age_hours).
  - Prints a summary and writes C(gdpr-<reseller>.json) and C(gdpr-<reseller>.md) into O(dest), with per client the
    package's claim, each requirement with its evidence, pass or fail and why, and the verdict (compliant / not
    compliant; for a package that does not claim GDPR the failures are informational).
  - Writes the same report as HTML pages rendered from the same document (no second evaluation, redacted the same way)
    with O(html_template) -- C(gdpr-<reseller>.html), the reseller's index, and C(gdpr-<reseller>/<client>.html), one
    page per client with that client's data only (the page a reseller hands to its client). Pages an earlier run left
    in C(gdpr-<reseller>/) for clients this run does not report are removed.
  - Never fails because a client is not compliant; the playbook decides with RV(failures).
extends_documentation_fragment:
  - fracto.hosting.controller
  - fracto.hosting.report
options:
  state:
    description: The resolved public state (C(fracto_state_public) from M(fracto.hosting.client_state)).
    type: dict
    required: true
  evidence:
    description:
      - What M(fracto.hosting.gdpr_evidence) returned, per inventory host (C(records), C(mail_settings)).
      - A host missing here has no job record, so its backup jobs fail the backup requirement.
    type: dict
    default: {}
  jobs:
    description:
      - The backup jobs of each host as the resolved state gives them, C(<client>.<side>) per host
        (C(fracto_state.hosts[host].backup_jobs) without their secrets).
      - When unset, each client with backups is expected to have a C(web) job on its web host and a C(mail) job on
        its mail host, the rule of C(client_state).
    type: dict
  addresses:
    description: The address the controller reaches each inventory host at, C(host -> IPv4).
    type: dict
    default: {}
  ca_bundle:
    description:
      - PEM file of the trust anchors certificates must chain to (in the lab, Pebble's root and the demo's
        commercial CA). The system's trust store when unset.
    type: path
  clients:
    description: Only these clients (all by default).
    type: list
    elements: str
  hsts_min_age:
    description: The smallest Strict-Transport-Security max-age accepted, in seconds (six months by default).
    type: int
    default: 15552000
  max_backup_age_hours:
    description: How old the last successful backup may be.
    type: int
    default: 48
  timeout:
    description: Timeout of each network probe, in seconds.
    type: float
    default: 10.0
  html_template:
    description:
      - Jinja2 template of the HTML pages, a file on the controller (the platform operator's; a reseller's state
        cannot set it). The collection's C(plugins/module_utils/gdpr/templates/gdpr.html.j2) when unset.
      - Rendered in a sandbox with autoescape on, once per page with C(page=index) or C(page=client); the values it is
        given are listed at its top. A template that does not compile fails before anything is probed; one that fails
        to render fails before anything is written; both name the file.
    type: path
notes:
  - The policy and every requirement's evidence are described in C(docs/gdpr.md).
seealso:
  - module: fracto.hosting.gdpr_evidence
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check every client against the GDPR policy and write the report
  fracto.hosting.gdpr_report:
    state: "{{ ansible_facts['fracto_state_public'] }}"
    evidence: "{{ dict(groups['all'] | zip(groups['all'] | map('extract', hostvars, 'gdpr__evidence'))) }}"
    jobs: {cloud01: [cliente1.web, cliente2.web], mail01: [cliente1.mail, cliente2.mail]}
    addresses: {cloud01: 198.51.100.21, mail01: 198.51.100.22}
    ca_bundle: /etc/ssl/certs/ca-certificates.crt
    dest: "{{ playbook_dir }}/../.fracto"
    html_template: /srv/platform/templates/gdpr.html.j2  # the operator's own pages (default: the collection's)
  register: gdpr__report
"""

RETURN = r"""
extends_documentation_fragment:
  - fracto.hosting.report
compliant:
  description: Clients that meet every requirement.
  returned: always
  type: list
  elements: str
  sample: [cliente1]
not_compliant:
  description: Clients that miss at least one requirement (with or without a GDPR claim).
  returned: always
  type: list
  elements: str
  sample: [cliente2, cliente3]
failures:
  description: The clients whose package claims GDPR and that are not compliant, with every reason.
  returned: always
  type: dict
  sample: {cliente1: ["cliente1.test: no Strict-Transport-Security header (HTTPS answered 200)"]}
paths:
  description: The documents written, in this order -- the JSON, the Markdown, the HTML index, then each client's page.
  returned: when O(dest) is set
  type: list
  elements: str
pages:
  description: The HTML pages written, and the pages of an earlier run that were removed.
  returned: when O(dest) is set
  type: dict
  contains:
    index:
      description: The reseller's index, C(gdpr-<reseller>.html).
      type: str
    clients:
      description: Each client's page, C(client -> <dest>/gdpr-<reseller>/<client>.html).
      type: dict
    removed:
      description: Pages of C(gdpr-<reseller>/) left by an earlier run for clients this run did not report.
      type: list
      elements: str
  sample:
    index: /srv/fracto/.fracto/gdpr-demo.html
    clients: {cliente1: /srv/fracto/.fracto/gdpr-demo/cliente1.html}
    removed: []
"""
