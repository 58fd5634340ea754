# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dedicated IPv4 addresses on a host: the ifupdown stanzas that make them persistent, and the plan.

Pure functions: the module reads the host (the managed file, the addresses on the interface) and passes
what it found in, so that the rendering and the plan are unit-tested without a host.

Persistence is Debian's own network configuration, ifupdown (what a Debian 12 server installs): one file
per reseller in /etc/network/interfaces.d/ with one logical interface per address (``eth0:6466``, the low
16 bits of the address in hex, so that a label stays under the kernel's 15 characters). Each uses the
``manual`` method with ``ip addr replace`` as its ``up`` command: bringing it up twice is harmless, an
address added live by the module before ifupdown knew it does not make ``ifup -a`` fail, and the host's
main interface is never taken down or reconfigured (it may be configured by anything else, as in a
container).
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g

MARK = "managed by fracto.hosting ip_bindings"
CONFIG_DIR = "/etc/network/interfaces.d"
SIDES = ("web", "mail")
# What may appear in an ifupdown file's value: no space, newline, '#', ';' or quote (an `up` line is run by sh).
_STANZA_VALUE = re.compile(r"[A-Za-z0-9._:/-]+")
_ADDRESS = re.compile(r"^\s*up ip -4 addr replace (\d+\.\d+\.\d+\.\d+)/32 ", re.M)


def check_args(bindings, reseller, interface=None, config_dir=CONFIG_DIR):
    """Refuse (argguard.Refused, naming the option and the rule) any value that does not fit its whitelist.

    Everything here ends in an ifupdown file whose `up`/`down` lines are shell commands run as root at boot: an
    address is a dotted quad, a client a client id, a HELO name a DNS name, the reseller a slug (the file's name),
    the interface a kernel interface name; a newline, a space or a ';' never passes.
    """
    g.reseller("reseller", reseller)
    g.abs_path("config_dir", config_dir)
    if interface:
        g.interface("interface", interface)
    for i, binding in enumerate(bindings):
        at = "bindings[%d]" % i
        g.ipv4(at + ".address", binding.get("address"))
        g.string_list(at + ".clients", binding.get("clients") or [], g.client_id)
        for j, side in enumerate(binding.get("sides") or []):
            if side not in SIDES:
                raise g.Refused("%s.sides[%d]" % (at, j), "one of %s" % ", ".join(SIDES), side)
        if binding.get("helo") is not None:
            g.dns_name(at + ".helo", binding["helo"])


def interface_checked(interface):
    """The interface the addresses go on (given or the default route's), once it fits the whitelist."""
    return g.interface("interface", interface)


def _value(value):
    """value, once it is known to be safe in an ifupdown file (the writer's own last check)."""
    if not isinstance(value, str) or not _STANZA_VALUE.fullmatch(value):
        raise g.Refused("an ifupdown value", "only A-Z, a-z, 0-9, '.', '_', ':', '/', '-' go into ifupdown files", value)
    return value


def config_path(reseller, config_dir=CONFIG_DIR):
    return "%s/fracto-%s" % (config_dir.rstrip("/"), g.reseller("reseller", reseller))


def label(interface, address):
    """The address's label on the interface, <interface>:<low 16 bits in hex>; None when that would pass the
    kernel's 15 characters (a long interface name): the address then goes without a label."""
    name = "%s:%04x" % (interface, int(ipaddress.IPv4Address(address)) & 0xFFFF)
    return name if len(name) <= 15 else None


def iface_name(interface, address):
    """The logical interface of the address in ifupdown: its label, or fracto-<hex> without one."""
    return label(interface, address) or "fracto-%04x" % (int(ipaddress.IPv4Address(address)) & 0xFFFF)


def _describe(binding):
    clients = ", ".join(_value(c) for c in binding.get("clients") or [])
    sides = "+".join(_value(s) for s in binding.get("sides") or [])
    helo = "  HELO %s" % _value(binding["helo"]) if binding.get("helo") else ""
    return "%s (%s)%s" % (clients, sides, helo)


def render(reseller, interface, bindings):
    """The ifupdown file of one reseller's addresses on this host; empty string when it has none."""
    if not bindings:
        return ""
    out = ["# %s: reseller=%s\n" % (MARK, _value(reseller)),
           "# The reseller's dedicated IPv4 addresses on %s (/32, beside the main address).\n" % _value(interface),
           "# `systemctl restart networking` (ifdown -a; ifup -a) adds them again; the main interface is not touched.\n"]
    for binding in sorted(bindings, key=lambda b: ipaddress.IPv4Address(b["address"])):
        address = g.ipv4("address", binding["address"])
        name = _value(iface_name(interface, address))
        tag = " label %s" % name if label(interface, address) else ""
        out += ["\n# %s: %s\n" % (address, _describe(binding)),
                "auto %s\n" % name,
                "iface %s inet manual\n" % name,
                "    up ip -4 addr replace %s/32 dev %s%s\n" % (address, interface, tag),
                "    down ip -4 addr del %s/32 dev %s || true\n" % (address, interface)]
    return "".join(out)


def managed_addresses(content):
    """The addresses a managed file puts on the host (those this reseller may remove)."""
    if not content or MARK not in content.split("\n", 1)[0]:
        return []
    return sorted(set(_ADDRESS.findall(content)), key=ipaddress.IPv4Address)


def parse_ip_addr(output):
    """`ip -4 -o addr show dev X` -> [(address, prefixlen)]."""
    found = []
    for line in output.splitlines():
        match = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/(\d+)", line)
        if match:
            found.append((match.group(1), int(match.group(2))))
    return found


def default_interface(route_output):
    """`ip -4 route show default` -> (interface, preferred source address or None)."""
    for line in route_output.splitlines():
        words = line.split()
        if words[:1] == ["default"] and "dev" in words:
            dev = words[words.index("dev") + 1]
            src = words[words.index("src") + 1] if "src" in words else None
            return dev, src
    return None, None


def main_addresses(live, source=None):
    """The addresses that are never removed: the route's source, and every address that is not a /32."""
    return {a for a, prefix in live if prefix != 32} | ({source} if source else set())


def plan(wanted, live, managed, protected):
    """(add, remove): addresses to add live, and managed addresses no client uses any more.

    Only addresses of this reseller's managed file are ever removed, never a protected (main) one.
    """
    live_set = {a for a, _prefix in live}
    wanted_set = set(wanted)
    add = sorted((a for a in wanted_set if a not in live_set), key=ipaddress.IPv4Address)
    remove = sorted((a for a in set(managed) - wanted_set if a in live_set and a not in protected), key=ipaddress.IPv4Address)
    return add, remove


def live_text(live, interface):
    """The addresses live on the interface, one line each in address order (the live part of the module's diff)."""
    return "".join("live on %s: %s/%d\n" % (interface, a, n) for a, n in sorted(live, key=lambda x: ipaddress.IPv4Address(x[0])))


def live_after(live, add, remove):
    """What is live on the interface once the plan (add, remove) is applied."""
    return [x for x in live if x[0] not in remove] + [(a, 32) for a in add]


def owner(binding, reseller_mark="(reseller)"):
    clients = binding.get("clients") or []
    return clients[0] if len(clients) == 1 else reseller_mark


def changes(bindings, add, remove, interface, path, recorded_clients=None):
    """The ledger's lines (kind ip_binding, as recorded by host_state) for what the host gains and loses."""
    by_address = {b["address"]: b for b in bindings}
    out = []
    for address in add:
        binding = by_address[address]
        out.append({"action": "create", "kind": "ip_binding", "id": address, "client": owner(binding),
                    "detail": ["added on %s as /32 (%s), persistent in %s" % (interface, "+".join(binding.get("sides") or []), path)]})
    for address in remove:
        client = (recorded_clients or {}).get(address, "(reseller)")
        out.append({"action": "remove", "kind": "ip_binding", "id": address, "client": client,
                    "detail": ["removed from %s: no client uses it any more" % interface]})
    return out


def clients_of(content):
    """address -> owner from the comment lines of a managed file (to name the client of a removal)."""
    found = {}
    for match in re.finditer(r"^# (\d+\.\d+\.\d+\.\d+): ([^()]*) \(", content or "", re.M):
        clients = [c.strip() for c in match.group(2).split(",") if c.strip()]
        found[match.group(1)] = clients[0] if len(clients) == 1 else "(reseller)"
    return found
