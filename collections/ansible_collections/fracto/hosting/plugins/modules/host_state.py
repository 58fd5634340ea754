#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state
short_description: Record a host's desired state and report what changes, per client
version_added: 1.0.0
description:
  - Compares the objects of the host's desired state (vhosts, certificates, mail domains, mailboxes,
    mail names, IP bindings, backup jobs; no secret among them) with the record of the last run kept on
    the host, and writes the new record atomically.
  - Returns the changes grouped as create, change, remove and keep; the plan of C(site.yml) is built from
    them. Objects of a client that left the state are kept, and reported, unless O(prune=true).
  - On a host shared by several resellers, fails without changing anything when the state takes a client id or
    an object (vhost, certificate, mailbox, ...) that another reseller's record on the host holds, since the
    client's system user, home, PHP pools and databases are named after its id. Reseller-level names both records
    hold (the host's generic mail and webmail names) are shared.
  - The reseller must be a slug and every client a client id (refused otherwise, nothing written); the record is
    read, compared and written under the host-wide lock of the platform's writer modules.
options:
  objects:
    description:
      - The host's objects, as C(fracto.hosting.client_state) returns them in C(fracto_state.hosts[host].ledger).
    type: dict
    required: true
  clients:
    description: The ids of every client present in the reseller's state.
    type: list
    elements: str
    required: true
  reseller:
    description: The reseller whose record this is; each reseller has its own record on a shared host.
    type: str
    required: true
  prune:
    description: Drop the objects of clients that are no longer in the state.
    type: bool
    default: false
  path:
    description: Directory of the records, one JSON file per reseller.
    type: path
    default: /var/lib/fracto/state
attributes:
  check_mode:
    support: full
    description: Reports the same changes and writes nothing.
  diff_mode:
    support: full
    description: The record before and after, as JSON without secrets.
  platform:
    support: full
    platforms: posix
    description: Runs on the managed host; the record is a file under O(path).
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Record the desired state of this host
  fracto.hosting.host_state:
    objects: "{{ fracto_state.hosts[inventory_hostname].ledger }}"
    clients: "{{ fracto_state.clients | list }}"
    reseller: demo
"""

RETURN = r"""
changes:
  description: Each change, with the client it belongs to.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: create, kind: vhost, id: shop.cliente1.test, client: cliente1, detail: []}
    - {action: change, kind: certificate, id: cliente1.test, client: cliente1, detail: ["+ blog.cliente1.test"]}
record:
  description: Path of the record file.
  returned: always
  type: str
  sample: /var/lib/fracto/state/demo.json
clashes:
  description: What the state would take from another reseller on this host (the run fails when any).
  returned: failure
  type: list
  elements: str
  sample: ["client id cliente1 is a client of reseller other here"]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import RESELLER, foreign_clashes, plan
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_writer


def read_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("objects", {})
    except FileNotFoundError:
        return {}


def check_args(params):
    """Refuse (argguard.Refused) a reseller that is not a slug (it names the record file), a client that is not a
    client id, a record directory that is not a plain absolute path."""
    g.reseller("reseller", params["reseller"])
    g.abs_path("path", params["path"])
    g.string_list("clients", params["clients"], g.client_id)
    for key, obj in sorted(params["objects"].items()):
        if not isinstance(obj, dict) or not isinstance(obj.get("attrs", {}), dict):
            raise g.Refused("objects[%s]" % key, "an object is a mapping of kind, id, client and attrs", None)
        if obj.get("client") != RESELLER:
            g.client_id("objects[%s].client" % key, obj.get("client"))


def render(objects):
    return json.dumps({"objects": objects}, indent=2, sort_keys=True) + "\n"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            objects=dict(type="dict", required=True),
            clients=dict(type="list", elements="str", required=True),
            reseller=dict(type="str", required=True),
            prune=dict(type="bool", default=False),
            path=dict(type="path", default="/var/lib/fracto/state"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    run_writer(module, "fracto.hosting.host_state", lambda: check_args(params), lambda: converge(module, params), params["reseller"])


def converge(module, params):
    """Compare with the records, refuse a clash, write this reseller's record; exits the module."""
    record_path = os.path.join(params["path"], "%s.json" % params["reseller"])
    try:
        recorded = read_record(record_path)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the record %s: %s" % (record_path, exc))
    try:
        others = {name[:-len(".json")]: read_record(os.path.join(params["path"], name))
                  for name in sorted(os.listdir(params["path"]) if os.path.isdir(params["path"]) else [])
                  if name.endswith(".json") and name != os.path.basename(record_path)}
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot read another reseller's record in %s: %s" % (params["path"], exc))
    clashes = foreign_clashes(params["objects"], others)
    if clashes:
        module.fail_json(msg="reseller %s: the state takes what another reseller has on this host, nothing was changed:"
                             " %s. Rename the client or the name, or let the other reseller remove it first (its"
                             " run with fracto_prune=true)." % (params["reseller"], "; ".join(clashes)),
                         clashes=clashes)
    changes, record = plan(recorded, params["objects"], params["clients"], params["prune"])
    before, after = render(recorded), render(record)
    changed = before != after
    result = dict(changed=changed, changes=changes, record=record_path)
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=record_path, after_header=record_path)
    if changed and not module.check_mode:
        write_atomic(record_path, after, mode=0o600, makedirs=True, dir_mode=0o700)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
