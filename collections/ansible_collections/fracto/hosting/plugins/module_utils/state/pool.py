# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dedicated IPv4 pool at a glance: free, allocated, bound, per reseller and per host."""

from __future__ import annotations

import ipaddress
import socket

HELO_PREFIX = "smtp-"


def helo_of(pool, address, domain):
    """The HELO name of a dedicated address: the pool entry's own `helo`, else helo_name()."""
    return (pool.get(address) or {}).get("helo") or helo_name(address, domain)


def helo_name(address, domain):
    """The name outgoing mail from a dedicated address gives as HELO: smtp-198-51-100-102.<platform domain>.

    One name per address, under the platform's domain (the platform owns the addresses and their reverse
    DNS): it stays right when the address moves to another client, whatever the clients' mail branding.
    """
    label = HELO_PREFIX + str(address).replace(".", "-")
    return "%s.%s" % (label, domain) if domain else label


def system_lookups():
    """(reverse, forward) through this machine's own resolver: address -> names, name -> addresses ([] when none)."""

    def reverse(address):
        try:
            name, aliases, _addresses = socket.gethostbyaddr(address)
            return [name] + aliases
        except OSError:
            return []

    def forward(name):
        try:
            return socket.gethostbyname_ex(name)[2]
        except OSError:
            return []

    return reverse, forward


def rdns_problems(view, reverse, forward):
    """{address: reason} for bound mail addresses whose DNS does not match their HELO name (forward-confirmed).

    reverse(address) -> [names] (PTR), forward(name) -> [addresses] (A); both return [] when nothing answers.
    """
    problems = {}
    for item in view["addresses"]:
        helo = item.get("helo")
        if not helo:
            continue
        problem = rdns_problem(item["address"], helo, reverse(item["address"]), forward(helo))
        if problem:
            problems[item["address"]] = problem
    return problems


def rdns_problem(address, helo, ptr_names, a_addresses):
    """Why the reverse DNS of address does not match its HELO name, or None when it does (FCrDNS)."""
    names = sorted({str(n).rstrip(".").lower() for n in ptr_names})
    if not names:
        return "no PTR record for %s (HELO name %s)" % (address, helo)
    if helo.lower() not in names:
        return "PTR of %s is %s, HELO name is %s" % (address, ", ".join(names), helo)
    if address not in a_addresses:
        return "HELO name %s resolves to %s, not %s" % (helo, ", ".join(sorted(a_addresses)) or "nothing", address)
    return None


def pool_view(model):
    """Every address of the pool with its state, from the validated model of one reseller's inventory.

    An address is free (no reseller), allocated (to a reseller, no client of this inventory bound
    to it) or bound (clients of this reseller use it). Bindings of other resellers are not known
    here: their addresses show as allocated.
    """
    me = model["reseller"].get("name")
    domain = (model.get("platform") or {}).get("domain")
    bound = {}
    for cid in sorted(model["clients"]):
        for side, ip in sorted(model["clients"][cid]["dedicated_ip"].items()):
            if ip:
                entry = bound.setdefault(ip, {"clients": [], "sides": []})
                if cid not in entry["clients"]:
                    entry["clients"].append(cid)
                if side not in entry["sides"]:
                    entry["sides"].append(side)
    addresses = []
    for ip in sorted(model["pool"], key=ipaddress.IPv4Address):
        entry = model["pool"][ip]
        state = "free" if not entry["reseller"] else "bound" if ip in bound else "allocated"
        item = {"address": ip, "reseller": entry["reseller"], "host": entry["host"], "state": state,
                "clients": bound.get(ip, {}).get("clients", []), "sides": bound.get(ip, {}).get("sides", [])}
        if "mail" in item["sides"]:
            item["helo"] = helo_of(model["pool"], ip, domain)
        addresses.append(item)
    per_reseller, per_host = {}, {}
    for item in addresses:
        if item["reseller"]:
            per_reseller[item["reseller"]] = per_reseller.get(item["reseller"], 0) + 1
        if item["host"]:
            per_host[item["host"]] = per_host.get(item["host"], 0) + 1
    counts = {state: sum(1 for a in addresses if a["state"] == state) for state in ("free", "allocated", "bound")}
    return {"reseller": me, "total": len(addresses), "counts": counts, "per_reseller": per_reseller,
            "per_host": per_host, "addresses": addresses}


def pool_table(view, show_free=False):
    """Plain-text table; free addresses are summarised unless show_free."""
    lines = ["dedicated IPv4 pool (seen from reseller %s): %d addresses, %d free, %d allocated, %d bound"
             % (view["reseller"], view["total"], view["counts"]["free"], view["counts"]["allocated"], view["counts"]["bound"])]
    lines.append("per reseller: " + (", ".join("%s %d" % kv for kv in sorted(view["per_reseller"].items())) or "none"))
    lines.append("per host:     " + (", ".join("%s %d" % kv for kv in sorted(view["per_host"].items())) or "none"))
    lines.append("%-16s %-10s %-16s %-10s %s" % ("address", "state", "reseller", "host", "clients (sides)"))
    free = []
    for item in view["addresses"]:
        if item["state"] == "free" and not show_free:
            free.append(item["address"])
            continue
        clients = ", ".join(item["clients"]) + (" (%s)" % "+".join(item["sides"]) if item["sides"] else "")
        clients += "  HELO %s" % item["helo"] if item.get("helo") else ""
        clients += "  ! %s" % item["rdns"] if item.get("rdns") else ""
        lines.append("%-16s %-10s %-16s %-10s %s" % (item["address"], item["state"], item["reseller"] or "-",
                                                     item["host"] or "-", clients or "-"))
    if free:
        lines.append("free: %s" % compress(free))
    return "\n".join(lines)


def compress(addresses):
    """'198.51.100.104-198.51.100.109, 198.51.100.112': consecutive addresses as ranges."""
    ranges, start, prev = [], None, None
    for ip in sorted(addresses, key=ipaddress.IPv4Address):
        value = int(ipaddress.IPv4Address(ip))
        if start is not None and value == prev + 1:
            prev = value
            continue
        if start is not None:
            ranges.append((start, prev))
        start = prev = value
    if start is not None:
        ranges.append((start, prev))
    return ", ".join(str(ipaddress.IPv4Address(a)) if a == b else "%s-%s" % (ipaddress.IPv4Address(a), ipaddress.IPv4Address(b))
                     for a, b in ranges)
