# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DNS records each client publishes for its mail, per client and per branding (docs/mail.md).

Computed on the controller from the resolved state (resolve.py), never on a host: for every mail domain of a client,

- MX: the mail name of the client's branding (generic <mail host>.<platform domain>, reseller mail.<brand domain>,
  client mail.<the client's domain the mail domain is, or is under>);
- SPF: ``v=spf1 a:<that mail name> [ip4:<the client's dedicated mail address>] -all``. The mail name follows the
  host's main address (outgoing mail without a dedicated address leaves from it, and the host's addresses are not in
  the state), and keeps the platform's name out of a branded client's record;
- DMARC at _dmarc.<domain>: the package's ``mail_dmarc_policy`` (quarantine by default), aggregate reports to the
  reseller's contact address; where that address is in another domain, the reseller publishes the authorisation
  record <domain>._report._dmarc.<its domain> (RFC 7489 7.1), listed as the reseller's;
- TLS-RPT at _smtp._tls.<domain>: reports to the same address;
- MTA-STS at _mta-sts.<domain>: ``v=STSv1; id=<id>``, the id derived from the policy's text (it changes when the
  policy does, so senders fetch it again). Serving the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt is
  not done yet: each record carries its policy text for that part.

- DKIM at <selector>._domainkey.<domain>: one TXT per key the mail host made (module_utils/mail/dkim.py). The keys are
  made on the mail hosts, so they are known only once a host ran (or, in check mode, ran before): resolve.py cannot
  list them; plan_report adds those the hosts returned with with_dkim() (MailDnsRecords(dkim=...) does the same for
  a caller that has them). A key longer than 255 bytes is split into several strings of one TXT record.
Pure code on plain data: unit-tested without Ansible (tests/unit/plugins/module_utils/test_dns_records.py).
"""

from __future__ import annotations

import hashlib

RESELLER = "(reseller)"
MX_PRIORITY = 10
DMARC_POLICIES = ("none", "quarantine", "reject")
DEFAULT_DMARC_POLICY = "quarantine"
# MTA-STS: testing until the policy is served over HTTPS and TLS-RPT shows no failure (docs/mail.md), one week.
MTA_STS_MODE = "testing"
MTA_STS_MAX_AGE = 604800
# A TXT record holds strings of at most 255 bytes each; a longer value is split (RFC 1035 3.3.14, RFC 6376 3.6.2.2).
TXT_STRING = 255
# The order records are listed in, per domain.
PURPOSES = ("mx", "spf", "dmarc", "tls-rpt", "mta-sts", "dkim", "dmarc-report-authorization")


def record(client, domain, purpose, name, rtype, value, **extra):
    return dict({"client": client, "domain": domain, "purpose": purpose, "name": name, "type": rtype, "value": value},
                **extra)


def under(name, parent):
    return name == parent or name.endswith("." + parent)


class MailDnsRecords:
    """The records of a reseller's clients: records(client) for one client, all(clients) for all of them with the
    reseller's report authorisations.

    A client is a plain dict: id, branding (generic, reseller, client), mail_names (the names of its branding, as
    resolved), mail_domains, mail_ip (its dedicated mail address or None), dmarc_policy.
    """

    def __init__(self, contact_email, dkim=None):
        self.contact = contact_email
        self.report_domain = contact_email.rsplit("@", 1)[-1] if contact_email else None
        self.dkim = dkim or {}

    def mail_name(self, client, domain):
        return mail_name_for(client["mail_names"], client["branding"], domain)

    def records(self, client):
        """Every record of one client, domain by domain (empty without mail names: nothing to point at)."""
        out = []
        for domain in sorted(client["mail_domains"]):
            mail_name = self.mail_name(client, domain)
            if mail_name:
                out += self.domain_records(client, domain, mail_name)
        return out

    def domain_records(self, client, domain, mail_name):
        cid = client["id"]
        spf = ["v=spf1", "a:%s" % mail_name] + (["ip4:%s" % client["mail_ip"]] if client.get("mail_ip") else []) + ["-all"]
        policy = mta_sts_policy([mail_name])
        out = [
            record(cid, domain, "mx", domain, "MX", mail_name, priority=MX_PRIORITY),
            record(cid, domain, "spf", domain, "TXT", " ".join(spf)),
            record(cid, domain, "dmarc", "_dmarc." + domain, "TXT", self.dmarc(client.get("dmarc_policy"))),
        ]
        if self.contact:
            out.append(record(cid, domain, "tls-rpt", "_smtp._tls." + domain, "TXT", "v=TLSRPTv1; rua=mailto:%s" % self.contact))
        out.append(record(cid, domain, "mta-sts", "_mta-sts." + domain, "TXT", "v=STSv1; id=%s" % policy_id(policy),
                          policy=policy))
        out += [dkim_record(cid, domain, key) for key in self.dkim.get(domain, [])]
        return out

    def dmarc(self, policy):
        value = "v=DMARC1; p=%s" % (policy or DEFAULT_DMARC_POLICY)
        return value + ("; rua=mailto:%s" % self.contact if self.contact else "")

    def report_authorizations(self, domains):
        """The reseller's records that let its contact domain receive the aggregate reports of other domains."""
        own = self.report_domain
        if not own:
            return []
        return [record(RESELLER, domain, "dmarc-report-authorization", "%s._report._dmarc.%s" % (domain, own), "TXT",
                       "v=DMARC1")
                for domain in sorted(set(domains)) if not (under(domain, own) or under(own, domain))]

    def all(self, clients):
        """Every client's records (clients sorted by id), then the reseller's."""
        out = []
        for client in sorted(clients, key=lambda c: c["id"]):
            out += self.records(client)
        return out + self.report_authorizations(r["domain"] for r in out if r["purpose"] == "dmarc")


