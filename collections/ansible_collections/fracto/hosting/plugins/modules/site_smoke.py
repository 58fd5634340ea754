#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_smoke
short_description: Compare a migrated site on the new host with the old one, name by name, before DNS moves
version_added: 1.0.0
description:
  - For every name, requests C(/) from the old host and from the new host by address, with the name as Host header
    (and as SNI over HTTPS), and compares the status and the C(<title>). DNS is not used, so the check works before
    the names move.
  - The certificate of the new host is not verified here (the name may not have its certificate yet); only the content
    is compared.
  - Fails, naming each difference, when a name differs.
extends_documentation_fragment:
  - fracto.hosting.read_only
options:
  names:
    description: The names of the migrated vhost.
    type: list
    elements: str
    required: true
  old_address:
    description: Address of the old host.
    type: str
    required: true
  old_scheme:
    description: How the old host serves the site.
    type: str
    choices: [http, https]
    default: http
  new_address:
    description: Address of the new host as this host reaches it.
    type: str
    default: 127.0.0.1
  new_scheme:
    description: How the new host serves the site (https when its package gives it a certificate).
    type: str
    choices: [http, https]
    default: http
attributes:
  platform:
    support: full
    platforms: posix
    description: Any host that reaches both the old and the new host.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Compare the migrated site with the old one
  fracto.hosting.site_smoke:
    names: [cliente1.test, www.cliente1.test]
    old_address: legacy01.fracto.test
    new_scheme: https
"""

RETURN = r"""
results:
  description: 'One per name: C({name, old: {status, title}, new: {status, title}, match, differences}).'
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.smoke import compare, fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", required=True),
            old_address=dict(type="str", required=True),
            old_scheme=dict(type="str", choices=["http", "https"], default="http"),
            new_address=dict(type="str", default="127.0.0.1"),
            new_scheme=dict(type="str", choices=["http", "https"], default="http"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    results = [compare(name, fetch(p["old_address"], name, p["old_scheme"]), fetch(p["new_address"], name, p["new_scheme"]))
               for name in p["names"]]
    bad = [r for r in results if not r["match"]]
    if bad:
        module.fail_json(msg="the new site differs from the old one: %s"
                         % "; ".join("%s: %s" % (r["name"], ", ".join(r["differences"])) for r in bad), results=results)
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
