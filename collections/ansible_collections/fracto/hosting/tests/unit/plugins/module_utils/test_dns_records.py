"""The DNS records each client publishes for its mail, per client and per branding (module_utils/mail/dns_records.py),
as resolve_state puts them in the public state (issue 13)."""

from __future__ import annotations

import hashlib

from ansible_collections.fracto.hosting.plugins.module_utils.mail import dns_records
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import MailDnsRecords
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state

CONTACT = "ops@dominioreseller.test"


def resolved(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    return resolve_state(model)


def table(records, client=None):
    return [(r["name"], r["type"], r["value"]) for r in records if client is None or r["client"] == client]


def test_each_branding_points_its_clients_at_its_mail_name(state, inventory):
    records = resolved(state, inventory)["mail_dns"]
    mx = {r["domain"]: (r["priority"], r["value"]) for r in records if r["purpose"] == "mx"}
    assert mx == {"cliente1.test": (10, "mail.cliente1.test"),              # client branding: its own name
                  "cliente2.test": (10, "mail.dominioreseller.test"),       # reseller branding
                  "xn--caff-8oa.test": (10, "mail.dominioreseller.test"),
                  "cliente3.test": (10, "mail01.fracto.test")}              # generic: the mail host's name


def test_spf_names_the_mail_name_and_the_dedicated_mail_address(state, inventory):
    spf = {r["domain"]: r["value"] for r in resolved(state, inventory)["mail_dns"] if r["purpose"] == "spf"}
    assert spf == {"cliente1.test": "v=spf1 a:mail.cliente1.test -all",
                   "cliente2.test": "v=spf1 a:mail.dominioreseller.test ip4:198.51.100.11 -all",
                   "xn--caff-8oa.test": "v=spf1 a:mail.dominioreseller.test ip4:198.51.100.11 -all",
                   "cliente3.test": "v=spf1 a:mail01.fracto.test -all"}


def test_a_client_publishes_mx_spf_dmarc_tls_rpt_and_mta_sts(state, inventory):
    records = resolved(state, inventory)["mail_dns"]
    policy = "version: STSv1\r\nmode: testing\r\nmx: mail01.fracto.test\r\nmax_age: 604800\r\n"
    sts_id = hashlib.sha256(policy.encode()).hexdigest()[:20]
    assert table(records, "cliente3") == [
        ("cliente3.test", "MX", "mail01.fracto.test"),
        ("cliente3.test", "TXT", "v=spf1 a:mail01.fracto.test -all"),
        ("_dmarc.cliente3.test", "TXT", "v=DMARC1; p=quarantine; rua=mailto:ops@dominioreseller.test"),
        ("_smtp._tls.cliente3.test", "TXT", "v=TLSRPTv1; rua=mailto:ops@dominioreseller.test"),
        ("_mta-sts.cliente3.test", "TXT", "v=STSv1; id=%s" % sts_id),
    ]
    assert next(r for r in records if r["name"] == "_mta-sts.cliente3.test")["policy"] == policy


def test_the_reseller_authorises_its_contact_domain_to_receive_the_reports(state, inventory):
    records = resolved(state, inventory)["mail_dns"]
    assert table(records, "(reseller)") == [
        ("%s._report._dmarc.dominioreseller.test" % d, "TXT", "v=DMARC1")
        for d in ("cliente1.test", "cliente2.test", "cliente3.test", "xn--caff-8oa.test")]
    # A contact address in the client's own domain needs no authorisation.
    mine = MailDnsRecords("postmaster@c1.test").all([client("c1", "client", ["mail.c1.test"], ["c1.test", "sub.c1.test"])])
    assert [r for r in mine if r["purpose"] == "dmarc-report-authorization"] == []


def test_the_package_sets_the_dmarc_policy_and_a_client_may_override_it(state, inventory):
    state["fracto_packages"]["business"]["mail_dmarc_policy"] = "reject"
    state["fracto_clients"]["cliente3"]["overrides"]["mail_dmarc_policy"] = "none"
    dmarc = {r["domain"]: r["value"] for r in resolved(state, inventory)["mail_dns"] if r["purpose"] == "dmarc"}
    assert dmarc["cliente2.test"] == "v=DMARC1; p=reject; rua=mailto:ops@dominioreseller.test"
    assert dmarc["cliente3.test"] == "v=DMARC1; p=none; rua=mailto:ops@dominioreseller.test"
    assert dmarc["cliente1.test"] == "v=DMARC1; p=quarantine; rua=mailto:ops@dominioreseller.test"


def test_a_mail_subdomain_with_client_branding_uses_its_parents_mail_name(state, inventory):
    state["fracto_clients"]["cliente1"]["mailboxes"]["news@shop.cliente1.test"] = {"password_hash": state[
        "fracto_clients"]["cliente1"]["mailboxes"]["ana@cliente1.test"]["password_hash"]}
    records = resolved(state, inventory)["mail_dns"]
    assert ("shop.cliente1.test", "MX", "mail.cliente1.test") in table(records, "cliente1")
    assert ("shop.cliente1.test", "TXT", "v=spf1 a:mail.cliente1.test -all") in table(records, "cliente1")


def test_a_client_without_mail_publishes_nothing(state, inventory):
    state["fracto_packages"]["web"] = {"autossl": True}
    state["fracto_clients"]["cliente4"] = {"package": "web", "web_host": "cloud02", "domains": {"cliente4.test": {}}}
    records = resolved(state, inventory)["mail_dns"]
    assert not [r for r in records if r["client"] == "cliente4" or r["domain"] == "cliente4.test"]


def client(cid, branding, names, domains, mail_ip=None, policy=None):
    return {"id": cid, "branding": branding, "mail_names": names, "mail_domains": domains, "mail_ip": mail_ip,
            "dmarc_policy": policy}


def test_dkim_keys_given_per_domain_are_listed_by_selector():
    """The place DKIM fills in: one TXT per selector at <selector>._domainkey.<domain>."""
    keys = {"c1.test": [{"selector": "fr2025a", "value": "v=DKIM1; k=rsa; p=MIIBIjAN"}]}
    records = MailDnsRecords(CONTACT, dkim=keys).records(client("c1", "client", ["mail.c1.test"], ["c1.test"]))
    assert [(r["name"], r["value"]) for r in records if r["purpose"] == "dkim"] == [
        ("fr2025a._domainkey.c1.test", "v=DKIM1; k=rsa; p=MIIBIjAN")]


def test_no_contact_address_means_no_report_addresses():
    records = MailDnsRecords(None).all([client("c1", "generic", ["mail01.fracto.test"], ["c1.test"])])
    assert [r["purpose"] for r in records] == ["mx", "spf", "dmarc", "mta-sts"]
    assert next(r for r in records if r["purpose"] == "dmarc")["value"] == "v=DMARC1; p=quarantine"


def test_records_print_as_zone_file_lines_per_client_and_branding():
    records = MailDnsRecords(CONTACT).all([client("c1", "reseller", ["mail.brand.test"], ["c1.test"], mail_ip="198.51.100.7")])
    printed = dns_records.lines(records, {"c1": "reseller"})
    assert printed[:5] == ["", "mail DNS records each client publishes (docs/mail.md):",
                           "  c1 (mail branding reseller):",
                           "    c1.test. IN MX 10 mail.brand.test.",
                           '    c1.test. IN TXT "v=spf1 a:mail.brand.test ip4:198.51.100.7 -all"']
    assert printed[-2:] == ["  (reseller):", '    c1.test._report._dmarc.dominioreseller.test. IN TXT "v=DMARC1"']
    assert dns_records.lines([]) == []
