#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ip_bindings
short_description: Bind every dedicated IPv4 address of a host, live and persistently, in one call
version_added: 1.0.0
description:
  - Takes the C(ip_bindings) of the host's desired state (C(fracto.hosting.client_state) with C(resolve=true)) and
    adds each address live on the host's main interface as a /32 (C(ip addr replace)), and persistently in
    Debian's own network configuration, ifupdown, in one file per reseller
    (C(/etc/network/interfaces.d/fracto-<reseller>)), so that C(systemctl restart networking) or a reboot adds
    them again.
  - Each address is its own logical interface (C(eth0:6466)) with the C(manual) method whose C(up) command is
    C(ip addr replace); the main interface itself is never taken down or reconfigured, whatever configures it.
  - An address that no client uses any more is removed live and from the file. Only the addresses of this
    reseller's file are ever removed, never the host's main address (the default route's source, or any
    address that is not a /32).
  - For an address bound for mail, its reverse DNS is checked against its HELO name (PTR equal to the name and
    the name's A record back to the address); a mismatch is returned in RV(rdns_mismatch), which
    M(fracto.hosting.plan_report) shows under "needs attention". It does not fail the run.
  - The arguments are not trusted (the controller validates them first), so addresses, clients, sides, HELO names,
    the reseller (the file's name) and the interface are matched whole against whitelists, and the stanza writer
    refuses by itself any value with a space, newline, C(#) or C(;); nothing else ever reaches the file, whose
    C(up) and C(down) lines root's shell runs at boot. Changes are made under the host-wide lock.
options:
  bindings:
    description: The host's addresses (C(ip_bindings) of its resolved state).
    type: list
    elements: dict
    required: true
    suboptions:
      address:
        description: The IPv4 address.
        type: str
        required: true
      sides:
        description: What the clients use it for (C(web), C(mail)).
        type: list
        elements: str
        default: []
      clients:
        description: The clients bound to it.
        type: list
        elements: str
        default: []
      helo:
        description: The HELO name of mail sent from it (addresses bound for mail).
        type: str
  reseller:
    description: The reseller whose file this call writes; addresses of other resellers' files are never touched.
    type: str
    required: true
  interface:
    description: The interface that carries the addresses; the interface of the default route when empty.
    type: str
    default: ""
  config_dir:
    description: The directory ifupdown sources (C(source /etc/network/interfaces.d/*)).
    type: path
    default: /etc/network/interfaces.d
  check_rdns:
    description: Check the reverse DNS of the addresses bound for mail against their HELO name.
    type: bool
    default: true
extends_documentation_fragment:
  - fracto.hosting.host_files
notes:
  - Needs C(iproute2) and, for the persistence to take effect, C(ifupdown) (the role installs it).
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Bind the host's dedicated IPv4 addresses
  fracto.hosting.ip_bindings:
    bindings:
      - {address: 198.51.100.100, sides: [web], clients: [cliente2]}
      - {address: 198.51.100.102, sides: [mail], clients: [cliente2], helo: smtp-198-51-100-102.fracto.test}
    reseller: demo
"""

RETURN = r"""
changes:
  description: One line per address added or removed (kind C(ip_binding)), as M(fracto.hosting.plan_report) folds them.
  returned: always
  type: list
  elements: dict
  sample: [{action: create, kind: ip_binding, id: 198.51.100.100, client: cliente2,
            detail: ["added on eth0 as /32 (web), persistent in /etc/network/interfaces.d/fracto-demo"]}]
interface:
  description: The interface that carries the addresses.
  returned: always
  type: str
  sample: eth0
added:
  description: Addresses added live (would be, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Addresses removed live (would be, in check mode).
  returned: always
  type: list
  elements: str
path:
  description: The reseller's ifupdown file.
  returned: always
  type: str
rdns_mismatch:
  description: Address -> why its reverse DNS does not match its HELO name.
  returned: always
  type: dict
  sample: {198.51.100.102: "PTR of 198.51.100.102 is mail01.fracto.test, HELO name is smtp-198-51-100-102.fracto.test"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_writer
from ansible_collections.fracto.hosting.plugins.module_utils.net import bindings as nb
from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import rdns_problems, system_lookups
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def ip(module, *args):
    rc, out, err = module.run_command([module.get_bin_path("ip", required=True)] + list(args))
    return rc, out, err


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bindings=dict(type="list", elements="dict", required=True, options=dict(
                address=dict(type="str", required=True),
                sides=dict(type="list", elements="str", default=[]),
                clients=dict(type="list", elements="str", default=[]),
                helo=dict(type="str"),
            )),
            reseller=dict(type="str", required=True),
            interface=dict(type="str", default=""),
            config_dir=dict(type="path", default=nb.CONFIG_DIR),
            check_rdns=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    run_writer(module, "fracto.hosting.ip_bindings", lambda: nb.check_args(p["bindings"], p["reseller"], p["interface"], p["config_dir"]),
               lambda: converge(module, p), p["reseller"])


def main_interface(module, interface):
    """(interface, the default route's source address): the one given, else the default route's."""
    _rc, out, err = ip(module, "-4", "route", "show", "default")
    route_dev, source = nb.default_interface(out)
    interface = interface or route_dev
    if not interface:
        module.fail_json(msg="no interface given and no default route to find the main interface (%s)" % err.strip())
    try:
        nb.interface_checked(interface)
    except Refused as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    return interface, source


def live_addresses(module, interface):
    """[(address, prefix length)] live on the interface."""
    rc, out, err = ip(module, "-4", "-o", "addr", "show", "dev", interface)
    if rc != 0:
        module.fail_json(msg="ip addr show dev %s failed: %s" % (interface, err.strip()))
    return nb.parse_ip_addr(out)


def apply(module, path, before, after, interface, add, remove):
    """Write the file and add and remove the addresses; on a failure, put back the file and the addresses this call
    added, and fail the module."""
    tx = Transaction()

    def change():
        if before != after:
            if after:
                tx.write(path, after, makedirs=True)
            else:
                tx.remove(path)
        for address in add:
            name = nb.label(interface, address)
            rc, _out, err = ip(module, "-4", "addr", "replace", "%s/32" % address, "dev", interface, *(["label", name] if name else []))
            if rc != 0:
                raise RuntimeError("ip addr replace %s/32 dev %s failed: %s" % (address, interface, err.strip()))
            tx.undo(ip, module, "-4", "addr", "del", "%s/32" % address, "dev", interface)
        for address in remove:
            rc, _out, err = ip(module, "-4", "addr", "del", "%s/32" % address, "dev", interface)
            if rc != 0:
                raise RuntimeError("ip addr del %s/32 dev %s failed: %s" % (address, interface, err.strip()))

    failure = tx.run(change, errors=(RuntimeError, OSError), failed="%s")
    if failure:
        module.fail_json(msg="%s; the previous file and addresses were put back" % failure, changes=[])


def converge(module, p):
    """Plan and (unless check mode) apply; exits the module. Runs under the host lock when it writes."""
    bindings = p["bindings"]
    interface, source = main_interface(module, p["interface"])
    live = live_addresses(module, interface)
    protected = nb.main_addresses(live, source)
    wanted = [b["address"] for b in bindings if b["address"] not in protected]
    path = nb.config_path(p["reseller"], p["config_dir"])
    before = read(path)
    after = nb.render(p["reseller"], interface, [b for b in bindings if b["address"] in wanted])
    add, remove = nb.plan(wanted, live, nb.managed_addresses(before), protected)
    changes = nb.changes(bindings, add, remove, interface, path, nb.clients_of(before))
    rdns = rdns_problems({"addresses": bindings}, *system_lookups()) if p["check_rdns"] else {}
    result = dict(changed=bool(add or remove or before != after), changes=changes, interface=interface,
                  added=add, removed=remove, path=path, rdns_mismatch=rdns,
                  diff=dict(before_header="%s + addresses" % path, after_header="%s + addresses" % path,
                            before=before + nb.live_text(live, interface),
                            after=after + nb.live_text(nb.live_after(live, add, remove), interface)))
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    apply(module, path, before, after, interface, add, remove)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
