# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve the validated model into one desired state per host.

Packages, overrides and defaults are resolved here, once, on the controller;
the roles consume the slice of their host and decide nothing of their own.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import tunables
from ansible_collections.fracto.hosting.plugins.module_utils.mail import mta_sts, send_limits
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dkim import KEY_SETS
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import MailDnsRecords, mail_name_for
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import client_names, mail_host_fqdn
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import MAX_NAMES_PER_CERT
from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import helo_of
from ansible_collections.fracto.hosting.plugins.module_utils.state.served_names import mail_domains

WEB_ROOT = "/srv/www"


def _host(hosts, name):
    return hosts.setdefault(name, {
        "roles": [], "system_users": [], "sites": [], "certificates": [], "php_pools": [], "databases": [],
        "mail_domains": [], "mailboxes": [], "mail_send_limits": [], "mail_greylisting": [], "mta_sts": [],
        "mail_aliases": [], "mail_names": [], "webmail_names": [],
        "ip_bindings": [], "backup_jobs": [], "clients": [], "migrations": [], "mail_migrations": [], "sftp_users": [],
    })


def _add_role(host, role):
    if role not in host["roles"]:
        host["roles"].append(role)


def _chunks(names, size):
    return [names[i:i + size] for i in range(0, len(names), size)]


def _custom_for(client, names):
    """The custom certificate covering all of names, if any."""
    for cert in client["certificates"]:
        if all(n in cert["names"] for n in names):
            return "%s-%s" % (client["id"], cert["name"])
    return None


def _web(hosts, client):
    cid, feats = client["id"], client["features"]
    host = _host(hosts, client["web_host"])
    _add_role(host, "web")
    # The package's web settings (whitelisted whole values): on each vhost and pool only when set.
    tuned = feats.get("web") or {}
    site_settings = {"client_max_body_size": tuned["client_max_body_size"]} if tuned.get("client_max_body_size") else {}
    # Visitors' addresses truncated in the access log: the package's choice, else on for a GDPR package.
    site_settings["log_truncate_ip"] = bool(tuned.get("log_truncate_ip", feats["gdpr"]))
    pool_settings = {"php_ini": dict(tuned["php_ini"])} if tuned.get("php_ini") else {}
    if tuned.get("php_max_children"):
        pool_settings["max_children"] = int(tuned["php_max_children"])
    home = "%s/%s" % (WEB_ROOT, cid)
    host["system_users"].append({"name": cid, "client": cid, "home": home,
                                 "log_retention_days": int(tuned.get("log_retention_days") or tunables.LOG_DAYS_DEFAULT),
                                 # bytes, or None: measured and reported by client_usage
                                 "disk_quota": tunables.disk_quota_bytes(tuned["disk_quota"]) if tuned.get("disk_quota") else None,
                                 "databases": [db["name"] for db in client["databases"]]})
    if any(d["php"] for d in client["domains"]):
        versions = sorted({d["php"] for d in client["domains"] if d["php"]})
        for version in versions:
            host["php_pools"].append({"client": cid, "user": cid, "version": version, "name": "%s-%s" % (cid, version),
                                      **pool_settings})
    custom_names = {n for c in client["certificates"] for n in c["names"]}
    for domain in client["domains"]:
        # ACME certificates first, so that each vhost names the chunk that holds its name.
        acme = _acme_certificates(host, cid, domain, custom_names) if feats["autossl"] else {}
        _vhosts(host, client, domain, home, acme, site_settings)
    _custom_certificates(host, client)
    for db in client["databases"]:
        host["databases"].append(dict(db, client=cid))
    _site_migration(host, client)
    if client["sftp"]:  # secret: password (hashed on the controller by the sftp_access action)
        host["sftp_users"].append(dict(client["sftp"], client=cid))


def _acme_certificates(host, cid, domain, custom_names):
    """The ACME certificates of a domain's names that no custom certificate covers (MAX_NAMES_PER_CERT names each),
    added to host; returns {name: id of the certificate that holds it}."""
    acme = {}
    names = [n for n in [domain["name"]] + domain["aliases"] + domain["subdomains"] if n not in custom_names]
    for i, chunk in enumerate(_chunks(names, MAX_NAMES_PER_CERT)):
        cert_id = domain["name"] if i == 0 else "%s-%d" % (domain["name"], i + 1)
        host["certificates"].append({"id": cert_id, "client": cid, "source": "acme", "names": chunk})
        acme.update((n, cert_id) for n in chunk)
    return acme


