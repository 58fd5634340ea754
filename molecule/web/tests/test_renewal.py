"""Renewal: a rerun renews the certificate whose renewal is due, while it is still valid (a renewal, not a new order
after it expired), and leaves the others alone; the report lists it as renewed.

Self-contained, in any order: the short-lived certificate comes from a second Pebble of the test's own on acme
(port 14001, LIFETIME-second certificates). The lab's Pebble is never restarted: it would draw a new root, which the
lab hosts trust (Roundcube) and every other test verifies against. At the end the certificates the test changed are
ordered again from the lab's Pebble, as converge left them.
"""

import json
import os
import re
import shlex
import socket
import ssl
import time

import pytest
import testinfra
from conftest import PROJECT, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
ACME = testinfra.get_host("ansible://acme?ansible_inventory=" + INVENTORY)
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
SITE = str(PROJECT / "playbooks" / "site.yml")
STORE = "/etc/fracto/tls"
TARGET = "xn--caff-8oa.test"  # cliente2's caffè.test: xn--caff-8oa.test and www.xn--caff-8oa.test
LAB_PEBBLE_CONFIG, LAB_PEBBLE_UNIT = "/etc/pebble/pebble-config.json", "/etc/systemd/system/pebble.service"
TEST_PEBBLE_CONFIG, TEST_PEBBLE_UNIT = "/etc/pebble/renewal-test-config.json", "fracto-renewal-test-pebble"
TEST_PORT, TEST_MANAGEMENT_PORT = 14001, 15001
TEST_DIRECTORY = "https://acme.fracto.test:%d/dir" % TEST_PORT  # the lab's listener certificate names acme.fracto.test
LIFETIME = 600  # seconds: the validity of the test Pebble's certificates
# The platform's renew_fraction for the renewal run (fracto_web__renew_fraction): renewal is due once a tenth of the
# lifetime has passed, with nine tenths (9 minutes) left, so the run renews a certificate that is still valid. The
# other certificates (90 days, issued by the lab's converge) are nowhere near due.
RENEW_FRACTION = 0.9


def fingerprints():
    """{certificate id: sha256 of its fullchain.pem} of every certificate in cloud01's store."""
    out = CLOUD01.check_output("cd %s && for d in */; do echo \"${d%%/} $(sha256sum < $d/fullchain.pem)\"; done" % STORE)
    return dict(line.split(" ", 1) for line in out.splitlines())


def meta(cert_id):
    return json.loads(CLOUD01.file("%s/%s/meta.json" % (STORE, cert_id)).content_string)


def epoch(stamp):
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def converge(report_dir, *extra):
    """site.yml on cloud01 with the report in report_dir; returns (output, report)."""
    rc, output = run_playbook(PROJECT, SITE, "--limit", "cloud01,localhost", *extra, env={"FRACTO_REPORT_DIR": str(report_dir)})
    assert rc == 0, output[-3000:]
    return output, json.loads((report_dir / "report-demo.json").read_text())


def certificate_changes(report):
    """{id: change} of the certificate lines of a report (every client)."""
    return {c["id"]: c for changes in report["clients"].values() for c in changes if c["kind"] == "certificate"}


def served_leaf(address, name, cadata=None):
    """sha256 of the leaf certificate served for name (SNI) at address; verified against cadata when given."""
    import hashlib

    context = ssl.create_default_context(cadata=cadata) if cadata else ssl.create_default_context()
    if not cadata:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((address, 443), timeout=10) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def on_disk_leaf(cert_id):
    return CLOUD01.check_output("openssl x509 -in %s/%s/fullchain.pem -outform DER | sha256sum" % (STORE, cert_id)).split()[0]


