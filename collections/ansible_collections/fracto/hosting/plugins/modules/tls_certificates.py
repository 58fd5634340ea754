#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tls_certificates
short_description: Converge every certificate of a web host, ACME (AutoSSL) and commercial, in one call
version_added: 1.0.0
description:
  - Runs on the web host. For each certificate of O(certificates) it keeps C(<store>/<id>/fullchain.pem),
    C(privkey.pem) (mode 0600) and C(meta.json) up to date. C(<store>/<id>) is a symlink to a version
    directory under C(<store>/.versions/<id>/); a new certificate and its key are written whole into a new
    version, then the symlink is switched to it with one atomic rename, so a server never reads the key of one
    certificate beside the chain of another, even after a crash. The version replaced is kept (the rollback
    target), older ones are removed.
  - 'ACME certificates (C(source: acme)) are ordered over HTTP-01 with an ECDSA P-256 key, only when needed:
    no valid certificate, the wanted names changed, or less than O(renew_fraction) of its lifetime is left.
    A set of names that has a valid certificate is never ordered again otherwise.'
  - 'Domain control like cPanel''s AutoSSL (O(precheck)): before ordering, a random token is written into
    O(webroot) and fetched at C(http://<name>/.well-known/acme-challenge/<token>) through the system resolver.
    Names that fail are left out of the order and reported in RV(skipped_names); the others are still
    issued. When a valid certificate covers a name that now fails, that certificate is kept and the loss is
    reported in RV(coverage_reduced) (when its renewal is due, the reduced set is issued and still reported).'
  - On HTTP 429 or 503 from the CA the Retry-After is recorded in C(meta.json), so that no run orders that
    certificate again before then, and reported in RV(rate_limited); the other certificates go on. Orders run
    in parallel (O(concurrency)); one failing order never stops the others.
  - 'Commercial certificates (C(source: custom)) are checked again on the host (the key matches, the chain
    builds, every name is covered, valid now; a warning under O(validity_warning_days)) and then installed.
    A refused bundle leaves the installed files in place. ACME never orders a name a custom certificate covers.'
  - Certificates that are no longer wanted are archived under C(<store>/.archive/<id>-<timestamp>/) when their
    client is in O(clients) (or with O(prune=true)); those of clients gone from the state are kept and reported.
    Only the certificates this module recorded for the same O(reseller) are considered, so resellers can share
    a host and a store.
  - The module fails at the end, with every result, when a custom certificate is refused or an order failed,
    naming each certificate and the reason. No key is ever part of the output, the diff or an error.
  - 'After a run (not in check mode) the expiry of every installed certificate, per name and per id, and the outcome
    of the run per certificate (renewed, ok, failed) are written to C(fracto_tls_<reseller>.prom) in O(metrics_dir),
    the node_exporter textfile collector directory, when that directory exists and the content changed; the
    metric names are in C(monitoring/README.md). The file is an observation: it does not make the task changed.'
  - Ids, clients, names, the reseller and the paths are matched whole against whitelists before anything (a
    refusal names the option and the rule); the store, the accounts and the challenge root are written under the
    host-wide lock of the platform's writer modules.
requirements:
  - cryptography (python3-cryptography; 38 or later)
  - acme and josepy (python3-acme 2.1 or later), for ACME certificates
