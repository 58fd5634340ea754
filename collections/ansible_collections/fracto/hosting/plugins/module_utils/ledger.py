# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's record of its desired state, and the plan: what a run creates, changes, removes.

A host's desired state is flattened into objects ("vhost shop.cliente1.test",
"certificate cliente1.test", "mailbox info@cliente1.test", ...) that carry no
secret. Comparing the recorded objects with the wanted ones gives the plan.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail.mta_sts import SERVICE_PREFIXES as MAIL_DOMAIN_NAMES
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact_url

# kind of object -> (list in the host state, key field, attributes recorded)
OBJECT_KINDS = (
    ("system_user", "system_users", "name", ("home",)),
    ("vhost", "sites", "name", ("aliases", "php", "https_redirect", "hsts", "tls", "certificate", "ipv4", "docroot")),
    ("certificate", "certificates", "id", ("source", "names", "fingerprint")),
    ("php_pool", "php_pools", "name", ("version",)),
    ("database", "databases", "name", ("user",)),
    ("mail_domain", "mail_domains", "domain", ()),
    ("mailbox", "mailboxes", "address", ("quota",)),
    ("mail_alias", "mail_aliases", "address", ("targets",)),
    ("mail_name", "mail_names", "name", ("branding", "clients")),
    ("webmail_name", "webmail_names", "name", ("branding", "clients")),
    ("ip_binding", "ip_bindings", "address", ("sides", "clients")),
    ("backup_job", "backup_jobs", None, ("repository", "keep", "what", "managed_by")),
)
RESELLER = "(reseller)"


def _public(attr, value):
    """A restic URL may carry credentials (rest:https://user:password@host/): the ledger keeps the user only
    (secrets.redact_url, the one place of redaction), for every attribute."""
    if isinstance(value, str):
        return redact_url(value)
    return value


def host_objects(host_state):
    """Flatten one host's desired state into {"kind id": {"kind", "id", "client", "attrs"}}; no secrets."""
    objects = {}
    for kind, field, key, attrs in OBJECT_KINDS:
        for item in host_state.get(field, []):
            ident = item[key] if key else "%s/%s" % (item["client"], item["side"])
            client = item.get("client")
            if client is None:
                clients = item.get("clients", [])
                # Only a client-branded name is the client's own; generic and reseller names are shared.
                client = clients[0] if len(clients) == 1 and item.get("branding", "client") == "client" else RESELLER
            objects["%s %s" % (kind, ident)] = {
                "kind": kind, "id": ident, "client": client,
                "attrs": {a: _public(a, item.get(a)) for a in attrs if a in item},
            }
    return objects


def served_names(objects):
    """{host name: clients} of every name the objects answer for on the host: a vhost's name and aliases, a
    certificate's names, mail and webmail names, a mail domain's MTA-STS and autoconfiguration names (mta-sts.,
    autoconfig., autodiscover.<domain>; the domain itself is not served, so its website may be another reseller's)."""
    names = {}
    for obj in objects.values():
        kind, attrs = obj["kind"], obj.get("attrs") or {}
        claimed = {"vhost": [obj["id"]] + list(attrs.get("aliases") or []),
                   "certificate": list(attrs.get("names") or []),
                   "mail_name": [obj["id"]], "webmail_name": [obj["id"]],
                   "mail_domain": [p + obj["id"] for p in MAIL_DOMAIN_NAMES]}.get(kind, [])
        for name in claimed:
            names.setdefault(name.lower(), set()).add(obj["client"])
    return names


def foreign_clashes(wanted, others):
    """What a reseller's objects on a host would take from another reseller's record on that host, as sorted lines.

    A client id is one (the client's system user, home, PHP pools and databases are named after it), and so is an
    object both records hold (a vhost, certificate, mailbox, ...) or a host name both answer for (an alias of one is
    the other's site, a site is named after the other's mta-sts.<mail domain>), unless both hold it as
    a reseller-level name (the host's generic mail and webmail names are every reseller's).
    others: {reseller: recorded objects}.
    """
    mine = {o["client"] for o in wanted.values()} - {RESELLER}
    my_names = served_names(wanted)
    lines = []
    for other, objects in sorted(others.items()):
        theirs = {o["client"] for o in objects.values()} - {RESELLER}
        lines.extend("client id %s is a client of reseller %s here" % (cid, other) for cid in sorted(mine & theirs))
        held = [key for key in sorted(set(wanted) & set(objects))
                if RESELLER != wanted[key]["client"] or RESELLER != objects[key]["client"]]
        lines.extend("%s is held by reseller %s (client %s)" % (key, other, objects[key]["client"]) for key in held)
        said = served_names({key: objects[key] for key in held})  # an object said held: its names need no line
        for name, clients in sorted(served_names(objects).items()):
            if name in my_names and name not in said and (my_names[name] | clients) != {RESELLER}:
                lines.append("host name %s is served by reseller %s here (client %s)"
                             % (name, other, ", ".join(sorted(clients))))
    return lines


def _describe(before, after):
    parts = []
    for attr in sorted(set(before) | set(after)):
        old, new = before.get(attr), after.get(attr)
        if old == new:
            continue
        if isinstance(old, list) or isinstance(new, list):
            old, new = old or [], new or []
            parts.extend("+ %s" % v for v in new if v not in old)
            parts.extend("- %s" % v for v in old if v not in new)
        else:
            parts.append("%s: %s -> %s" % (attr, _show(old), _show(new)))
    return parts


def _show(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plan(recorded, wanted, present_clients, prune=False):
    """Return (changes, new_record).

    Objects of a client that is no longer in the state are kept (and reported)
    unless prune is set: a client leaves the hosts only when the run says so.
    """
    changes, record = [], {}
    present = set(present_clients) | {RESELLER}
    for key in sorted(set(recorded) | set(wanted)):
        old, new = recorded.get(key), wanted.get(key)
        if new is not None:
            record[key] = new
            if old is None:
                changes.append(_change("create", new, []))
            elif old != new:
                detail = _describe(old["attrs"], new["attrs"])
                if old["client"] != new["client"]:
                    detail.insert(0, "client: %s -> %s" % (old["client"], new["client"]))
                changes.append(_change("change", new, detail))
        elif old["client"] in present or prune:
            changes.append(_change("remove", old, []))
        else:
            record[key] = old
            changes.append(_change("keep", old, ["client %s is gone from the state; kept until a run with fracto_prune=true"
                                                 % old["client"]]))
    return changes, record


def _change(action, obj, detail):
    return {"action": action, "kind": obj["kind"], "id": obj["id"], "client": obj["client"], "detail": detail}


SYMBOLS = {"create": "+", "change": "~", "remove": "-", "keep": "!"}


def format_change(change):
    line = "%s %s %s" % (SYMBOLS[change["action"]], change["kind"], change["id"])
    if change["detail"]:
        line += ": " + ", ".join(change["detail"])
    return line


def group_by_client(changes_by_host):
    """{host: [change]} -> {client: [(host, change)]}, clients and changes in a stable order."""
    grouped = {}
    for host in sorted(changes_by_host):
        for change in changes_by_host[host]:
            grouped.setdefault(change["client"], []).append(dict(change, host=host))
    return {client: grouped[client] for client in sorted(grouped)}
