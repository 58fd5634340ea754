"""The live check of the mail DNS records (module_utils/mail/dns_check.py) and its notes in the plan (plan_report)."""

from __future__ import annotations

import json
from unittest import mock

import dns.exception
import dns.resolver
import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import dns_check
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import MailDnsRecords

CLIENT = {"id": "c2", "branding": "reseller", "mail_names": ["mail.brand.test"], "mail_domains": ["c2.test"],
          "mail_ip": "198.51.100.7", "dmarc_policy": "quarantine"}
RECORDS = MailDnsRecords("ops@brand.test").all([CLIENT])
BY = {r["purpose"]: r for r in RECORDS}
# What a client that published everything right (and has records of its own beside ours) answers.
PUBLISHED = {
    ("c2.test", "MX"): ["10 mail.brand.test.", "20 backup-mx.elsewhere.test."],
    ("c2.test", "TXT"): ["google-site-verification=abc",
                         "v=spf1 a:mail.brand.test ip4:198.51.100.7 include:_spf.newsletter.test -all"],
    ("_dmarc.c2.test", "TXT"): ["v=DMARC1; p=quarantine; rua=mailto:ops@brand.test,mailto:dmarc@c2.test; fo=1"],
    ("_smtp._tls.c2.test", "TXT"): ["v=TLSRPTv1; rua=mailto:ops@brand.test"],
    ("_mta-sts.c2.test", "TXT"): [BY["mta-sts"]["value"]],
    ("c2.test._report._dmarc.brand.test", "TXT"): ["v=DMARC1"],
}


def lookup_from(published):
    return lambda name, rdtype: list(published.get((name, rdtype), []))


def findings(published):
    return {(f["item"], f["what"]): f["detail"] for f in dns_check.check(RECORDS, lookup_from(published))}


def test_records_published_right_with_the_clients_own_beside_them_need_no_attention():
    assert findings(PUBLISHED) == {}


def test_a_missing_record_says_what_to_publish():
    published = dict(PUBLISHED)
    del published[("_dmarc.c2.test", "TXT")]
    del published[("c2.test", "MX")]
    assert findings(published) == {
        ("_dmarc.c2.test TXT", "DNS record missing"): "missing; publish: v=DMARC1; p=quarantine; rua=mailto:ops@brand.test",
        ("c2.test MX", "DNS record missing"): "missing; publish: 10 mail.brand.test."}


@pytest.mark.parametrize("key, answers, detail", [
    (("c2.test", "MX"), ["5 mx.elsewhere.test.", "10 mail.brand.test."],
     "MX is 5 mx.elsewhere.test, 10 mail.brand.test, expected 10 mail.brand.test"),
    (("c2.test", "TXT"), ["v=spf1 a:mail.brand.test -all"],
     "SPF record lacks ip4:198.51.100.7: v=spf1 a:mail.brand.test -all"),
    (("c2.test", "TXT"), ["v=spf1 a:mail.brand.test ip4:198.51.100.7 -all", "v=spf1 mx -all"],
     "2 SPF records (receivers treat that as an error); publish one: v=spf1 a:mail.brand.test ip4:198.51.100.7 -all"),
    (("c2.test", "TXT"), ["v=spf1 a:mail.brand.test ip4:198.51.100.7 +all"],
     "SPF record lets any host send (+all): v=spf1 a:mail.brand.test ip4:198.51.100.7 +all"),
    (("_dmarc.c2.test", "TXT"), ["v=DMARC1; p=none; rua=mailto:someone@else.test"],
     "p=none (expected quarantine), rua=mailto:someone@else.test (expected mailto:ops@brand.test); "
     "publish: v=DMARC1; p=quarantine; rua=mailto:ops@brand.test"),
    (("_mta-sts.c2.test", "TXT"), ["v=STSv1; id=20240101"],
     "id=20240101 (expected %s); publish: %s" % (BY["mta-sts"]["value"].split("id=")[1], BY["mta-sts"]["value"])),
])
def test_a_different_record_says_what_differs(key, answers, detail):
    published = {**PUBLISHED, key: answers}
    found = findings(published)
    assert found == {("%s %s" % key, "DNS record different"): detail}


def test_other_txt_records_at_the_name_do_not_count_as_ours():
    published = {**PUBLISHED, ("c2.test", "TXT"): ["google-site-verification=abc"]}
    assert findings(published) == {("c2.test TXT", "DNS record missing"):
                                   "missing; publish: v=spf1 a:mail.brand.test ip4:198.51.100.7 -all"}


