# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MTA-STS policy of each mail domain, served over HTTPS at https://mta-sts.<domain>/.well-known/mta-sts.txt
(RFC 8461; issue 13, docs/mail.md#mta-sts).

The resolved state lists, per mail host, each client's mail domains with the MX name the policy names (the mail name
of the client's branding); mail_server checks them again, keeps them in the reseller's record and writes one nginx
vhost per name from every record on the host, with the policy text inline (it holds the MX name and fixed words
only). The name's certificate is one per client (mta-sts.<its first domain>), ordered with the mail names'.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import mta_sts_policy

PREFIX = "mta-sts."
POLICY_PATH = "/.well-known/mta-sts.txt"
NAMES_PER_CERTIFICATE = 100  # the most names a public CA signs in one certificate (state/names.py: the same)


def name_of(domain):
    return PREFIX + domain


def certificates(entries):
    """The ACME certificates of a host's policy names: one per client (chunks of 100 names), id mta-sts.<first domain>."""
    by_client = {}
    for entry in entries:
        by_client.setdefault(entry["client"], []).append(name_of(entry["domain"]))
    out = []
    for cid, names in sorted(by_client.items()):
        names = sorted(set(names))
        for start in range(0, len(names), NAMES_PER_CERTIFICATE):
            chunk = names[start:start + NAMES_PER_CERTIFICATE]
            out.append({"id": chunk[0], "client": cid, "source": "acme", "names": chunk})
    return out


def checked(entries, domains):
    """mail_server's mta_sts parameter as [{domain, client, mx}], each value whole-matched; a domain must be one of the
    reseller's mail domains (domains: {domain: client}) and of the same client. Raises safe.UnsafeValue."""
    out = []
    for index, entry in enumerate(entries):
        where = "mta_sts[%d]" % index
        unknown = sorted(set(entry) - {"domain", "client", "mx"})
        if unknown:
            raise safe.UnsafeValue("%s.%s" % (where, unknown[0]), "unknown key (allowed: domain, client, mx)")
        domain = safe.domain(entry.get("domain"), where + ".domain")
        client = safe.client(entry.get("client"), where + ".client")
        mx = safe.hostname(entry.get("mx"), where + ".mx")
        if domains.get(domain) != client:
            raise safe.UnsafeValue(where + ".domain", "%s is not a mail domain of client %s in this state" % (domain, client))
        safe.domain(name_of(domain), where + ".domain")  # the policy name must still be a DNS name
        out.append({"domain": domain, "client": client, "mx": mx})
    return sorted(out, key=lambda e: e["domain"])


def policy_of(entry):
    """The policy text of one entry: the one its _mta-sts record's id is computed from (dns_records)."""
    return mta_sts_policy([entry["mx"]])


def vhost_path(domain):
    return "%s/sites/%s.conf" % (mc.NGINX_DIR, name_of(domain))


def render(entries, cert_paths, *, templates):
    """{path: content} of the policy vhosts of entries (every record's, checked()), HTTPS once the name's certificate
    is installed (cert_paths: {name: (fullchain, key)}); the first line (who owns it) is the module's."""
    files = {}
    for entry in entries:
        name = name_of(entry["domain"])
        cert = cert_paths.get(name)
        https = None
        if cert:
            https = {"certificate": safe.config_value(cert[0], "certificate of %s" % name),
                     "key": safe.config_value(cert[1], "certificate of %s" % name)}
        first = "# %s: client=%s mta-sts=%s tls=%s\n" % (mc.MARK, entry["client"], name, "acme" if cert else "none")
        context = {"name": name, "https": https, "challenge": mc.CHALLENGE, "tls_params": mc.TLS_PARAMS,
                   "path": POLICY_PATH, "policy_lines": policy_of(entry).splitlines()}
        files[vhost_path(entry["domain"])] = first + templates.render("mta_sts_vhost", context)
    return files
