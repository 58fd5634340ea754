"""The DNS records each client publishes for its mail (issue 13), as the lab DNS serves them for the demo.

The lab DNS (dnsmasq on acme, molecule/lab/roles/lab_dns) publishes the records the plan lists (fracto_state_public's
mail_dns). The live check of the plan (site.yml --check -e fracto_mail_dns_check=true, asking the lab DNS) then
finds nothing to report; with one record taken out of the lab DNS it reports that record under "needs attention",
and the run still succeeds. The plan runs with --tags mail_dns_only, a tag no task has: only what is tagged always
runs (validation, resolution, the roles' argument checks on the controller, the plan), no host is contacted.
Each domain's MTA-STS policy is fetched as a sending MTA would: mta-sts.<domain> resolved in the lab DNS, HTTPS
verified against Pebble's root, the text the _mta-sts record's id is the hash of.
"""

import hashlib
import json
import os

import dns.resolver
import pytest
import testinfra
from conftest import LAB_DNS, PROJECT, https_get, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
ACME = testinfra.get_host("ansible://acme?ansible_inventory=" + INVENTORY)
LAB_CONF = "/etc/dnsmasq.d/fracto-lab.conf"


def ask(name, rdtype):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    resolver.lifetime = 5
    try:
        answer = resolver.resolve(name, rdtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    if rdtype == "TXT":
        return sorted(b"".join(r.strings).decode() for r in answer)
    return sorted(r.to_text() for r in answer)


@pytest.mark.parametrize("name, rdtype, expected", [
    ("cliente1.test", "MX", ["10 mail.cliente1.test."]),                      # client branding
    ("cliente2.test", "MX", ["10 mail.dominioreseller.test."]),               # reseller branding
    ("cliente3.test", "MX", ["10 mail01.fracto.test."]),                      # generic
    ("cliente1.test", "TXT", ["v=spf1 a:mail.cliente1.test -all"]),
    ("cliente2.test", "TXT", ["v=spf1 a:mail.dominioreseller.test ip4:198.51.100.102 -all"]),  # its dedicated address
    ("_dmarc.cliente3.test", "TXT", ["v=DMARC1; p=quarantine; rua=mailto:ops@dominioreseller.test"]),
    ("_smtp._tls.cliente1.test", "TXT", ["v=TLSRPTv1; rua=mailto:ops@dominioreseller.test"]),
    ("cliente1.test._report._dmarc.dominioreseller.test", "TXT", ["v=DMARC1"]),
])
def test_the_lab_dns_publishes_the_demos_mail_records(name, rdtype, expected):
    assert ask(name, rdtype) == expected


def test_each_mta_sts_record_names_its_policy_by_id():
    [record] = ask("_mta-sts.cliente1.test", "TXT")
    assert record.startswith("v=STSv1; id=") and len(record) == len("v=STSv1; id=") + 20


@pytest.mark.parametrize("domain, mx", [
    ("cliente1.test", "mail.cliente1.test"), ("cliente2.test", "mail.dominioreseller.test"),
    ("xn--caff-8oa.test", "mail.dominioreseller.test"), ("cliente3.test", "mail01.fracto.test"),
])
def test_each_mta_sts_policy_is_served_over_https_as_its_record_names_it(pebble_root, domain, mx):
    # What a sending MTA does (RFC 8461 3.3): resolve mta-sts.<domain>, fetch the policy over verified HTTPS.
    [address] = ask("mta-sts." + domain, "A")
    status, headers, body, _cert = https_get(address, "mta-sts." + domain, pebble_root, "/.well-known/mta-sts.txt")
    assert status == 200 and headers["Content-Type"].startswith("text/plain"), (status, headers)
    assert body == "version: STSv1\r\nmode: testing\r\nmx: %s\r\nmax_age: 604800\r\n" % mx
    [record] = ask("_mta-sts." + domain, "TXT")
    assert record == "v=STSv1; id=%s" % hashlib.sha256(body.encode()).hexdigest()[:20]  # the id names this policy
    assert ask(domain, "MX") == ["10 %s." % mx]                                         # and it allows the MX


def plan_with_dns_check(tmp_path):
    """The plan of the demo with the live check through the lab DNS; (its JSON document, its output)."""
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "--check", "--limit", "mail01,localhost",
                              "--tags", "mail_dns_only",
                              "-e", "fracto_mail_dns_check=true",
                              "-e", json.dumps({"fracto_mail_dns_nameservers": [LAB_DNS]}),
                              env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc == 0, output[-3000:]
    return json.loads((tmp_path / "plan-demo.json").read_text()), output


def dns_notes(document):
    return [(n["client"], n["item"], n["what"]) for n in document["attention"] if n["host"] == "dns"]


def test_the_plan_lists_each_clients_records_and_the_check_finds_them_all(tmp_path):
    document, output = plan_with_dns_check(tmp_path)
    assert dns_notes(document) == []
    assert "  cliente2 (mail branding reseller):" in output
    assert 'cliente2.test. IN TXT "v=spf1 a:mail.dominioreseller.test ip4:198.51.100.102 -all"' in output
    purposes = {(r["client"], r["purpose"]) for r in document["mail_dns"]}
    for client in ("cliente1", "cliente2", "cliente3"):
        assert {(client, p) for p in ("mx", "spf", "dmarc", "tls-rpt", "mta-sts")} <= purposes


def test_a_record_taken_out_of_the_lab_dns_is_reported_under_needs_attention(tmp_path):
    before = ACME.file(LAB_CONF).content_string
    try:
        ACME.run_expect([0], "sed -i '/^txt-record=_dmarc.cliente3.test,/d' %s && systemctl restart dnsmasq" % LAB_CONF)
        assert ask("_dmarc.cliente3.test", "TXT") == []
        document, output = plan_with_dns_check(tmp_path)
    finally:
        ACME.run_expect([0], "cat > %s <<'EOF'\n%sEOF\nsystemctl restart dnsmasq" % (LAB_CONF, before))
    assert dns_notes(document) == [("cliente3", "_dmarc.cliente3.test TXT", "DNS record missing")]
    assert ("! cliente3: _dmarc.cliente3.test TXT DNS record missing: missing; publish: "
            "v=DMARC1; p=quarantine; rua=mailto:ops@dominioreseller.test   [dns]") in output
    assert ask("_dmarc.cliente3.test", "TXT") == ["v=DMARC1; p=quarantine; rua=mailto:ops@dominioreseller.test"]
