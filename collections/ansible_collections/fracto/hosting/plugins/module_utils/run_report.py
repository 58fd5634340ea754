# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan (check mode) or the report of a run, per client: built by the action fracto.hosting.plan_report from
the results every host registered.

Pure functions on plain data: the changes of each host (ledger.py lines), what needs an operator's attention, and
the names each client is served at, as printed lines and as the JSON document.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.ledger import format_change
from ansible_collections.fracto.hosting.plugins.module_utils.web import usage

RESULT_MARK = "__result"
# Result keys that name something an operator must look at: {name or id: reason}.
ATTENTION = {
    "skipped_names": "left out of its certificate",
    "coverage_reduced": "coverage reduced",
    "rate_limited": "rate limited by the CA",
    "refused": "refused",
    "failed_orders": "order failed",
    "rdns_mismatch": "reverse DNS does not match its HELO name",
    "over_quota": "is over its disk quota",
}


def collect(hostvars, hosts):
    """({host: [change]}, attention) from every result registered as <role>__result[_<concern>] on every host.

    attention lists what needs an operator's attention (names left out, coverage reduced, rate limits, refusals)
    as (host, kind, name or id, reason).
    """
    by_host, attention = {}, []
    for host in hosts:
        host_vars = hostvars.get(host, {})
        seen = set()
        # The record of desired state (fracto_base) comes last: a capability's own line wins.
        names = sorted((k for k in host_vars.keys() if RESULT_MARK in k), key=lambda k: (k.startswith("fracto_base__"), k))
        for name in names:
            value = host_vars[name]
            if isinstance(value, dict):
                for key in ATTENTION:
                    for item, reason in (value.get(key) or {}).items():
                        attention.append((host, key, item, reason))
            if isinstance(value, dict) and isinstance(value.get("changes"), list):
                for change in value["changes"]:
                    key = (change.get("action"), change.get("kind"), change.get("id"))
                    if key not in seen:
                        seen.add(key)
                        by_host.setdefault(host, []).append(change)
    return by_host, attention


def dkim_keys(hostvars, hosts):
    """The DKIM keys the mail hosts returned (mail_server's dkim, kept by the role as fracto_mail__result_server):
    their TXT records join the state's mail_dns (dns_records.with_dkim)."""
    keys = []
    for host in hosts:
        result = hostvars.get(host, {}).get("fracto_mail__result_server")
        if isinstance(result, dict) and isinstance(result.get("dkim"), list):
            keys += [k for k in result["dkim"] if isinstance(k, dict)]
    return keys


def change_lines(grouped, check, reseller, when):
    """(lines, counts): the heading, the changes per client ({client: [change with its host]}) and their counts."""
    lines = ["%s of reseller %s (%s)" % ("PLAN (check mode: nothing was changed)" if check else "REPORT", reseller,
                                         when.strftime("%Y-%m-%d %H:%M UTC"))]
    counts = {"create": 0, "change": 0, "remove": 0, "keep": 0}
    for client, changes in grouped.items():
        lines.append("client %s:" % client)
        for change in changes:
            counts[change["action"]] += 1
            lines.append("  %s   [%s]" % (format_change(change), change["host"]))
    if not grouped:
        lines.append("no change: every host already has its desired state")
    lines.append("%(create)d to create, %(change)d to change, %(remove)d to remove, %(keep)d kept (prune off)" % counts)
    return lines, counts


def attention_notes(attention, state):
    """Each (host, kind, item, reason) of collect() as {host, client, what, item, detail}, with the client that owns
    the name (or whose id prefixes the item), else (reseller)."""
    clients = state.get("clients") or {}
    owners = {name: cid for cid, client in clients.items() for name in client.get("names", [])}
    notes = []
    for host, key, item, reason in attention:
        # the name's owner, the client itself (client_usage's over_quota), or the client whose id prefixes the item
        client = owners.get(item) or (item if item in clients else None)
        client = client or next((cid for cid in sorted(clients, key=len, reverse=True) if str(item).startswith(cid + "-")),
                                "(reseller)")
        detail = reason if isinstance(reason, str) else ", ".join(str(r) for r in reason) if isinstance(reason, list) else str(reason)
        notes.append({"host": host, "client": client, "what": ATTENTION[key], "item": item, "detail": detail})
    return notes


def attention_lines(notes):
    if not notes:
        return []
    return ["needs attention:"] + ["  ! %(client)s: %(item)s %(what)s: %(detail)s   [%(host)s]" % note for note in notes]


def services(state):
    """{client: {package, gdpr, urls, mail, mailboxes}}: where each client is served."""
    found = {}
    for cid, client in sorted((state.get("clients") or {}).items()):
        scheme = "https" if client["features"]["autossl"] else "http"
        urls = ["%s://%s/" % (scheme, name) for name in client["names"]]
        urls += ["https://%s/" % name for name in client["webmail_names"]]
        mail = ["imaps://%s" % name for name in client["mail_names"]]
        found[cid] = {"package": client["package"], "gdpr": client["gdpr"], "urls": urls, "mail": mail,
                      "mailboxes": client["mailboxes"]}
    return found


def disk_usage(hostvars, hosts, summary):
    """Adds to summary ({client: ...} of services()) each client's disk use (client_usage, kept by the role as
    fracto_web__result_usage) as "disk"; returns summary."""
    for host in hosts:
        result = hostvars.get(host, {}).get("fracto_web__result_usage")
        for cid, entry in ((result or {}).get("usage") or {}).items() if isinstance(result, dict) else ():
            if cid in summary and isinstance(entry, dict):
                summary[cid]["disk"] = entry
    return summary


def service_lines(summary):
    if not summary:
        return []
    lines = ["", "clients and the names they are served at:"]
    for cid, info in summary.items():
        lines.append("  %s (package %s%s): %s" % (cid, info["package"], ", GDPR" if info["gdpr"] else "", " ".join(info["urls"])))
        if info["mail"]:
            lines.append("    mail: %s" % " ".join(info["mail"]))
        if info.get("disk"):
            lines.append("    %s" % usage.line(info["disk"]))
    return lines


def document(mode, reseller, check, counts, grouped, summary, notes, mail_dns=()):
    """The JSON document of the plan or report (grouped and notes already redacted); mail_dns: the DNS records each
    client publishes for its mail (module_utils/mail/dns_records.py)."""
    return {
        "kind": mode, "reseller": reseller, "check_mode": check, "counts": counts,
        "clients": {client: [dict(c, line=format_change(c)) for c in changes] for client, changes in grouped.items()},
        "services": summary, "attention": notes, "mail_dns": list(mail_dns),
    }