def test_a_resolver_that_fails_is_reported_and_the_check_stops_after_three_failures():
    def lookup(name, rdtype):
        raise dns_check.LookupFailed("Timeout: the DNS operation timed out")

    found = dns_check.check(RECORDS, lookup)
    assert [f["what"] for f in found] == ["DNS lookup failed"] * 3 + ["stopped"]
    assert found[0] == {"client": "c2", "item": "c2.test MX", "what": "DNS lookup failed",
                        "detail": "Timeout: the DNS operation timed out"}
    assert found[-1]["detail"] == "3 lookups in a row failed; %d records were not checked" % (len(RECORDS) - 3)


def test_resolver_lookup_tells_a_missing_name_from_a_failure(monkeypatch):
    answers = {"c2.test": dns.resolver.NXDOMAIN(), "_dmarc.c2.test": dns.resolver.NoAnswer(),
               "slow.test": dns.exception.Timeout()}

    def resolve(self, name, rdtype):
        if name in answers:
            raise answers[name]
        return [mock.Mock(strings=(b"v=DMARC1; p=quar", b"antine"))]

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", resolve)
    lookup = dns_check.resolver_lookup(["192.0.2.53"])
    assert lookup("c2.test", "MX") == [] and lookup("_dmarc.c2.test", "TXT") == []
    assert lookup("ok.test", "TXT") == ["v=DMARC1; p=quarantine"]  # a TXT record's strings joined
    with pytest.raises(dns_check.LookupFailed, match="Timeout"):
        lookup("slow.test", "TXT")


def run_plan_report(tmp_path, state, **args):
    from ansible_collections.fracto.hosting.plugins.action import plan_report

    task = mock.MagicMock()
    task.args = dict({"dest": str(tmp_path), "hosts": [], "state": state}, **args)
    task.async_val = 0
    action = plan_report.ActionModule(task, mock.MagicMock(), mock.MagicMock(), mock.MagicMock(), mock.MagicMock(),
                                      mock.MagicMock())
    action._display = mock.MagicMock()
    result = action.run(task_vars={"hostvars": {}, "ansible_check_mode": True})
    printed = [c.args[0] for c in action._display.display.call_args_list]
    return result, printed, json.loads((tmp_path / "plan-demo.json").read_text())


STATE = {"reseller": {"name": "demo"}, "mail_dns": RECORDS,
         "clients": {"c2": {"package": "business", "gdpr": False, "features": {"autossl": True, "mail_branding": "reseller"},
                            "names": ["c2.test"], "webmail_names": [], "mail_names": ["mail.brand.test"], "mailboxes": []}}}


def test_the_plan_lists_each_clients_records_and_writes_them_as_json(tmp_path):
    result, printed, document = run_plan_report(tmp_path, STATE)
    assert "  c2 (mail branding reseller):" in printed
    assert '    _dmarc.c2.test. IN TXT "v=DMARC1; p=quarantine; rua=mailto:ops@brand.test"' in printed
    assert document["mail_dns"] == RECORDS == result["mail_dns"]
    assert "needs attention:" not in printed  # no live check unless asked


def test_the_live_check_lists_what_is_missing_under_needs_attention(tmp_path, monkeypatch):
    published = dict(PUBLISHED)
    del published[("_smtp._tls.c2.test", "TXT")]
    asked = []

    def resolver_lookup(nameservers):
        asked.append(nameservers)
        return lookup_from(published)

    monkeypatch.setattr(dns_check, "resolver_lookup", resolver_lookup)
    result, printed, document = run_plan_report(tmp_path, STATE, dns_check=True, nameservers=["198.51.100.20"])
    assert asked == [["198.51.100.20"]]
    assert "needs attention:" in printed
    assert ("  ! c2: _smtp._tls.c2.test TXT DNS record missing: missing; publish: v=TLSRPTv1; rua=mailto:ops@brand.test"
            "   [dns]") in printed
    assert document["attention"] == result["attention"] == [
        {"host": "dns", "client": "c2", "what": "DNS record missing", "item": "_smtp._tls.c2.test TXT",
         "detail": "missing; publish: v=TLSRPTv1; rua=mailto:ops@brand.test"}]
    assert result.get("failed") is None
