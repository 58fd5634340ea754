# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns what on a shared mail host: one record per reseller, and the shared files built from all of them.

Several resellers share a mail host. Each run of mail_server is one reseller's: it changes and prunes only the objects
of that reseller's record (/etc/fracto/mail/resellers/<reseller>.json, root only: it holds the mailboxes' hashes),
refuses a domain, mailbox or alias (or a branded name) another reseller holds, and writes every shared file (Dovecot's
passwd-file, the Postfix maps, SNI, sender transports, the webmail vhosts and Roundcube) from the union of all
records. Objects found in the files but in no record (written before records existed) are attributed by the
resellers' host_state records (/var/lib/fracto/state/<reseller>.json) when those name them, else kept untouched
until a reseller's state takes them.
"""

from __future__ import annotations

import json
import os

from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import greylisting, mta_sts, safe, send_limits

RECORDS_DIR = "/etc/fracto/mail/resellers"
HOST_STATE_DIR = "/var/lib/fracto/state"
KINDS = (("domains", "mail_domain"), ("mailboxes", "mailbox"), ("aliases", "mail_alias"))
NAME_KINDS = ("mail_names", "webmail_names")


def empty_record(reseller):
    return {"reseller": reseller, "domains": {}, "mailboxes": {}, "aliases": {}, "mail_names": [], "webmail_names": [],
            "certificates": [], "ip_bindings": [], "send_limits": {}, "greylisting": [],
            "mta_sts": []}


def record_path(directory, reseller):
    return os.path.join(directory, "%s.json" % safe.reseller(reseller))


def read_records(directory=RECORDS_DIR):
    """{reseller: record} of every record on the host (a file whose name is not a reseller slug is ignored)."""
    records = {}
    if not os.path.isdir(directory):
        return records
    for name in sorted(os.listdir(directory)):
        reseller = name[:-len(".json")] if name.endswith(".json") else None
        if not reseller or not safe.RESELLER.fullmatch(reseller):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            data = json.load(handle)
        record = empty_record(reseller)
        record.update({k: v for k, v in data.items() if k in record and k != "reseller"})
        records[reseller] = record
    return records


def own_hashes(reseller, records, users_content):
    """The current hashes of this reseller's mailboxes only (its record, and mailboxes no record holds): another
    reseller's hashes never leave the host for this reseller's controller."""
    current = mc.parse_users(users_content)
    others = {a for r, rec in records.items() if r != reseller for a in rec["mailboxes"]}
    return {a: u["hash"] for a, u in current.items() if a not in others}


def render_record(record):
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def host_state_owners(directory=HOST_STATE_DIR):
    """{(kind, id): reseller} from the host_state records (mail_domain, mailbox, mail_alias objects)."""
    owners = {}
    if not os.path.isdir(directory):
        return owners
    for name in sorted(os.listdir(directory)):
        reseller = name[:-len(".json")] if name.endswith(".json") else None
        if not reseller or not safe.RESELLER.fullmatch(reseller):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                objects = json.load(handle).get("objects", {})
        except (OSError, ValueError, AttributeError):
            continue
        for obj in objects.values() if isinstance(objects, dict) else ():
            if isinstance(obj, dict) and obj.get("kind") in ("mail_domain", "mailbox", "mail_alias"):
                owners.setdefault((obj["kind"], obj.get("id")), reseller)
    return owners


def _as_tuple(record):
    return (dict(record["domains"]), {a: dict(u) for a, u in record["mailboxes"].items()},
            {a: list(t) for a, t in record["aliases"].items()})


def clashes(reseller, wanted, records, legacy_others):
    """What the wanted objects would take from another reseller, as sorted lines (empty: nothing clashes)."""
    lines = []
    want = dict(zip((k for k, _kind in KINDS), wanted[:3]))
    for other, record in sorted(records.items()):
        if other == reseller:
            continue
        for key, kind in KINDS:
            for ident in sorted(set(want[key]) & set(record[key])):
                lines.append("%s %s is held by reseller %s on this host" % (kind, ident, other))
        for key in NAME_KINDS:
            theirs = {e["name"] for e in record[key] if e.get("branding") != "generic"}
            for entry in wanted[3].get(key, []):
                if entry.get("branding") != "generic" and entry["name"] in theirs:
                    lines.append("%s %s is held by reseller %s on this host" % (key[:-1], entry["name"], other))
    for (key, kind), ident, other in legacy_others:
        if ident in want[key]:
            lines.append("%s %s is held by reseller %s on this host (its host_state record)" % (kind, ident, other))
    return sorted(set(lines))


def split_files(file_objects, records, attribution, reseller):
    """The objects of the files that no record holds: (the caller's by host_state, others' by host_state, unowned)."""
    recorded = {key: set() for key, _kind in KINDS}
    for record in records.values():
        for key, _kind in KINDS:
            recorded[key] |= set(record[key])
    own, others, unowned = ({}, {}, {}), [], ({}, {}, {})
    for index, (key, kind) in enumerate(KINDS):
        for ident, value in file_objects[index].items():
            if ident in recorded[key]:
                continue
            owner = attribution.get((kind, ident))
            if owner == reseller:
                own[index][ident] = value
            elif owner:
                others.append(((key, kind), ident, owner))
                unowned[index][ident] = value  # kept in the files as they are, like any other reseller's object
            else:
                unowned[index][ident] = value
    return own, others, unowned


def plan(reseller, records, wanted, present_clients, prune, file_objects, attribution=None):
    """(own final record, union for the shared files, changes, clashes).

    wanted is (domains, mailboxes, aliases, extras) with extras {mail_names, webmail_names, certificates,
    ip_bindings}. Only the reseller's own objects (its record, plus unrecorded objects attributed to it or wanted by
    it) are created, changed, kept or removed; every other record and every unowned object stays as it is.
    """
    attribution = attribution or {}
    own_legacy, legacy_others, unowned = split_files(file_objects, records, attribution, reseller)
    found = clashes(reseller, wanted, records, legacy_others)
    if found:
        return None, None, [], found
    own = records.get(reseller) or empty_record(reseller)
    current = _as_tuple(own)
    for index in range(3):
        current[index].update(own_legacy[index])
        for ident in list(unowned[index]):
            if ident in wanted[index]:  # a state takes an object nobody recorded: it becomes this reseller's
                current[index][ident] = unowned[index].pop(ident)
    final, changes = mc.plan_objects(current, wanted[:3], present_clients, prune)
    record = empty_record(reseller)
    record.update(domains=final[0], mailboxes=final[1], aliases=final[2])
    for key in ("mail_names", "webmail_names", "certificates", "ip_bindings"):
        record[key] = list(wanted[3].get(key, []))
    record["send_limits"] = dict(wanted[3].get("send_limits", {}))
    record["greylisting"] = list(wanted[3].get("greylisting", []))
    record["mta_sts"] = [e for e in wanted[3].get("mta_sts", []) if e["domain"] in final[0]]
    everyone = dict(records)
    everyone[reseller] = record
    shared = union(everyone, unowned)
    return record, shared, changes, []


def _merge_names(entries, into):
    for entry in entries:
        merged = into.setdefault(entry["name"], {"name": entry["name"], "branding": entry.get("branding", "generic"),
                                                 "clients": []})
        for cid in entry.get("clients", []):
            if cid not in merged["clients"]:
                merged["clients"].append(cid)


def union(records, unowned=({}, {}, {})):
    """Everything the shared files hold: objects, names, certificates and sender transports of every record."""
    domains, users, aliases = (dict(unowned[0]), dict(unowned[1]), dict(unowned[2]))
    names = {"mail_names": {}, "webmail_names": {}}
    certificates, transports, sender_map = {}, {}, {}
    domain_entries = [{"domain": d, "client": c} for d, c in unowned[0].items()]
    for _reseller, record in sorted(records.items()):
        domains.update(record["domains"])
        users.update(record["mailboxes"])
        aliases.update(record["aliases"])
        for key in NAME_KINDS:
            _merge_names(record[key], names[key])
        for cert in record["certificates"]:
            merged = certificates.setdefault(cert["id"], {"id": cert["id"], "names": []})
            merged["names"] = sorted(set(merged["names"]) | set(cert.get("names", [])))
        entries = [{"domain": d, "client": c} for d, c in record["domains"].items()]
        domain_entries += entries
        found, mapping = mc.sender_transports(entries, record["ip_bindings"])
        for name, address, helo in found:
            transports[name] = (name, address, helo)
        sender_map.update(mapping)
    return {
        "domains": domains, "mailboxes": users, "aliases": aliases,
        "mail_names": [names["mail_names"][n] for n in sorted(names["mail_names"])],
        "webmail_names": [names["webmail_names"][n] for n in sorted(names["webmail_names"])],
        "certificates": [certificates[c] for c in sorted(certificates)],
        "transports": [transports[t] for t in sorted(transports)], "sender_map": sender_map,
        "domain_entries": sorted(domain_entries, key=lambda e: e["domain"]),
        "send_limits": send_limits.logins(records),
        "greylisted_domains": greylisting.domains(records),
        "mta_sts": sorted((e for r in records.values() for e in r["mta_sts"]), key=lambda e: e["domain"]),
    }


def check_extras(p):
    """The outgoing limits, greylisting and MTA-STS entries of mail_server's parameters against their whitelists, as
    wanted_of() reads them; raises safe.UnsafeValue naming the field (before anything is read or written)."""
    send_limits.checked(p["send_limits"])
    greylisting.checked(p["greylisting"])
    mta_sts.checked(p["mta_sts"], {d.get("domain"): d.get("client") for d in p["domains"]})


def wanted_of(p):
    """The wanted objects of plan(), (domains, mailboxes, aliases, extras), from mail_server's parameters."""
    domains, users, aliases = mc.wanted_objects(p["domains"], p["mailboxes"], p["aliases"])
    extras = {
        "mail_names": [{"name": m["name"], "branding": m["branding"], "clients": list(m.get("clients") or [])} for m in p["mail_names"]],
        "webmail_names": [{"name": w["name"], "branding": w["branding"], "clients": list(w.get("clients") or [])}
                          for w in p["webmail_names"]],
        "certificates": [{"id": c["id"], "names": list(c.get("names") or [])} for c in p["certificates"]],
        "ip_bindings": [{k: b[k] for k in ("address", "sides", "clients", "helo") if k in b} for b in p["ip_bindings"]],
        "send_limits": send_limits.checked(p["send_limits"]),
        "greylisting": greylisting.checked(p["greylisting"]),
        "mta_sts": mta_sts.checked(p["mta_sts"], {d.get("domain"): d.get("client") for d in p["domains"]}),
    }
    return domains, users, aliases, extras


def sender_changes(reseller, records, record, senders_content, hostname):
    """The change lines of the reseller's sender transports: from its record on the host (or, before it has one, what
    the sender map, senders_content, says for its domains) to record."""
    own_senders = union({reseller: record})
    if reseller in records:
        old_senders = union({reseller: records[reseller]})["sender_map"]
    else:  # no record yet (a host converged before records): what the map says for this reseller's domains
        old_senders = {k: v for k, v in mc.parse_map(senders_content).items() if k[1:] in record["domains"]}
    return mc.sender_changes(mc.render_map(old_senders), own_senders["sender_map"], own_senders["transports"],
                             own_senders["domain_entries"], hostname)
