# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vhost of each mail domain on its mail host: the MTA-STS policy at https://mta-sts.<domain>/.well-known/mta-sts.txt
(RFC 8461; issue 13, docs/mail.md#mta-sts) and mail client autoconfiguration at autoconfig.<domain> and
autodiscover.<domain> (mail/autoconfig.py; issue 16).

The resolved state lists, per mail host, each client's mail domains with the MX name the policy names (the mail name
of the client's branding); mail_server checks them again, keeps them in the reseller's record and writes one nginx
vhost per domain from every record on the host, with the policy and the autoconfiguration documents inline (they hold
the domain, the MX name and fixed words only). The names' certificate is one per client (id mta-sts.<its first
domain>, the three names of up to 33 domains), ordered with the mail names'.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail import autoconfig, safe
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import mta_sts_policy

PREFIX = "mta-sts."
SERVICE_PREFIXES = (PREFIX, "autoconfig.", "autodiscover.")  # the names of a mail domain its mail host answers for
POLICY_PATH = "/.well-known/mta-sts.txt"
NAMES_PER_CERTIFICATE = 100  # the most names a public CA signs in one certificate (state/names.py: the same)


def name_of(domain):
    return PREFIX + domain


def names_of(domain):
    """The names the mail host serves for domain: its MTA-STS policy name and the autoconfiguration names."""
    return [prefix + domain for prefix in SERVICE_PREFIXES]


def certificates(entries):
    """The ACME certificates of a host's mail domain names: one per client and chunk of domains (at most 100 names),
    id mta-sts.<first domain of the chunk>, so a domain's three names are always in one certificate."""
    by_client = {}
    for entry in entries:
        by_client.setdefault(entry["client"], set()).add(entry["domain"])
    per_certificate = NAMES_PER_CERTIFICATE // len(SERVICE_PREFIXES)
    out = []
    for cid, domains in sorted(by_client.items()):
        domains = sorted(domains)
        for start in range(0, len(domains), per_certificate):
            chunk = domains[start:start + per_certificate]
            out.append({"id": name_of(chunk[0]), "client": cid, "source": "acme",
                        "names": sorted(n for d in chunk for n in names_of(d))})
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
        for name in names_of(domain):  # each name served must still be a DNS name
            safe.domain(name, where + ".domain")
        out.append({"domain": domain, "client": client, "mx": mx})
    return sorted(out, key=lambda e: e["domain"])


def policy_of(entry):
    """The policy text of one entry: the one its _mta-sts record's id is computed from (dns_records)."""
    return mta_sts_policy([entry["mx"]])


def vhost_path(domain):
    return "%s/sites/%s.conf" % (mc.NGINX_DIR, name_of(domain))


def render(entries, cert_paths, *, templates):
    """{path: content} of the mail domain vhosts of entries (every record's, checked()), HTTPS once the names'
    certificate is installed (cert_paths: {name: (fullchain, key)}); the first line (who owns it) is the module's."""
    files = {}
    for entry in entries:
        name = name_of(entry["domain"])
        cert = cert_paths.get(name)
        https = None
        if cert:
            https = {"certificate": safe.config_value(cert[0], "certificate of %s" % name),
                     "key": safe.config_value(cert[1], "certificate of %s" % name)}
        first = "# %s: client=%s mta-sts=%s tls=%s\n" % (mc.MARK, entry["client"], name, "acme" if cert else "none")
        context = {"domain": entry["domain"], "name": name, "names": names_of(entry["domain"]), "https": https, "challenge": mc.CHALLENGE,
                   "tls_params": mc.TLS_PARAMS, "path": POLICY_PATH, "policy_lines": policy_of(entry).splitlines(),
                   "autoconfig": {"path": autoconfig.THUNDERBIRD_PATH,
                                  "body": autoconfig.nginx_string(autoconfig.thunderbird(entry["domain"], entry["mx"]))},
                   "autodiscover": {"path": autoconfig.AUTODISCOVER_PATH,
                                    "body": autoconfig.nginx_string(autoconfig.autodiscover(entry["mx"]))},
                   "apple": {"path": autoconfig.APPLE_PATH,
                             "body": autoconfig.nginx_string(autoconfig.apple_profile(entry["domain"], entry["mx"]))}}
        files[vhost_path(entry["domain"])] = first + templates.render("mta_sts_vhost", context)
    return files
