# -*- coding: utf-8 -*-
"""DKIM keys of a mail host (module_utils/mail/dkim.py): keys, selectors, the index and its rotation, rspamd's signing
configuration, and the TXT records the controller lists (module_utils/mail/dns_records.py)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import pathlib

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import dkim, dns_records, safe
from ansible_collections.fracto.hosting.plugins.module_utils.render import Templates
from cryptography.hazmat.primitives import serialization

DAY = datetime.date(2026, 12, 6)
ROOT = pathlib.Path(__file__).resolve().parents[8]
TEMPLATE = ROOT / "roles/fracto_mail/templates/etc/rspamd/local.d/dkim_signing.conf.j2"


def pub(selector):
    """A stand-in public key: base64 as the index holds it, one per selector."""
    return base64.b64encode(hashlib.sha256(selector.encode()).digest()).decode()


def made(index, make):
    """The index after the module made the keys (public halves filled in, as dkim.make_keys does)."""
    for domain, key in make:
        next(k for k in index[domain] if k["selector"] == key["selector"])["public"] = pub(key["selector"])
    return index


def test_an_rsa_key_is_2048_bits_pkcs8_and_its_public_half_is_the_der_of_the_txt_record():
    private, public = dkim.generate("rsa")
    key = serialization.load_pem_private_key(private, password=None)
    assert private.startswith(b"-----BEGIN PRIVATE KEY-----") and key.key_size == 2048
    assert dkim.public_of("rsa", private) == public
    assert serialization.load_der_public_key(base64.b64decode(public)).key_size == 2048


def test_an_ed25519_key_is_written_as_rspamd_reads_it_seed_then_public_key():
    private, public = dkim.generate("ed25519")
    raw = base64.b64decode(private.strip())
    assert len(raw) == 64 and base64.b64encode(raw[32:]).decode() == public
    assert len(base64.b64decode(public)) == 32 and dkim.public_of("ed25519", private) == public


def test_two_keys_are_never_the_same():
    assert dkim.generate("rsa")[1] != dkim.generate("rsa")[1]
    assert dkim.generate("ed25519")[1] != dkim.generate("ed25519")[1]


def test_selectors_carry_the_year_and_a_letter_and_are_never_given_twice():
    assert dkim.selector_for("rsa", DAY, []) == "fr2026a"
    assert dkim.selector_for("ed25519", DAY, ["fr2026a"]) == "fr2026a-ed25519"
    assert dkim.selector_for("rsa", DAY, ["fr2026a", "fr2026a-ed25519"]) == "fr2026b"
    assert dkim.selector_for("rsa", datetime.date(2027, 1, 1), ["fr2026a"]) == "fr2027a"
    taken = ["fr2026%s" % chr(c) for c in range(ord("a"), ord("z") + 1)]
    assert dkim.selector_for("rsa", DAY, taken) == "fr2026aa"


def test_a_new_domain_gets_one_key_per_algorithm_of_its_package_and_a_rerun_makes_none():
    wanted = {"c1.test": ("c1", ["rsa"]), "c2.test": ("c2", ["rsa", "ed25519"])}
    index, make, changes = dkim.plan({}, wanted, DAY)
    assert [(d, k["selector"], k["algorithm"]) for d, k in make] == [
        ("c1.test", "fr2026a", "rsa"), ("c2.test", "fr2026a", "rsa"), ("c2.test", "fr2026a-ed25519", "ed25519")]
    assert all(k["public"] is None for _d, k in make)  # check mode stops here: nothing made
    assert [(c["action"], c["kind"], c["id"], c["client"]) for c in changes][0] == (
        "create", "dkim_key", "fr2026a._domainkey.c1.test", "c1")
    index = made(index, make)
    again, make, changes = dkim.plan(dkim.parse_index(dkim.render_index(index)), wanted, DAY + datetime.timedelta(days=400))
    assert (make, changes) == ([], []) and again == index  # existing keys are never made again, whatever the date


def test_other_domains_of_the_index_are_left_alone():
    index = made(*dkim.plan({}, {"other.test": ("x", ["rsa"])}, DAY)[:2])
    after, make, _changes = dkim.plan(index, {"c1.test": ("c1", ["rsa"])}, DAY)
    assert after["other.test"] == index["other.test"] and [d for d, _k in make] == ["c1.test"]


def test_a_package_that_drops_ed25519_retires_that_key_but_keeps_it_published():
    index = made(*dkim.plan({}, {"c1.test": ("c1", ["rsa", "ed25519"])}, DAY)[:2])
    after, make, changes = dkim.plan(index, {"c1.test": ("c1", ["rsa"])}, DAY)
    states = [(k["selector"], k["state"]) for k in after["c1.test"]]
    assert make == [] and states == [("fr2026a", "active"), ("fr2026a-ed25519", "retired")]
    assert [k["selector"] for k in dkim.published(after, {"c1.test": "c1"})] == ["fr2026a", "fr2026a-ed25519"]
    assert [s["selector"] for s in dkim.signing(after, ["c1.test"])[0]["selectors"]] == ["fr2026a"]
    assert changes[0]["action"] == "change"


def test_rotation_publishes_first_switches_after_the_delay_then_retires():
    wanted = {"c1.test": ("c1", ["rsa"])}
    index = made(*dkim.plan({}, wanted, DAY)[:2])
    index, make, changes = dkim.plan(index, wanted, DAY, rotate="publish")
    assert [k["selector"] for _d, k in make] == ["fr2026b"] and changes[0]["action"] == "create"
    index = made(index, make)
    assert dkim.plan(index, wanted, DAY, rotate="publish")[1:] == ([], [])  # a second publish makes nothing more
    assert [s["selector"] for s in dkim.signing(index, ["c1.test"])[0]["selectors"]] == ["fr2026a"]  # not signing yet
    early, _make, changes = dkim.plan(index, wanted, DAY + datetime.timedelta(days=3), rotate="switch", switch_after=7)
    assert early == index and [c["action"] for c in changes] == ["keep"] and "switch after 7" in changes[0]["detail"][0]
    index, _make, changes = dkim.plan(index, wanted, DAY + datetime.timedelta(days=7), rotate="switch", switch_after=7)
    assert [(k["selector"], k["state"]) for k in index["c1.test"]] == [("fr2026a", "retired"), ("fr2026b", "active")]
    assert [s["selector"] for s in dkim.signing(index, ["c1.test"])[0]["selectors"]] == ["fr2026b"]
    index, _make, changes = dkim.plan(index, wanted, DAY, rotate="retire")
    assert [k["selector"] for k in dkim.published(index, {"c1.test": "c1"})] == ["fr2026b"]
    assert changes[0]["action"] == "remove"
    # The removed key stays in the index: the next rotation gets fr2026c, never fr2026a again.
    assert [k["selector"] for _d, k in dkim.plan(index, wanted, DAY, rotate="publish")[1]] == ["fr2026c"]


def test_a_publish_on_a_new_domain_makes_its_first_key_only():
    _index, make, _changes = dkim.plan({}, {"c1.test": ("c1", ["rsa"])}, DAY, rotate="publish")
    assert [(k["selector"], k["state"]) for _d, k in make] == [("fr2026a", "active")]


def test_published_keys_are_txt_values_and_check_mode_keys_have_none():
    index, make, _changes = dkim.plan({}, {"c1.test": ("c1", ["rsa", "ed25519"])}, DAY)
    assert [k["value"] for k in dkim.published(index, {"c1.test": "c1"})] == [None, None]
    index = made(index, make)
    keys = dkim.published(index, {"c1.test": "c1"})
    assert keys[0] == {"domain": "c1.test", "client": "c1", "selector": "fr2026a", "algorithm": "rsa", "state": "active",
                       "value": "v=DKIM1; k=rsa; p=" + pub("fr2026a")}
    assert keys[1]["value"] == "v=DKIM1; k=ed25519; p=" + pub("fr2026a-ed25519")


def test_the_signing_configuration_lists_each_domain_with_its_active_keys_rsa_first():
    index = made(*dkim.plan({}, {"b.test": ("c2", ["rsa", "ed25519"]), "a.test": ("c1", ["rsa"])}, DAY)[:2])
    text = dkim.render_conf(index, ["a.test", "b.test", "nokey.test"], templates=Templates({"rspamd_dkim": TEMPLATE.read_text()}))
    assert text.startswith("# managed by fracto.hosting mail_server\n") and "try_fallback = false;" in text
    assert '{ path = "/etc/fracto/dkim/keys/a.test.fr2026a.key"; selector = "fr2026a"; },' in text
    assert text.index('selector = "fr2026a"; },\n      { path = "/etc/fracto/dkim/keys/b.test.fr2026a-ed25519.key"') > text.index('"b.test"')
    assert "nokey.test" not in text  # a domain without keys is not signed at all


@pytest.mark.parametrize("domain", ["../../etc/shadow", 'a.test"; path = "/etc/shadow', "a.test\nselector = x", "A.TEST",
                                    "a..test", "a test", ""])
def test_a_hostile_domain_never_reaches_a_key_path_or_the_configuration(domain):
    with pytest.raises(safe.UnsafeValue):
        dkim.key_path(domain, "fr2026a")
    with pytest.raises(safe.UnsafeValue):
        dkim.signing({domain: [{"selector": "fr2026a", "algorithm": "rsa", "state": "active", "public": "x"}]}, [domain])
    with pytest.raises(safe.UnsafeValue):
        dkim.parse_index('{"%s": []}' % domain.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))


@pytest.mark.parametrize("selector", ["../x", "fr2026a/../../x", "default", "fr2026a\n", "fr2026a-rsa", None])
def test_an_index_entry_with_a_selector_we_never_make_is_refused(selector):
    entry = {"selector": selector, "algorithm": "rsa", "state": "active", "public": "x"}
    with pytest.raises(safe.UnsafeValue):
        dkim.parse_index(dkim.render_index({"a.test": [entry]}))


@pytest.mark.parametrize("public", ["short", "A" * 60 + "$6$x", "A" * 60 + "\n", 'A" ; path = "/etc/shadow' + "A" * 40])
def test_an_index_entry_whose_public_key_is_not_base64_is_refused(public):
    entry = {"selector": "fr2026a", "algorithm": "rsa", "state": "active", "public": public}
    with pytest.raises(safe.UnsafeValue):
        dkim.parse_index(dkim.render_index({"a.test": [entry]}))


def test_an_index_entry_with_an_unknown_algorithm_or_state_is_refused():
    for entry in ({"selector": "fr2026a", "algorithm": "dsa", "state": "active"},
                  {"selector": "fr2026a", "algorithm": "rsa", "state": "signing"}):
        with pytest.raises(dkim.DkimError):
            dkim.parse_index(dkim.render_index({"a.test": [entry]}))


@pytest.mark.parametrize("algorithms", [["rsa1024"], "rsa", ["rsa", "ed448"], [None]])
def test_the_module_refuses_an_algorithm_out_of_the_list(algorithms):
    with pytest.raises(safe.UnsafeValue, match=r"domains\[a.test\].dkim"):
        dkim.wanted([{"domain": "a.test", "client": "c1", "dkim": algorithms}])


def test_a_domain_without_dkim_gets_rsa_and_the_algorithms_come_in_a_fixed_order():
    assert dkim.wanted([{"domain": "a.test", "client": "c1"}, {"domain": "b.test", "client": "c2", "dkim": ["ed25519", "rsa"]}]) \
        == {"a.test": ("c1", ["rsa"]), "b.test": ("c2", ["rsa", "ed25519"])}


# --------------------------------------------------------------------------- the TXT records (dns_records.py)

def test_a_2048_bit_key_is_split_into_strings_of_at_most_255_bytes():
    value = dkim.txt_value("rsa", dkim.generate("rsa")[1])
    parts = dns_records.txt_strings(value)
    assert len(value) > 255 and len(parts) == 2 and all(len(p) <= 255 for p in parts) and "".join(parts) == value
    assert dns_records.txt_strings("x" * 255) == ["x" * 255] and dns_records.txt_strings("x" * 256) == ["x" * 255, "x"]
    line = dns_records.zone_line({"name": "fr2026a._domainkey.c1.test", "type": "TXT", "value": value})
    assert line == 'fr2026a._domainkey.c1.test. IN TXT "%s" "%s"' % tuple(parts)


def test_a_short_txt_stays_one_string():
    line = dns_records.zone_line({"name": "c1.test", "type": "TXT", "value": "v=spf1 -all"})
    assert line == 'c1.test. IN TXT "v=spf1 -all"'


def test_the_keys_the_hosts_returned_join_the_records_of_their_domain():
    client = {"id": "c1", "branding": "client", "mail_names": ["mail.c1.test"], "mail_domains": ["c1.test", "sub.c1.test"],
              "mail_ip": None, "dmarc_policy": None}
    records = dns_records.MailDnsRecords("ops@brand.test").all([client])
    keys = [{"domain": "c1.test", "client": "c1", "selector": "fr2026a", "state": "active", "value": "v=DKIM1; k=rsa; p=AAA"},
            {"domain": "c1.test", "client": "c1", "selector": "fr2026b", "state": "next", "value": None},  # check mode
            {"domain": "sub.c1.test", "client": "c1", "selector": "fr2026a", "state": "active", "value": "v=DKIM1; k=rsa; p=BBB"}]
    out = dns_records.with_dkim(records, keys)
    assert len(out) == len(records) + 2
    dkim_rows = [(i, r["name"], r["value"], r["state"]) for i, r in enumerate(out) if r["purpose"] == "dkim"]
    assert [row[1:] for row in dkim_rows] == [("fr2026a._domainkey.c1.test", "v=DKIM1; k=rsa; p=AAA", "active"),
                                              ("fr2026a._domainkey.sub.c1.test", "v=DKIM1; k=rsa; p=BBB", "active")]
    for i, _name, _value, _state in dkim_rows:  # each after its domain's other records, before the next domain's
        assert out[i - 1]["domain"] == out[i]["domain"] and (i + 1 == len(out) or out[i + 1]["domain"] != out[i]["domain"])
    assert dns_records.with_dkim(records, []) == records