def _vhosts(host, client, domain, home, acme, site_settings):
    """A domain's vhosts (the domain with its aliases, then one per subdomain), added to host with their TLS: a custom
    certificate that covers all their names, else the ACME one (acme: {name: certificate id}) with autossl, else none."""
    cid, feats = client["id"], client["features"]
    vhosts = [(domain["name"], [domain["name"]] + domain["aliases"], domain.get("deny", []))]
    # A mail domain's own site also answers Thunderbird's second lookup (/.well-known/autoconfig/, mail/autoconfig.py).
    mx = None
    if client["mail_host"] and feats["mail"] and domain["name"] in mail_domains(client):
        mx = mail_name_for(client["mail_names"], feats["mail_branding"], domain["name"])
    vhosts += [(sub, [sub], []) for sub in domain["subdomains"]]
    for primary, names, deny in vhosts:
        custom = _custom_for(client, names)
        if custom:
            tls, cert = "custom", custom
        elif feats["autossl"]:
            tls, cert = "acme", acme.get(primary, domain["name"])
        else:
            tls, cert = "none", None
        host["sites"].append({
            "client": cid, "name": primary, "aliases": names[1:], "user": cid,
            "docroot": "%s/%s/public" % (home, primary), "php": domain["php"],
            "https_redirect": feats["https_redirect"] and tls != "none",
            "hsts": feats["hsts"] and tls != "none", "tls": tls, "certificate": cert,
            "ipv4": client["dedicated_ip"]["web"], "deny": deny, **site_settings,
            **({"mail_autoconfig": mx} if mx and primary == domain["name"] else {}),
        })


def _custom_certificates(host, client):
    """The client's own (custom) certificates, added to host after its ACME ones."""
    cid = client["id"]
    for cert in client["certificates"]:
        host["certificates"].append({
            "id": "%s-%s" % (cid, cert["name"]), "client": cid, "source": "custom", "names": cert["names"],
            "cert": cert["cert"], "chain": cert["chain"], "key": cert["key"], "fingerprint": cert["fingerprint"],
            "not_after": cert["not_after"],
        })


def _site_migration(host, client):
    """The site migration of the client, if any, added to host with the vhost that receives its files."""
    cid = client["id"]
    site = client.get("migration", {}).get("site")
    if site:
        # The vhost that receives the files; no secret here (the password stays in databases).
        vhost = next(s for s in host["sites"] if s["client"] == cid and s["name"] == site["domain"])
        target = next((d for d in client["databases"] if d["name"] == site["target_database"]), None)
        host["migrations"].append({
            "client": cid, "from": site["from"], "path": site["path"], "database": site["database"],
            "target_database": site["target_database"], "target_user": target["user"] if target else None,
            "domain": site["domain"], "names": [vhost["name"]] + vhost["aliases"], "docroot": vhost["docroot"],
            "user": vhost["user"], "php": vhost["php"], "tls": vhost["tls"], "ipv4": vhost["ipv4"], "deny": vhost["deny"],
        })


def _mail(hosts, client, shared_names):
    cid, feats = client["id"], client["features"]
    host = _host(hosts, client["mail_host"])
    _add_role(host, "mail")
    dkim = list(KEY_SETS[feats["mail_dkim_keys"]])  # the algorithms the mail host makes keys of
    for name in mail_domains(client):
        host["mail_domains"].append({"domain": name, "client": cid, "dkim": dkim})
        mx = mail_name_for(client["mail_names"], feats["mail_branding"], name)
        if mx:  # the policy served at mta-sts.<domain> (module_utils/mail/mta_sts.py)
            host["mta_sts"].append({"domain": name, "client": cid, "mx": mx})
    for box in client["mailboxes"]:
        host["mailboxes"].append(dict(box, client=cid))
    host["mail_send_limits"].append(dict(send_limits.with_defaults(feats["mail_limits"]), client=cid))
    if feats["mail_greylisting"]:
        host["mail_greylisting"].append(cid)
    for alias in client["mail_aliases"]:
        host["mail_aliases"].append(dict(alias, client=cid))
    mail = client.get("migration", {}).get("mail")
    if mail:
        # One entry per mailbox that moves: the old server, how to log in there (the mailbox's own password, or the
        # client's master user), the folder map. Secrets: password, master_password (the state is no_log).
        for box in mail["mailboxes"]:
            host["mail_migrations"].append({
                "client": cid, "address": box["address"], "from": mail["from"], "port": mail["port"],
                "user": box["user"], "password": box["password"], "master_user": mail["master_user"],
                "master_password": mail["master_password"], "folder_map": mail["folder_map"],
                "delete_extra": mail["delete_extra"],
            })
    branding = feats["mail_branding"]
    for kind in ("mail_names", "webmail_names"):
        for name in client[kind]:
            key = (client["mail_host"], kind, name)
            if key in shared_names:
                shared_names[key]["clients"].append(cid)
                continue
            entry = {"name": name, "branding": branding, "clients": [cid]}
            shared_names[key] = entry
            host[kind].append(entry)


def _mail_certificates(hosts):
    """One ACME certificate per branded base name: mail.<d> and webmail.<d> together."""
    for host in hosts.values():
        groups = {}
        for entry in host["mail_names"] + host["webmail_names"]:
            name = entry["name"]
            base = name[len("webmail."):] if name.startswith("webmail.") else name
            base = base[len("mail."):] if base.startswith("mail.") and entry["branding"] != "generic" else base
            group = groups.setdefault(base, {"names": [], "clients": set(), "branding": entry["branding"]})
            group["names"].append(name)
            group["clients"].update(entry["clients"])
        for base, group in sorted(groups.items()):
            # Generic and reseller names belong to the reseller, whatever the number of clients using them.
            owner = group["clients"].pop() if group["branding"] == "client" else "(reseller)"
            host["certificates"].append({"id": base if group["branding"] == "generic" else "mail." + base,
                                         "client": owner, "source": "acme", "names": sorted(set(group["names"]))})