def dkim_record(client, domain, key):
    """The TXT record of one DKIM key ({selector, value}, as mail_server returns it)."""
    return record(client, domain, "dkim", "%s._domainkey.%s" % (key["selector"], domain), "TXT", key["value"],
                  **({"state": key["state"]} if key.get("state") else {}))


def with_dkim(records, keys):
    """records (MailDnsRecords.all()) with the TXT record of each DKIM key the mail hosts returned ([{domain, client,
    selector, state, value}]; a key not made yet, in check mode, has no value and is left out) after the other
    records of its domain."""
    by_domain = {}
    for key in keys:
        if key.get("value"):
            by_domain.setdefault(key["domain"], []).append(key)
    out, placed = [], set()
    for index, rec in enumerate(records):
        out.append(rec)
        last_of_domain = index + 1 == len(records) or records[index + 1]["domain"] != rec["domain"]
        if last_of_domain and rec["client"] != RESELLER and rec["domain"] not in placed:
            placed.add(rec["domain"])
            out += [dkim_record(rec["client"], rec["domain"], key)
                    for key in sorted(by_domain.get(rec["domain"], []), key=lambda k: k["selector"])]
    return out


def txt_strings(value, size=TXT_STRING):
    """value as the strings of one TXT record, each at most size bytes (the records are ASCII)."""
    data = value.encode("ascii")
    return [data[i:i + size].decode("ascii") for i in range(0, len(data), size)] or [""]


def mail_name_for(names, branding, domain):
    """The MX of a mail domain: the one name of a generic or reseller branding; with client branding the mail name
    of the client's domain that the mail domain is (or is a subdomain of), the longest such domain first."""
    if branding != "client":
        return names[0] if names else None
    bases = sorted((n[len("mail."):] for n in names if n.startswith("mail.")), key=len, reverse=True)
    base = next((b for b in bases if under(domain, b)), None)
    return "mail." + base if base else None


def mta_sts_policy(mx_names, mode=MTA_STS_MODE, max_age=MTA_STS_MAX_AGE):
    """The policy text served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 3.2, CRLF lines)."""
    lines = ["version: STSv1", "mode: %s" % mode] + ["mx: %s" % name for name in mx_names] + ["max_age: %d" % max_age]
    return "".join(line + "\r\n" for line in lines)


def policy_id(policy):
    """The id of the _mta-sts record: 20 hex characters of the policy's SHA-256 (RFC 8461 allows 1-32 alphanumerics)."""
    return hashlib.sha256(policy.encode("ascii")).hexdigest()[:20]


def zone_line(rec):
    """One record as a zone file line: name. IN MX 10 host. or name. IN TXT "text" (a longer text as "..." "...")."""
    if rec["type"] == "MX":
        return "%s. IN MX %d %s." % (rec["name"], rec["priority"], rec["value"])
    return "%s. IN TXT %s" % (rec["name"], " ".join('"%s"' % part for part in txt_strings(rec["value"])))


def lines(records, branding=None):
    """The plan's and report's block: each client's records as zone lines, the reseller's last.

    branding: {client: its mail branding}, shown beside the client's id."""
    if not records:
        return []
    out = ["", "mail DNS records each client publishes (docs/mail.md):"]
    grouped = {}
    for rec in records:
        grouped.setdefault(rec["client"], []).append(rec)
    for client in sorted(grouped, key=lambda c: (c == RESELLER, c)):
        label = "%s (mail branding %s)" % (client, branding[client]) if branding and client in branding else client
        out.append("  %s:" % label)
        out += ["    " + zone_line(rec) for rec in grouped[client]]
    return out
