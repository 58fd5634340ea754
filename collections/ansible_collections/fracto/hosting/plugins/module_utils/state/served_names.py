# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names a validated client is served at: its web names, its vhosts, the name of its mail host.

Read from the normalised model (model.py), by the validation and by resolve.py.
"""

from __future__ import annotations


def client_names(client, aliases=True):
    """Every web name of a client: domains, aliases (optional) and subdomains."""
    names = []
    for domain in client.get("domains", []):
        names.append(domain["name"])
        if aliases:
            names.extend(domain["aliases"])
        names.extend(domain["subdomains"])
    return names


def client_vhosts(client):
    """The names of each vhost: a domain with its aliases, then each subdomain alone."""
    vhosts = []
    for domain in client.get("domains", []):
        vhosts.append([domain["name"]] + domain["aliases"])
        vhosts.extend([sub] for sub in domain["subdomains"])
    return vhosts


def mail_domains(client):
    """The client's mail domains: its domains and the domains of its mailboxes and aliases, sorted."""
    used = {b["domain"] for b in client["mailboxes"]} | {a["address"].split("@")[1] for a in client["mail_aliases"]}
    return sorted({d["name"] for d in client["domains"]} | used)


def mail_host_fqdn(host, platform_domain):
    return "%s.%s" % (host, platform_domain) if platform_domain else host
