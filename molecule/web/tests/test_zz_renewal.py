"""Renewal (runs last: it restarts Pebble, which draws a new root): with a short validity, a rerun
renews only the certificate that is expiring and leaves the others alone."""

import json
import os
import time

import testinfra
from conftest import PROJECT, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
ACME = testinfra.get_host("ansible://acme?ansible_inventory=" + INVENTORY)
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
CONFIG = "/etc/pebble/pebble-config.json"
SHORT = 120  # seconds: renewal is due when less than a third of it is left


def set_pebble_validity(seconds):
    config = json.loads(ACME.file(CONFIG).content_string)
    config["pebble"]["certificateValidityPeriod"] = seconds
    ACME.run("printf '%%s' '%s' > %s && systemctl restart pebble" % (json.dumps(config), CONFIG))
    for _ in range(30):
        if ACME.socket("tcp://0.0.0.0:14000").is_listening:
            return
        time.sleep(1)


def fingerprints():
    out = CLOUD01.check_output("cd /etc/fracto/tls && for d in */; do echo \"${d%/} $(sha256sum < $d/fullchain.pem)\"; done")
    return dict(line.split(" ", 1) for line in out.splitlines())


def meta(cert_id):
    return json.loads(CLOUD01.file("/etc/fracto/tls/%s/meta.json" % cert_id).content_string)


def test_rerun_renews_only_the_expiring_certificate(tmp_path):
    original = json.loads(ACME.file(CONFIG).content_string)["pebble"]["certificateValidityPeriod"]
    target = "xn--caff-8oa.test"
    env = {"FRACTO_REPORT_DIR": str(tmp_path)}
    try:
        set_pebble_validity(SHORT)
        CLOUD01.run("rm -rf /etc/fracto/tls/%s" % target)  # the next run orders it again, short-lived
        rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), env=env)
        assert rc == 0, output[-3000:]
        short = meta(target)
    finally:
        set_pebble_validity(original)
    before = fingerprints()
    # Wait until less than a third of the short lifetime is left.
    time.sleep(max(0, SHORT * 2 / 3 + 5 - (time.time() - _epoch(short["not_before"]))))
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), env=env)
    assert rc == 0, output[-3000:]
    after = fingerprints()
    assert after[target] != before[target], "the expiring certificate was not renewed"
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    assert _epoch(meta(target)["not_after"]) - time.time() > 30 * 86400
    # nginx serves the renewed certificate (it reloaded), not the one it had in memory.
    served = _served_leaf(target)
    on_disk = CLOUD01.check_output("openssl x509 -in /etc/fracto/tls/%s/fullchain.pem -outform DER | sha256sum" % target).split()[0]
    assert served == on_disk


def _served_leaf(name):
    import hashlib
    import socket
    import ssl

    address = CLOUD01.interface("eth0").addresses[0]
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((address, 443), timeout=10) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def _epoch(stamp):
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