@pytest.fixture
def short_lived_ca(lab_resolve, pebble_root, tmp_path):
    """A second Pebble on acme issuing LIFETIME-second certificates (the lab Pebble's settings otherwise: its listener
    certificate, challenge ports and DNS); afterwards stopped, and every certificate the test changed on cloud01 ordered
    again from the lab's Pebble, so that cloud01 serves what converge left: certificates under the lab's root."""
    initial = fingerprints()
    lab = json.loads(ACME.file(LAB_PEBBLE_CONFIG).content_string)["pebble"]
    dns_server = re.search(r"-dnsserver (\S+)", ACME.file(LAB_PEBBLE_UNIT).content_string).group(1)
    config = {"pebble": dict(lab, listenAddress="0.0.0.0:%d" % TEST_PORT, managementListenAddress="0.0.0.0:%d" % TEST_MANAGEMENT_PORT,
                             certificateValidityPeriod=LIFETIME)}
    ACME.run_expect([0], "printf %%s %s > %s" % (shlex.quote(json.dumps(config)), TEST_PEBBLE_CONFIG))
    ACME.run("systemctl stop %s; systemctl reset-failed %s" % (TEST_PEBBLE_UNIT, TEST_PEBBLE_UNIT))  # one an interrupted run left
    ACME.run_expect([0], "systemd-run --unit=%s --collect --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_WFE_NONCEREJECT=0"
                         " /usr/bin/pebble -config %s -dnsserver %s" % (TEST_PEBBLE_UNIT, TEST_PEBBLE_CONFIG, dns_server))
    try:
        for _ in range(30):
            if ACME.socket("tcp://0.0.0.0:%d" % TEST_PORT).is_listening:
                break
            time.sleep(1)
        else:
            raise AssertionError("the test Pebble does not listen on %d: %s" % (
                TEST_PORT, ACME.run("journalctl -u %s --no-pager | tail -20" % TEST_PEBBLE_UNIT).stdout))
        yield TEST_DIRECTORY
    finally:
        ACME.run("systemctl stop %s; rm -f %s" % (TEST_PEBBLE_UNIT, TEST_PEBBLE_CONFIG))
        now = fingerprints()
        changed = sorted(cid for cid in set(initial) | set(now) if initial.get(cid) != now.get(cid))  # missing ones too
        if changed:
            CLOUD01.run_expect([0], "rm -rf %s" % " ".join("%s/%s %s/.versions/%s" % (STORE, cid, STORE, cid) for cid in changed))
            _output, report = converge(tmp_path / "restore")
            assert {cid: c["action"] for cid, c in certificate_changes(report).items() if cid in changed} == dict.fromkeys(changed, "create")
        assert set(fingerprints()) == set(initial)
        address = lab_resolve(TARGET)[0]
        assert served_leaf(address, TARGET, pebble_root) == on_disk_leaf(TARGET)  # under the lab Pebble's root again


def test_rerun_renews_only_the_certificate_whose_renewal_is_due(short_lived_ca, lab_resolve, tmp_path):
    # A short-lived certificate: the test's own CA orders it anew.
    CLOUD01.run_expect([0], "rm -rf %s/%s %s/.versions/%s" % (STORE, TARGET, STORE, TARGET))
    others = {cid: digest for cid, digest in fingerprints().items() if cid != TARGET}
    _output, report = converge(tmp_path / "order", "-e", json.dumps({"fracto_web__acme_directory": short_lived_ca}))
    ordered = certificate_changes(report)
    assert ordered[TARGET]["action"] == "create" and ordered[TARGET]["detail"] == ["order: %s, www.%s" % (TARGET, TARGET)]
    assert [cid for cid, c in ordered.items() if cid != TARGET and c["action"] != "keep"] == []
    short = meta(TARGET)
    lifetime = epoch(short["not_after"]) - epoch(short["not_before"])
    assert LIFETIME - 5 <= lifetime <= LIFETIME, short  # from the test's CA, not the lab's (90 days)
    before = fingerprints()
    assert {cid: digest for cid, digest in before.items() if cid != TARGET} == others

    # Wait until the renewal is due (less than RENEW_FRACTION of the lifetime left), no longer.
    due = epoch(short["not_after"]) - RENEW_FRACTION * lifetime
    time.sleep(max(0, due + 5 - time.time()))
    output, report = converge(tmp_path / "renew", "-e", json.dumps({"fracto_web__acme_directory": short_lived_ca,
                                                                      "fracto_web__renew_fraction": RENEW_FRACTION}))
    # The run ended while the short-lived certificate was still valid: what it ordered was a renewal, not the new
    # order of an expired certificate (whose line would read "expired on ...").
    assert time.time() < epoch(short["not_after"]), "the run outlived the certificate: this proves no renewal"
    changes = certificate_changes(report)
    renewed = changes.get(TARGET)
    assert renewed and renewed["action"] == "change", changes
    assert re.fullmatch(r"renewal due: .+ left of .+", renewed["detail"][0]), renewed
    assert "~ certificate %s: renewal due: " % TARGET in output  # the printed report, under the client
    assert [cid for cid, c in changes.items() if cid != TARGET and c["action"] != "keep"] == []

    after = fingerprints()
    assert after[TARGET] != before[TARGET], "the certificate whose renewal was due was not renewed"
    assert {k: v for k, v in after.items() if k != TARGET} == {k: v for k, v in before.items() if k != TARGET}
    renewal = meta(TARGET)
    assert epoch(renewal["not_before"]) > epoch(short["not_before"]) and epoch(renewal["not_after"]) > epoch(short["not_after"])
    assert renewal["names"] == short["names"]
    # nginx serves the renewed certificate (it reloaded), not the one it had in memory.
    assert served_leaf(lab_resolve(TARGET)[0], TARGET) == on_disk_leaf(TARGET)