options:
  certificates:
    description:
      - Every certificate wanted on this host, as C(fracto.hosting.client_state) resolves them in
        C(fracto_state.hosts[host].certificates).
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: Identifier and directory name under O(store), for example C(cliente1.test) or C(cliente1-shop-ov).
        type: str
        required: true
      client:
        description: The client the certificate belongs to (C((reseller)) for the reseller's shared names).
        type: str
        required: true
      source:
        description: C(acme) for AutoSSL, C(custom) for a commercial certificate given in O(certificates[].cert).
        type: str
        required: true
        choices: [acme, custom]
      names:
        description:
          - 'The DNS names, lowercase, IDNs as punycode. C(acme): the names to order (at most 100, no wildcard).
            C(custom): the names it must cover (wildcards of the certificate count).'
        type: list
        elements: str
        required: true
      cert:
        description: The leaf certificate (PEM) of a custom certificate.
        type: str
      chain:
        description: The intermediates (PEM) of a custom certificate, each issued by the next one.
        type: str
      key:
        description: The private key (PEM, unencrypted) of a custom certificate. A secret, never shown.
        type: str
      fingerprint:
        description: SHA-256 fingerprint computed on the controller; informational, the bundle is checked again here.
        type: str
      not_after:
        description: Expiry computed on the controller; informational.
        type: str
  clients:
    description: The ids of every client present in the reseller's state.
    type: list
    elements: str
    required: true
  prune:
    description: Also archive the certificates of clients that are no longer in O(clients); they are kept otherwise.
    type: bool
    default: false
  reseller:
    description:
      - The reseller; names its ACME account (C(<account_dir>/<reseller>/)) and is recorded in each C(meta.json).
      - Required when an ACME certificate is wanted.
    type: str
  store:
    description: Directory of the certificates, one subdirectory per id.
    type: path
    default: /etc/fracto/tls
  webroot:
    description:
      - Webroot of the HTTP-01 challenges; files go to C(<webroot>/.well-known/acme-challenge/<token>), which nginx
        must serve on port 80 for every name, without redirect. Every directory above it must be traversable by
        nginx's workers (a warning says which one is not).
    type: path
    default: /var/lib/fracto/acme
  acme_directory:
    description: URL of the ACME directory. Required when an ACME certificate is wanted.
    type: str
  contact_email:
    description: Contact of the reseller's ACME account.
    type: str
  account_dir:
    description: Directory of the ACME accounts, C(<account_dir>/<reseller>/account.key) (ECDSA P-256) and C(account.json).
    type: path
    default: /etc/fracto/acme
  renew_fraction:
    description: Renew when less than this fraction of the certificate's lifetime is left (1.0 renews at every run).
    type: float
    default: 0.3333
  concurrency:
    description: Orders (and groups of prechecks) running in parallel.
    type: int
    default: 4
  precheck:
    description: Check the domain control of each name before ordering; names that fail are left out.
    type: bool
    default: true
  precheck_timeout:
    description: Seconds to wait for each precheck request.
    type: float
    default: 5.0
  order_timeout:
    description: Seconds to wait for the CA to validate and finalise one order.
    type: int
    default: 120
  validity_warning_days:
    description: Warn for each certificate with fewer days than this left.
    type: int
    default: 30
  metrics_dir:
    description:
      - The node_exporter textfile collector directory (Debian's C(prometheus-node-exporter)); nothing is written
        when it does not exist.
    type: path
    default: /var/lib/prometheus/node-exporter
attributes:
  check_mode:
    support: full
    description:
      - Reports what would be ordered, renewed, installed and removed, and writes nothing, contacts no CA. As no
        token can be written, the precheck only checks that each name resolves.
  diff_mode:
    support: full
    description: Before and after of each certificate that changes, as text (source, names, expiry); no key material.
  platform:
    support: full
    platforms: posix
    description: Runs on the web host (Debian 12).
notes:
  - Renewal information of the CA (ARI) is not used, as python3-acme 2.1 does not support it.
seealso:
  - module: fracto.hosting.host_state
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Converge the certificates of this web host
  fracto.hosting.tls_certificates:
    certificates: "{{ fracto_state.hosts[inventory_hostname].certificates }}"
    clients: "{{ fracto_state.clients | list }}"
    reseller: "{{ fracto_state.reseller.name }}"
    contact_email: "{{ fracto_state.reseller.contact_email }}"
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
  register: certs

- name: Force the renewal of every ACME certificate (lab)
  fracto.hosting.tls_certificates:
    certificates:
      - {id: cliente1.test, client: cliente1, source: acme, names: [cliente1.test, www.cliente1.test]}
    clients: [cliente1]
    reseller: demo
    acme_directory: https://acme.fracto.test:14000/dir
    renew_fraction: 1.0
"""

RETURN = r"""
changes:
  description: What changed (or would change), in the ledger format; C(keep) says why something due was not done.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: create, kind: certificate, id: cliente1.test, client: cliente1, detail: ["order: cliente1.test, www.cliente1.test"]}
    - {action: change, kind: certificate, id: cliente2.test, client: cliente2, detail: ["renewal due: 20d left of 90d"]}
    - {action: keep, kind: certificate, id: caffe.test, client: cliente2, detail: ["coverage reduced: ..."]}
present:
  description:
    - Ids whose files exist and are valid now; nginx serves TLS only for these.
    - In check mode, the ids that would be present after the run if the orders succeed.
  returned: always
  type: list
  elements: str
  sample: [cliente1.test, cliente1-shop-ov]
covered:
  description: For each id of RV(present), the DNS names its certificate covers.
  returned: always
  type: dict
  sample: {cliente1.test: [cliente1.test, www.cliente1.test, blog.cliente1.test]}
issued:
  description: ACME certificates issued (or that would be), new or for new names.
  returned: always
  type: list
  elements: str
renewed:
  description: ACME certificates renewed (or that would be) because their renewal was due.
  returned: always
  type: list
  elements: str
installed:
  description: Custom certificates installed (or that would be).
  returned: always
  type: list
  elements: str
removed:
  description: Certificates archived (or that would be) under C(<store>/.archive/).
  returned: always
  type: list
  elements: str
skipped_names:
  description: Names left out of an order, with the reason (precheck failure, covered by a custom certificate, ...).
  returned: always
  type: dict
  sample: {nothere.cliente1.test: "DNS: nothere.cliente1.test does not resolve (Name or service not known)"}
coverage_reduced:
  description: For each certificate, the names a valid certificate covered and the next one would not (or does not).
  returned: always
  type: dict
  sample: {cliente1.test: [blog.cliente1.test]}
rate_limited:
  description: Certificates not ordered because the CA asked to wait (429/503 Retry-After), now or in an earlier run.
  returned: always
  type: dict
  sample: {cliente2.test: retry after 3600 s}
refused:
  description: Custom certificates refused, with the reason; the installed files stay.
  returned: always
  type: dict
  sample: {cliente1-shop-ov: key does not match the certificate}
metrics_written:
  description: Whether the certificate metrics file was rewritten (its content changed); not in check mode.
  returned: when not in check mode
  type: bool
failed_orders:
  description: ACME orders that failed, with the reason (C(failed) itself is the task status).
  returned: always
  type: dict
  sample: {cliente2.test: "validation failed: www.cliente2.test: ..."}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.tls.run import run_module

CERTIFICATE_OPTIONS = dict(
    id=dict(type="str", required=True),
    client=dict(type="str", required=True),
    source=dict(type="str", required=True, choices=["acme", "custom"]),
    names=dict(type="list", elements="str", required=True),
    cert=dict(type="str"),
    chain=dict(type="str"),
    key=dict(type="str", no_log=True),
    fingerprint=dict(type="str"),
    not_after=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    certificates=dict(type="list", elements="dict", required=True, options=CERTIFICATE_OPTIONS, no_log=True),
    clients=dict(type="list", elements="str", required=True),
    prune=dict(type="bool", default=False),
    reseller=dict(type="str"),
    store=dict(type="path", default="/etc/fracto/tls"),
    webroot=dict(type="path", default="/var/lib/fracto/acme"),
    acme_directory=dict(type="str"),
    contact_email=dict(type="str"),
    account_dir=dict(type="path", default="/etc/fracto/acme"),
    renew_fraction=dict(type="float", default=0.3333),
    concurrency=dict(type="int", default=4),
    precheck=dict(type="bool", default=True),
    precheck_timeout=dict(type="float", default=5.0),
    order_timeout=dict(type="int", default=120),
    validity_warning_days=dict(type="int", default=30),
    metrics_dir=dict(type="path", default="/var/lib/prometheus/node-exporter"),
)


def check_args(params):
    """Refuse (argguard.Refused, naming the option and the rule) an id, client, name, reseller or path that does not fit
    its whitelist: ids name directories of the store, the reseller a directory of the ACME accounts, names go into
    CSRs, meta.json and the challenge prechecks."""
    g.reseller("reseller", params["reseller"], required=False)
    g.string_list("clients", params["clients"], g.client_id)
    for key in ("store", "webroot", "account_dir", "metrics_dir"):
        g.abs_path(key, params[key])
    for i, cert in enumerate(params["certificates"]):
        at = "certificates[%d]" % i
        g.safe_id(at + ".id", cert["id"])
        if cert["client"] != "(reseller)":
            g.client_id(at + ".client", cert["client"])
        g.string_list(at + ".names", cert["names"], g.cert_name)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    # certificates is no_log as a whole so that the invocation line in the host's journal leaves it out:
    # AnsibleModule logs a list of dicts as its repr(), where the newlines of a PEM key are escaped, and the
    # no_log value of certificates[].key alone would not be masked there. Every string of certificates is then
    # a no_log value (names, ids, clients...), which would mask them in the result too: only the keys stay.
    module.no_log_values = {c["key"] for c in module.params["certificates"] if c.get("key")}
    try:
        check_args(module.params)
    except g.Refused as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    run_module(module)  # the libraries, the run under the host-wide lock, the result (module_utils/tls/run.py)


if __name__ == "__main__":
    main()
