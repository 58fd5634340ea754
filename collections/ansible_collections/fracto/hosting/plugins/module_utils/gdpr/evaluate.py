# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge the GDPR evidence of a client: pure functions from what the probes and the hosts showed to verdicts.

The policy (docs/gdpr.md): every name served over HTTPS with a certificate that verifies and covers it;
HTTP redirects to HTTPS; HSTS sent with max-age of at least six months; mail authentication only over TLS;
a successful encrypted backup outside the host within the last 48 hours for every backup job of the client.
Each requirement is {id, title, passed, reasons, evidence}; a client is compliant when every requirement passes.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact_url

HSTS_MIN_AGE = 15552000  # 180 days: six months
BACKUP_MAX_AGE_HOURS = 48
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
PLAINTEXT_MECHANISMS = ("PLAIN", "LOGIN")

REQUIREMENTS = (
    ("https-everywhere", "every name served over HTTPS with a certificate that verifies and covers it"),
    ("http-redirects-to-https", "HTTP redirects to HTTPS"),
    ("hsts", "Strict-Transport-Security sent (max-age at least six months)"),
    ("tls-only-mail-access", "mail authentication only over TLS"),
    ("encrypted-offsite-backup", "a successful encrypted backup outside the host within the last 48 hours"),
)
TITLES = dict(REQUIREMENTS)


def _requirement(rid, reasons, evidence, passed=None, note=None):
    out = {"id": rid, "title": TITLES[rid], "passed": not reasons if passed is None else passed, "reasons": reasons,
           "evidence": evidence}
    if note:
        out["note"] = note
    return out


def parse_time(value):
    """An ISO-8601 time (with Z or an offset; naive is taken as UTC) as an aware datetime, or None."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def format_age(seconds):
    hours = seconds / 3600.0
    return "%.1f h" % hours if hours < 72 else "%.1f days" % (hours / 24)


def web_names(client):
    """Every name the client is reached at over the web: its sites' names and its webmail names."""
    return list(client.get("names") or []) + [n for n in client.get("webmail_names") or [] if n not in (client.get("names") or [])]


def address_of(name, dns, host_addresses):
    """Where a name is served: its dedicated IPv4, else the address of its host; None when unknown."""
    entry = (dns or {}).get(name) or {}
    if entry.get("ipv4"):
        return entry["ipv4"]
    return (host_addresses or {}).get(entry.get("host"))


# --- https-everywhere ---------------------------------------------------------------------------------------------

def evaluate_https(names, https):
    """https: {name: probe_https result}."""
    reasons, evidence = [], []
    for name in names:
        probe = https.get(name)
        if probe is None:
            reasons.append("%s: not probed (its host has no known address)" % name)
            continue
        cert = probe.get("certificate") or {}
        line = {"name": name, "address": probe.get("address"), "verified": bool(probe.get("verified")),
                "subject": cert.get("subject"), "issuer": cert.get("issuer"), "certificate_names": cert.get("names", []),
                "not_after": cert.get("not_after"), "tls_version": probe.get("tls_version"), "status": probe.get("status")}
        if not probe.get("reachable"):
            reasons.append("%s: HTTPS not served at %s:443 (%s)" % (name, probe.get("address"), probe.get("error")))
            line["error"] = probe.get("error")
        elif not probe.get("verified"):
            reasons.append("%s: %s" % (name, probe.get("error") or "certificate does not verify"))
            line["error"] = probe.get("error")
        elif probe.get("status") is None:
            reasons.append("%s: TLS verified but no HTTP answer over it (%s)" % (name, probe.get("error")))
            line["error"] = probe.get("error")
        evidence.append(line)
    return _requirement("https-everywhere", reasons, evidence)


# --- http-redirects-to-https --------------------------------------------------------------------------------------

def _redirect_target_ok(location, name):
    if not location:
        return False
    match = re.match(r"^https://([^/:?#]+)(:443)?([/?#]|$)", location, re.IGNORECASE)
    return bool(match) and match.group(1).lower().rstrip(".") == name.lower()


