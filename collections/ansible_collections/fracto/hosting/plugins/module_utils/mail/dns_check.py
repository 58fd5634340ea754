# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live check of the mail DNS records (dns_records.py): what is missing or different where the world looks.

Never fatal: each finding becomes a "needs attention" note of the plan or report (plan_report, -e
fracto_mail_dns_check=true). A record is compared by what matters to its receivers, not byte for byte: an MX must
be among the most preferred exchangers; the SPF record (one only) must hold the mechanisms we list, other mechanisms
of the client's own senders may stay; DMARC, TLS-RPT and MTA-STS must carry our tags (p, rua, id), other tags may
stay. A resolver that fails is reported (and after a few failures in a row the rest is not asked, and said so).
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import RESELLER

try:
    import dns.exception
    import dns.resolver

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - dnspython is in requirements.txt (the controller's)
    HAS_DNSPYTHON = False

# After this many lookups in a row that fail (timeouts, servers that do not answer), the rest is not asked.
MAX_FAILURES = 3
# The version tag each kind of TXT record starts with: other TXT records at the same name are not ours to judge.
TXT_TAGS = {"spf": "v=spf1", "dmarc": "v=DMARC1", "tls-rpt": "v=TLSRPTv1", "mta-sts": "v=STSv1", "dkim": "v=DKIM1",
            "dmarc-report-authorization": "v=DMARC1"}


class LookupFailed(Exception):
    """The resolver gave no answer (timeout, no server): not the same as a name without the record."""


def resolver_lookup(nameservers=None, lifetime=5.0):
    """lookup(name, rdtype) -> [answer text] through the given name servers, or the controller's resolver
    ([] for a name or type that does not exist; LookupFailed when nothing answers)."""
    if not HAS_DNSPYTHON:
        raise LookupFailed("dnspython is not installed on the controller")
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [str(n) for n in nameservers]
    resolver.lifetime = lifetime

    def lookup(name, rdtype):
        try:
            answer = resolver.resolve(name, rdtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.YXDOMAIN) as exc:
            raise LookupFailed("%s: %s" % (type(exc).__name__, exc)) from exc
        if rdtype == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        return [r.to_text() for r in answer]

    return lookup


def _tags(text):
    """{tag: value} of a tag=value; list (DMARC, TLS-RPT, MTA-STS, DKIM)."""
    tags = {}
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


def _mailtos(value):
    return {u.strip().lower() for u in (value or "").split(",") if u.strip()}


def compare_mx(rec, answers):
    """None when rec's host is among the most preferred exchangers, else what differs."""
    found = []
    for answer in answers:
        preference, _sep, host = answer.partition(" ")
        found.append((int(preference), host.strip().rstrip(".").lower()))
    best = min(p for p, _h in found)
    if (best, rec["value"]) in found:
        return None
    hosts = ", ".join("%d %s" % f for f in sorted(found))
    return "MX is %s, expected %d %s" % (hosts, rec["priority"], rec["value"])


def compare_spf(rec, published):
    if len(published) > 1:
        return "%d SPF records (receivers treat that as an error); publish one: %s" % (len(published), rec["value"])
    terms = {t.lower() for t in published[0].split()}
    missing = [t for t in rec["value"].split()[1:-1] if t.lower() not in terms]
    if missing:
        return "SPF record lacks %s: %s" % (" ".join(missing), published[0])
    if "+all" in terms or "all" in terms:
        return "SPF record lets any host send (+all): %s" % published[0]
    return None


def compare_tags(rec, published):
    """Our tags in one of the published records (rua: our address among theirs); None when one has them all.
    Values compare case-insensitively (p=Quarantine is p=quarantine), a DKIM key exactly (base64)."""
    want = _tags(rec["value"])
    fold = (lambda v: v) if rec["purpose"] == "dkim" else str.lower
    problems = []
    for text in published:
        have = _tags(text)
        problems = ["%s=%s (expected %s)" % (k, have.get(k, "missing"), v) for k, v in sorted(want.items())
                    if k != "rua" and fold(have.get(k, "")) != fold(v)]
        if "rua" in want and not _mailtos(want["rua"]) <= _mailtos(have.get("rua")):
            problems.append("rua=%s (expected %s)" % (have.get("rua", "missing"), want["rua"]))
        if not problems:
            return None
    return "%s; publish: %s" % (", ".join(problems), rec["value"])


def compare(rec, answers):
    """None when the published answers satisfy rec; else why not (missing records included)."""
    if rec["type"] == "MX":
        return compare_mx(rec, answers) if answers else "missing; publish: %d %s." % (rec["priority"], rec["value"])
    tag = TXT_TAGS.get(rec["purpose"], "")
    published = [a for a in answers if a.lower().startswith(tag.lower())] if tag else list(answers)
    if not published:
        return "missing; publish: %s" % rec["value"]
    if rec["purpose"] == "spf":
        return compare_spf(rec, published)
    return compare_tags(rec, published)


def check(records, lookup, max_failures=MAX_FAILURES):
    """The findings of the live check: [{client, item, what, detail}], what being "DNS record missing",
    "DNS record different" or "DNS lookup failed"."""
    findings, failures = [], 0
    for index, rec in enumerate(records):
        item = "%s %s" % (rec["name"], rec["type"])
        try:
            answers = lookup(rec["name"], rec["type"])
        except LookupFailed as exc:
            failures += 1
            findings.append({"client": rec["client"], "item": item, "what": "DNS lookup failed", "detail": str(exc)})
            if failures >= max_failures and index + 1 < len(records):
                findings.append({"client": RESELLER, "item": "mail DNS check", "what": "stopped",
                                 "detail": "%d lookups in a row failed; %d records were not checked"
                                           % (failures, len(records) - index - 1)})
                break
            continue
        failures = 0
        problem = compare(rec, answers)
        if problem:
            what = "DNS record missing" if problem.startswith("missing") else "DNS record different"
            findings.append({"client": rec["client"], "item": item, "what": what, "detail": problem})
    return findings
