# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dedicated IPv4 pool at a glance: free, allocated, bound, per reseller and per host."""

from __future__ import annotations

import ipaddress


def pool_view(model):
    """Every address of the pool with its state, from the validated model of one reseller's inventory.

    An address is free (no reseller), allocated (to a reseller, no client of this inventory bound
    to it) or bound (clients of this reseller use it). Bindings of other resellers are not known
    here: their addresses show as allocated.
    """
    me = model["reseller"].get("name")
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
        addresses.append({"address": ip, "reseller": entry["reseller"], "host": entry["host"], "state": state,
                          "clients": bound.get(ip, {}).get("clients", []), "sides": bound.get(ip, {}).get("sides", [])})
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