def _ip_bindings(hosts, clients, pool, domain):
    bindings = {}
    for client in clients:
        for side, host_key in (("web", "web_host"), ("mail", "mail_host")):
            ip = client["dedicated_ip"][side]
            if ip:
                entry = bindings.setdefault((client[host_key], ip), {"address": ip, "sides": [], "clients": []})
                if side not in entry["sides"]:
                    entry["sides"].append(side)
                if side == "mail":
                    # Outgoing mail from this address says this name (its A and PTR records must match it).
                    entry["helo"] = helo_of(pool, ip, domain)
                if client["id"] not in entry["clients"]:
                    entry["clients"].append(client["id"])
    for (host, _ip), entry in sorted(bindings.items()):
        _host(hosts, host)["ip_bindings"].append(entry)


def _backups(hosts, client):
    backup = client["backup"]
    if not backup:
        return
    sides = [("web", client["web_host"], ["files", "databases"])]
    if client["mail_host"]:
        sides.append(("mail", client["mail_host"], ["mailboxes"]))
    for side, host, what in sides:
        _host(hosts, host)["backup_jobs"].append({
            "client": client["id"], "side": side, "what": what, "repository": backup["repository"],
            "password": backup["password"], "keep": backup["keep"], "managed_by": backup["managed_by"],
        })


def _mail_dns(model, clients, hosts):
    """The DNS records each client with mail publishes (module_utils/mail/dns_records.py), its mail domains as
    its mail host has them."""
    rows = []
    for client in clients:
        if not (client["mail_host"] and client["features"]["mail"]):
            continue
        domains = [d["domain"] for d in hosts[client["mail_host"]]["mail_domains"] if d["client"] == client["id"]]
        rows.append({"id": client["id"], "branding": client["features"]["mail_branding"], "mail_names": client["mail_names"],
                     "mail_domains": domains, "mail_ip": client["dedicated_ip"]["mail"],
                     "dmarc_policy": client["features"]["mail_dmarc_policy"]})
    return MailDnsRecords(model["reseller"].get("contact_email")).all(rows)


def resolve_state(model):
    """Turn the validated model into {'reseller', 'clients', 'hosts', 'dns', 'mail_dns'}."""
    hosts = {}
    shared_names = {}
    clients = [model["clients"][cid] for cid in sorted(model["clients"])]
    for client in clients:
        _web(hosts, client)
        if client["mail_host"] and client["features"]["mail"]:
            _mail(hosts, client, shared_names)
        _backups(hosts, client)
    _mail_certificates(hosts)
    for host in hosts.values():
        host["certificates"] += mta_sts.certificates(host["mta_sts"])
    domain = model["platform"].get("domain")
    _ip_bindings(hosts, clients, model["pool"], domain)
    for client in clients:
        for host in {client["web_host"], client["mail_host"]} - {None}:
            hosts[host]["clients"].append(client["id"])
    dns = {}
    for client in clients:
        for name in client_names(client):
            dns[name] = {"host": client["web_host"], "ipv4": client["dedicated_ip"]["web"]}
        # Mail and webmail names are shared by the clients of a host: they stay on its main address. The dedicated
        # mail address carries outgoing mail, under its own name (A and PTR).
        for name in client["mail_names"] + client["webmail_names"]:
            dns[name] = {"host": client["mail_host"], "ipv4": None}
    for host, state in sorted(hosts.items()):
        for entry in state["mta_sts"]:
            for name in mta_sts.names_of(entry["domain"]):
                dns[name] = {"host": host, "ipv4": None}
    for host, state in sorted(hosts.items()):
        for binding in state["ip_bindings"]:
            if binding.get("helo"):
                dns[binding["helo"]] = {"host": host, "ipv4": binding["address"], "ptr": True}
    for host in hosts:
        dns.setdefault(mail_host_fqdn(host, domain), {"host": host, "ipv4": None})
    summary = {}
    for client in clients:
        summary[client["id"]] = {
            "package": client["package"], "features": client["features"], "gdpr": client["features"]["gdpr"],
            "web_host": client["web_host"], "mail_host": client["mail_host"], "names": client_names(client),
            "mail_names": client["mail_names"], "webmail_names": client["webmail_names"],
            "mailboxes": [b["address"] for b in client["mailboxes"]], "dedicated_ip": client["dedicated_ip"],
            "backup": (client["backup"] or {}).get("managed_by", "none"), "sftp": bool(client["sftp"]),
        }
    reseller = {k: v for k, v in model["reseller"].items() if k != "backup"}
    return {"reseller": reseller, "platform": model["platform"], "clients": summary, "hosts": hosts, "dns": dns,
            "mail_dns": _mail_dns(model, clients, hosts)}