def evaluate_redirects(names, http):
    """http: {name: probe_http result}. Passes when GET http://name/ answers 30x to https://name/..."""
    reasons, evidence = [], []
    for name in names:
        probe = http.get(name)
        if probe is None:
            reasons.append("%s: not probed (its host has no known address)" % name)
            continue
        evidence.append({"name": name, "address": probe.get("address"), "status": probe.get("status"),
                         "location": probe.get("location"), "error": probe.get("error")})
        if probe.get("error"):
            reasons.append("%s: HTTP request failed (%s)" % (name, probe["error"]))
        elif probe.get("status") not in REDIRECT_STATUSES:
            reasons.append("%s: HTTP answers %s, not a redirect to HTTPS" % (name, probe.get("status")))
        elif not _redirect_target_ok(probe.get("location"), name):
            reasons.append("%s: HTTP redirects to %s, not to https://%s/" % (name, probe.get("location"), name))
    return _requirement("http-redirects-to-https", reasons, evidence)


# --- hsts ---------------------------------------------------------------------------------------------------------

def hsts_max_age(header):
    """max-age of a Strict-Transport-Security value, or None when absent or malformed."""
    if not header:
        return None
    match = re.search(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", header, re.IGNORECASE)
    return int(match.group(1)) if match else None


def evaluate_hsts(names, https, min_age=HSTS_MIN_AGE):
    reasons, evidence = [], []
    for name in names:
        probe = https.get(name)
        if probe is None or not probe.get("verified") or probe.get("status") is None:
            reasons.append("%s: no verified HTTPS response to read the header from" % name)
            evidence.append({"name": name, "header": None, "max_age": None})
            continue
        header = probe.get("hsts")
        age = hsts_max_age(header)
        evidence.append({"name": name, "header": header, "max_age": age, "status": probe.get("status")})
        if header is None:
            reasons.append("%s: no Strict-Transport-Security header (HTTPS answered %s)" % (name, probe.get("status")))
        elif age is None:
            reasons.append("%s: Strict-Transport-Security without a valid max-age: %r" % (name, header))
        elif age < min_age:
            reasons.append("%s: HSTS max-age=%d is less than %d (six months)" % (name, age, min_age))
    return _requirement("hsts", reasons, evidence)


# --- tls-only-mail-access -----------------------------------------------------------------------------------------

def _plaintext_findings(probe):
    """Reasons why a mail probe allows authentication in clear, or [] (and the evidence line)."""
    port = "%s %s" % (probe.get("protocol", "?").upper(), probe.get("port"))
    if not probe.get("open"):
        if probe.get("refused"):
            return [], "%s: closed (connection refused): no plaintext service" % port
        return ["%s: did not answer (%s): cannot show that it refuses plaintext authentication" % (port, probe.get("error"))], \
            "%s: no answer (%s)" % (port, probe.get("error"))
    if probe.get("error") and not (probe.get("capabilities") or probe.get("extensions")):
        return ["%s: %s" % (port, probe["error"])], "%s: error %s" % (port, probe["error"])
    protocol = probe.get("protocol")
    reasons = []
    if protocol == "imap":
        caps = [c.upper() for c in probe.get("capabilities") or []]
        plain = sorted(c[5:] for c in caps if c.startswith("AUTH=") and c[5:] in PLAINTEXT_MECHANISMS)
        if "LOGINDISABLED" not in caps:
            reasons.append("%s: LOGIN allowed before STARTTLS (no LOGINDISABLED)" % port)
        if plain:
            reasons.append("%s: offers AUTH=%s before STARTTLS" % (port, ",".join(plain)))
        return reasons, "%s: capabilities before STARTTLS: %s" % (port, " ".join(caps) or "(none)")
    if protocol == "pop3":
        caps = [c.upper() for c in probe.get("capabilities") or []]
        sasl = [c for c in caps if c.startswith("SASL ")]
        plain = sorted({m for c in sasl for m in c.split()[1:] if m in PLAINTEXT_MECHANISMS})
        if probe.get("user_accepted"):
            reasons.append("%s: USER accepted in clear (%s)" % (port, probe.get("user_answer")))
        if plain:
            reasons.append("%s: offers SASL %s before STLS" % (port, ",".join(plain)))
        return reasons, "%s: USER answered %r; CAPA: %s" % (port, probe.get("user_answer"), "; ".join(caps) or "(none)")
    # smtp / submission
    auth = [m.upper() for m in probe.get("auth") or []]
    if auth:
        reasons.append("%s: offers AUTH %s before STARTTLS" % (port, " ".join(auth)))
    return reasons, "%s: EHLO before STARTTLS: %s" % (port, " ".join(probe.get("extensions") or []) or "(none)")


def _config_findings(config):
    """Reasons from the mail host's own configuration (doveconf / postconf), the second source."""
    reasons, lines = [], []
    dovecot = dict((config or {}).get("dovecot") or {})
    postfix = dict((config or {}).get("postfix") or {})
    for server, values in (("doveconf", dovecot), ("postconf", postfix)):
        if "error" in values:
            reasons.append("%s failed: %s" % (server, values.pop("error")))
    if dovecot:
        lines.append("doveconf: " + ", ".join("%s = %s" % kv for kv in sorted(dovecot.items())))
        if str(dovecot.get("disable_plaintext_auth", "")).lower() not in ("yes", "") or \
                (dovecot.get("auth_allow_cleartext") or "").lower() == "yes":
            reasons.append("Dovecot allows plaintext authentication (doveconf disable_plaintext_auth = %s)"
                           % dovecot.get("disable_plaintext_auth"))
        if dovecot.get("ssl") and dovecot["ssl"].lower() not in ("required", "yes"):
            reasons.append("Dovecot ssl = %s" % dovecot["ssl"])
    if postfix:
        lines.append("postconf: " + ", ".join("%s = %s" % kv for kv in sorted(postfix.items())))
        services = {"main.cf (smtpd)": {}}
        services.update((config or {}).get("postfix_services") or {})
        for service, overrides in sorted(services.items()):
            if overrides:
                lines.append("postconf -P %s: %s" % (service, ", ".join("%s = %s" % kv for kv in sorted(overrides.items()))))
            if not _postfix_sasl_in_clear(postfix, overrides):
                continue
            reasons.append("Postfix %s offers SASL without TLS (smtpd_tls_auth_only = %s)" % (
                service, overrides.get("smtpd_tls_auth_only", postfix.get("smtpd_tls_auth_only"))))
    return reasons, lines


def _postfix_sasl_in_clear(main, overrides):
    """Whether a Postfix smtpd service (main.cf settings, then its master.cf overrides) accepts SASL before TLS."""
    def value(name, default):
        return str(overrides.get(name, main.get(name, default)) or default).lower()
    if value("smtpd_sasl_auth_enable", "no") != "yes":
        return False
    if value("smtpd_tls_wrappermode", "no") == "yes" or value("smtpd_tls_security_level", "none") == "encrypt":
        return False
    return value("smtpd_tls_auth_only", "no") != "yes"


def evaluate_mail(mail_names, mail, config=None, uses_mail=True):
    """mail: {mail name: probe_mail result}; config: the mail host's doveconf/postconf values (second source)."""
    if not uses_mail:
        return _requirement("tls-only-mail-access", [], [], note="the package has no mail: not applicable")
    reasons, evidence = [], []
    if not mail_names:
        reasons.append("no mail name to probe")
    for name in mail_names:
        probe = mail.get(name)
        if probe is None:
            reasons.append("%s: not probed (its host has no known address)" % name)
            continue
        lines = []
        for key in ("imap", "pop3", "smtp", "submission"):
            found, line = _plaintext_findings(probe[key])
            reasons.extend("%s: %s" % (name, r) for r in found)
            lines.append(line)
        tls_ok = []
        for key in ("imaps", "pop3s", "submissions"):
            tls = probe[key]
            label = "%s %s" % (key.upper(), tls.get("port"))
            if tls.get("verified"):
                tls_ok.append(key)
                lines.append("%s: TLS %s, certificate for %s verifies (issuer %s, until %s)" % (
                    label, tls.get("tls_version"), name, (tls.get("certificate") or {}).get("issuer"),
                    (tls.get("certificate") or {}).get("not_after")))
            elif not tls.get("reachable"):
                lines.append("%s: not served (%s)" % (label, tls.get("error")))
            else:
                reasons.append("%s: %s: %s" % (name, label, tls.get("error")))
                lines.append("%s: %s" % (label, tls.get("error")))
        if not tls_ok:
            reasons.append("%s: no mail service over TLS answered (993, 995, 465)" % name)
        evidence.append({"name": name, "address": probe.get("address"), "checks": lines})
    found, lines = _config_findings(config)
    reasons.extend(found)
    if lines:
        evidence.append({"name": "(mail host configuration)", "checks": lines})
    return _requirement("tls-only-mail-access", reasons, evidence)


# --- encrypted-offsite-backup -------------------------------------------------------------------------------------

def expected_jobs(client_id, client):
    """The backup jobs a client has (as resolve.py plans them): web on its web host, mail on its mail host."""
    if (client.get("backup") or "none") == "none":
        return []
    jobs = [{"client": client_id, "side": "web", "host": client.get("web_host")}]
    if client.get("mail_host"):
        jobs.append({"client": client_id, "side": "mail", "host": client["mail_host"]})
    return jobs


def evaluate_backups(jobs, records, now, max_age_hours=BACKUP_MAX_AGE_HOURS, backup="none"):
    """jobs: [{client, side, host}]; records: [job record + {host, path}] read on the hosts; now: aware datetime."""
    if not jobs:
        return _requirement("encrypted-offsite-backup",
                            ["no backup job: the package has backup: %s (no backup outside the host)" % backup], [])
    reasons, evidence = [], []
    limit = datetime.timedelta(hours=max_age_hours)
    for job in jobs:
        label = "%s.%s" % (job["client"], job["side"])
        record = next((r for r in records if r.get("client") == job["client"] and r.get("side") == job["side"]
                       and r.get("host") in (job.get("host"), None)), None)
        if record is None:
            reasons.append("%s: no job record on %s (the job never ran, or its record is missing)" % (label, job.get("host")))
            evidence.append({"job": label, "host": job.get("host"), "record": None})
            continue
        line = {"job": label, "host": record.get("host"), "path": record.get("path"),
                "repository": redact_url(record.get("repository")), "managed_by": record.get("managed_by"),
                "outside_host": record.get("outside_host"), "encrypted": record.get("encrypted"),
                "last_attempt": record.get("last_attempt"), "last_status": record.get("last_status"),
                "last_success": record.get("last_success"), "last_error": redact_url(record.get("last_error")),
                "snapshot_id": record.get("snapshot_id"), "size_bytes": record.get("size_bytes")}
        evidence.append(line)
        if record.get("error"):
            reasons.append("%s: job record unreadable: %s" % (label, record["error"]))
            continue
        if record.get("encrypted") is not True:
            reasons.append("%s: repository not recorded as encrypted" % label)
        repository = redact_url(str(record.get("repository") or ""))
        if record.get("outside_host") is not True or repository.startswith(("local:", "/")):
            reasons.append("%s: repository %s is not outside the host" % (label, repository or "(none)"))
        success = parse_time(record.get("last_success"))
        if record.get("last_status") != "ok":
            reasons.append("%s: last run %s failed: %s" % (label, record.get("last_attempt"),
                                                           redact_url(record.get("last_error")) or "no error recorded"))
        if success is None:
            reasons.append("%s: no successful backup recorded%s" % (
                label, "" if record.get("last_success") is None else " (last_success %r unreadable)" % record.get("last_success")))
        else:
            age = now - success
            line["age"] = format_age(max(age.total_seconds(), 0))
            if age > limit:
                reasons.append("%s: last successful backup %s is %s old (more than %d h)" % (
                    label, record.get("last_success"), line["age"], max_age_hours))
            elif age < -datetime.timedelta(minutes=5):
                reasons.append("%s: last successful backup %s is in the future (clock skew?)" % (label, record.get("last_success")))
    return _requirement("encrypted-offsite-backup", reasons, evidence)


# --- the client ---------------------------------------------------------------------------------------------------

def evaluate_client(client_id, client, probes, records, now, jobs=None, mail_config=None,
                    hsts_min_age=HSTS_MIN_AGE, max_age_hours=BACKUP_MAX_AGE_HOURS):
    """The verdict of one client from the probes ({https, http, mail} keyed by name) and the job records."""
    names = web_names(client)
    features = client.get("features") or {}
    jobs = expected_jobs(client_id, client) if jobs is None else [j for j in jobs if j.get("client") == client_id]
    requirements = [
        evaluate_https(names, probes.get("https") or {}),
        evaluate_redirects(names, probes.get("http") or {}),
        evaluate_hsts(names, probes.get("https") or {}, hsts_min_age),
        evaluate_mail(client.get("mail_names") or [], probes.get("mail") or {}, mail_config,
                      uses_mail=bool(features.get("mail", True)) and bool(client.get("mail_host"))),
        evaluate_backups(jobs, records, now, max_age_hours, client.get("backup") or "none"),
    ]
    compliant = all(r["passed"] for r in requirements)
    claims = bool(client.get("gdpr"))
    missing = [r["id"] for r in requirements if not r["passed"]]
    return {
        "client": client_id, "package": client.get("package"), "claims_gdpr": claims, "compliant": compliant,
        "verdict": "compliant" if compliant else "not compliant",
        "blocking": claims and not compliant, "missing": missing, "requirements": requirements,
    }


def failures(verdicts):
    """{client: [reason]} of the clients whose package claims GDPR and that are not compliant."""
    return {v["client"]: [r for req in v["requirements"] for r in req["reasons"]]
            for v in verdicts if v["blocking"]}
